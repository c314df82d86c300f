"""Mi activation ("register") over GATT service 0xFE95, as a pure state machine.

Activation gives a sensor a new bind key without Xiaomi's cloud: the client and the sensor
agree on a secret by ECDH (P-256), both derive the same keys from it with HKDF-SHA256
(no salt, info ``mible-setup-info``, 64 bytes: token ``[0:12]``, bind key ``[12:28]``,
``A`` ``[28:44]``), and the client proves it knows them by sending the device id encrypted
under ``A`` (AES-CCM, 4-byte tag, nonce ``10 11 … 1b``, associated data ``devID``). The
sensor then answers ``11`` (accepted) or ``12`` (refused) on the control characteristic,
and encrypts its advertisements with the new bind key. It no longer works with Mi Home
until it is added there again.

Two characteristics carry the exchange, both written and notified:

* control (``0x0010``): 4-byte commands, ``a2`` (send your info), ``15`` (a key follows),
  ``13`` (confirm), and the sensor's verdict ``11`` / ``12``;
* parcels (``0x0019``): data in parcels. A parcel starts with a header
  ``00 00 00 TT NN NN`` (type ``TT``, ``NN NN`` frames, little-endian); the receiver
  answers ``00 00 01 01`` (ready), the sender sends frames ``[i, 0] + ≤ 18 bytes``
  (``i`` from 1), and the receiver answers ``00 00 01 00`` (received). ``00 00 01 05 …``
  reports a failed transfer.

The sequence: control ← ``a2``; the sensor sends its info parcel (4 bytes, then the device
id it already has, if any); control ← ``15``; parcels ← our public key (64 bytes, X‖Y
big-endian, type 3); the sensor sends its public key (type 3); parcels ← the encrypted
device id (type 0); control ← ``13``; the sensor answers.

:class:`Activation` turns the sensor's notifications into the next writes; it does no I/O
(:mod:`mihomekit.ble.bind` runs it over a connection). Hostile or garbled input ends it
with an :class:`ActivationError` saying what was wrong, never with another exception.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mihomekit.errors import MihomekitError

__all__ = [
    "CONTROL",
    "PARCELS",
    "SERVICE",
    "Activation",
    "ActivationError",
    "ActivationRefused",
    "ActivationResult",
    "DerivedKeys",
    "Write",
    "derive_keys",
    "encrypt_device_id",
    "new_device_id",
    "parcel_frames",
    "parcel_header",
    "public_key_bytes",
    "public_key_from_bytes",
]

SERVICE = "0000fe95-0000-1000-8000-00805f9b34fb"
CONTROL = "00000010-0000-1000-8000-00805f9b34fb"
PARCELS = "00000019-0000-1000-8000-00805f9b34fb"

#: Control commands and answers.
GET_INFO = bytes.fromhex("a2000000")
KEY_FOLLOWS = bytes.fromhex("15000000")
CONFIRM = bytes.fromhex("13000000")
ACCEPTED = bytes.fromhex("11000000")
REFUSED = bytes.fromhex("12000000")
#: Parcel acknowledgements.
READY = bytes.fromhex("00000101")
RECEIVED = bytes.fromhex("00000100")
TRANSFER_FAILED_PREFIX = bytes.fromhex("00000105")

#: Parcel types.
TYPE_DEVICE_ID = 0x00
TYPE_PUBLIC_KEY = 0x03

#: Bytes of data per parcel frame (20-byte ATT payload minus the 2-byte index).
FRAME_DATA = 18
#: Parcels longer than this many frames are refused as garbage.
MAX_FRAMES = 32

SETUP_INFO = b"mible-setup-info"
DEVICE_ID_NONCE = bytes(range(0x10, 0x1C))
DEVICE_ID_AAD = b"devID"
#: Length of a Mi device id as sent during activation (a NUL, then ``blt.3.…``).
DEVICE_ID_LENGTH = 20
_ID_ALPHABET = string.ascii_lowercase + string.digits


class ActivationError(MihomekitError):
    """Activation failed: the sensor sent something unexpected, or reported an error."""


class ActivationRefused(ActivationError):
    """The sensor refused the activation (it answered 0x12)."""


@dataclass(frozen=True, slots=True)
class Write:
    """One write the client must make: ``data`` to characteristic ``char`` (a UUID)."""

    char: str
    data: bytes


@dataclass(frozen=True, slots=True)
class DerivedKeys:
    """HKDF's output split as the protocol uses it."""

    token: bytes
    bind_key: bytes
    a_key: bytes


@dataclass(frozen=True, slots=True)
class ActivationResult:
    """What a successful activation gives: the new bind key, the token, the device id."""

    bind_key: bytes
    token: bytes
    device_id: bytes

    @property
    def device_id_text(self) -> str:
        """The device id as text (``blt.3.…``)."""
        return self.device_id.strip(b"\0").decode("ascii", "replace")


# -- the pieces, each usable on its own --------------------------------------------------


def derive_keys(shared_secret: bytes) -> DerivedKeys:
    """Token, bind key and ``A`` from the ECDH shared secret."""
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=SETUP_INFO).derive(
        shared_secret
    )
    return DerivedKeys(token=okm[0:12], bind_key=okm[12:28], a_key=okm[28:44])


def encrypt_device_id(a_key: bytes, device_id: bytes) -> bytes:
    """The device id as the sensor expects it: AES-CCM under ``A``, 4-byte tag appended."""
    return AESCCM(a_key, tag_length=4).encrypt(DEVICE_ID_NONCE, device_id, DEVICE_ID_AAD)


def new_device_id(choice: Callable[[str], str] = secrets.choice) -> bytes:
    """A fresh device id for a sensor that has none: ``\\0blt.3.`` and 13 random characters."""
    prefix = b"\0blt.3."
    tail = "".join(choice(_ID_ALPHABET) for _ in range(DEVICE_ID_LENGTH - len(prefix)))
    return prefix + tail.encode()


def public_key_bytes(key: ec.EllipticCurvePublicKey) -> bytes:
    """A P-256 public key as the protocol sends it: X‖Y, 32 bytes each, big-endian."""
    numbers = key.public_numbers()
    return numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")


def public_key_from_bytes(raw: bytes) -> ec.EllipticCurvePublicKey:
    """The inverse of :func:`public_key_bytes`; :class:`ActivationError` if not on the curve."""
    if len(raw) != 64:
        raise ActivationError(f"the sensor sent a public key of {len(raw)} bytes, not 64")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + raw)
    except ValueError:
        raise ActivationError("the sensor sent an invalid public key") from None


def parcel_header(kind: int, frames: int) -> bytes:
    """The header announcing a parcel of ``frames`` frames of type ``kind``."""
    return bytes((0, 0, 0, kind)) + frames.to_bytes(2, "little")


def parcel_frames(data: bytes) -> list[bytes]:
    """``data`` cut into parcel frames ``[i, 0] + ≤ 18 bytes``, ``i`` from 1."""
    return [
        (index + 1).to_bytes(2, "little") + data[offset : offset + FRAME_DATA]
        for index, offset in enumerate(range(0, len(data), FRAME_DATA))
    ]


def frame_count(length: int) -> int:
    """How many frames a parcel of ``length`` bytes takes."""
    return -(-length // FRAME_DATA)


class _Receiver:
    """Collects one incoming parcel: header, then frames 1..n."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.kind: int | None = None
        self.expected = 0
        self.frames: dict[int, bytes] = {}

    @property
    def started(self) -> bool:
        return self.kind is not None

    def header(self, data: bytes) -> None:
        count = int.from_bytes(data[4:6], "little")
        if not 0 < count <= MAX_FRAMES:
            raise ActivationError(f"the sensor announced its {self.what} in {count} frames")
        self.kind = data[3]
        self.expected = count
        self.frames = {}

    def frame(self, data: bytes) -> bytes | None:
        """Add a frame; the whole parcel once its last frame is in, else None."""
        index = int.from_bytes(data[0:2], "little")
        if not 1 <= index <= self.expected:
            raise ActivationError(
                f"the sensor sent frame {index} of its {self.what} ({self.expected} announced)"
            )
        self.frames[index] = bytes(data[2:])
        if len(self.frames) < self.expected:
            return None
        return b"".join(self.frames[i] for i in range(1, self.expected + 1))


class Step(Enum):
    """Where the exchange stands."""

    IDLE = "idle"
    RECEIVE_INFO = "receive the sensor's info"
    SEND_KEY = "send our public key"
    RECEIVE_KEY = "receive the sensor's public key"
    SEND_ID = "send the device id"
    CONFIRM = "wait for the sensor's verdict"
    DONE = "done"


def _is_header(data: bytes) -> bool:
    return len(data) == 6 and data[0:3] == b"\0\0\0"


class Activation:
    """The client side of Mi activation, fed with notifications, answering with writes.

    Enable notifications on :data:`CONTROL` and :data:`PARCELS`, make the writes of
    :meth:`start`, then pass every notification to :meth:`feed` and make the writes it
    returns, in order, until :attr:`result` is set. :meth:`feed` raises
    :class:`ActivationRefused` when the sensor says no, :class:`ActivationError` for
    anything it cannot go on with.

    ``private_key`` and ``device_id`` may be given for reproducible exchanges; by default
    a new key pair is made and the device id is the one the sensor reports (or a new one).
    """

    def __init__(
        self,
        *,
        private_key: ec.EllipticCurvePrivateKey | None = None,
        device_id: bytes | None = None,
    ) -> None:
        self._private = private_key or ec.generate_private_key(ec.SECP256R1())
        self._public = public_key_bytes(self._private.public_key())
        self._chosen_id = device_id
        self.step = Step.IDLE
        self._incoming = _Receiver("info")
        self._outgoing: bytes = b""
        self._sent_frames = False
        self._keys: DerivedKeys | None = None
        self._device_id: bytes = b""
        #: The sensor's info parcel, once received.
        self.info: bytes | None = None
        #: Set once the sensor accepted the activation.
        self.result: ActivationResult | None = None

    @property
    def done(self) -> bool:
        return self.result is not None

    def start(self) -> list[Write]:
        """The first write: ask the sensor for its info."""
        self.step = Step.RECEIVE_INFO
        return [Write(CONTROL, GET_INFO)]

    def feed(self, char: str, data: bytes) -> list[Write]:
        """One notification from ``char`` (:data:`CONTROL` or :data:`PARCELS`)."""
        data = bytes(data)
        if char.lower() == CONTROL:
            return self._control(data)
        if char.lower() == PARCELS:
            return self._parcel(data)
        return []

    # -- control -----------------------------------------------------------------------

    def _control(self, data: bytes) -> list[Write]:
        if data == REFUSED:
            self.step = Step.DONE
            raise ActivationRefused(
                "the sensor refused the activation (it did not accept our device id)"
            )
        if data == ACCEPTED and self.step is Step.CONFIRM:
            assert self._keys is not None
            self.step = Step.DONE
            self.result = ActivationResult(
                bind_key=self._keys.bind_key, token=self._keys.token, device_id=self._device_id
            )
        return []

    # -- parcels -----------------------------------------------------------------------

    def _parcel(self, data: bytes) -> list[Write]:
        if data.startswith(TRANSFER_FAILED_PREFIX):
            raise ActivationError(
                f"the sensor reported a failed transfer while we {self.step.value} "
                f"({data.hex(' ')})"
            )
        step = self.step
        if step in (Step.RECEIVE_INFO, Step.RECEIVE_KEY):
            return self._receive(data)
        if step in (Step.SEND_KEY, Step.SEND_ID):
            if data == READY and not self._sent_frames:
                self._sent_frames = True
                return [Write(PARCELS, frame) for frame in parcel_frames(self._outgoing)]
            if data == RECEIVED and self._sent_frames:
                return self._sent()
            if step is Step.SEND_KEY and self._sent_frames and _is_header(data):
                # The sensor went straight on to its own key without acknowledging ours.
                self.step = Step.RECEIVE_KEY
                self._incoming = _Receiver("public key")
                return self._receive(data)
        return []

    def _receive(self, data: bytes) -> list[Write]:
        incoming = self._incoming
        if _is_header(data):
            incoming.header(data)
            return [Write(PARCELS, READY)]
        if not incoming.started or len(data) < 2:
            return []
        parcel = incoming.frame(data)
        if parcel is None:
            return []
        if self.step is Step.RECEIVE_INFO:
            return [Write(PARCELS, RECEIVED), *self._got_info(parcel)]
        return [Write(PARCELS, RECEIVED), *self._got_key(parcel)]

    def _got_info(self, info: bytes) -> list[Write]:
        self.info = info
        self._device_id = self._chosen_id or (info[4:] if len(info) > 4 else new_device_id())
        self._send(Step.SEND_KEY, self._public)
        return [
            Write(CONTROL, KEY_FOLLOWS),
            Write(PARCELS, parcel_header(TYPE_PUBLIC_KEY, frame_count(len(self._public)))),
        ]

    def _got_key(self, raw: bytes) -> list[Write]:
        theirs = public_key_from_bytes(raw[:64] if len(raw) >= 64 else raw)
        shared = self._private.exchange(ec.ECDH(), theirs)
        self._keys = derive_keys(shared)
        ciphertext = encrypt_device_id(self._keys.a_key, self._device_id)
        self._send(Step.SEND_ID, ciphertext)
        return [Write(PARCELS, parcel_header(TYPE_DEVICE_ID, frame_count(len(ciphertext))))]

    def _send(self, step: Step, data: bytes) -> None:
        self.step = step
        self._outgoing = data
        self._sent_frames = False

    def _sent(self) -> list[Write]:
        if self.step is Step.SEND_KEY:
            self.step = Step.RECEIVE_KEY
            self._incoming = _Receiver("public key")
            return []
        self.step = Step.CONFIRM
        return [Write(CONTROL, CONFIRM)]

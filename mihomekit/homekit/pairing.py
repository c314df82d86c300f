"""HAP pairing: pair-setup (M1-M6), pair-verify (M1-M4) and the admin's /pairings.

Pair-setup starts only while the bridge's pairing window is open (:mod:`.window`). One
runs at a time; a second controller gets Busy until the first finishes or expires, and who
goes next is decided so that nobody can hold it (:mod:`.turns`). Failed proofs are counted
(:mod:`.attempts`). A pairing that is added or removed is answered only after the pairing
state is durably written; if that write fails the controller gets an error and the
previous pairings stay, in memory and on disk.

Request bodies are untrusted: anything malformed is answered with kTLVError_Unknown.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from mihomekit.logthrottle import LogThrottle

from . import tlv
from .attempts import Lock, PairingAttempts
from .hap_python import HapAccessory, HapState
from .limits import ServerLimits
from .session import hkdf_sha512, nonce
from .srp import SrpError, SrpServer
from .tlv import Tag, TlvError
from .turns import Outcome, SetupTurns
from .window import PairingWindow

__all__ = [
    "ConnectionPairing",
    "MalformedRequest",
    "Pairing",
    "PairingDriver",
    "Reply",
    "TlvErr",
]

_LOGGER = logging.getLogger(__name__)


class PairingDriver(Protocol):
    """What pairing needs of the bridge's driver
    (:class:`~mihomekit.homekit.driver.BridgeDriver`)."""

    @property
    def state(self) -> HapState: ...

    @property
    def accessory(self) -> HapAccessory | None: ...

    @property
    def pairing_window(self) -> PairingWindow: ...


class TlvErr:
    """kTLVError codes."""

    UNKNOWN = 0x01
    AUTHENTICATION = 0x02
    BACKOFF = 0x03
    MAX_PEERS = 0x04
    MAX_TRIES = 0x05
    UNAVAILABLE = 0x06
    BUSY = 0x07


ADMIN = 0x01
_METHOD_ADD = 3
_METHOD_REMOVE = 4
_METHOD_LIST = 5


def _error(state: int, code: int) -> bytes:
    return tlv.encode((Tag.STATE, bytes([state])), (Tag.ERROR, bytes([code])))


def _raw(public_key: ed25519.Ed25519PublicKey | x25519.X25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _controller_id(raw: bytes) -> uuid.UUID:
    """A controller's pairing identifier; HAP controllers use a UUID string."""
    try:
        return uuid.UUID(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as err:
        raise TlvError("pairing identifier is not a UUID") from err


def _need(items: dict[int, bytes], tag: int, size: int | None = None) -> bytes:
    value = items.get(tag)
    if value is None:
        raise TlvError(f"item 0x{tag:02x} missing")
    if size is not None and len(value) != size:
        raise TlvError(f"item 0x{tag:02x} is {len(value)} bytes, not {size}")
    return value


@dataclass
class Reply:
    """A pairing response body, and what to do once it has been sent."""

    body: bytes
    #: After the response: switch the connection to this session secret (pair-verify).
    session_secret: bytes | None = None
    #: After the response: the pairings changed (update mDNS, close removed controllers).
    pairings_changed: bool = False


@dataclass
class _Setup:
    #: None while the SRP session is being made (the turn is taken all the same).
    srp: SrpServer | None
    #: The first M1's time: the deadline does not move with a repeated M1.
    started: float
    step: int = 2


@dataclass
class _Verify:
    client_public: bytes
    accessory_public: bytes
    shared: bytes
    key: bytes


@dataclass(eq=False)
class ConnectionPairing:
    """The pairing state of one connection."""

    peer: str
    ip: str = "?"
    setup: _Setup | None = None
    verify: _Verify | None = None
    controller: uuid.UUID | None = None


class Pairing:
    """The pairing endpoints of one bridge."""

    def __init__(
        self,
        driver: PairingDriver,
        attempts: PairingAttempts,
        limits: ServerLimits,
        save: Callable[[], Awaitable[None]],
    ) -> None:
        self._driver = driver
        self._attempts = attempts
        self._limits = limits
        self._save = save
        self._window: PairingWindow = driver.pairing_window
        self._setup_owner: ConnectionPairing | None = None
        self.turns = SetupTurns(limits.pair_setup_timeout)
        self._log = LogThrottle(_LOGGER, interval=60.0)

    @property
    def _state(self) -> HapState:
        return self._driver.state

    # -- pair-setup ------------------------------------------------------------------------

    async def pair_setup(self, conn: ConnectionPairing, body: bytes) -> Reply:
        expected = 2
        try:
            items = tlv.decode(body)
            state = _need(items, Tag.STATE, 1)[0]
            expected = state + 1
            if state == 1:
                return await self._setup_m1(conn)
            if state == 3:
                return await self._setup_m3(conn, items)
            if state == 5:
                return await self._setup_m5(conn, items)
            raise TlvError(f"pair-setup state {state}")
        except TlvError as err:
            self._end_setup(conn, "abandoned")
            reply = _error(expected if expected <= 6 else 2, TlvErr.UNKNOWN)
            raise MalformedRequest(str(err), reply) from None

    def _end_setup(self, conn: ConnectionPairing, outcome: Outcome) -> None:
        """The pair-setup of ``conn`` (if any) is over; if it held the turn, pass it on."""
        if conn.setup is None:
            return
        conn.setup = None
        if self._setup_owner is conn:
            self._setup_owner = None
            self.turns.ended(conn.ip, outcome)

    async def _setup_m1(self, conn: ConnectionPairing) -> Reply:
        if self._state.paired:
            return Reply(_error(2, TlvErr.UNAVAILABLE))
        if not self._window.is_open():
            self._log.warning(
                "window",
                "pair-setup from %s refused: the pairing window is closed (`mihomekit pairing "
                "open` opens it)",
                conn.ip,
            )
            return Reply(_error(2, TlvErr.UNAVAILABLE))
        self._log.forget("window")
        lock = self._attempts.lock
        if lock is Lock.MAX_TRIES:
            return Reply(_error(2, TlvErr.MAX_TRIES))
        if lock is Lock.BUSY:
            return Reply(_error(2, TlvErr.BUSY))
        now = time.monotonic()
        started = now
        owner = self._setup_owner
        holding = False
        if owner is not None and owner.setup is not None:
            age = now - owner.setup.started
            if age >= self._limits.pair_setup_timeout:
                _LOGGER.info("pair-setup from %s expired after %.0f s", owner.peer, age)
                self._end_setup(owner, "abandoned")
            elif owner is not conn:
                self.turns.refused(conn.ip, owner.ip)
                self._log.info(
                    f"busy:{conn.ip}",
                    "pair-setup from %s refused: %s is pairing",
                    conn.peer,
                    owner.peer,
                )
                return Reply(_error(2, TlvErr.BUSY))
            else:  # M1 again on the same connection: a new exchange, the same deadline
                holding = True
                started = owner.setup.started
        if not holding:
            if self.turns.reserved_against(conn.ip):
                self._log.info(
                    f"turn:{conn.ip}",
                    "pair-setup from %s refused: it is the turn of %s, who waited",
                    conn.peer,
                    ", ".join(sorted(self.turns.reserved)),
                )
                return Reply(_error(2, TlvErr.BUSY))
            self.turns.started()
        self._setup_owner = conn
        setup = conn.setup = _Setup(None, started)
        srp = await asyncio.to_thread(SrpServer, bytes(self._state.pincode))
        if conn.setup is not setup or self._setup_owner is not conn:
            return Reply(_error(2, TlvErr.UNKNOWN))  # the connection closed meanwhile
        setup.srp = srp
        return Reply(
            tlv.encode((Tag.STATE, b"\x02"), (Tag.SALT, srp.salt), (Tag.PUBLIC_KEY, srp.public_key))
        )

    def _current_setup(self, conn: ConnectionPairing, step: int) -> _Setup | None:
        setup = conn.setup
        if setup is None or setup.step != step or self._setup_owner is not conn:
            return None
        if time.monotonic() - setup.started >= self._limits.pair_setup_timeout:
            self._end_setup(conn, "abandoned")
            return None
        return setup

    async def _setup_m3(self, conn: ConnectionPairing, items: dict[int, bytes]) -> Reply:
        setup = self._current_setup(conn, 2)
        if setup is None or setup.srp is None:
            return Reply(_error(4, TlvErr.UNKNOWN))
        srp = setup.srp
        client_key = _need(items, Tag.PUBLIC_KEY)
        proof = _need(items, Tag.PROOF)
        try:
            await asyncio.to_thread(srp.set_client_public_key, client_key)
        except SrpError as err:
            _LOGGER.warning("pair-setup from %s refused: %s", conn.peer, err)
            self._end_setup(conn, "wrong_code")
            self._attempts.failed()
            return Reply(_error(4, TlvErr.AUTHENTICATION))
        server_proof = srp.verify(proof)
        if server_proof is None:
            _LOGGER.warning("pair-setup from %s: wrong setup code", conn.peer)
            self._end_setup(conn, "wrong_code")
            self._attempts.failed()
            return Reply(_error(4, TlvErr.AUTHENTICATION))
        setup.step = 4
        return Reply(tlv.encode((Tag.STATE, b"\x04"), (Tag.PROOF, server_proof)))

    async def _setup_m5(self, conn: ConnectionPairing, items: dict[int, bytes]) -> Reply:
        setup = self._current_setup(conn, 4)
        if setup is None or setup.srp is None or setup.srp.session_key is None:
            return Reply(_error(6, TlvErr.UNKNOWN))
        secret = setup.srp.session_key
        setup.step = 6  # no second M5: whatever happens now, this pair-setup ends here
        reply = Reply(_error(6, TlvErr.UNKNOWN))
        try:
            reply = await self._pair(secret, items)
        finally:
            self._end_setup(conn, "paired" if reply.pairings_changed else "wrong_code")
        return reply

    async def _pair(self, secret: bytes, items: dict[int, bytes]) -> Reply:
        """M5 → M6: check the controller's signature, save the pairing, sign the answer."""
        key = hkdf_sha512(secret, b"Pair-Setup-Encrypt-Salt", b"Pair-Setup-Encrypt-Info")
        try:
            plain = ChaCha20Poly1305(key).decrypt(
                nonce(b"PS-Msg05"), _need(items, Tag.ENCRYPTED_DATA), None
            )
        except InvalidTag:
            return Reply(_error(6, TlvErr.AUTHENTICATION))
        sub = tlv.decode(plain)
        identifier = _need(sub, Tag.IDENTIFIER)
        controller_ltpk = _need(sub, Tag.PUBLIC_KEY, 32)
        signature = _need(sub, Tag.SIGNATURE, 64)
        controller = _controller_id(identifier)
        signed = hkdf_sha512(
            secret, b"Pair-Setup-Controller-Sign-Salt", b"Pair-Setup-Controller-Sign-Info"
        )
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(controller_ltpk).verify(
                signature, signed + identifier + controller_ltpk
            )
        except (InvalidSignature, ValueError):
            return Reply(_error(6, TlvErr.AUTHENTICATION))

        state = self._state
        if state.paired:  # another controller finished first (cannot happen: one at a time)
            return Reply(_error(6, TlvErr.UNAVAILABLE))
        saved = await self._change(
            lambda: state.add_paired_client(identifier, controller_ltpk, bytes([ADMIN])),
            f"pairing with {controller}",
        )
        if not saved:
            return Reply(_error(6, TlvErr.UNKNOWN))
        self._attempts.succeeded()
        _LOGGER.info("paired with controller %s (admin)", controller)

        accessory_id = state.mac.encode()
        accessory_ltpk = _raw(state.public_key)
        material = (
            hkdf_sha512(
                secret, b"Pair-Setup-Accessory-Sign-Salt", b"Pair-Setup-Accessory-Sign-Info"
            )
            + accessory_id
            + accessory_ltpk
        )
        answer = tlv.encode(
            (Tag.IDENTIFIER, accessory_id),
            (Tag.PUBLIC_KEY, accessory_ltpk),
            (Tag.SIGNATURE, state.private_key.sign(material)),
        )
        sealed = ChaCha20Poly1305(key).encrypt(nonce(b"PS-Msg06"), answer, None)
        return Reply(
            tlv.encode((Tag.STATE, b"\x06"), (Tag.ENCRYPTED_DATA, sealed)),
            pairings_changed=True,
        )

    # -- pair-verify -----------------------------------------------------------------------

    async def pair_verify(self, conn: ConnectionPairing, body: bytes) -> Reply:
        expected = 2
        try:
            items = tlv.decode(body)
            state = _need(items, Tag.STATE, 1)[0]
            expected = state + 1
            if state == 1:
                return self._verify_m1(conn, items)
            if state == 3:
                return self._verify_m3(conn, items)
            raise TlvError(f"pair-verify state {state}")
        except TlvError as err:
            conn.verify = None
            reply = _error(expected if expected <= 4 else 2, TlvErr.UNKNOWN)
            raise MalformedRequest(str(err), reply) from None

    def _verify_m1(self, conn: ConnectionPairing, items: dict[int, bytes]) -> Reply:
        conn.verify = None
        if not self._state.paired:
            return Reply(_error(2, TlvErr.AUTHENTICATION))
        client_public = _need(items, Tag.PUBLIC_KEY, 32)
        own = x25519.X25519PrivateKey.generate()
        own_public = _raw(own.public_key())
        try:
            shared = own.exchange(x25519.X25519PublicKey.from_public_bytes(client_public))
        except ValueError as err:  # an all-zero shared secret (a low-order point)
            raise TlvError("unusable session key") from err
        accessory_id = self._state.mac.encode()
        signature = self._state.private_key.sign(own_public + accessory_id + client_public)
        key = hkdf_sha512(shared, b"Pair-Verify-Encrypt-Salt", b"Pair-Verify-Encrypt-Info")
        sealed = ChaCha20Poly1305(key).encrypt(
            nonce(b"PV-Msg02"),
            tlv.encode((Tag.IDENTIFIER, accessory_id), (Tag.SIGNATURE, signature)),
            None,
        )
        conn.verify = _Verify(client_public, own_public, shared, key)
        return Reply(
            tlv.encode(
                (Tag.STATE, b"\x02"), (Tag.PUBLIC_KEY, own_public), (Tag.ENCRYPTED_DATA, sealed)
            )
        )

    def _verify_m3(self, conn: ConnectionPairing, items: dict[int, bytes]) -> Reply:
        verify, conn.verify = conn.verify, None
        if verify is None:
            return Reply(_error(4, TlvErr.UNKNOWN))
        try:
            plain = ChaCha20Poly1305(verify.key).decrypt(
                nonce(b"PV-Msg03"), _need(items, Tag.ENCRYPTED_DATA), None
            )
        except InvalidTag:
            return Reply(_error(4, TlvErr.AUTHENTICATION))
        sub = tlv.decode(plain)
        identifier = _need(sub, Tag.IDENTIFIER)
        signature = _need(sub, Tag.SIGNATURE, 64)
        controller = _controller_id(identifier)
        ltpk = self._state.paired_clients.get(controller)
        if ltpk is None:
            _LOGGER.warning("pair-verify from %s: %s is not paired", conn.peer, controller)
            return Reply(_error(4, TlvErr.AUTHENTICATION))
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(ltpk).verify(
                signature, verify.client_public + identifier + verify.accessory_public
            )
        except (InvalidSignature, ValueError):
            _LOGGER.warning("pair-verify from %s: bad signature for %s", conn.peer, controller)
            return Reply(_error(4, TlvErr.AUTHENTICATION))
        conn.controller = controller
        if controller not in self._state.uuid_to_bytes:
            self._state.uuid_to_bytes[controller] = identifier
        return Reply(tlv.encode((Tag.STATE, b"\x04")), session_secret=verify.shared)

    # -- /pairings (admin) -----------------------------------------------------------------

    async def pairings(self, conn: ConnectionPairing, body: bytes) -> Reply:
        state = self._state
        if conn.controller is None or not state.is_admin(conn.controller):
            return Reply(_error(2, TlvErr.AUTHENTICATION))
        try:
            items = tlv.decode(body)
            method = _need(items, Tag.METHOD, 1)[0]
            if method == _METHOD_ADD:
                return await self._add_pairing(items)
            if method == _METHOD_REMOVE:
                return await self._remove_pairing(items)
            if method == _METHOD_LIST:
                return self._list_pairings()
            raise TlvError(f"pairings method {method}")
        except TlvError as err:
            raise MalformedRequest(str(err), _error(2, TlvErr.UNKNOWN)) from None

    async def _add_pairing(self, items: dict[int, bytes]) -> Reply:
        state = self._state
        identifier = _need(items, Tag.IDENTIFIER)
        ltpk = _need(items, Tag.PUBLIC_KEY, 32)
        permissions = _need(items, Tag.PERMISSIONS, 1)
        controller = _controller_id(identifier)
        known = state.paired_clients.get(controller)
        if known is not None and bytes(known) != ltpk:
            return Reply(_error(2, TlvErr.UNKNOWN))
        if known is None and len(state.paired_clients) >= self._limits.max_pairings:
            return Reply(_error(2, TlvErr.MAX_PEERS))
        saved = await self._change(
            lambda: state.add_paired_client(identifier, ltpk, permissions),
            f"adding controller {controller}",
        )
        if not saved:
            return Reply(_error(2, TlvErr.UNKNOWN))
        role = "admin" if permissions[0] & ADMIN else "user"
        _LOGGER.info("controller %s added (%s)", controller, role)
        return Reply(tlv.encode((Tag.STATE, b"\x02")), pairings_changed=True)

    async def _remove_pairing(self, items: dict[int, bytes]) -> Reply:
        state = self._state
        controller = _controller_id(_need(items, Tag.IDENTIFIER))
        if controller not in state.paired_clients:
            return Reply(tlv.encode((Tag.STATE, b"\x02")))
        saved = await self._change(
            lambda: self._remove(controller), f"removing controller {controller}"
        )
        if not saved:
            return Reply(_error(2, TlvErr.UNKNOWN))
        unpaired = "" if state.paired else "; the bridge is unpaired"
        _LOGGER.info("controller %s removed%s", controller, unpaired)
        if not state.paired:  # the owner removed the bridge in Apple Home: add it again
            self._window.open("the last controller was removed")
        return Reply(tlv.encode((Tag.STATE, b"\x02")), pairings_changed=True)

    def _remove(self, controller: uuid.UUID) -> None:
        state = self._state
        state.remove_paired_client(controller)
        if not state.paired and self._driver.accessory is not None:
            self._driver.accessory.reset_accessory_state()

    def _list_pairings(self) -> Reply:
        state = self._state
        items: list[tuple[int, bytes]] = [(Tag.STATE, b"\x02")]
        for index, (controller, ltpk) in enumerate(state.paired_clients.items()):
            if index:
                items.append((Tag.SEPARATOR, b""))
            identifier = state.uuid_to_bytes.get(controller) or str(controller).upper().encode()
            items += [
                (Tag.IDENTIFIER, bytes(identifier)),
                (Tag.PUBLIC_KEY, bytes(ltpk)),
                (Tag.PERMISSIONS, bytes([ADMIN if state.is_admin(controller) else 0])),
            ]
        return Reply(tlv.encode_items(items))

    # -- durable changes -------------------------------------------------------------------

    async def _change(self, mutate: Callable[[], None], what: str) -> bool:
        """Apply ``mutate`` to the pairing state and save it; undo it if saving fails."""
        state = self._state
        snapshot = {
            name: dict(getattr(state, name))
            for name in ("paired_clients", "client_properties", "uuid_to_bytes", "accessory_states")
        }
        mutate()
        try:
            await self._save()
        except OSError as err:
            for name, saved in snapshot.items():
                current = getattr(state, name)
                current.clear()
                current.update(saved)
            _LOGGER.error("%s not saved, refused: %s", what, err)
            return False
        return True

    def connection_closed(self, conn: ConnectionPairing) -> None:
        self._end_setup(conn, "abandoned")
        conn.verify = None


class MalformedRequest(Exception):
    """A pairing body that could not be understood; ``reply`` is the TLV error to send."""

    def __init__(self, reason: str, reply: bytes) -> None:
        super().__init__(reason)
        self.reply = reply

"""A raw HomeKit (HAP over IP) client for tests, over real asyncio TCP sockets.

Everything an honest controller does, step by step, and the hooks an attacker needs:

* TLV8 encoding and decoding (values longer than 255 bytes in fragments);
* HTTP/1.1 requests and responses with Content-Length, plain or in the encrypted session;
* pair-setup M1-M6 (SRP-6a, 3072-bit group, SHA-512), where M3 can carry any A and a
  proof computed from S = 0, and M5 can be sent without waiting for M6;
* pair-verify M1-M4 and the encrypted session after it (ChaCha20-Poly1305 frames);
* /accessories, /characteristics and the admin /pairings requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import struct
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TLV8 = "application/pairing+tlv8"
HAP_JSON = "application/hap+json"
DEFAULT_TIMEOUT = 10.0

# --------------------------------------------------------------------------- TLV8


class Tag(IntEnum):
    """HAP TLV tags."""

    METHOD = 0
    IDENTIFIER = 1
    SALT = 2
    PUBLIC_KEY = 3
    PROOF = 4
    ENCRYPTED_DATA = 5
    STATE = 6
    ERROR = 7
    SIGNATURE = 10
    PERMISSIONS = 11
    SEPARATOR = 0xFF


class TlvError(IntEnum):
    """HAP pairing error codes."""

    UNKNOWN = 1
    AUTHENTICATION = 2
    BACKOFF = 3
    MAX_PEERS = 4
    MAX_TRIES = 5
    UNAVAILABLE = 6
    BUSY = 7


class Method(IntEnum):
    """Methods of the /pairings endpoint."""

    ADD_PAIRING = 3
    REMOVE_PAIRING = 4
    LIST_PAIRINGS = 5


class MalformedTlv(ValueError):
    """A TLV8 body that ends inside an item."""


TlvValue = bytes | int


def tlv_encode(*items: tuple[int, TlvValue]) -> bytes:
    """Encode (tag, value) pairs; an int value is one byte, long values are fragmented."""
    out = bytearray()
    for tag, value in items:
        data = bytes([value]) if isinstance(value, int) else bytes(value)
        if not data:
            out += bytes([tag, 0])
        for start in range(0, len(data), 255):
            chunk = data[start : start + 255]
            out += bytes([tag, len(chunk)]) + chunk
    return bytes(out)


def tlv_items(data: bytes) -> list[tuple[int, bytes]]:
    """Decode into (tag, value) pairs, joining the fragments of a long value."""
    items: list[tuple[int, bytes]] = []
    pos = 0
    continues = False
    while pos < len(data):
        if pos + 2 > len(data):
            raise MalformedTlv(f"item header cut at byte {pos}")
        tag, length = data[pos], data[pos + 1]
        value = data[pos + 2 : pos + 2 + length]
        if len(value) != length:
            raise MalformedTlv(f"value of tag {tag} cut: {len(value)} of {length} bytes")
        if continues and items and items[-1][0] == tag:
            items[-1] = (tag, items[-1][1] + value)
        else:
            items.append((tag, value))
        continues = length == 255
        pos += 2 + length
    return items


def tlv_dict(data: bytes) -> dict[int, bytes]:
    """Decode into a dict (the first value of each tag)."""
    out: dict[int, bytes] = {}
    for tag, value in tlv_items(data):
        out.setdefault(tag, value)
    return out


def tlv_int(items: dict[int, bytes], tag: int) -> int | None:
    """A one-byte (or little-endian) integer value, None when the tag is absent."""
    if tag not in items:
        return None
    return int.from_bytes(items[tag], "little")


# --------------------------------------------------------------------------- HTTP/1.1


class ConnectionClosed(ConnectionError):
    """The accessory closed the connection before a whole response arrived."""


@dataclass
class HttpResponse:
    """One HTTP response: status, lower-cased headers and the body."""

    status: int
    reason: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def tlv(self) -> dict[int, bytes]:
        return tlv_dict(self.body)


def http_request(
    method: str,
    path: str,
    body: bytes = b"",
    content_type: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> bytes:
    """An HTTP/1.1 request as bytes, with Content-Length whenever there is a body."""
    lines = [f"{method} {path} HTTP/1.1", "Host: hap.local"]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    lines.extend(f"{name}: {value}" for name, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def parse_head(head: bytes) -> tuple[int, str, dict[str, str]]:
    """Status line and headers of a response head (without the blank line)."""
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    if not version.startswith("HTTP/1."):
        raise ValueError(f"not an HTTP response: {status_line!r}")
    code, _, reason = rest.partition(" ")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(code), reason, headers


# --------------------------------------------------------------------------- crypto helpers


def hkdf_sha512(key: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA512(), length=length, salt=salt, info=info).derive(key)


def nonce(label: bytes) -> bytes:
    """A pairing nonce such as b"PS-Msg05", padded to 12 bytes with leading zeros."""
    return bytes(12 - len(label)) + label


def counter_nonce(counter: int) -> bytes:
    """The session nonce: 4 zero bytes and the 64-bit little-endian frame counter."""
    return bytes(4) + struct.pack("<Q", counter)


def raw_public(key: ed25519.Ed25519PublicKey | x25519.X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# --------------------------------------------------------------------------- SRP-6a (HAP)

N = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879"
    "8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B"
    "0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA4836"
    "1C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804"
    "F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6"
    "955817183995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64"
    "ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7ABF5AE8CDB0933D71E8C94E04A25619DCEE3D226"
    "1AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2"
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
    16,
)
G = 5
N_BYTES = 384
SRP_USER = b"Pair-Setup"
# The session key an attacker knows when the accessory computes S = 0 (A ≡ 0 mod N).
ZERO_S_KEY = hashlib.sha512(bytes(N_BYTES)).digest()


def _h(*parts: bytes) -> bytes:
    return hashlib.sha512(b"".join(parts)).digest()


def _pad(value: bytes | int) -> bytes:
    """Left-pad to the 384-byte group size (longer values are kept whole)."""
    if isinstance(value, int):
        value = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    return bytes(max(0, N_BYTES - len(value))) + value


def _int(data: bytes) -> int:
    return int.from_bytes(data, "big")


_K = _int(_h(_pad(N), _pad(G)))
_HN_XOR_HG = bytes(a ^ b for a, b in zip(_h(_pad(N)), _h(bytes([G])), strict=True))


def srp_proof(public_a: bytes, public_b: bytes, salt: bytes, key: bytes) -> bytes:
    """The controller proof M1 = H(H(N) xor H(g) | H(I) | s | PAD(A) | PAD(B) | K)."""
    return _h(_HN_XOR_HG, _h(SRP_USER), salt, _pad(public_a), _pad(public_b), key)


def srp_server_proof(public_a: bytes, proof: bytes, key: bytes) -> bytes:
    """The accessory proof H(PAD(A) | M1 | K)."""
    return _h(_pad(public_a), proof, key)


@dataclass
class SrpResult:
    """What M3 carries (A, M1), the session key K and the accessory's expected proof."""

    public_a: bytes
    proof: bytes
    key: bytes
    server_proof: bytes


def srp_client(code: str, salt: bytes, public_b: bytes, secret: int | None = None) -> SrpResult:
    """The honest controller side of SRP for a setup code "XXX-XX-XXX"."""
    a = secret if secret is not None else _int(os.urandom(32))
    public_a = _pad(pow(G, a, N))
    b = _int(public_b)
    u = _int(_h(_pad(public_a), _pad(public_b)))
    x = _int(_h(salt, _h(SRP_USER + b":" + code.encode())))
    s = pow((b - _K * pow(G, x, N)) % N, a + u * x, N)
    key = _h(_pad(s))
    proof = srp_proof(public_a, public_b, salt, key)
    return SrpResult(public_a, proof, key, srp_server_proof(public_a, proof, key))


def zero_key_attack(public_a: bytes, salt: bytes, public_b: bytes) -> SrpResult:
    """M3 of an attacker sending an A ≡ 0 (mod N): it proves K = H(PAD(0)) without the code."""
    proof = srp_proof(public_a, public_b, salt, ZERO_S_KEY)
    return SrpResult(public_a, proof, ZERO_S_KEY, srp_server_proof(public_a, proof, ZERO_S_KEY))


# Hostile values of A: each is ≡ 0 (mod N) or longer than the group allows.
HOSTILE_A: dict[str, bytes] = {
    "zero": bytes(N_BYTES),
    "zero-one-byte": b"\x00",
    "N": N.to_bytes(N_BYTES, "big"),
    "2N": (2 * N).to_bytes(N_BYTES + 1, "big"),
    "385-bytes": b"\x01" + bytes(N_BYTES),
    "N-in-385-bytes": b"\x00" + N.to_bytes(N_BYTES, "big"),
}


# --------------------------------------------------------------------------- identities


@dataclass
class Controller:
    """A controller's long-term identity: pairing id (a UUID string) and Ed25519 key."""

    pairing_id: str = field(default_factory=lambda: str(uuid.uuid4()).upper())
    signing_key: ed25519.Ed25519PrivateKey = field(
        default_factory=ed25519.Ed25519PrivateKey.generate
    )

    @property
    def ltpk(self) -> bytes:
        return raw_public(self.signing_key.public_key())

    @property
    def ltsk(self) -> bytes:
        return self.signing_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )


@dataclass
class PairingRecord:
    """What pair-setup leaves the controller with: itself and the accessory's id and LTPK."""

    controller: Controller
    accessory_id: str
    accessory_ltpk: bytes


class PairingError(Exception):
    """The accessory answered a pairing step with an error (or nonsense)."""

    def __init__(self, state: int | None, error: int | None, detail: str = "") -> None:
        self.state = state
        self.error = error
        name = TlvError(error).name if error in set(TlvError) else error
        super().__init__(f"state {state}, error {name} {detail}".strip())


def state_error(reply: dict[int, bytes]) -> tuple[int | None, int | None]:
    """The state and error (None when absent) of a pairing reply."""
    return tlv_int(reply, Tag.STATE), tlv_int(reply, Tag.ERROR)


def check_reply(reply: dict[int, bytes], state: int) -> dict[int, bytes]:
    """Raise PairingError unless ``reply`` is an error-free message of ``state``."""
    got_state, error = state_error(reply)
    if error is not None or got_state != state:
        raise PairingError(got_state, error)
    return reply


# --------------------------------------------------------------------------- the connection


class _Session:
    """The encrypted HAP session keys and frame counters of one connection."""

    MAX_FRAME = 1024

    def __init__(self, shared_secret: bytes) -> None:
        self.write = ChaCha20Poly1305(
            hkdf_sha512(shared_secret, b"Control-Salt", b"Control-Write-Encryption-Key")
        )
        self.read = ChaCha20Poly1305(
            hkdf_sha512(shared_secret, b"Control-Salt", b"Control-Read-Encryption-Key")
        )
        self.sent = 0
        self.received = 0

    def encrypt(self, data: bytes) -> bytes:
        out = bytearray()
        for start in range(0, len(data), self.MAX_FRAME):
            chunk = data[start : start + self.MAX_FRAME]
            aad = struct.pack("<H", len(chunk))
            out += aad + self.write.encrypt(counter_nonce(self.sent), chunk, aad)
            self.sent += 1
        return bytes(out)


class HapConnection:
    """One TCP connection to the accessory: HTTP requests, plain or encrypted."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.session: _Session | None = None
        self._buffer = bytearray()

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        timeout: float = DEFAULT_TIMEOUT,
        local_host: str | None = None,
    ) -> HapConnection:
        """Connect to ``host:port`` (from ``local_host``, say 127.0.0.2, if given)."""
        local = (local_host, 0) if local_host is not None else None
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, local_addr=local), timeout
        )
        return cls(reader, writer)

    @property
    def encrypted(self) -> bool:
        return self.session is not None

    def start_session(self, shared_secret: bytes) -> None:
        """Switch to the encrypted session (after pair-verify M4)."""
        self.session = _Session(shared_secret)

    async def send(self, data: bytes) -> None:
        """Send bytes as they are (encrypted in the session)."""
        if self.session is not None:
            data = self.session.encrypt(data)
        self.writer.write(data)
        await self.writer.drain()

    async def _receive(self) -> bytes:
        """The next plaintext bytes; b"" when the accessory closed the connection."""
        if self.session is None:
            try:
                return await self.reader.read(65536)
            except ConnectionError:
                return b""
        try:
            header = await self.reader.readexactly(2)
            (length,) = struct.unpack("<H", header)
            sealed = await self.reader.readexactly(length + 16)
        except (asyncio.IncompleteReadError, ConnectionError):
            return b""
        try:
            plain = self.session.read.decrypt(counter_nonce(self.session.received), sealed, header)
        except InvalidTag as err:
            raise ConnectionError("an encrypted frame failed authentication") from err
        self.session.received += 1
        return plain

    async def _fill(self) -> None:
        data = await self._receive()
        if not data:
            raise ConnectionClosed("connection closed by the accessory")
        self._buffer += data

    async def read_response(self, timeout: float = DEFAULT_TIMEOUT) -> HttpResponse:
        """Read one whole response (head and Content-Length body)."""
        async with asyncio.timeout(timeout):
            while b"\r\n\r\n" not in self._buffer:
                await self._fill()
            end = self._buffer.index(b"\r\n\r\n")
            status, reason, headers = parse_head(bytes(self._buffer[:end]))
            del self._buffer[: end + 4]
            length = int(headers.get("content-length", "0"))
            while len(self._buffer) < length:
                await self._fill()
            body = bytes(self._buffer[:length])
            del self._buffer[:length]
            return HttpResponse(status, reason, headers, body)

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        timeout: float = DEFAULT_TIMEOUT,
    ) -> HttpResponse:
        await self.send(http_request(method, path, body, content_type, headers))
        return await self.read_response(timeout)

    async def post_tlv(
        self, path: str, body: bytes, timeout: float = DEFAULT_TIMEOUT
    ) -> dict[int, bytes]:
        """POST a TLV8 body; the TLV reply of an HTTP 200 (anything else raises)."""
        response = await self.request("POST", path, body, TLV8, timeout=timeout)
        if response.status != 200:
            raise PairingError(None, None, f"HTTP {response.status} {response.body!r}")
        return response.tlv()

    async def wait_closed(self, timeout: float) -> bool:
        """True once the accessory has closed the connection (data read meanwhile is dropped)."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    try:
                        if not await self._receive():
                            return True
                    except ConnectionError:
                        return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), 2.0)

    async def __aenter__(self) -> HapConnection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# --------------------------------------------------------------------------- pair-setup


class PairSetup:
    """One pair-setup on a connection, one message at a time.

    ``m3`` takes the hooks of an attacker: any A, and a proof made from a chosen session
    key. ``m5`` then encrypts with whatever key M3 used.
    """

    def __init__(
        self, conn: HapConnection, code: str, controller: Controller | None = None
    ) -> None:
        self.conn = conn
        self.code = code
        self.controller = controller or Controller()
        self.salt = b""
        self.public_b = b""
        self.srp: SrpResult | None = None

    async def m1(self) -> dict[int, bytes]:
        reply = await self.conn.post_tlv("/pair-setup", tlv_encode((Tag.STATE, 1), (Tag.METHOD, 0)))
        if tlv_int(reply, Tag.ERROR) is None:
            self.salt = reply.get(Tag.SALT, b"")
            self.public_b = reply.get(Tag.PUBLIC_KEY, b"")
        return reply

    def m3_body(self, public_a: bytes | None = None, zero_key: bool = False) -> bytes:
        """The M3 body: honest, or with ``public_a`` and a proof made from S = 0."""
        if public_a is None:
            self.srp = srp_client(self.code, self.salt, self.public_b)
        elif zero_key:
            self.srp = zero_key_attack(public_a, self.salt, self.public_b)
        else:
            honest = srp_client(self.code, self.salt, self.public_b)
            self.srp = SrpResult(public_a, honest.proof, honest.key, honest.server_proof)
        return tlv_encode(
            (Tag.STATE, 3), (Tag.PUBLIC_KEY, self.srp.public_a), (Tag.PROOF, self.srp.proof)
        )

    async def m3(self, public_a: bytes | None = None, zero_key: bool = False) -> dict[int, bytes]:
        return await self.conn.post_tlv("/pair-setup", self.m3_body(public_a, zero_key))

    def _keys(self) -> tuple[bytes, bytes]:
        key = self.srp.key if self.srp is not None else ZERO_S_KEY
        encrypt = hkdf_sha512(key, b"Pair-Setup-Encrypt-Salt", b"Pair-Setup-Encrypt-Info")
        sign = hkdf_sha512(
            key, b"Pair-Setup-Controller-Sign-Salt", b"Pair-Setup-Controller-Sign-Info"
        )
        return encrypt, sign

    def m5_body(self) -> bytes:
        """M5: the controller's id, LTPK and signature, encrypted with the session key."""
        encrypt, sign = self._keys()
        me = self.controller
        signature = me.signing_key.sign(sign + me.pairing_id.encode() + me.ltpk)
        sub = tlv_encode(
            (Tag.IDENTIFIER, me.pairing_id.encode()),
            (Tag.PUBLIC_KEY, me.ltpk),
            (Tag.SIGNATURE, signature),
        )
        sealed = ChaCha20Poly1305(encrypt).encrypt(nonce(b"PS-Msg05"), sub, None)
        return tlv_encode((Tag.STATE, 5), (Tag.ENCRYPTED_DATA, sealed))

    async def m5(self) -> dict[int, bytes]:
        return await self.conn.post_tlv("/pair-setup", self.m5_body())

    def check_m4(self, reply: dict[int, bytes]) -> None:
        check_reply(reply, 4)
        assert self.srp is not None
        if reply.get(Tag.PROOF) != self.srp.server_proof:
            raise PairingError(4, None, "wrong accessory proof")

    def check_m6(self, reply: dict[int, bytes]) -> PairingRecord:
        """Decrypt M6 and check the accessory's signature; the resulting pairing."""
        check_reply(reply, 6)
        encrypt, _ = self._keys()
        assert self.srp is not None
        try:
            sub = tlv_dict(
                ChaCha20Poly1305(encrypt).decrypt(
                    nonce(b"PS-Msg06"), reply.get(Tag.ENCRYPTED_DATA, b""), None
                )
            )
        except InvalidTag as err:
            raise PairingError(6, None, "M6 does not decrypt") from err
        accessory_id, ltpk = sub.get(Tag.IDENTIFIER, b""), sub.get(Tag.PUBLIC_KEY, b"")
        material = (
            hkdf_sha512(
                self.srp.key,
                b"Pair-Setup-Accessory-Sign-Salt",
                b"Pair-Setup-Accessory-Sign-Info",
            )
            + accessory_id
            + ltpk
        )
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(ltpk).verify(
                sub.get(Tag.SIGNATURE, b""), material
            )
        except (InvalidSignature, ValueError) as err:
            raise PairingError(6, None, "bad accessory signature in M6") from err
        return PairingRecord(self.controller, accessory_id.decode(), ltpk)

    async def up_to_m4(self) -> None:
        """M1 to M4 with the code; PairingError on any error reply."""
        check_reply(await self.m1(), 2)
        self.check_m4(await self.m3())

    async def run(self) -> PairingRecord:
        """The whole honest exchange; PairingError on any error reply."""
        await self.up_to_m4()
        return self.check_m6(await self.m5())


async def pair_setup(
    host: str, port: int, code: str, controller: Controller | None = None
) -> PairingRecord:
    """Pair a new controller (or ``controller``) on a connection of its own."""
    async with await HapConnection.open(host, port) as conn:
        return await PairSetup(conn, code, controller).run()


# --------------------------------------------------------------------------- pair-verify


async def pair_verify(
    conn: HapConnection, controller: Controller, accessory_ltpk: bytes | None = None
) -> None:
    """Pair-verify on ``conn`` and switch it to the encrypted session.

    Given ``accessory_ltpk`` (not empty), the accessory's signature in M2 is checked too.
    """
    ephemeral = x25519.X25519PrivateKey.generate()
    mine = raw_public(ephemeral.public_key())
    m2 = await conn.post_tlv("/pair-verify", tlv_encode((Tag.STATE, 1), (Tag.PUBLIC_KEY, mine)))
    check_reply(m2, 2)
    theirs = m2.get(Tag.PUBLIC_KEY, b"")
    try:
        shared = ephemeral.exchange(x25519.X25519PublicKey.from_public_bytes(theirs))
    except ValueError as err:
        raise PairingError(2, None, "bad accessory key in M2") from err
    key = ChaCha20Poly1305(
        hkdf_sha512(shared, b"Pair-Verify-Encrypt-Salt", b"Pair-Verify-Encrypt-Info")
    )
    try:
        sub = tlv_dict(key.decrypt(nonce(b"PV-Msg02"), m2.get(Tag.ENCRYPTED_DATA, b""), None))
    except InvalidTag as err:
        raise PairingError(2, None, "M2 does not decrypt") from err
    if accessory_ltpk:
        material = theirs + sub.get(Tag.IDENTIFIER, b"") + mine
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(accessory_ltpk).verify(
                sub.get(Tag.SIGNATURE, b""), material
            )
        except InvalidSignature as err:
            raise PairingError(2, None, "bad accessory signature in M2") from err
    me = controller.pairing_id.encode()
    signature = controller.signing_key.sign(mine + me + theirs)
    sealed = key.encrypt(
        nonce(b"PV-Msg03"),
        tlv_encode((Tag.IDENTIFIER, me), (Tag.SIGNATURE, signature)),
        None,
    )
    m4 = await conn.post_tlv(
        "/pair-verify", tlv_encode((Tag.STATE, 3), (Tag.ENCRYPTED_DATA, sealed))
    )
    check_reply(m4, 4)
    conn.start_session(shared)


async def open_verified(host: str, port: int, pairing: PairingRecord) -> HapConnection:
    """A new connection, pair-verified as ``pairing``'s controller."""
    conn = await HapConnection.open(host, port)
    try:
        await pair_verify(conn, pairing.controller, pairing.accessory_ltpk)
    except BaseException:
        await conn.close()
        raise
    return conn


# --------------------------------------------------------------------------- requests


async def get_accessories(conn: HapConnection) -> list[dict[str, Any]]:
    response = await conn.request("GET", "/accessories")
    if response.status != 200:
        raise ConnectionError(f"/accessories: HTTP {response.status} {response.body!r}")
    return list(response.json()["accessories"])


async def get_characteristics(
    conn: HapConnection, ids: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], Any]:
    """Values of (aid, iid) pairs."""
    query = ",".join(f"{aid}.{iid}" for aid, iid in ids)
    response = await conn.request("GET", f"/characteristics?id={query}")
    if response.status not in (200, 207):
        raise ConnectionError(f"/characteristics: HTTP {response.status} {response.body!r}")
    return {(c["aid"], c["iid"]): c.get("value") for c in response.json()["characteristics"]}


async def put_characteristics(
    conn: HapConnection, values: dict[tuple[int, int], Any]
) -> HttpResponse:
    body = json.dumps(
        {"characteristics": [{"aid": a, "iid": i, "value": v} for (a, i), v in values.items()]}
    ).encode()
    return await conn.request("PUT", "/characteristics", body, HAP_JSON)


def add_pairing_body(pairing_id: str, ltpk: bytes, admin: bool) -> bytes:
    return tlv_encode(
        (Tag.STATE, 1),
        (Tag.METHOD, Method.ADD_PAIRING),
        (Tag.IDENTIFIER, pairing_id.encode()),
        (Tag.PUBLIC_KEY, ltpk),
        (Tag.PERMISSIONS, 1 if admin else 0),
    )


def remove_pairing_body(pairing_id: str) -> bytes:
    return tlv_encode(
        (Tag.STATE, 1),
        (Tag.METHOD, Method.REMOVE_PAIRING),
        (Tag.IDENTIFIER, pairing_id.encode()),
    )


async def add_pairing(
    conn: HapConnection, pairing_id: str, ltpk: bytes, admin: bool = False
) -> dict[int, bytes]:
    return await conn.post_tlv("/pairings", add_pairing_body(pairing_id, ltpk, admin))


async def remove_pairing(conn: HapConnection, pairing_id: str) -> dict[int, bytes]:
    return await conn.post_tlv("/pairings", remove_pairing_body(pairing_id))


async def list_pairings(conn: HapConnection) -> dict[str, tuple[bytes, int]]:
    """The accessory's pairings: {pairing id: (LTPK, permissions)}."""
    body = tlv_encode((Tag.STATE, 1), (Tag.METHOD, Method.LIST_PAIRINGS))
    response = await conn.request("POST", "/pairings", body, TLV8)
    if response.status != 200:
        raise PairingError(None, None, f"HTTP {response.status}")
    items = tlv_items(response.body)
    out: dict[str, tuple[bytes, int]] = {}
    current: dict[int, bytes] = {}
    for tag, value in [*items, (Tag.SEPARATOR, b"")]:
        if tag == Tag.ERROR:
            raise PairingError(2, value[0] if value else None)
        if tag == Tag.SEPARATOR:
            if Tag.IDENTIFIER in current:
                out[current[Tag.IDENTIFIER].decode()] = (
                    current.get(Tag.PUBLIC_KEY, b""),
                    current.get(Tag.PERMISSIONS, b"\x00")[0],
                )
            current = {}
        elif tag != Tag.STATE:
            current[tag] = value
    return out

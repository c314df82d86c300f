"""Pair-setup SRP: the bridge agrees with a controller even when a value starts with 0x00.

The cases below were found by search: a server secret whose B has a leading zero byte, and
controller/server secrets whose premaster secret S, or session key K, does. HAP-python's
own server disagrees with the controller on each (pairing fails as if the code were
wrong); the bridge's server agrees on the proof, the server's answer and the session key.
"""

from __future__ import annotations

import hashlib

import pytest
from aiohomekit.crypto.srp import SrpClient, pad_left, to_byte_array
from pyhap import hap_handler
from pyhap.hsrp import Server
from pyhap.params import get_srp_context
from pyhap.util import long_to_bytes

from mihomekit.accessories.srp import PaddedSrpServer, SessionKey, install

CTX = get_srp_context(3072, hashlib.sha512, 16)
SALT = bytes(range(1, 17))
PIN = "182-11-234"
B_SHORT = 0x82F7C3694DC25119326400FF2DF2AB4DA288672512F4A87BCB0FCFEABFFDA638
S_SHORT = (
    0x37FC9D8CDAD007259268E8B30B576E5C7AAFE37779E4D44D58170C3BB7D19442,
    0xE972065C05210F5257AC24E3A40530AC7B860D1F397A3FB25E998BE30487BC5B,
)
K_SHORT = (
    0x96B298D8AD2A3A8BE50EDFE260F8E6FE8B5D78A96F9646C48177324F039ECF4E,
    0x121DF5D5147C66A43F66D797F4D4684ED1CEC5BC2B60F0145B5A1F8FF0B9E2E4,
)
CLIENT_SECRET = 0x5EED


def _handshake(server: Server, client_secret: int) -> tuple[bool, bool]:
    """Run M1-M4 as on the wire; (server accepts the proof, both derive the same key)."""
    install()
    client = SrpClient("Pair-Setup", PIN)
    client.a = client_secret
    client.A = pow(client.g, client_secret, client.n)
    client.A_b = pad_left(to_byte_array(client.A), 384)
    salt, public_b = server.get_challenge()
    client.set_salt(bytearray(salt))
    client.set_server_public_key(long_to_bytes(public_b))  # what M2 carries
    server.set_A(bytes(client.A_b))
    answer = server.verify(client.get_proof_bytes())
    accepted = answer is not None and client.verify_servers_proof_bytes(answer)
    same_key = hap_handler.long_to_bytes(server.get_session_key()) == bytes(
        client.get_session_key_bytes()
    )
    return accepted, same_key


def _padded(secret: int) -> PaddedSrpServer:
    return PaddedSrpServer(CTX, b"Pair-Setup", PIN.encode(), salt=SALT, secret=secret)


def _original(secret: int) -> Server:
    return Server(CTX, b"Pair-Setup", PIN.encode(), s=SALT, b=secret)


def test_public_key_with_leading_zero() -> None:
    assert len(long_to_bytes(_original(B_SHORT).B)) < 384
    assert _handshake(_original(B_SHORT), CLIENT_SECRET)[0] is False
    server = _padded(B_SHORT)
    assert len(long_to_bytes(server.B)) == 384  # a new secret was drawn
    assert _handshake(server, CLIENT_SECRET) == (True, True)


@pytest.mark.parametrize(("case", "secrets"), [("S", S_SHORT), ("K", K_SHORT)])
def test_shared_secret_or_key_with_leading_zero(case: str, secrets: tuple[int, int]) -> None:
    client_secret, server_secret = secrets
    assert _handshake(_original(server_secret), client_secret) != (True, True), case
    assert _handshake(_padded(server_secret), client_secret) == (True, True), case


def test_ordinary_values_and_key_conversion() -> None:
    assert _handshake(_padded(B_SHORT + 1), CLIENT_SECRET) == (True, True)
    install()
    assert hap_handler.long_to_bytes(SessionKey(1)) == bytes(63) + b"\x01"
    assert hap_handler.long_to_bytes(0x0102) == b"\x01\x02"  # everything else unchanged


def test_wrong_code_is_still_refused() -> None:
    server = PaddedSrpServer(CTX, b"Pair-Setup", b"111-22-333", salt=SALT, secret=B_SHORT + 1)
    assert _handshake(server, CLIENT_SECRET)[0] is False

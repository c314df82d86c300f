"""miIO: packet codec (pure) and the client against the simulator over loopback UDP."""

from __future__ import annotations

import hashlib
import json
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from gateway_helpers import MIIO_HOST

from mihomekit.errors import MiioError
from mihomekit.sources.miio import DeviceError, MiioClient, discover, protocol
from mihomekit.sources.miio.simulator import MiioSimulator

TOKEN_HEX = "00112233445566778899aabbccddeeff"
TOKEN = bytes.fromhex(TOKEN_HEX)
OTHER = "ffeeddccbbaa99887766554433221100"

# --------------------------------------------------------------------------- protocol


def test_hello_bytes() -> None:
    assert bytes.fromhex("21310020" + "ff" * 28) == protocol.HELLO
    packet = protocol.parse_packet(protocol.HELLO)
    assert packet.is_hello and packet.revealed_token is None


def test_hello_reply_reveals_token_only_when_set() -> None:
    hidden = protocol.parse_packet(protocol.build_hello_reply(0x0483EA5C, 77))
    assert (hidden.did, hidden.stamp, hidden.revealed_token) == (0x0483EA5C, 77, None)
    zeros = protocol.parse_packet(protocol.build_hello_reply(1, 2, b"\x00" * 16))
    assert zeros.revealed_token is None
    shown = protocol.parse_packet(protocol.build_hello_reply(1, 2, TOKEN))
    assert shown.revealed_token == TOKEN


def test_packet_layout_checksum_and_encryption_independently() -> None:
    payload = protocol.encode_payload({"id": 1, "method": "miIO.info", "params": []})
    assert payload.endswith(b"\x00")
    data = protocol.build_packet(TOKEN, 0x01020304, 0x0A0B0C0D, payload)
    magic, length, unknown, did, stamp = struct.unpack(">HHIII", data[:16])
    assert (magic, length, unknown, did, stamp) == (0x2131, len(data), 0, 0x01020304, 0x0A0B0C0D)
    body = data[32:]
    assert data[16:32] == hashlib.md5(data[:16] + TOKEN + body).digest()
    key = hashlib.md5(TOKEN).digest()
    iv = hashlib.md5(key + TOKEN).digest()
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    plain = decryptor.update(body) + decryptor.finalize()
    pad = plain[-1]
    assert 1 <= pad <= 16 and plain[-pad:] == bytes([pad]) * pad
    assert plain[:-pad] == payload
    packet, plaintext = protocol.open_packet(data, TOKEN)
    assert packet.did == 0x01020304 and plaintext == payload
    assert protocol.decode_payload(plaintext + b"\x00\x00") == {
        "id": 1,
        "method": "miIO.info",
        "params": [],
    }


def test_wrong_token_and_broken_packets() -> None:
    data = protocol.build_packet(TOKEN, 1, 2, b'{"id":1}')
    with pytest.raises(MiioError, match="checksum mismatch: wrong token"):
        protocol.open_packet(data, bytes.fromhex(OTHER))
    with pytest.raises(MiioError, match="too short"):
        protocol.parse_packet(b"\x21\x31\x00")
    with pytest.raises(MiioError, match="magic"):
        protocol.parse_packet(b"\x00" * 32)
    with pytest.raises(MiioError, match="length"):
        protocol.parse_packet(data + b"extra")
    with pytest.raises(MiioError, match="cannot decrypt"):
        protocol.decrypt(TOKEN, b"\x00" * 15)
    with pytest.raises(MiioError, match="not JSON"):
        protocol.decode_payload(b"\xff\xfe")
    with pytest.raises(MiioError, match="JSON object"):
        protocol.decode_payload(b"[1]\x00")
    with pytest.raises(MiioError, match="32 hex"):
        protocol.parse_token("xyz")
    with pytest.raises(MiioError, match="16 bytes"):
        protocol.parse_token("0011")


# --------------------------------------------------------------------------- client


async def test_handshake_and_calls() -> None:
    async with (
        MiioSimulator(TOKEN_HEX, host=MIIO_HOST, port=0, password="0987654321qwerty") as sim,
        MiioClient(MIIO_HOST, TOKEN_HEX, port=sim.port, timeout=0.5) as client,
    ):
        hello = await client.handshake()
        assert (hello.ip, hello.did, hello.token) == (MIIO_HOST, sim.did, None)
        info = await client.call("miIO.info")
        assert info["model"] == "lumi.gateway.v3" and info["netif"]["localIp"] == MIIO_HOST
        assert await client.call("get_lumi_dpf_aes_key") == ["0987654321qwerty"]
        assert await client.call("set_lumi_dpf_aes_key", ["abcdefghijklmnop"]) == ["ok"]
        assert await client.call("get_lumi_dpf_aes_key") == ["abcdefghijklmnop"]
        flat = await client.call("get_device_prop", ["lumi.0", "device_list"])
        assert flat[:2] == ["lumi.158d0001000001", 3] and len(flat) % 5 == 0
        assert sim.calls[:2] == ["miIO.info", "get_lumi_dpf_aes_key"]
        assert sim.hellos == 1


async def test_device_errors_carry_code_and_message() -> None:
    async with (
        MiioSimulator(TOKEN_HEX, host=MIIO_HOST, port=0) as sim,
        MiioClient(MIIO_HOST, TOKEN_HEX, port=sim.port, timeout=0.5) as client,
    ):
        with pytest.raises(DeviceError) as info:
            await client.call("toast_bread")
        assert info.value.code == -32601 and "Method not found." in str(info.value)
        with pytest.raises(DeviceError) as info:
            await client.call("set_lumi_dpf_aes_key", ["short"])
        assert info.value.code == -5001


async def test_wrong_token_silent_device() -> None:
    async with (
        MiioSimulator(TOKEN_HEX, host=MIIO_HOST, port=0) as sim,
        MiioClient(MIIO_HOST, OTHER, port=sim.port, timeout=0.15, retries=1) as client,
    ):
        with pytest.raises(MiioError, match=f"no answer from {MIIO_HOST} after 2 tries") as info:
            await client.call("miIO.info")
        assert "wrong token" in str(info.value)
        assert sim.calls == []  # the device could not read the request


async def test_wrong_token_answering_device() -> None:
    async with (
        MiioSimulator(TOKEN_HEX, host=MIIO_HOST, port=0, answer_wrong_token=True) as sim,
        MiioClient(MIIO_HOST, OTHER, port=sim.port, timeout=0.5) as client,
    ):
        with pytest.raises(MiioError, match="checksum mismatch: wrong token"):
            await client.call("miIO.info")


async def test_timeout_without_device() -> None:
    async with MiioClient("127.0.0.4", TOKEN_HEX, port=9, timeout=0.1, retries=2) as client:
        with pytest.raises(MiioError, match=r"no answer from 127\.0\.0\.4 after 3 tries"):
            await client.call("miIO.info")


async def test_retry_bumps_the_id() -> None:
    async with (
        MiioSimulator(TOKEN_HEX, host=MIIO_HOST, port=0, drop_first=1) as sim,
        MiioClient(MIIO_HOST, TOKEN_HEX, port=sim.port, timeout=0.2, retries=2) as client,
    ):
        assert await client.call("get_lumi_dpf_aes_key") == [""]
        assert sim.calls == ["get_lumi_dpf_aes_key", "get_lumi_dpf_aes_key"]
        assert client._id == 101  # first try id 1, the retry 1 + 100
        await client.call("miIO.info")
        assert client._id == 102


async def test_discover_on_loopback_reveals_token_when_configured() -> None:
    async with MiioSimulator(TOKEN_HEX, host=MIIO_HOST, port=0, reveal_token=True) as sim:
        found = await discover(MIIO_HOST, timeout=0.3, port=sim.port)
        assert [(d.ip, d.did, d.token) for d in found] == [(MIIO_HOST, sim.did, TOKEN_HEX)]
        assert json.loads(json.dumps(found[0].to_json()))["token"] == TOKEN_HEX

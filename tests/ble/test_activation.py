"""The Mi activation state machine against the device model, in memory (no radio)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from mi_peripherals import CONTROL, PARCELS, MiActivationDevice

from mihomekit.ble.activation import (
    Activation,
    ActivationError,
    ActivationRefused,
    derive_keys,
    encrypt_device_id,
    new_device_id,
    parcel_frames,
    parcel_header,
    public_key_bytes,
    public_key_from_bytes,
)


def run(device: MiActivationDevice, client: Activation) -> list[tuple[str, bytes]]:
    """Drive the exchange in memory; the writes the client made."""
    inbox: list[tuple[str, bytes]] = []
    device.attach(lambda char, data: inbox.append((char, data)))
    made: list[tuple[str, bytes]] = []
    pending = client.start()
    for _ in range(200):
        for write in pending:
            made.append((write.char, write.data))
            device.on_write(write.char, write.data, False)
        pending = []
        if client.done or not inbox:
            break
        while inbox and not pending:
            char, data = inbox.pop(0)
            pending = client.feed(char, data)
            if client.done:
                break
    return made


def test_activation_gives_the_device_and_the_client_the_same_bind_key() -> None:
    device = MiActivationDevice()
    client = Activation()
    made = run(device, client)
    assert client.result is not None
    assert device.bind_key is not None and len(device.bind_key) == 16
    assert client.result.bind_key == device.bind_key
    assert client.result.token == device.token
    # the device id the device decrypted is the one the client chose
    assert device.received_id == client.result.device_id
    assert client.result.device_id.startswith(b"\0blt.3.")
    assert len(client.result.device_id) == 20
    # the control commands, in order
    assert [d for c, d in made if c == CONTROL] == [
        bytes.fromhex("a2000000"),
        bytes.fromhex("15000000"),
        bytes.fromhex("13000000"),
    ]
    # our public key went as 4 frames after a type-3 header
    parcels = [d for c, d in made if c == PARCELS]
    assert bytes.fromhex("000000030400") in parcels
    assert bytes.fromhex("000000000200") in parcels


def test_a_device_with_an_id_keeps_it() -> None:
    known = b"\0blt.3.129vabcdefgATC"[:20]
    device = MiActivationDevice(known_id=known)
    client = Activation()
    run(device, client)
    assert client.result is not None
    assert client.result.device_id == known
    assert client.result.device_id_text == "blt.3.129vabcdefgATC"[:19]
    assert client.info is not None and client.info.endswith(known)


def test_refusal_raises_activation_refused() -> None:
    device = MiActivationDevice(refuse=True)
    with pytest.raises(ActivationRefused, match="refused"):
        run(device, Activation())
    assert device.bind_key is None


def test_a_wrong_device_id_is_refused_by_the_device() -> None:
    device = MiActivationDevice(known_id=b"\0blt.3.aaaaaaaaaaaaa")
    with pytest.raises(ActivationRefused):
        run(device, Activation(device_id=b"\0blt.3.bbbbbbbbbbbbb"))


def test_derivation_matches_an_independent_hkdf_and_ccm() -> None:
    shared = bytes(range(32))
    keys = derive_keys(shared)
    okm = HKDF(hashes.SHA256(), 64, None, b"mible-setup-info").derive(shared)
    assert (keys.token, keys.bind_key, keys.a_key) == (okm[:12], okm[12:28], okm[28:44])
    did = new_device_id()
    sealed = encrypt_device_id(keys.a_key, did)
    assert len(sealed) == len(did) + 4
    nonce = bytes.fromhex("101112131415161718191a1b")
    assert AESCCM(keys.a_key, tag_length=4).decrypt(nonce, sealed, b"devID") == did


def test_parcel_framing() -> None:
    assert parcel_header(3, 4) == bytes.fromhex("000000030400")
    frames = parcel_frames(bytes(range(40)))
    assert [f[:2] for f in frames] == [b"\x01\x00", b"\x02\x00", b"\x03\x00"]
    assert [len(f) for f in frames] == [20, 20, 6]
    assert b"".join(f[2:] for f in frames) == bytes(range(40))


def test_public_key_round_trip_and_garbage() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    raw = public_key_bytes(key)
    assert len(raw) == 64
    assert public_key_bytes(public_key_from_bytes(raw)) == raw
    with pytest.raises(ActivationError, match="invalid public key"):
        public_key_from_bytes(b"\x01" * 64)
    with pytest.raises(ActivationError, match="63 bytes"):
        public_key_from_bytes(b"\x01" * 63)


@pytest.mark.parametrize(
    ("notification", "message"),
    [
        (bytes.fromhex("000000000000"), "in 0 frames"),
        (bytes.fromhex("000000002100"), "in 33 frames"),
        (bytes.fromhex("000001050100"), "failed transfer"),
    ],
)
def test_hostile_parcels_end_with_an_activation_error(notification: bytes, message: str) -> None:
    client = Activation()
    client.start()
    with pytest.raises(ActivationError, match=message):
        client.feed(PARCELS, notification)


def test_frames_out_of_range_and_noise_are_handled() -> None:
    client = Activation()
    client.start()
    assert client.feed(PARCELS, b"\x05\x00abc") == []  # a frame before any header
    assert client.feed(CONTROL, b"\x99") == []
    assert client.feed("0000ffff-0000-1000-8000-00805f9b34fb", b"x") == []
    client.feed(PARCELS, bytes.fromhex("000000000100"))
    with pytest.raises(ActivationError, match="frame 7"):
        client.feed(PARCELS, b"\x07\x00abcd")


def test_the_device_public_key_must_be_on_the_curve() -> None:
    client = Activation()
    client.start()
    client.feed(PARCELS, bytes.fromhex("000000000100"))
    writes = client.feed(PARCELS, b"\x01\x00\x01\x00\x00\x00")
    assert writes[0].data == bytes.fromhex("00000100")  # received
    # our key is sent on "ready", then acknowledged
    frames = client.feed(PARCELS, bytes.fromhex("00000101"))
    assert len(frames) == 4
    assert client.feed(PARCELS, bytes.fromhex("00000100")) == []
    client.feed(PARCELS, bytes.fromhex("000000030400"))
    with pytest.raises(ActivationError, match="invalid public key"):
        for index in range(1, 5):
            client.feed(PARCELS, bytes([index, 0]) + b"\x07" * 18)

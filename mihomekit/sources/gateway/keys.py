"""Write keys for the gateway LAN protocol.

key = hex(AES-128-CBC(key=password, iv=fixed, plaintext=token)), exactly one block, no
padding. The password is the gateway's 16-character LAN password, the token the newest
16-character token from a gateway heartbeat or a device-list answer.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from mihomekit.errors import GatewayError

#: The fixed IV every gateway uses for write keys.
WRITE_KEY_IV = bytes.fromhex("17996d093d28ddb3ba695a2e6f58562e")


def write_key(password: str, token: str) -> str:
    """The 32-hex-character (upper case) write key for ``password`` and ``token``.

    >>> write_key("0987654321qwerty", "1234567890abcdef")
    '3EB43E37C20AFF4C5872CC0D04D81314'
    """
    key = password.encode("ascii", "replace")
    block = token.encode("ascii", "replace")
    if len(key) != 16:
        raise GatewayError(f"gateway password must be 16 characters, got {len(key)}")
    if len(block) != 16:
        raise GatewayError(f"gateway token must be 16 characters, got {len(block)}")
    encryptor = Cipher(algorithms.AES(key), modes.CBC(WRITE_KEY_IV)).encryptor()
    return (encryptor.update(block) + encryptor.finalize()).hex().upper()


def key_matches(key: object, password: str, token: str) -> bool:
    """Whether ``key`` (any case) is the write key for ``password`` and ``token``."""
    if not isinstance(key, str) or len(key) != 32:
        return False
    try:
        return key.upper() == write_key(password, token)
    except GatewayError:
        return False

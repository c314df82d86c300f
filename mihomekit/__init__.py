"""mihomekit: Xiaomi/Mijia BLE sensors and Aqara Zigbee sensors in Apple Home.

Public API::

    from mihomekit import decode_advertisement
    result = decode_advertisement("A4:C1:38:12:34:56", 0xFE95, data, key=bytes.fromhex(...))
    result.ok, result.values, result.events, result.error
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import ConfigError, GatewayError, MihomekitError, MiioError, StateError  # noqa: E402
from .readings import DecodeResult, Event, KeyStatus  # noqa: E402

__all__ = [
    "ConfigError",
    "DecodeResult",
    "Event",
    "GatewayError",
    "KeyStatus",
    "MihomekitError",
    "MiioError",
    "StateError",
    "__version__",
    "decode_advertisement",
]


def __getattr__(name: str) -> object:
    # decode_advertisement lives in the decoders package; imported on first use so that
    # ``import mihomekit`` stays cheap.
    if name == "decode_advertisement":
        from .decoders import decode_advertisement

        return decode_advertisement
    raise AttributeError(name)

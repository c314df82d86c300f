"""Mi Smart Scale (UUID 0x181D, 10 bytes) and Mi Body Composition Scale (0x181B, 13 bytes).

Mass is reported in kg whatever unit the scale shows: ``mass_non_stabilized`` on every
frame, ``mass`` and ``stabilized`` = True once the reading is final (and the person has
not stepped off), ``impedance`` (Ω) from the body composition scale once that is final
too. A frame with zero mass resets ``stabilized``.
"""

from __future__ import annotations

from ..readings import DecodeResult, KeyStatus, Value
from .result import make_result

MODEL_V1 = "XMTZC01HM/XMTZC04HM"
MODEL_V2 = "XMTZC02HM/XMTZC05HM/NUN4049CN"


def _to_kg(raw: int, pounds: bool, catty: bool) -> float:
    if pounds:
        return raw * 0.0045359237  # 1/100 lb
    if catty:
        return raw * 0.005  # 1/100 jin (0.5 kg)
    return raw / 200


def _result(
    mac: str, model: str, fmt: str, mass: float, stable: bool, impedance: int | None
) -> DecodeResult:
    values: dict[str, Value] = {"mass_non_stabilized": mass}
    if stable and mass > 0:
        values["mass"] = mass
        values["stabilized"] = True
        if impedance is not None:
            values["impedance"] = impedance
    else:
        values["stabilized"] = False
    return make_result(
        True, mac, None, model, values, (), None, fmt, False, KeyStatus.NOT_NEEDED, None
    )


def decode_181d(mac: str, mac_le: bytes, data: bytes, key: bytes | None) -> DecodeResult:
    """Mi Smart Scale: control byte, mass u16, date and time."""
    if len(data) != 10:
        return DecodeResult(
            False,
            mac,
            None,
            MODEL_V1,
            {},
            (),
            f"Mi scale frame must be 10 bytes, got {len(data)}",
            "mi_scale",
        )
    ctrl = data[0]
    mass = _to_kg(data[1] | data[2] << 8, bool(ctrl & 0x01), bool(ctrl & 0x10))
    stable = bool(ctrl & 0x20) and not ctrl & 0x80
    return _result(mac, MODEL_V1, "mi_scale", mass, stable, None)


def decode_181b(mac: str, mac_le: bytes, data: bytes, key: bytes | None) -> DecodeResult:
    """Mi Body Composition Scale: 2 control bytes, date and time, impedance u16, mass u16."""
    if len(data) != 13:
        return DecodeResult(
            False,
            mac,
            None,
            MODEL_V2,
            {},
            (),
            f"Mi body composition scale frame must be 13 bytes, got {len(data)}",
            "mi_scale_v2",
        )
    c0, c1 = data[0], data[1]
    mass = _to_kg(data[11] | data[12] << 8, bool(c0 & 0x01), bool(c1 & 0x40))
    stable = bool(c1 & 0x20) and not c1 & 0x80
    impedance = data[9] | data[10] << 8 if c1 & 0x02 else None
    return _result(mac, MODEL_V2, "mi_scale_v2", mass, stable, impedance)

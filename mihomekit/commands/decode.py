"""``mihomekit decode``: decode advertisements given on the command line or on stdin.

One packet::

    mihomekit decode --mac A4:C1:38:12:34:56 --uuid fe95 --data 5020aa01... [--key HEX]

    mihomekit decode --mac 54:48:E6:8F:80:A5 --manufacturer-id 0x038f --data 0102...

prints one JSON object (``ok``, ``pid``, ``model``, ``values``, ``events``, ``error``, and
``warning`` when a frame was only partly decoded) and exits 0 if the packet decoded, else 1.

Without ``--data`` it reads JSON lines from stdin, service data as
``{"mac": ..., "uuid": ..., "data": ..., "key": ...}`` (``uuid`` as ``"fe95"``,
``"0xfe95"``, a full 128-bit UUID string or an integer) or manufacturer data as
``{"mac": ..., "manufacturer": {"id": ..., "data": ...}, "key": ...}`` (``id`` the 16-bit
company id as an integer or hex string); ``key`` is optional or null. It prints one JSON
line per input line. Anything wrong with a
line gives ``{"ok": false, ..., "error": "<reason>"}`` and the stream goes on; blank lines
are skipped; the exit code is 0. When stdin is a terminal, a hint on stderr says so first
(instead of waiting silently).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from typing import Any, TextIO

from mihomekit.decoders import decode_advertisement, decode_manufacturer_data
from mihomekit.readings import DecodeResult, failure

_BASE_UUID_SUFFIX = "-0000-1000-8000-00805f9b34fb"

#: Printed on stderr when ``mihomekit decode`` would read a terminal.
TERMINAL_HINT = (
    "mihomekit decode: reading JSON lines from the terminal, one advertisement each, like\n"
    '  {"mac": "A4:C1:38:8D:18:B2", "uuid": "181a", "data": "11d603fbfa7b6dfb1e26fd", '
    '"key": "b9ea895fac7eea6d30532432a516f3a3"}\n'
    "(key only for encrypted devices). Ctrl-D ends. For one packet:\n"
    "  mihomekit decode --mac MAC --uuid fe95 --data HEX [--key HEX]   (see --help)"
)


def register(subparsers: Any) -> None:
    """Add the ``decode`` sub-command to the ``mihomekit`` parser."""
    parser = subparsers.add_parser(
        "decode",
        help="decode BLE advertisements (one packet, or JSON lines on stdin)",
        description=(
            "Decode one BLE service-data payload, or JSON lines "
            '{"mac", "uuid", "data", "key"} read from stdin when --data is not given.'
        ),
    )
    parser.add_argument("--mac", help="advertiser address, e.g. A4:C1:38:12:34:56")
    parser.add_argument("--uuid", default="fe95", help="16-bit service UUID (default: fe95)")
    parser.add_argument(
        "--manufacturer-id",
        help="decode manufacturer data of this 16-bit company id instead of service data",
    )
    parser.add_argument("--data", help="service data after the UUID, in hex")
    parser.add_argument("--key", help="bind key in hex (32 digits; 24 for legacy MiBeacon)")
    parser.set_defaults(func=run_decode)


def parse_uuid(value: object) -> int | None:
    """A 16-bit service UUID from ``"fe95"``, ``"0xFE95"``, ``"0000fe95-0000-1000-..."`` or an
    integer; ``None`` if it is none of those."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= 0xFFFF else None
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if len(text) == 36 and text.endswith(_BASE_UUID_SUFFIX) and text.startswith("0000"):
        text = text[4:8]
    if text.startswith("0x"):
        text = text[2:]
    if not 1 <= len(text) <= 4 or any(c not in "0123456789abcdef" for c in text):
        return None
    return int(text, 16)


def parse_company_id(value: object) -> int | None:
    """A 16-bit company id from an integer or ``"038f"`` / ``"0x038F"``; else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= 0xFFFF else None
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    if not 1 <= len(text) <= 4 or any(c not in "0123456789abcdef" for c in text):
        return None
    return int(text, 16)


def _hex(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a hex string")
    text = value.strip().replace(":", "").replace(" ", "")
    if text[:2].lower() == "0x":
        text = text[2:]
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"{what} is not valid hex") from None


def decode_request(mac: object, uuid: object, data: object, key: object) -> DecodeResult:
    """Decode one request whose fields come from the command line or a JSON line."""
    if not isinstance(mac, str) or not mac:
        return failure("missing or invalid 'mac'")
    service_uuid = parse_uuid(uuid)
    if service_uuid is None:
        return failure(f"invalid service uuid {uuid!r:.40}")
    if data is None:
        return failure("missing 'data'")
    try:
        payload = _hex(data, "data")
        bind_key = None if key is None or key == "" else _hex(key, "key")
    except ValueError as err:
        return failure(str(err))
    return decode_advertisement(mac, service_uuid, payload, bind_key)


def decode_manufacturer_request(
    mac: object, company: object, data: object, key: object
) -> DecodeResult:
    """Decode one manufacturer-data request (fields from the command line or a JSON line)."""
    if not isinstance(mac, str) or not mac:
        return failure("missing or invalid 'mac'")
    company_id = parse_company_id(company)
    if company_id is None:
        return failure(f"invalid manufacturer company id {company!r:.40}")
    if data is None:
        return failure("missing manufacturer 'data'")
    try:
        payload = _hex(data, "data")
        bind_key = None if key is None or key == "" else _hex(key, "key")
    except ValueError as err:
        return failure(str(err))
    return decode_manufacturer_data(mac, company_id, payload, bind_key)


def decode_line(line: str) -> DecodeResult:
    """Decode one JSON line of the stream."""
    try:
        request = json.loads(line)
    except ValueError as err:
        return failure(f"invalid JSON: {err}")
    if not isinstance(request, dict):
        return failure("each line must be a JSON object")
    if "manufacturer" in request:
        manufacturer = request["manufacturer"]
        if "uuid" in request:
            return failure("give either 'uuid' or 'manufacturer', not both")
        if not isinstance(manufacturer, dict):
            return failure("'manufacturer' must be an object with 'id' and 'data'")
        return decode_manufacturer_request(
            request.get("mac"), manufacturer.get("id"), manufacturer.get("data"), request.get("key")
        )
    return decode_request(
        request.get("mac"), request.get("uuid"), request.get("data"), request.get("key")
    )


def _emit(result: DecodeResult, out: TextIO) -> None:
    out.write(json.dumps(result.to_json(), allow_nan=False) + "\n")
    out.flush()


def run_stream(source: TextIO, out: TextIO) -> int:
    """Decode every non-blank line of ``source``; one JSON line out per line in."""
    for line in source:
        if not line.strip():
            continue
        try:
            result = decode_line(line)
        except Exception as err:  # a bad line must never end the stream
            result = failure(f"internal error: {type(err).__name__}: {err}")
        try:
            _emit(result, out)
        except ValueError as err:
            _emit(failure(f"result is not JSON-serialisable: {err}"), out)
    return 0


def run_decode(args: argparse.Namespace) -> int:
    """Entry point of ``mihomekit decode``."""
    if args.data is None:
        if args.mac is not None or args.key is not None or args.manufacturer_id is not None:
            _emit(
                failure(
                    "--mac and --key need --data (or give JSON lines on stdin), "
                    "as does --manufacturer-id"
                ),
                sys.stdout,
            )
            return 1
        if _is_terminal(sys.stdin):
            print(TERMINAL_HINT, file=sys.stderr, flush=True)
        if isinstance(sys.stdin, io.TextIOWrapper):
            sys.stdin.reconfigure(errors="replace")  # undecodable bytes fail their line only
        try:
            return run_stream(sys.stdin, sys.stdout)
        except BrokenPipeError:  # the reader went away: stop quietly
            _silence_stdout()
            return 0
    if args.manufacturer_id is not None:
        result = decode_manufacturer_request(args.mac, args.manufacturer_id, args.data, args.key)
    else:
        result = decode_request(args.mac, args.uuid, args.data, args.key)
    _emit(result, sys.stdout)
    return 0 if result.ok else 1


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass

"""A miIO device simulator (a gateway's miIO side) for tests and the demo.

Answers hello with its device id and stamp (and the token only if ``reveal_token``),
and the calls ``miIO.info``, ``get_lumi_dpf_aes_key``, ``set_lumi_dpf_aes_key`` and
``get_device_prop ["lumi.0", "device_list"]``; other methods get error -32601. A packet
with a wrong checksum is ignored like on real devices, or answered with the device's own
token when ``answer_wrong_token`` is set (the client then sees a checksum mismatch).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from mihomekit.errors import MiioError
from mihomekit.sources.gateway.net import Address, bound_address, open_endpoint, udp_socket
from mihomekit.sources.miio import protocol

_LOGGER = logging.getLogger(__name__)

#: python-miio's type ids of a few subdevices (for ``device_list``).
DEMO_SUBDEVICES: tuple[tuple[str, int], ...] = (
    ("lumi.158d0001000001", 3),
    ("lumi.158d0001000002", 2),
    ("lumi.158d0001000003", 19),
    ("lumi.158d0001000004", 11),
)


class MiioSimulator:
    """A simulated miIO device bound to ``host:port`` (port 0: ephemeral)."""

    def __init__(
        self,
        token: str | bytes,
        *,
        host: str = "127.0.0.3",
        port: int = 54321,
        did: int = 0x0483EA5C,
        model: str = "lumi.gateway.v3",
        mac: str = "78:11:DC:B7:8B:2F",
        password: str = "",
        subdevices: Sequence[tuple[str, int]] = DEMO_SUBDEVICES,
        reveal_token: bool = False,
        answer_wrong_token: bool = False,
        drop_first: int = 0,
    ) -> None:
        self.token = protocol.parse_token(token)
        self.host = host
        self.port = port
        self.did = did
        self.model = model
        self.mac = mac
        self.password = password
        self.subdevices = list(subdevices)
        self.reveal_token = reveal_token
        self.answer_wrong_token = answer_wrong_token
        #: Requests (not hellos) to ignore before answering, to exercise retries.
        self.drop_first = drop_first
        #: Methods called, in order (including dropped ones).
        self.calls: list[str] = []
        self.hellos = 0
        self._started = time.monotonic()
        self._transport: asyncio.DatagramTransport | None = None

    async def start(self) -> None:
        sock = udp_socket(self.host, self.port)
        self._transport = await open_endpoint(sock, self._datagram)
        self.port = self.address[1]

    async def stop(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def __aenter__(self) -> MiioSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def address(self) -> Address:
        return bound_address(self._transport, (self.host, self.port))

    @property
    def stamp(self) -> int:
        """Seconds since start, offset like a device that has been up a while."""
        return 1000 + int(time.monotonic() - self._started)

    def _send(self, data: bytes, addr: Address) -> None:
        if self._transport is not None:
            self._transport.sendto(data, addr)

    def _datagram(self, data: bytes, addr: Address) -> None:
        try:
            packet = protocol.parse_packet(data)
        except MiioError as err:
            _LOGGER.debug("miio simulator: %s", err)
            return
        if packet.is_hello:
            self.hellos += 1
            token = self.token if self.reveal_token else None
            self._send(protocol.build_hello_reply(self.did, self.stamp, token), addr)
            return
        try:
            protocol.verify(packet, data, self.token)
            request = protocol.decode_payload(protocol.decrypt(self.token, packet.payload))
        except MiioError:
            if self.answer_wrong_token:
                error = {"id": 0, "error": {"code": -1, "message": "wrong token"}}
                self._reply(error, addr)
            return
        method = request.get("method")
        self.calls.append(str(method))
        if self.drop_first > 0:
            self.drop_first -= 1
            return
        reply: dict[str, Any] = {"id": request.get("id")}
        try:
            reply["result"] = self._call(str(method), request.get("params"))
        except _CallError as err:
            reply["error"] = {"code": err.code, "message": err.text}
        self._reply(reply, addr)

    def _reply(self, message: dict[str, Any], addr: Address) -> None:
        plaintext = protocol.encode_payload(message)
        self._send(protocol.build_packet(self.token, self.did, self.stamp, plaintext), addr)

    def _call(self, method: str, params: Any) -> Any:
        if method == "miIO.info":
            return {
                "model": self.model,
                "mac": self.mac,
                "fw_ver": "1.4.1_175",
                "hw_ver": "MW300",
                "token": self.token.hex(),
                "life": self.stamp,
                "netif": {"localIp": self.host, "mask": "255.0.0.0", "gw": "127.0.0.1"},
                "ap": {"ssid": "demo", "bssid": "00:00:00:00:00:00", "rssi": -50},
            }
        if method == "get_lumi_dpf_aes_key":
            return [self.password]
        if method == "set_lumi_dpf_aes_key":
            if not (isinstance(params, list) and len(params) == 1 and isinstance(params[0], str)):
                raise _CallError(-5001, "invalid params")
            if len(params[0]) != 16:
                raise _CallError(-5001, "invalid params")
            self.password = params[0]
            return ["ok"]
        if method == "get_device_prop" and params == ["lumi.0", "device_list"]:
            flat: list[Any] = []
            for sid, type_id in self.subdevices:
                flat.extend([sid, type_id, 1, 0, 0])
            return flat
        raise _CallError(-32601, "Method not found.")


class _CallError(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text

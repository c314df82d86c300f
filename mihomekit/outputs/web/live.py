"""Live updates over Server-Sent Events: only the changed devices' widgets are sent.

Registry listeners (of values, and of key statuses) only mark a device as changed (a set
insert, and nothing at all while no browser is connected). Every :data:`FLUSH_INTERVAL`
seconds the changed widgets are rendered once and sent to every browser as ``widget``
events in one write; a ``summary`` event carries the header counts; a ``devices`` event
tells the page to reload (a device was added, renamed or removed). A browser that does
not keep up (its queue full) is dropped; the page's EventSource reconnects by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

__all__ = ["FLUSH_INTERVAL", "LiveHub", "sse_text", "widget_event"]

_LOGGER = logging.getLogger(__name__)

#: Changed widgets are sent this often (seconds): a change shows within about this long.
FLUSH_INTERVAL = 0.4
#: The header counts are sent this often (seconds).
SUMMARY_INTERVAL = 2.0
#: A comment line keeps idle connections open through proxies this often (seconds).
KEEPALIVE = 20.0
#: Messages waiting for one browser; more and it is dropped.
QUEUE_SIZE = 64
#: At most this many browsers at once; more get 503.
MAX_CLIENTS = 32


def sse(event: str, data: Any) -> bytes:
    """One Server-Sent Event with JSON ``data``."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


#: Every control character (CR and LF end an SSE line) becomes a space in an SSE field.
_NO_CONTROLS = {code: " " for code in (*range(0x20), 0x7F)}


def sse_text(text: str) -> str:
    """``text`` made safe for one SSE ``data:`` line: no control characters at all."""
    return text.translate(_NO_CONTROLS)


def widget_event(device_id: str, html: str) -> str:
    """A ``widget`` event: the device id on the first data line, its HTML on the second.

    Plain text rather than JSON: this is the hot path of a busy page. Neither field ever
    carries a control character (a device name with a CR must not split the event).
    """
    return f"event: widget\ndata: {sse_text(device_id)}\ndata: {sse_text(html)}\n\n"


class LiveHub:
    """Changed devices → rendered widgets → every connected browser."""

    def __init__(
        self,
        render: Callable[[str], str | None],
        summary: Callable[[], dict[str, Any]],
    ) -> None:
        self._render = render
        self._summary = summary
        self._dirty: set[str] = set()
        self._clients: set[asyncio.Queue[bytes | None]] = set()
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        self.dropped_clients = 0

    @property
    def clients(self) -> int:
        return len(self._clients)

    def changed(self, device_id: str) -> None:
        """A device changed (called for every accepted update: must stay cheap)."""
        if self._clients:
            self._dirty.add(device_id)

    def devices_changed(self) -> None:
        """The set of devices (or a name) changed: every page reloads."""
        self._broadcast(sse("devices", {}))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for queue in list(self._clients):
            self._close(queue)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_summary = loop.time()
        failures = 0
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            if not self._clients:
                self._dirty.clear()
                continue
            try:
                self.flush()
                if loop.time() >= next_summary:
                    next_summary = loop.time() + SUMMARY_INTERVAL
                    self._broadcast(sse("summary", self._summary()))
            except Exception:  # a rendering bug must not end live updates
                if failures == 0:
                    _LOGGER.exception("live update failed (further failures at debug level)")
                else:
                    _LOGGER.debug("live update failed", exc_info=True)
                failures += 1

    def flush(self) -> None:
        """Send the changed widgets now."""
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, set()
        events = []
        for device_id in sorted(dirty):
            html = self._render(device_id)
            if html is not None:
                events.append(widget_event(device_id, html))
        if events:
            self._broadcast("".join(events).encode())

    def _broadcast(self, message: bytes) -> None:
        for queue in list(self._clients):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                self.dropped_clients += 1
                self._close(queue)
        self.sent += 1

    def _close(self, queue: asyncio.Queue[bytes | None]) -> None:
        self._clients.discard(queue)
        with contextlib.suppress(asyncio.QueueFull):
            queue.put_nowait(None)
        if queue.full():  # make room for the end marker
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()
            queue.put_nowait(None)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """``GET /events``: the event stream of one browser."""
        if len(self._clients) >= MAX_CLIENTS:
            raise web.HTTPServiceUnavailable(text="too many live connections")
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_SIZE)
        self._clients.add(queue)  # before the browser knows it is connected
        try:
            await response.prepare(request)
            await response.write(b"retry: 2000\n" + sse("summary", self._summary()))
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), KEEPALIVE)
                except TimeoutError:
                    message = b": keepalive\n\n"
                if message is None:
                    break
                await response.write(message)
        except ConnectionResetError:
            pass  # the browser went away
        finally:
            self._clients.discard(queue)
        return response

    def queued(self) -> Iterable[int]:
        """Messages waiting per browser (for tests and metrics)."""
        return [queue.qsize() for queue in self._clients]

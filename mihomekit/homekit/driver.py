"""HAP-python's AccessoryDriver with mihomekit's own HAP server and durable pairing state.

HAP-python models the accessories (services, characteristics, the /accessories listing,
reads, writes, subscriptions, mDNS); the network-facing server and all of pairing are
mihomekit's (:mod:`.server`, :mod:`.pairing`, :mod:`.srp`), so that pair-setup cannot be
hijacked or guessed and a pairing is acknowledged only once it is saved.

The names of HAP-python relied on are those of :mod:`.hap_python` (check them on every
HAP-python upgrade; a test does).

``config_changed()`` (an accessory added or removed while running) bumps c# at once but
saves the state and updates mDNS once for all the changes made in one go: a source that
adds hundreds of devices must not write the state file hundreds of times while the
controllers wait.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import threading
from pathlib import Path
from typing import Any

from pyhap.accessory_driver import AccessoryDriver

from mihomekit.atomicfile import write_atomic
from mihomekit.errors import StateError

from .attempts import ATTEMPTS_FILE, PairingAttempts
from .hap_python import HapAccessory, HapEncoder, HapState
from .limits import ServerLimits
from .server import HapServer
from .window import WINDOW_FILE, PairingWindow

__all__ = ["BridgeDriver"]

_LOGGER = logging.getLogger(__name__)


class BridgeDriver(AccessoryDriver):  # type: ignore[misc]
    """An AccessoryDriver served by :class:`~mihomekit.homekit.server.HapServer`.

    Takes HAP-python's keyword arguments plus ``limits``. The pairing state file is
    written durably (temp file, fsync, rename, directory fsync); an unreadable one stops
    the start with a :class:`StateError` and is never overwritten. The pairing window
    (:attr:`pairing_window`) opens at every start of an unpaired bridge.
    """

    # What HAP-python's driver holds, typed (:mod:`.hap_python`).
    loop: asyncio.AbstractEventLoop
    state: HapState
    encoder: HapEncoder
    accessory: HapAccessory | None
    persist_file: str

    def __init__(self, *, limits: ServerLimits | None = None, **kwargs: Any) -> None:
        listen = kwargs.get("listen_address") or kwargs.get("address")
        super().__init__(**kwargs)
        self.limits = limits or ServerLimits()
        self._persist_lock = threading.Lock()
        self._save_error: str | None = None
        self._background: set[asyncio.Task[None]] = set()
        state_dir = Path(os.path.abspath(self.persist_file)).parent
        self.pairing_attempts = PairingAttempts(state_dir / ATTEMPTS_FILE, self.limits)
        self.pairing_window = PairingWindow(state_dir / WINDOW_FILE, self.limits.pairing_window)
        self.http_server = HapServer(self, listen, int(self.state.port), self.limits)
        self._config_flush: asyncio.Handle | None = None

    async def async_start(self) -> None:
        """Open the pairing window (if unpaired), then start as HAP-python does."""
        if not self.state.paired:
            self.pairing_window.start()
        await super().async_start()

    def config_changed(self) -> None:
        """Bump c# now; save and re-advertise once, after the changes made in one go."""
        self.state.increment_config_version()
        if self._config_flush is None:
            self._config_flush = self.loop.call_soon_threadsafe(self._flush_config)

    def _flush_config(self) -> None:
        self._config_flush = None
        self.async_persist()
        self.async_update_advertisement()

    async def async_stop(self) -> None:
        """Save a configuration change still pending and finish the writes under way, then
        stop as HAP-python does: a clean stop leaves no write behind it."""
        if self._config_flush is not None:
            self._config_flush.cancel()
            self._config_flush = None
            await self._persist_logged()
        if self._background:
            await asyncio.gather(*self._background)
        await self.pairing_window.settle()
        await super().async_stop()

    # -- persistence -----------------------------------------------------------------------

    def persist(self) -> None:
        """Write the pairing state durably; raises OSError if it cannot be written."""
        with self._persist_lock:
            text = io.StringIO()
            self.encoder.persist(text, self.state)
            write_atomic(self.persist_file, text.getvalue(), mode=0o600)

    async def async_save(self) -> None:
        """Write the pairing state in a worker thread; raises OSError on failure."""
        await asyncio.get_running_loop().run_in_executor(None, self.persist)

    def async_persist(self) -> None:
        """Save in the background (configuration changes); a failure is one log line."""
        task = self.loop.create_task(self._persist_logged())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _persist_logged(self) -> None:
        try:
            await self.async_save()
        except OSError as err:
            message = f"cannot save the pairing state {self.persist_file}: {err}"
            if message != self._save_error:
                _LOGGER.error("%s", message)
            self._save_error = message
        else:
            self._save_error = None

    def load(self) -> None:
        try:
            super().load()
            self._check_loaded()
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise StateError(
                f"pairing state {self.persist_file} is unreadable ({err}); restore it from "
                "a backup. Moving it away resets the bridge (it must then be added to Apple "
                "Home again)."
            ) from err

    def _check_loaded(self) -> None:
        state = self.state
        if not isinstance(state.mac, str) or len(state.mac) != 17:
            raise ValueError("mac is not a device id")
        for controller, key in state.paired_clients.items():
            if not isinstance(key, bytes) or len(key) != 32:
                raise ValueError(f"controller {controller} has no valid public key")
            if controller not in state.client_properties:
                raise ValueError(f"controller {controller} has no permissions")

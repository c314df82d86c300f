"""HAP-python's AccessoryDriver with crash-safe persistence."""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any

from pyhap.accessory_driver import AccessoryDriver

from mihomekit.errors import StateError

from . import srp

_LOGGER = logging.getLogger(__name__)


class BridgeDriver(AccessoryDriver):  # type: ignore[misc]
    """An AccessoryDriver whose pairing works the first time and survives a power cut.

    Pair-setup uses :class:`~mihomekit.accessories.srp.PaddedSrpServer`: HAP-python's own fails
    about 3 in 256 pairings with a correct setup code.

    HAP-python replaces the state file without fsync; here the temp file and the directory
    are synced, so the file is always either the old or the new state, never empty. A
    state file that cannot be read stops the start with a :class:`StateError` instead of a
    traceback (and is never overwritten).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        srp.install()

    def setup_srp_verifier(self) -> None:
        """Pair-setup with fixed-length SRP values (see :mod:`mihomekit.accessories.srp`)."""
        self.srp_verifier = srp.pair_setup_server(self.state.pincode)

    def persist(self) -> None:
        directory = os.path.dirname(os.path.abspath(self.persist_file))
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".accessory.state.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                self.encoder.persist(handle, self.state)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.persist_file)
            tmp = ""
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        finally:
            if tmp and os.path.exists(tmp):
                os.remove(tmp)

    def load(self) -> None:
        try:
            super().load()
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise StateError(
                f"pairing state {self.persist_file} is unreadable ({err!r}); restore it from "
                "a backup. Moving it away resets the bridge (it must then be added to Apple "
                "Home again)."
            ) from err

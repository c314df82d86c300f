"""Loading the ``[[extensions]]`` and keeping the bridge safe from them.

An extension is found by

* ``module = "name"``: a module on Python's path (``my_extension``, ``pkg.sub``);
* ``module = "path/to/file.py"``: a file, loaded under the name
  ``mihomekit_extension_<file name>``;
* ``entry_point = "name"``: an installed package's entry point of that name in group
  :data:`ENTRY_POINT_GROUP` (a module, or its ``setup`` function itself).

It must have a ``setup(api)`` function (plain or ``async``), called once at start with its
:class:`~.api.ExtensionApi`. An extension that cannot be loaded, whose ``setup`` raises,
or whose callbacks or jobs raise later, is logged once (with the traceback) and disabled:
its subscriptions and jobs end; the bridge goes on serving.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
import logging
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mihomekit.ble.queue import GattQueue, shared_queue
from mihomekit.registry import DeviceSink
from mihomekit.settings import ExtensionSettings
from mihomekit.tap import AdvertisementTap

from .api import ExtensionApi

if TYPE_CHECKING:
    from mihomekit.ble.upkeep import RadioFor

__all__ = ["ENTRY_POINT_GROUP", "ExtensionHost", "LoadError"]

_LOGGER = logging.getLogger(__name__)

#: The entry point group installed extensions register in.
ENTRY_POINT_GROUP = "mihomekit.extensions"


class LoadError(Exception):
    """An extension could not be found or has no ``setup``; the message says which."""


class ExtensionHost:
    """The extensions of one bridge: loaded and set up by :meth:`start`, closed by
    :meth:`stop`. ``radio_for`` chooses the radio for a GATT connection from the receiver
    that hears a sensor best (None: no connections); ``queue`` orders the connections
    (default: the process's, shared with the bridge's own jobs)."""

    def __init__(
        self,
        sink: DeviceSink,
        tap: AdvertisementTap,
        extensions: Sequence[ExtensionSettings],
        *,
        clock: Callable[[], float] = time.monotonic,
        radio_for: RadioFor | None = None,
        queue: GattQueue | None = None,
    ) -> None:
        self.radio_for = radio_for
        self.queue = queue or shared_queue()
        self._sink = sink
        self._tap = tap
        self._settings = list(extensions)
        self._clock = clock
        #: Every extension set up, by name (disabled ones included).
        self.apis: dict[str, ExtensionApi] = {}
        #: Extensions disabled, by name → why (one line).
        self.disabled: dict[str, str] = {}

    async def start(self) -> None:
        """Load and set up every extension; failures are logged and left out."""
        for settings in self._settings:
            name = _short_name(settings)
            try:
                setup = _load(settings)
            except Exception as err:
                self.disabled[name] = f"not loaded: {err}"
                _LOGGER.error(
                    "extension %s could not be loaded: %s", name, err, exc_info=_trace(err)
                )
                continue
            api = ExtensionApi(
                name,
                settings.options,
                sink=self._sink,
                tap=self._tap,
                queue=self.queue,
                radio_for=self.radio_for,
                on_failure=self.failed,
                clock=self._clock,
            )
            self.apis[name] = api
            try:
                result = setup(api)
                if inspect.isawaitable(result):
                    await result
            except Exception as err:
                self.failed(api, err, "setup")
                continue
            _LOGGER.info("extension %s is running", name)

    async def stop(self) -> None:
        for api in self.apis.values():
            api.close()

    def failed(self, api: ExtensionApi, err: BaseException, where: str) -> None:
        """An extension raised: log it once with the traceback and disable it."""
        if not api.enabled:
            return
        self.disabled[api.name] = f"{where} raised {type(err).__name__}: {err}"
        _LOGGER.error(
            "extension %s is disabled: %s raised %s: %s",
            api.name,
            where,
            type(err).__name__,
            err,
            exc_info=err,
        )
        api.close()


def _short_name(settings: ExtensionSettings) -> str:
    if settings.entry_point is not None:
        return settings.entry_point
    module = settings.module or "?"
    if module.endswith(".py"):
        return Path(module).stem
    return module


def _trace(err: BaseException) -> BaseException | None:
    """The traceback is worth showing for errors inside the extension's own code."""
    return None if isinstance(err, LoadError | ModuleNotFoundError) else err


def _load(settings: ExtensionSettings) -> Callable[[ExtensionApi], Any]:
    if settings.entry_point is not None:
        target = _entry_point(settings.entry_point)
    else:
        assert settings.module is not None
        target = _module(settings.module)
    if inspect.ismodule(target):
        setup = getattr(target, "setup", None)
        if not callable(setup):
            raise LoadError(f"{target.__name__} has no setup(api) function")
        return setup  # type: ignore[no-any-return]
    if callable(target):
        return target  # type: ignore[no-any-return]
    raise LoadError(f"{target!r} is neither a module nor a setup(api) function")


def _module(module: str) -> Any:
    if not module.endswith(".py"):
        return importlib.import_module(module)
    path = Path(module)
    if not path.is_file():
        raise LoadError(f"no such file: {path}")
    name = "mihomekit_extension_" + re.sub(r"\W", "_", path.stem)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LoadError(f"cannot load {path} as a Python module")
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[name] = loaded
    try:
        spec.loader.exec_module(loaded)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return loaded


def _entry_point(name: str) -> Any:
    found = [
        ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == name
    ]
    if not found:
        raise LoadError(f"no installed package has an entry point {name!r} in {ENTRY_POINT_GROUP}")
    return found[0].load()

"""The Mi Dashboard: a web page of live sensor widgets, pairing, device setup and metrics.

* :mod:`.server`: the aiohttp application, an :class:`~mihomekit.bridge.Output`;
* :mod:`.pages`: the server-rendered HTML; :mod:`.live`: Server-Sent Events;
* :mod:`.auth`: password, sessions, CSRF tokens, login rate limit;
* :mod:`.devices`: add, import, export, rename, remove, bind-key checks;
* :mod:`.reception`: the 24-hour reception strip; :mod:`.metrics`: ``/metrics``.

Importing this package loads nothing heavy (the settings read :mod:`.auth`).
"""

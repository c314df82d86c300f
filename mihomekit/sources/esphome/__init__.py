"""ESPHome Bluetooth proxies as a source (the ESPHome native API, through aioesphomeapi).

* :mod:`.ad`: a pure, bounds-checked parser of raw advertising data (AD structures);
* :mod:`.proxy`: one proxy connection (:class:`~.proxy.EsphomeProxy`), a
  :class:`~mihomekit.sources.Source`;
* :mod:`.reconnect`: the reconnect loop and its backoff.

Importing this package does not import aioesphomeapi; :mod:`.proxy` does.
"""

from __future__ import annotations

"""Talking to sensors over GATT: Mi activation (bind keys), clocks, units, batteries.

* :mod:`.activation`: the Mi activation ("register") protocol, pure (no I/O);
* :mod:`.operations`: what a model's characteristics mean (clock, units, battery), pure;
  :mod:`.jobs`: the same over an open connection;
* :mod:`.link`: one GATT connection, as the rest of the package sees it;
* :mod:`.local` and :mod:`.esphome`: the two ways to reach a sensor, this host's adapter
  (bleak, with bleak-retry-connector) and an ESPHome Bluetooth proxy (aioesphomeapi);
* :mod:`.queue`: one connection at a time per adapter, shared by commands and the bridge;
* :mod:`.bind`: activation over a link, writing the key into the mi32cfg (``mihomekit
  bind``, the dashboard's button);
* :mod:`.upkeep`: the bridge's periodic jobs (clocks, batteries).

The scanner (passive listening) is :mod:`mihomekit.sources.ble`, not here.
"""

"""Bluetooth presence: tags, iBeacons and phones as occupancy sensors (``[[presence]]``).

* :mod:`.ibeacon`: reading iBeacon advertisements; :mod:`.rpa`: resolving a phone's
  rotating private addresses with its IRK; :mod:`.rooms`: which receiver hears a tag best,
  with hysteresis. All pure.
* :mod:`.matcher`: which advertisements are an entry's (the tracker's and the relay's test).
* :mod:`.entry`: one ``[[presence]]`` entry (``PresenceSettings``), as the settings read it.
* :mod:`.tracker`: the source that follows the advertisement tap and keeps one device
  per entry (heard, away after ``away_after``, never seen).

This package imports nothing heavy, so the settings can use its parsers.
"""

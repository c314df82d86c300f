"""Outputs: what shows the registry elsewhere (MQTT, the Mi Dashboard).

* :mod:`.mqtt`: readings, events and Home Assistant discovery on the MQTT broker, with
  :mod:`.discovery` (Home Assistant's device-based discovery payloads) and :mod:`.tasmota`
  (Tasmota MI32's ``tele/<topic>/SENSOR`` layout), both pure builders;
* :mod:`.web`: the Mi Dashboard.
"""

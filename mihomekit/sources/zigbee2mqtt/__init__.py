"""Zigbee2MQTT's devices in the bridge (and so in Apple Home).

* :mod:`.exposes`: ``exposes`` → readings, buttons, controls (pure data tables);
* :mod:`.devices`: the retained ``bridge/devices`` → bridged devices (pure);
* :mod:`.state`: state messages → changed readings and button events (pure);
* :mod:`.availability`: ``bridge/state``, availability topics and the staleness clock;
* :mod:`.source`: the MQTT part, on the bridge's one broker connection.
"""

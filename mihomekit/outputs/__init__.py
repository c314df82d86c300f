"""Outputs: what shows the registry elsewhere (MQTT, the Mi Dashboard)."""

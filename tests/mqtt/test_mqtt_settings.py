"""The [mqtt] and [[mqtt_receivers]] settings: defaults and clear errors naming the key."""

from __future__ import annotations

import pytest

from mihomekit.errors import ConfigError
from mihomekit.settings import MqttReceiverSettings, parse_settings


def test_no_table_no_broker() -> None:
    settings = parse_settings("")
    assert settings.mqtt is None
    assert settings.mqtt_receivers == ()


def test_defaults_and_values(tmp_path: object) -> None:
    settings = parse_settings(
        """
[mqtt]
host = "broker.lan"
username = ""

[[mqtt_receivers]]
topic = "home/+/BTtoMQTT/#"
format = "theengs"

[[mqtt_receivers]]
topic = "mihomekit/relay/#"
format = "mihomekit"
name = "garage pi"
""",
        path="/etc/mihomekit/mihomekit.toml",
    )
    mqtt = settings.mqtt
    assert mqtt is not None
    assert (mqtt.host, mqtt.port, mqtt.username, mqtt.password, mqtt.tls) == (
        "broker.lan",
        1883,
        None,
        None,
        False,
    )
    assert mqtt.client_id.startswith("mihomekit-")
    assert mqtt.client_id == parse_settings('[mqtt]\nhost = "x"\n').mqtt.client_id  # type: ignore[union-attr]
    assert (mqtt.publish, mqtt.topic_prefix, mqtt.discovery_prefix, mqtt.tasmota_topic) == (
        False,
        "mihomekit",
        "homeassistant",
        "",
    )
    assert mqtt.status_topic == "mihomekit/status"
    assert settings.mqtt_receivers == (
        MqttReceiverSettings("home/+/BTtoMQTT/#", "theengs", "theengs:home/+/BTtoMQTT/#"),
        MqttReceiverSettings("mihomekit/relay/#", "mihomekit", "garage pi"),
    )
    tls = parse_settings('[mqtt]\nhost = "b"\ntls = true\nca_file = "ca.pem"\n', path="/etc/m.toml")
    assert tls.mqtt is not None
    assert (tls.mqtt.port, tls.mqtt.ca_file) == (8883, "/etc/ca.pem")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[mqtt]\nport = 1883\n", "mqtt.host: the broker's host name or address is required"),
        ('[mqtt]\nhost = "b"\nusername = "u"\n', "mqtt.password: give username and password"),
        ('[mqtt]\nhost = "b"\npassword = "p"\n', "mqtt.username: give username and password"),
        ('[mqtt]\nhost = "b"\nport = 0\n', "mqtt.port: must be between 1 and 65535"),
        ('[mqtt]\nhost = "b"\nca_file = "x"\n', "mqtt.ca_file: only used with tls = true"),
        ('[mqtt]\nhost = "b"\ntls = "yes"\n', "mqtt.tls: expected true or false"),
        ('[mqtt]\nhost = "b"\nhots = 1\n', "mqtt.hots: unknown setting"),
        ('[mqtt]\nhost = "b"\ntopic_prefix = "a/#"\n', "mqtt.topic_prefix: must not contain"),
        ('[mqtt]\nhost = "b"\ntopic_prefix = "a/"\n', "mqtt.topic_prefix: must not start or end"),
        ("[[mqtt_receivers]]\nformat = 'theengs'\n", "mqtt_receivers[0].topic: the topic filter"),
        ("[[mqtt_receivers]]\ntopic = 'a/#/b'\n", "mqtt_receivers[0].topic: '#' must be"),
        ("[[mqtt_receivers]]\ntopic = 'a/b+'\n", "mqtt_receivers[0].topic: '+' must be"),
        ("[[mqtt_receivers]]\ntopic = 'a'\nformat = 'omg'\n", "mqtt_receivers[0].format: must be"),
        ("mqtt_receivers = 3\n", "mqtt_receivers: expected an array of tables"),
    ],
)
def test_errors_name_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings(text)
    assert message in str(info.value)

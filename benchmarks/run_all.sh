#!/bin/sh
# Run every benchmark one after the other (about 22 minutes in all).
# Each writes benchmarks/results/<name>.json; extra arguments are not passed on.
# Use another interpreter with PYTHON=/path/to/python benchmarks/run_all.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-"$here/../.venv/bin/python"}
cd "$here/.."
echo "== decode throughput (bench_decode.py)"
"$python" "$here/bench_decode.py"
echo
echo "== advertisement -> HomeKit event latency (bench_latency.py)"
"$python" "$here/bench_latency.py"
echo
echo "== whole bridge under load (bench_bridge_load.py)"
"$python" "$here/bench_bridge_load.py"
echo
echo "== pairing and the HAP server vs HAP-python's (bench_pairing.py)"
"$python" "$here/bench_pairing.py"
echo
echo "== ESPHome proxies: load and alert latency (bench_proxies.py)"
"$python" "$here/bench_proxies.py"
echo
echo "== the Mi Dashboard with and without a browser (bench_web.py)"
"$python" "$here/bench_web.py"
echo
echo "== child bridges: 400 devices beside one bridge of 149 (bench_bridges.py)"
"$python" "$here/bench_bridges.py"
echo
echo "== pairing with child bridges, over a veth link (bench_pairing_bridges.py, needs root)"
"$python" "$here/bench_pairing_bridges.py"
echo
echo "== MQTT receivers through mosquitto vs the radio path (bench_mqtt_receivers.py)"
"$python" "$here/bench_mqtt_receivers.py"
echo
echo "== Zigbee2MQTT through mosquitto (bench_z2m.py)"
"$python" "$here/bench_z2m.py"
echo
echo "== the working tree against the previous release (bench_release.py)"
"$python" "$here/bench_release.py"

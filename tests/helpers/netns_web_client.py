"""Reads a dashboard from another host: ``netns_web_client.py BASE_URL``.

Run inside the other network namespace. Prints one JSON object: for every page, its
status and body; the status for a foreign ``Host`` header; the status of a change posted
without being the owner. Standard library only, so that it starts fast.
"""

from __future__ import annotations

import http.client
import json
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

PAGES = (
    "/",
    "/pairing",
    "/devices",
    "/sources",
    "/login",
    "/login?next=/pairing",
    "/metrics",
    "/devices/export",
    "/static/dashboard.js",
    "/static/dashboard.css",
    "/no-such-page",
)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8", "replace")


def first_events(base: str) -> str:
    """The first bytes of the live stream (``/events``)."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", "/events")
    response = conn.getresponse()
    data = response.read1(65536).decode("utf-8", "replace")
    conn.close()
    return data


def main() -> None:
    base = sys.argv[1].rstrip("/")
    result: dict[str, object] = {}
    for path in PAGES:
        result[path] = get(base + path)
    result["/events"] = (200, first_events(base))
    result["foreign_host"] = get(base + "/pairing", {"Host": "rebind.example:8089"})[0]
    request = urllib.request.Request(
        base + "/pairing/open",
        data=b"bridge=1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            result["open"] = response.status
    except urllib.error.HTTPError as err:
        result["open"] = err.code
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Option types shared by the sub-commands."""

from __future__ import annotations

import argparse

__all__ = ["SETTINGS_HELP", "listen_port", "tcp_port"]

#: The help of ``--settings`` for the commands that read the settings ``run`` reads.
SETTINGS_HELP = "TOML settings file (default: /etc/mihomekit/mihomekit.toml, if it exists)"


def tcp_port(text: str) -> int:
    """An argparse type: a TCP/UDP port number, 1 to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: use 1 to 65535")
    return port


def listen_port(text: str) -> int:
    """An argparse type: a port to listen on, 1 to 65535, or 0 for any free port."""
    if text.strip() == "0":
        return 0
    return tcp_port(text)

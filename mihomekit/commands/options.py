"""Option types shared by the sub-commands."""

from __future__ import annotations

import argparse

__all__ = ["tcp_port"]


def tcp_port(text: str) -> int:
    """An argparse type: a TCP/UDP port number, 1 to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: use 1 to 65535")
    return port

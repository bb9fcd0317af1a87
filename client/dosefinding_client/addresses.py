"""``HOST:PORT`` addresses, shared by client and server: whether one stays on this machine.

The server starts in insecure (plaintext) mode only on such an address, and
the command line sends a bearer token in plaintext only to one.
"""

from __future__ import annotations

import ipaddress


def is_loopback(address: str) -> bool:
    """Whether ``HOST:PORT`` names a loopback address (localhost, 127.0.0.0/8 or ::1)."""
    host = address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

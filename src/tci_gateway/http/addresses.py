"""Where a base URL really points: an insurer's production API is on the public internet.

A base URL that resolves to a loopback, private, link-local or otherwise non-public
address (``127.0.0.1``, ``10.0.0.0/8``, ``169.254.169.254`` - a cloud metadata service -,
``fc00::/7``...) is refused outside the sandbox unless the configuration says so
(``allow_private_network = true``, for an API reached through a private link or an
egress proxy on the internal network). The name is resolved once, when the adapter is
built; a name that does not resolve is left to fail as a connection error.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP literal (no name is resolved)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    found: list[IPAddress] = []
    for *_rest, sockaddr in infos:
        text = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone id
        try:
            found.append(ipaddress.ip_address(text))
        except ValueError:
            continue
    return found


def non_public_addresses(url: str) -> list[str]:
    """The addresses the host of ``url`` resolves to that are not public internet
    addresses (empty when all are public, or when the name does not resolve)."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return []
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = 443
    return sorted({str(a) for a in _resolve(host, port) if not _is_public(a)})

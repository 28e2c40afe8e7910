"""The fetch policy against SSRF: http(s) only, and no private, loopback or link-local hosts.

Every host is resolved and every address it resolves to is checked, on the first
URL and again after each redirect. What this does not stop: DNS rebinding between
our check and httpx's own lookup (the window is milliseconds; pinning the address
would break TLS name checks), and anything a public host serves on our behalf.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from ..errors import BlockedURLError

__all__ = ["check_url", "is_public_address"]


def is_public_address(address: str) -> bool:
    """False for private, loopback, link-local, multicast, reserved and unspecified addresses."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
                or ip.is_reserved or ip.is_unspecified or not ip.is_global)


async def check_url(url: str, *, allow_private: bool = False,
                    allowed_hosts: frozenset[str] = frozenset()) -> None:
    """Raise BlockedURLError unless `url` is http(s) and its host resolves only to public IPs.

    `allowed_hosts` are exempt from the address check (an intranet host named on purpose).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise BlockedURLError(f"refused {url!r}: only http and https URLs can be visited",
                              provider="fetch")
    host = parts.hostname
    if not host:
        raise BlockedURLError(f"refused {url!r}: no host", provider="fetch")
    if allow_private or host.lower() in allowed_hosts:
        return
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, parts.port or (443 if parts.scheme == "https" else 80),
                type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise BlockedURLError(f"cannot resolve host {host!r}", provider="fetch") from exc
        addresses = sorted({str(info[4][0]) for info in infos})
    for address in addresses:
        if not is_public_address(address):
            raise BlockedURLError(
                f"refused {url!r}: {host} resolves to the non-public address {address}",
                provider="fetch")

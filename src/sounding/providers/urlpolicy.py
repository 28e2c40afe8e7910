"""The fetch policy against SSRF: http(s) only, and no private, loopback or link-local hosts.

The address check happens where the connection is made: `PinnedBackend` resolves
the host, refuses it if any address is not public, and connects to one of the
addresses it vetted. httpx never resolves the name itself, so a DNS answer that
changes between the check and the connection (rebinding) cannot slip through. TLS
still uses the host name (SNI and certificate check), and so does the Host header.
Each redirect opens a new connection and is vetted again. Not covered: anything a
public host fetches on our behalf (a public redirector is fine, an open proxy is not).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

import httpcore
import httpx
import idna

from ..errors import BlockedURLError

__all__ = ["PinnedBackend", "check_scheme", "check_url", "is_public_address",
           "pinned_transport", "resolve"]

Resolver = Callable[[str, int], Awaitable[list[str]]]
SocketOption = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None,
                                                                                  int]


def is_public_address(address: str) -> bool:
    """False for private, loopback, link-local, multicast, reserved and unspecified addresses."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # IPv6 forms that carry an IPv4 address reach that address: judge the IPv4 one.
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            ip = embedded
    if any(ip in net for net in _ALSO_NON_PUBLIC if net.version == ip.version):
        return False
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
                or ip.is_reserved or ip.is_unspecified or not ip.is_global)


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# The standard library calls these global, but neither belongs to the public internet:
# fec0::/10 are deprecated site-local addresses that some networks still route inside,
# and 192.0.0.0/24 holds protocol anycast addresses (192.0.0.9, .10) of the local provider.
_ALSO_NON_PUBLIC = (ipaddress.IPv6Network("fec0::/10"), ipaddress.IPv4Network("192.0.0.0/24"))


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (an IP literal resolves to itself)."""
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise BlockedURLError(f"cannot resolve host {host!r}", provider="fetch") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def vet(host: str, addresses: Iterable[str],
        is_allowed: Callable[[str], bool] = is_public_address) -> list[str]:
    """The addresses, or BlockedURLError when any of them is not allowed (not public)."""
    vetted = list(addresses)
    for address in vetted:
        if not is_allowed(address):
            what = "is" if host.strip("[]") == address else "resolves to"
            raise BlockedURLError(f"{host} {what} the non-public address {address}",
                                  provider="fetch")
    if not vetted:
        raise BlockedURLError(f"cannot resolve host {host!r}", provider="fetch")
    return vetted


# Control characters anywhere, and whitespace around the URL or inside its host: URL
# parsers strip or keep these as they please, so the URL that was checked would not be
# the URL that is fetched. (A space inside a path or query is fine: httpx encodes it.)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]")
_SPACE = re.compile(r"\s")
# A host of digits, dots and hex forms only (0177.0.0.1, 0x7f.1, 2130706433): resolvers
# read these as IPv4 in octal or hex, parsers reject them, so no two agree on the address.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]*))*$", re.I)


def check_scheme(url: str) -> str:
    """The URL's host; BlockedURLError unless the URL is http(s), names a host and parses
    the same way in every parser on the way (ours, httpx's and the resolver's)."""
    if not isinstance(url, str) or not url:
        raise BlockedURLError("refused an empty URL", provider="fetch")
    unsafe = _CONTROL.search(url)
    if unsafe or url != url.strip():
        what = f"the control character {unsafe.group()!r}" if unsafe else "surrounding spaces"
        raise BlockedURLError(f"refused {url!r}: it contains {what}", provider="fetch")
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        parts.port  # noqa: B018 - a port out of range raises here, not later
    except ValueError as exc:
        raise BlockedURLError(f"refused {url!r}: not a valid URL ({exc})",
                              provider="fetch") from exc
    if parts.scheme not in ("http", "https"):
        raise BlockedURLError(f"refused {url!r}: only http and https URLs can be visited",
                              provider="fetch")
    if not hostname:
        raise BlockedURLError(f"refused {url!r}: no host", provider="fetch")
    if _SPACE.search(parts.netloc):
        raise BlockedURLError(f"refused {url!r}: whitespace in the host", provider="fetch")
    _check_host(url, hostname)
    return hostname


def _check_host(url: str, hostname: str) -> None:
    """Refuse host forms that parsers disagree on, and any URL httpx cannot take."""
    if not hostname.isascii() or "xn--" in hostname:
        try:
            idna.decode(hostname) if hostname.isascii() else idna.encode(hostname, uts46=True)
        except (UnicodeError, ValueError) as exc:
            raise BlockedURLError(f"refused {url!r}: the host is not a valid domain name "
                                  f"({exc})", provider="fetch") from exc
    bracketed = urlsplit(url).netloc.rpartition("@")[2].startswith("[")
    if bracketed:
        try:
            ipaddress.IPv6Address(hostname.split("%", 1)[0])
        except ValueError as exc:
            raise BlockedURLError(f"refused {url!r}: {hostname!r} in brackets is not an IPv6 "
                                  "address", provider="fetch") from exc
    elif _NUMERIC_HOST.match(hostname):
        try:
            ipaddress.IPv4Address(hostname)
        except ValueError as exc:
            raise BlockedURLError(f"refused {url!r}: {hostname!r} is a numeric host that is "
                                  "not a dotted-decimal IPv4 address (octal, hex or short "
                                  "forms are refused)", provider="fetch") from exc
    try:
        httpx.URL(url)
    except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
        raise BlockedURLError(f"refused {url!r}: not a valid URL ({exc})",
                              provider="fetch") from exc


async def check_url(url: str, *, allow_private: bool = False,
                    allowed_hosts: frozenset[str] = frozenset()) -> None:
    """Raise BlockedURLError unless `url` is http(s) and its host resolves only to public IPs.

    A check ahead of the connection, for clients that do not connect through
    `PinnedBackend`; `allowed_hosts` are exempt (an intranet host named on purpose).
    """
    host = check_scheme(url)
    if allow_private or host.lower() in allowed_hosts:
        return
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        vet(host, await resolve(host, port))
    except BlockedURLError as exc:
        raise BlockedURLError(f"refused {url!r}: {exc}", provider="fetch") from exc


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that connects only to addresses it has just vetted."""

    def __init__(self, *, allowed_hosts: frozenset[str] = frozenset(),
                 resolver: Resolver = resolve,
                 is_allowed: Callable[[str], bool] = is_public_address) -> None:
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts)
        self.resolver = resolver
        self.is_allowed = is_allowed
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[SocketOption] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        if host.lower() in self.allowed_hosts:
            addresses = [host]
        else:
            addresses = vet(host, await self.resolver(host, port), self.is_allowed)
        error: Exception | None = None
        for address in addresses:  # the vetted addresses, and only those
            try:
                return await self._inner.connect_tcp(address, port, timeout=timeout,
                                                      local_address=local_address,
                                                      socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[SocketOption] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        raise BlockedURLError("refused a Unix socket connection", provider="fetch")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def pinned_transport(backend: PinnedBackend, *,
                     verify: ssl.SSLContext | bool = True) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose connections go through `backend` (no proxies, no env)."""
    transport = httpx.AsyncHTTPTransport(verify=verify, trust_env=False)
    # httpx has no public way to pass a network backend; the pool it builds is swapped
    # for the same pool with ours (httpcore documents `network_backend`).
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
        max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0,
        network_backend=backend)
    return transport

"""The one policy for every request a service makes to a URL a user gave (job webhooks, reference audio by URL).

- http(s) only, no credentials in the URL, a valid port; anything else is a clear 422 at submission.
- The hostname is resolved once, every address it resolves to is checked, and the connection is made to the
  checked address (Host header and TLS SNI keep the name), so DNS cannot answer differently a moment later
  (no rebinding gap).
- Loopback, private, shared (CGNAT), link-local, multicast, reserved and unspecified addresses are refused in
  every spelling (127.1, 2130706433, 0x7f.1, [::1], [::ffff:127.0.0.1], 0.0.0.0) unless OUTBOUND_ALLOW names
  their network.
- Redirects are not followed, timeouts are short, the body read is bounded.

Refusals found only by resolving a name, and connection failures, give callers the same error text, so a
user cannot tell "refused" from "nothing listens there" (no port-scan oracle through the service).
"""
import asyncio
import ipaddress
import logging
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from common.errors import APIError

log = logging.getLogger("voxclone.outbound")
MAX_URL_CHARS = 2048
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutboundError(Exception):
    """A user-given URL could not be used. `public` is what the user may see; `reason` goes to the log only."""

    def __init__(self, public: str, reason: str = ""):
        super().__init__(public)
        self.public, self.reason = public, reason or public


UNREACHABLE = "the URL could not be reached (refused by the outbound policy, unreachable, or timed out)"


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str        # the name as given (IDNA-encoded), for the Host header and TLS SNI
    port: int
    target: str      # path and query
    literal: IPAddress | None  # the host is an IP address in some spelling

    def url_for(self, address: IPAddress) -> httpx.URL:
        return httpx.URL(scheme=self.scheme, host=str(address), port=self.port, raw_path=self.target.encode())

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def parse_literal(host: str) -> IPAddress | None:
    """The address a host string denotes if it is an IP literal in any spelling inet_aton accepts too
    (127.1, 2130706433, 0x7f000001): resolvers treat those as addresses, so the policy must as well."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host) and host[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def parse_url(url: str) -> Target:
    """Syntax checks that need no network: raises OutboundError with a message fit for a 422."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise OutboundError(f"must be an http(s) URL of at most {MAX_URL_CHARS} characters")
    if any(ord(c) <= 32 or ord(c) == 127 for c in url):
        raise OutboundError("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundError(f"is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise OutboundError("must be an http(s) URL")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise OutboundError("must not contain credentials (user@host)")
    host = parts.hostname or ""
    if not host:
        raise OutboundError("has no host")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise OutboundError("has an invalid host name") from None
    port = port if port is not None else (443 if parts.scheme == "https" else 80)
    if not 0 < port < 65536:
        raise OutboundError("has an invalid port")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port, target, parse_literal(host))


def _plain(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
    return address


@dataclass
class OutboundResponse:
    status_code: int
    headers: httpx.Headers
    content: bytes


class OutboundPolicy:
    def __init__(self, allow: str = "", connect_timeout_s: float = 3.0, read_timeout_s: float = 5.0,
                 total_timeout_s: float = 15.0, max_bytes: int = 20 * 1024 * 1024):
        try:
            self.allow = [ipaddress.ip_network(n.strip(), strict=False) for n in allow.split(",") if n.strip()]
        except ValueError as exc:
            raise ValueError(f"OUTBOUND_ALLOW: {exc}") from None
        self.timeout = httpx.Timeout(read_timeout_s, connect=connect_timeout_s, pool=connect_timeout_s)
        self.total_timeout_s, self.max_bytes = total_timeout_s, max_bytes

    def allowed(self, address: IPAddress) -> bool:
        plain = _plain(address)
        if any(plain in net or address in net for net in self.allow):
            return True
        return plain.is_global and not (plain.is_multicast or plain.is_reserved or plain.is_unspecified)

    def check(self, url: str, field: str) -> Target:
        """Submission-time check (no network): 422 for a malformed URL or an IP literal the policy refuses."""
        try:
            target = parse_url(url)
        except OutboundError as exc:
            raise APIError(422, "invalid_url", f"{field}: {exc.public}") from None
        if target.literal is not None and not self.allowed(target.literal):
            raise APIError(422, "url_not_allowed", f"{field}: {target.literal} is not a public address; the "
                                                   "operator's OUTBOUND_ALLOW setting can allow its network")
        return target

    async def resolve(self, target: Target) -> IPAddress:
        if target.literal is not None:
            addresses = [target.literal]
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(target.host, target.port,
                                                                     type=socket.SOCK_STREAM)
            except (OSError, UnicodeError) as exc:
                raise OutboundError(UNREACHABLE, f"resolve {target.host}: {exc}") from None
            addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))
        refused = [a for a in addresses if not self.allowed(a)]
        if refused or not addresses:
            raise OutboundError(UNREACHABLE, f"{target.host} resolves to refused address(es) {refused}")
        return addresses[0]

    async def request(self, method: str, url: str, *, content: bytes | None = None,
                      headers: dict | None = None) -> OutboundResponse:
        """One request under the policy; raises OutboundError (public text never tells refusal from failure)."""
        try:
            target = parse_url(url)
        except OutboundError as exc:
            raise OutboundError(f"invalid URL: {exc.public}") from None
        try:
            return await asyncio.wait_for(self._request(method, target, content, headers or {}),
                                          self.total_timeout_s)
        except TimeoutError:
            raise OutboundError(UNREACHABLE, f"{target.host}: no complete answer in {self.total_timeout_s} s") \
                from None

    async def _request(self, method: str, target: Target, content, headers: dict) -> OutboundResponse:
        address = await self.resolve(target)
        # identity: the size bound then counts the bytes that are kept, not a compressed stand-in for them.
        sent = {**headers, "Host": target.host_header, "Accept-Encoding": "identity"}
        extensions = {"sni_hostname": target.host} if target.scheme == "https" and target.literal is None else {}
        # trust_env=False: an HTTP(S)_PROXY in the environment must not carry the request somewhere unchecked.
        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False, trust_env=False) as client:
            try:
                request = client.build_request(method, target.url_for(address), content=content, headers=sent,
                                               extensions=extensions)
                resp = await client.send(request, stream=True)
                try:
                    body = await self._bounded_body(resp)
                finally:
                    await resp.aclose()
            except httpx.HTTPError as exc:
                raise OutboundError(UNREACHABLE, f"{target.host} ({address}): {type(exc).__name__}: {exc}") \
                    from None
        return OutboundResponse(resp.status_code, resp.headers, body)

    async def _bounded_body(self, resp: httpx.Response) -> bytes:
        length = resp.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            raise OutboundError(f"the response is larger than {self.max_bytes} bytes")
        chunks, size = [], 0
        async for chunk in resp.aiter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise OutboundError(f"the response is larger than {self.max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


async def fetch_bytes(policy: OutboundPolicy, url: str, field: str) -> bytes:
    """GET a user-given URL's body under the policy, as an upload would arrive; APIError with a 4xx otherwise."""
    policy.check(url, field)
    try:
        resp = await policy.request("GET", url, headers={"Accept": "audio/*"})
    except OutboundError as exc:
        log.info("outbound fetch failed", extra={"field": field, "reason": exc.reason})
        status = 413 if "larger than" in exc.public else 422
        raise APIError(status, "url_fetch_failed", f"{field}: {exc.public}") from None
    if 300 <= resp.status_code < 400:
        raise APIError(422, "url_fetch_failed", f"{field}: the URL redirects ({resp.status_code}); redirects are "
                                                "not followed, give the final URL")
    if resp.status_code != 200:
        raise APIError(422, "url_fetch_failed", f"{field}: the URL answered {resp.status_code}")
    if not resp.content:
        raise APIError(422, "url_fetch_failed", f"{field}: the URL's body is empty")
    return resp.content

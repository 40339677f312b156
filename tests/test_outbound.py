"""The outbound-URL policy (common/outbound.py) against real loopback servers: the address checked is the
address connected to, redirects stay unfollowed, bodies and time are bounded."""
import asyncio
import socket

import pytest

from common.errors import APIError
from common.outbound import UNREACHABLE, OutboundError, OutboundPolicy, fetch_bytes, parse_url
from tests.hostile.receivers import answer, serve, silent_until_released


def run(coro):
    return asyncio.run(coro)


@pytest.mark.parametrize("url,address", [("http://127.1/", "127.0.0.1"), ("http://2130706433/", "127.0.0.1"),
                                         ("http://0x7f000001/", "127.0.0.1"), ("http://[::1]:8/", "::1"),
                                         ("http://[::ffff:10.0.0.1]/", "::ffff:a00:1")])
def test_literal_spellings_are_read_as_addresses(url, address):
    assert str(parse_url(url).literal) == address
    with pytest.raises(APIError) as err:
        OutboundPolicy().check(url, "webhook_url")
    assert err.value.status == 422 and err.value.code == "url_not_allowed"


def test_allowlist_names_networks_and_nothing_else():
    policy = OutboundPolicy("127.0.0.1/32, 10.1.0.0/16")
    assert policy.check("http://127.0.0.1:9/", "u").port == 9
    assert policy.check("http://10.1.2.3/", "u").literal is not None
    for refused in ("http://127.0.0.2/", "http://10.2.0.1/", "http://[::1]/"):
        with pytest.raises(APIError):
            policy.check(refused, "u")
    with pytest.raises(ValueError, match="OUTBOUND_ALLOW"):
        OutboundPolicy("not-a-network")


def test_connection_goes_to_the_checked_address_not_a_second_lookup(monkeypatch):
    """A rebinding resolver answers an allowed address first and a refused one after; the request must reach
    the first (the only lookup), with the name kept in the Host header."""
    base, seen, server = serve(answer(204))
    port = int(base.rsplit(":", 1)[1])
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1"] + ["10.255.255.1"] * 10)

    def rebinding(host, *args, **kwargs):
        if host == "rebind.test":
            return real(next(answers), *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    try:
        resp = run(OutboundPolicy("127.0.0.1/32").request("POST", f"http://rebind.test:{port}/hook", content=b"x"))
        assert resp.status_code == 204
        assert seen.calls[0][2]["Host"] == f"rebind.test:{port}" and seen.calls[0][3] == b"x"
        with pytest.raises(OutboundError) as err:  # the next lookup says 10.x: refused, with the common text
            run(OutboundPolicy("127.0.0.1/32").request("POST", f"http://rebind.test:{port}/hook"))
        assert err.value.public == UNREACHABLE and "10.255.255.1" in err.value.reason
    finally:
        server.shutdown()


def test_refused_and_unreachable_read_the_same():
    base, _, server = serve(answer(204))
    try:
        with pytest.raises(OutboundError) as refused:
            run(OutboundPolicy().request("GET", base.replace("127.0.0.1", "localhost")))
        with pytest.raises(OutboundError) as closed:
            run(OutboundPolicy("127.0.0.0/8").request("GET", f"http://127.0.0.1:{_closed_port()}/"))
        assert refused.value.public == closed.value.public == UNREACHABLE
    finally:
        server.shutdown()


def _closed_port() -> int:
    from common.stack import free_port
    return free_port()


def test_body_size_and_time_are_bounded():
    big, _, s1 = serve(answer(200, b"a" * 5000))
    slow, rec, s2 = serve(silent_until_released)
    policy = OutboundPolicy("127.0.0.1/32", read_timeout_s=30, total_timeout_s=1.0, max_bytes=4096)
    try:
        with pytest.raises(APIError) as err:
            run(fetch_bytes(policy, big + "/a.wav", "reference_url"))
        assert err.value.status == 413 and "4096" in err.value.message
        with pytest.raises(OutboundError) as err:
            run(policy.request("GET", slow + "/"))
        assert err.value.public == UNREACHABLE and "1.0 s" in err.value.reason
    finally:
        rec.release.set()
        s1.shutdown()
        s2.shutdown()


def test_redirects_are_not_followed():
    target, reached, s1 = serve(answer(200, b"audio"))
    moved, _, s2 = serve(answer(302, headers={"Location": target + "/x"}))
    try:
        with pytest.raises(APIError) as err:
            run(fetch_bytes(OutboundPolicy("127.0.0.1/32"), moved + "/ref.wav", "reference_url"))
        assert err.value.status == 422 and "redirects" in err.value.message and reached.calls == []
    finally:
        s1.shutdown()
        s2.shutdown()

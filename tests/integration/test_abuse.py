"""Abuse (issue #7): a flood from one client is limited without shutting
the line for others; connections per address are capped; logins are
throttled per address; POSTs from foreign sites are refused."""

import asyncio
import socket

import pytest
import pytest_asyncio
import websockets

from harness import DEFAULT_PASSWORD, SUBPROTOCOL, Service, http_request

pytestmark = pytest.mark.asyncio


def svc_with(**env):
    s = Service(extra_env={("CHATD_" + k.upper()): str(v) for k, v in env.items()})
    s.start()
    return s


@pytest_asyncio.fixture
async def limited():
    s = svc_with(max_connections_per_address=3, login_failures_per_address=3)
    yield s
    await s.close()


async def test_flood_is_limited_and_others_unaffected(svc):
    flooder = await svc.chatd.parent_start(text="hello")
    other = await svc.chatd.parent_start(text="hi there")
    for i in range(120):
        await flooder.send({"type": "typing"})
    e = await flooder.recv_type("error")
    assert e["code"] == "rate_limited", e
    await other.send({"type": "msg", "id": "o1", "text": "are you there"})
    ack = await other.recv_type("ack")
    assert ack["id"] == "o1", "another parent was held up by someone else's flood"
    await asyncio.sleep(1.5)  # the bucket refills
    await flooder.send({"type": "msg", "id": "f1", "text": "sorry"})
    assert (await flooder.recv_type("ack"))["id"] == "f1", \
        "a limited connection must work again once it slows down"


async def connect_from(chatd, source):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", chatd.port))
    return await websockets.connect("ws://127.0.0.1:%d/ws/parent" % chatd.port,
                                    sock=sock, subprotocols=[SUBPROTOCOL],
                                    origin=chatd.origin)


async def test_connections_capped_per_address(limited):
    held = [await connect_from(limited.chatd, "127.0.0.1") for _ in range(3)]
    with pytest.raises(websockets.exceptions.InvalidStatusCode) as ei:
        await connect_from(limited.chatd, "127.0.0.1")
    assert ei.value.status_code == 429, ei.value
    other = await connect_from(limited.chatd, "127.0.0.2")
    await other.send('{"type":"hello"}')
    assert '"welcome"' in await asyncio.wait_for(other.recv(), 5), \
        "a parent on another address was refused because of this one"
    await held[0].close()
    await asyncio.sleep(0.3)
    again = await connect_from(limited.chatd, "127.0.0.1")
    for ws in held[1:] + [other, again]:
        await ws.close()


async def test_logins_throttled_per_address(limited):
    limited.ensure_user("tam")
    for name in ("a1", "a2", "a3"):
        assert limited.chatd.login_response(name, "nope").status == 401
    r = limited.chatd.login_response("tam", DEFAULT_PASSWORD)
    assert r.status == 429, \
        "after 3 failed logins from one address, further tries must be refused (got %d)" % r.status


async def test_post_from_foreign_site_refused(svc):
    svc.ensure_user("tam")
    body = '{"name":"tam","password":"%s"}' % DEFAULT_PASSWORD
    r = http_request(svc.chatd.port, "POST", "/api/login", body,
                     {"Origin": "http://evil.example", "Content-Type": "application/json"})
    assert r.status == 403, "a login POST from a foreign origin was accepted: %d" % r.status
    r = http_request(svc.chatd.port, "POST", "/api/login", body, {"Content-Type": "text/plain"})
    assert r.status == 415, "a login posted as a plain form was accepted: %d" % r.status
    r = http_request(svc.chatd.port, "POST", "/api/login", body,
                     {"Origin": svc.chatd.origin, "Content-Type": "application/json"})
    assert r.status == 200, r.status


async def test_open_console_closed_after_logout_and_user_deletion(svc):
    a = await svc.chatd.adviser("ali", available=None)
    r = http_request(svc.chatd.port, "POST", "/api/logout", None, {"Cookie": "chatd_session=" + a.cookie})
    assert r.status == 204
    e = await a.recv_type("error", timeout=5)
    assert e["code"] == "no_session", e
    assert await a.wait_closed(5) == 1008, "a console stayed connected after logout"
    b = await svc.chatd.adviser("bea", available=None)
    assert svc.cli("user", "del", "bea").returncode == 0
    assert (await b.recv_type("error", timeout=5))["code"] == "no_session"
    assert await b.wait_closed(5) == 1008, "a deleted user's console stayed connected"

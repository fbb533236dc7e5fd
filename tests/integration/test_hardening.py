"""Hardening (issue #7): staff session cookies rotate without dropping an
open console, and expire when idle or past their absolute life; a login
lockout is per (name, address) under a looser per-name ceiling; the
per-address limits believe X-Forwarded-For only from a trusted proxy; the
events and audit streams are trimmed."""

import asyncio
import http.client
import json
import time

import pytest
import websockets

from harness import DEFAULT_PASSWORD, SUBPROTOCOL, Service, cookie_from, http_request

pytestmark = pytest.mark.asyncio


def start(**env):
    s = Service(extra_env={("CHATD_" + k.upper()): str(v) for k, v in env.items()})
    s.start()
    return s


def me(svc, cookie):
    return http_request(svc.chatd.port, "GET", "/api/me",
                        headers={"Cookie": "chatd_session=" + cookie})


def login_from(svc, source, name, password, headers=None):
    """POST /api/login from a given local source address (127.0.0.x)."""
    conn = http.client.HTTPConnection("127.0.0.1", svc.chatd.port, timeout=10,
                                      source_address=(source, 0))
    try:
        body = json.dumps({"name": name, "password": password}).encode()
        h = {"Content-Type": "application/json", "Content-Length": str(len(body)),
             "Connection": "close"}
        h.update(headers or {})
        conn.request("POST", "/api/login", body, h)
        return conn.getresponse().status
    finally:
        conn.close()


# ---- 1. staff sessions rotate; idle and absolute expiry hold ------------

OVERLAP_S = 6


async def test_cookie_rotates_old_one_stops_console_stays():
    svc = start(session_rotate_s=1, session_rotate_overlap_s=OVERLAP_S)
    try:
        ali = await svc.chatd.adviser("ali", available=True)
        old = ali.cookie
        await asyncio.sleep(1.5)
        r = me(svc, old)
        assert r.status == 200, r
        header, new = cookie_from(r)
        assert new and new != old, "a session older than session_rotate_s got no new cookie: %r" % (r.headers,)
        assert "HttpOnly" in header and "SameSite=Strict" in header, header
        # Within the overlap the old cookie still works (requests on their way).
        assert me(svc, old).status == 200, "the replaced cookie failed inside the overlap"
        await asyncio.sleep(OVERLAP_S + 2)
        assert me(svc, old).status == 401, "a replaced cookie still works after the overlap"
        r = me(svc, new)
        assert r.status == 200, "the new cookie does not work: %r" % r
        newest = cookie_from(r)[1] or new  # it may have rotated again (1 s)
        # The console opened with the old cookie is still up and working.
        await ali.expect_nothing(["error"], timeout=0.5, what="an error on the live console")
        assert await ali.is_open(), "rotation closed the live console"
        await ali.send({"type": "availability", "available": False, "capacity": 1})
        assert (await ali.recv_type("availability"))["available"] is False
        # ... and it followed the rotation: logging out the newest cookie
        # (the whole chain) closes it.
        r = http_request(svc.chatd.port, "POST", "/api/logout", None,
                         {"Cookie": "chatd_session=" + newest})
        assert r.status == 204
        assert (await ali.recv_type("error", timeout=8))["code"] == "no_session"
        assert await ali.wait_closed(5) == 1008
        assert me(svc, new).status == 401 and me(svc, newest).status == 401
    finally:
        await svc.close()


async def test_no_rotation_before_the_interval():
    svc = start()  # default session_rotate_s = 900
    try:
        svc.ensure_user("bo")
        c = svc.chatd.login("bo")
        r = me(svc, c)
        assert r.status == 200 and cookie_from(r)[1] is None, "a fresh session was rotated: %r" % (r.headers,)
    finally:
        await svc.close()


async def test_idle_expiry_but_open_console_is_use():
    svc = start(session_idle_s=3)
    try:
        svc.ensure_user("cy")
        idle = svc.chatd.login("cy")
        con = await svc.chatd.adviser("di", available=None)
        await asyncio.sleep(5)
        assert me(svc, idle).status == 401, "an unused session outlived session_idle_s"
        assert await con.is_open(), "an open console's session went idle"
        assert me(svc, con.cookie).status == 200, "an open console's session went idle"
    finally:
        await svc.close()


async def test_absolute_expiry_holds_through_use():
    svc = start(session_ttl_s=60, session_rotate_s=1)
    try:
        ed = await svc.chatd.adviser("ed", available=None)
        keys = [k.decode() for k in svc.redis.cmd("KEYS", "sess:*")]
        assert len(keys) == 1, keys
        # As if logged in 61 s ago (the absolute life travels with rotation).
        svc.redis.cmd("HSET", keys[0], "born", int(time.time() * 1000) - 61000)
        assert me(svc, ed.cookie).status == 401, "a session past session_ttl_s was accepted"
        assert (await ed.recv_type("error", timeout=8))["code"] == "no_session"
        assert await ed.wait_closed(5) == 1008, "a console outlived session_ttl_s"
    finally:
        await svc.close()


# ---- 2. login lockout per (name, address), per-name ceiling ------------

async def test_lockout_is_per_name_and_address():
    svc = start(login_max_failures=3)
    try:
        svc.ensure_user("fay")
        svc.ensure_user("gus")
        for _ in range(3):
            assert login_from(svc, "127.0.0.2", "fay", "wrong password") == 401
        assert login_from(svc, "127.0.0.2", "fay", DEFAULT_PASSWORD) == 429, \
            "the address that failed 3 times was not throttled for that name"
        assert login_from(svc, "127.0.0.1", "fay", DEFAULT_PASSWORD) == 200, \
            "an attacker elsewhere locked the real adviser out"
        assert login_from(svc, "127.0.0.2", "gus", DEFAULT_PASSWORD) == 200, \
            "one name's lockout spilled onto another name"
    finally:
        await svc.close()


async def test_per_name_ceiling_bounds_spread_brute_force():
    svc = start(login_max_failures=2, login_max_failures_per_name=4)
    try:
        svc.ensure_user("hal")
        svc.ensure_user("ivy")
        for src in ("127.0.0.2", "127.0.0.3"):
            for _ in range(2):
                assert login_from(svc, src, "hal", "wrong password") == 401
        assert login_from(svc, "127.0.0.4", "hal", DEFAULT_PASSWORD) == 429, \
            "failures spread over addresses were not bounded by the per-name ceiling"
        assert login_from(svc, "127.0.0.4", "ivy", DEFAULT_PASSWORD) == 200, \
            "the ceiling on one name throttled another"
    finally:
        await svc.close()


# ---- 3. X-Forwarded-For only from trusted proxies -----------------------

async def ws_via(chatd, xff):
    return await websockets.connect(
        "ws://127.0.0.1:%d/ws/parent" % chatd.port, subprotocols=[SUBPROTOCOL],
        origin=chatd.origin, extra_headers=[("X-Forwarded-For", xff)],
        open_timeout=5, ping_interval=None)


async def test_forwarded_client_counted_behind_trusted_proxy():
    svc = start(trusted_proxies="10.0.0.0/8, 127.0.0.1", max_connections_per_address=2)
    try:
        a = [await ws_via(svc.chatd, "198.51.100.7, 10.1.1.1") for _ in range(2)]
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as ei:
            await ws_via(svc.chatd, "198.51.100.7")
        assert ei.value.status_code == 429, "a client behind the proxy was not limited on its own address"
        other = await ws_via(svc.chatd, "198.51.100.8")
        await other.send('{"type":"hello"}')
        assert '"welcome"' in await asyncio.wait_for(other.recv(), 5), \
            "another client behind the same proxy shared the first one's limit"
        # A client writing its own X-Forwarded-For: the proxy appends the
        # address it saw, and that rightmost one counts.
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as ei:
            await ws_via(svc.chatd, "203.0.113.99, 198.51.100.7")
        assert ei.value.status_code == 429
        for ws in a + [other]:
            await ws.close()
        logs = open(svc.chatd.log, errors="replace").read()
        assert "198.51.100" not in logs, "a client address reached the log"
        keys = b" ".join(svc.redis.cmd("KEYS", "*"))
        assert b"198.51.100" not in keys
    finally:
        await svc.close()


async def test_forwarded_header_ignored_from_untrusted_peer():
    svc = start(trusted_proxies="10.0.0.0/8", max_connections_per_address=2)
    try:
        a = [await ws_via(svc.chatd, "198.51.100.%d" % i) for i in (1, 2)]
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as ei:
            await ws_via(svc.chatd, "198.51.100.3")
        assert ei.value.status_code == 429, \
            "a spoofed X-Forwarded-For from an untrusted peer escaped the per-address limit"
        for ws in a:
            await ws.close()
    finally:
        await svc.close()


# ---- 4. the events and audit streams are trimmed -----------------------

DAY_MS = 86400000


async def test_events_and_audit_trimmed():
    svc = start(retention_sweep_s=1, events_max_entries=100, audit_keep_days=1)
    try:
        r = svc.redis
        now = int(time.time() * 1000)
        for days, conv in ((500, "ev-old"), (300, "ev-kept")):
            r.cmd("XADD", "events", "%d-0" % (now - days * DAY_MS), "t", "offered", "conv", conv)
        # audit_keep_days=1 is under the 30-day retention: audit is kept for
        # the retention (the record of a read outlives the transcript).
        for days, conv in ((40, "au-old"), (10, "au-kept")):
            r.cmd("XADD", "audit", "%d-0" % (now - days * DAY_MS), "ts", now, "who", "lena",
                  "role", "lead", "action", "observe", "conv", conv, "detail", "")
        await asyncio.sleep(3)

        def convs(stream):
            return [dict(zip(e[1][::2], e[1][1::2])).get(b"conv", b"").decode()
                    for e in r.cmd("XRANGE", stream, "-", "+")]
        assert "ev-old" not in convs("events"), "an event past events_keep_days stayed"
        assert "ev-kept" in convs("events"), "an event within events_keep_days was trimmed"
        assert "au-old" not in convs("audit"), "an audit entry past its keep stayed"
        assert "au-kept" in convs("audit"), "an audit entry within retention was trimmed"
        for i in range(150):
            r.cmd("XADD", "events", "*", "t", "offered", "conv", "flood-%d" % i)
            r.cmd("XADD", "audit", "*", "who", "x", "role", "lead", "action", "observe",
                  "conv", "a-%d" % i, "detail", "")
        await asyncio.sleep(3)
        assert int(r.cmd("XLEN", "events")) == 100, "events grew past events_max_entries"
        assert convs("events")[-1] == "flood-149", "the newest events were trimmed, not the oldest"
        assert int(r.cmd("XLEN", "audit")) == 151, "the audit stream was trimmed by count"
    finally:
        await svc.close()

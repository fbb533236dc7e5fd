"""Privacy, as tests (issue #7): after a full chat with a lead observing,
nothing a parent, adviser or lead wrote, and no client address, can be
found in plain form in Redis, in chatd's or Redis's logs, or in any file
under the data directory or Redis's directory (AOF included); and chatd
runs with core dumps off.

Every client here connects from 127.77.91.23 (all of 127/8 is loopback
on Linux), so the client address is distinguishable from the server's
bind address; 127.0.0.1 is looked for in Redis as well.
"""

import http.client
import json
import os

import pytest
import websockets

from harness import DEFAULT_PASSWORD, SUBPROTOCOL, Client, Response, cookie_from

pytestmark = pytest.mark.asyncio

CLIENT_IP = "127.77.91.23"

# One distinctive marker per kind of text (lower case: triage and the
# stores may fold case; both forms are searched for).
M = {
    "opening": "zqopening4817",
    "parent_msg": "zqparentmsg5293",
    "adviser_msg": "zqadvisermsg6631",
    "whisper": "zqwhisper7042",
    "escalation": "zqescalation8150",
    "decision": "zqdecision9268",
    "wrapup": "zqwrapup2486",
    "feedback": "zqfeedback3594",
}
# Not markers: `topic` is one of the widget's fixed ids and a case
# `reference` is another agency's number, both stored in clear by design
# (chatd/scripts/lib.lua); see docs/security.md and the xfail test below.
TOPIC = "behaviour"
REFERENCE = "CAD-1234"
FREE_TOPIC = "zqtopic4603"


def login(chatd, name):
    conn = http.client.HTTPConnection("127.0.0.1", chatd.port, timeout=5,
                                      source_address=(CLIENT_IP, 0))
    try:
        body = json.dumps({"name": name, "password": DEFAULT_PASSWORD})
        conn.request("POST", "/api/login", body=body,
                     headers={"Content-Type": "application/json", "Origin": chatd.origin})
        r = conn.getresponse()
        data = r.read()
        resp = Response(r.status, r.getheaders(), data)
    finally:
        conn.close()
    assert resp.status == 200, resp
    return cookie_from(resp)[1]


async def connect(svc, path, cookie=None):
    chatd = svc.chatd
    extra = [("Cookie", "chatd_session=" + cookie)] if cookie else []
    ws = await websockets.connect(
        "ws://127.0.0.1:%d%s" % (chatd.port, path), subprotocols=[SUBPROTOCOL],
        origin=chatd.origin, extra_headers=extra, open_timeout=5, close_timeout=1,
        ping_interval=None, max_size=None, local_addr=(CLIENT_IP, 0))
    c = Client(ws, chatd)
    svc.clients.append(c)
    return c


async def staff(svc, name, role, available):
    svc.ensure_user(name, role)
    c = await connect(svc, "/ws/staff", login(svc.chatd, name))
    await c.recv_type("welcome")
    if available:
        await c.send({"type": "availability", "available": True, "capacity": 2})
        await c.recv_type("availability")
    return c


async def full_chat(svc, topic=TOPIC):
    lead = await staff(svc, "lena", "lead", False)
    adv = await staff(svc, "ali", "adviser", True)
    p = await connect(svc, "/ws/parent")
    await p.send({"type": "hello"})
    await p.recv_type("welcome")
    await p.send({"type": "start", "text": "my son wont sleep " + M["opening"],
                  "topic": topic, "area": "PR1"})
    asg = await adv.recv_type("assigned")
    conv = asg["conversation"]
    await p.recv_type("connected")

    await p.send({"type": "msg", "id": "p1", "text": "he is up all night " + M["parent_msg"]})
    await p.recv_type("ack")
    await adv.recv_type("msg")
    await adv.send({"type": "msg", "conversation": conv, "id": "a1",
                    "text": "that sounds exhausting " + M["adviser_msg"]})
    await adv.recv_type("ack")
    await p.recv_type("msg")

    await lead.send({"type": "observe", "conversation": conv})
    await lead.recv_type("observing")
    await lead.send({"type": "whisper", "conversation": conv,
                     "text": "ask about routines " + M["whisper"]})
    await adv.recv_type("whisper")

    await adv.send({"type": "escalate", "conversation": conv, "severity": "high",
                    "note": "worried about dad " + M["escalation"]})
    await adv.recv_type("escalated")
    await lead.recv_type("alert")
    await lead.send({"type": "decide", "conversation": conv, "decision": "signposted",
                     "note": "signposted to sleep service " + M["decision"],
                     "reference": REFERENCE})
    await lead.recv_type("decided")

    await adv.send({"type": "end", "conversation": conv})
    await adv.recv_type("ended")
    await adv.send({"type": "wrapup", "conversation": conv, "categories": ["behaviour"],
                    "outcome": "signposted", "note": "sleep advice given " + M["wrapup"]})
    await adv.recv_type("wrapped")
    await p.recv_type("ended")
    await p.send({"type": "feedback", "rating": 5, "text": "thank you so much " + M["feedback"]})
    await p.recv_type("feedback_ok")
    return conv


def needles():
    out = []
    for v in M.values():
        out += [v.encode(), v.upper().encode()]
    return out


def found_in(blob, extra=()):
    """Markers and addresses that occur in blob."""
    hits = [n.decode() for n in needles() if n in blob]
    hits += [x for x in extra if x.encode() in blob]
    return hits


def redis_dump(redis):
    """Every key and every value in Redis, by type, as (key, bytes)."""
    out = []
    cursor = "0"
    while True:
        cursor, keys = redis.cmd("SCAN", cursor, "COUNT", "1000")
        cursor = cursor.decode() if isinstance(cursor, bytes) else cursor
        for k in keys:
            t = redis.cmd("TYPE", k)
            if t == "string":
                v = redis.cmd("GET", k)
            elif t == "hash":
                v = redis.cmd("HGETALL", k)
            elif t == "list":
                v = redis.cmd("LRANGE", k, "0", "-1")
            elif t == "set":
                v = redis.cmd("SMEMBERS", k)
            elif t == "zset":
                v = redis.cmd("ZRANGE", k, "0", "-1", "WITHSCORES")
            elif t == "stream":
                v = redis.cmd("XRANGE", k, "-", "+")
            else:
                v = None
            out.append((k, t, flatten(v)))
        if cursor == "0":
            return out


def flatten(v):
    if v is None:
        return b""
    if isinstance(v, bytes):
        return v
    if isinstance(v, (int, str)):
        return str(v).encode()
    return b"\x00".join(flatten(x) for x in v)


def files_under(*roots):
    for root in roots:
        for d, _, names in os.walk(root):
            for n in names:
                p = os.path.join(d, n)
                if os.path.isfile(p):
                    yield p


async def test_sweep_redis_keys_and_values(svc):
    await full_chat(svc)
    dump = redis_dump(svc.redis)
    assert len(dump) > 5, "Redis holds almost nothing after a full chat: %r" % dump
    hits = []
    for k, t, v in dump:
        for where, blob in (("key", k), ("value", v)):
            h = found_in(blob, (CLIENT_IP, "127.0.0.1"))
            if h:
                hits.append("%s %s %r: %s" % (t, where, k.decode(errors="replace"), h))
    assert not hits, "plain text or a client address in Redis:\n" + "\n".join(hits)


async def test_sweep_logs(svc):
    await full_chat(svc)
    hits = []
    for path in [c.log for c in svc.chatds] + [svc.redis.log]:
        with open(path, "rb") as f:
            h = found_in(f.read(), (CLIENT_IP,))
        if h:
            hits.append("%s: %s" % (path, h))
    assert not hits, "message text or the client address in a log:\n" + "\n".join(hits)


async def test_sweep_data_and_redis_dirs(svc):
    await full_chat(svc)
    files = list(files_under(svc.data_dir, svc.redis.dir))
    aof = [p for p in files if ".aof" in os.path.basename(p)]
    assert aof, "no AOF file found under %s: %r" % (svc.redis.dir, files)
    hits = []
    for path in files:
        if path == svc.redis.log:
            continue  # the log sweep covers it
        with open(path, "rb") as f:
            h = found_in(f.read(), (CLIENT_IP,))
        if h:
            hits.append("%s: %s" % (path, h))
    assert not hits, "plain text or the client address on disk:\n" + "\n".join(hits)


async def test_core_dumps_off(svc):
    with open("/proc/%d/limits" % svc.chatd.proc.pid) as f:
        lines = [ln for ln in f if ln.startswith("Max core file size")]
    assert lines, "no core file size line in /proc/<pid>/limits"
    soft, hard = lines[0].split()[4:6]
    assert (soft, hard) == ("0", "0"), "chatd may dump core (limits: %r)" % lines[0]


async def test_free_text_topic_refused_and_not_stored(svc):
    """`topic` is one of a fixed list of ids: a parent's own words there
    would sit unsealed in Redis."""
    p = await svc.chatd.parent_hello()
    await p.send({"type": "start", "text": "hello", "topic": "my name is " + FREE_TOPIC})
    e = await p.recv_type("error")
    assert e["code"] == "bad_request", "a free-text topic was accepted: %r" % e
    hits = [k.decode() for k, t, v in redis_dump(svc.redis)
            if FREE_TOPIC.encode() in v or FREE_TOPIC.encode() in k]
    assert not hits, "a free-text topic is stored in clear in Redis: %r" % hits
    await p.send({"type": "start", "text": "hello", "topic": "school"})
    await p.recv_type("queued")

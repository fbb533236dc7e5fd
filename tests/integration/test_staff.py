"""Staff endpoint /ws/staff: session, availability, assignment, messages,
end, wrap-up, ownership, queue frames (docs/protocol.md, "Staff")."""

import asyncio

import pytest
import websockets.exceptions

from harness import is_number, now_ms

pytestmark = pytest.mark.asyncio


async def expect_no_session(c):
    e = await c.recv_type("error")
    assert e.get("code") == "no_session", "staff socket without a valid session got %r" % e
    code = await c.wait_closed(5)
    assert code == 1008, "server should close the unauthenticated staff socket with 1008, got %r" % code


async def test_staff_without_cookie(svc):
    c = await svc.chatd.connect("/ws/staff")
    await expect_no_session(c)


async def test_staff_with_bad_cookie(svc):
    c = await svc.chatd.staff("forged" + "0" * 58)
    await expect_no_session(c)


async def test_staff_after_logout(svc):
    svc.ensure_user("olu")
    cookie = svc.chatd.login("olu")
    r = svc.chatd.http("POST", "/api/logout", headers={"Cookie": "chatd_session=" + cookie})
    assert r.status == 204, r
    c = await svc.chatd.staff(cookie)
    await expect_no_session(c)


async def test_staff_unauthenticated_cannot_act(svc):
    await svc.chatd.parent_start(text="anyone?")
    c = await svc.chatd.connect("/ws/staff")
    try:
        await c.send({"type": "availability", "available": True, "capacity": 2})
    except websockets.exceptions.ConnectionClosed:
        pass  # already closed after no_session: fine
    frames = await c.collect(1.5)
    assert not [f for f in frames if f["type"] in ("assigned", "availability", "welcome", "queue")], \
        "a staff socket without a session was served: %r" % frames


async def test_staff_welcome(svc):
    svc.ensure_user("pat", "lead")
    cookie = svc.chatd.login("pat")
    c = await svc.chatd.staff(cookie)
    w = await c.recv_type("welcome")
    assert w.get("name") == "pat" and w.get("role") == "lead", "staff welcome should be {role, name}: %r" % w


async def test_availability(svc):
    a = await svc.chatd.adviser("quinn", available=None)
    await a.send({"type": "availability", "available": True, "capacity": 2})
    r = await a.recv_type("availability")
    assert r.get("available") is True and r.get("capacity") == 2 and r.get("active") == 0, \
        "availability should echo {available:true, capacity:2, active:0}: %r" % r
    await a.send({"type": "availability", "available": False})
    r = await a.recv_type("availability")
    assert r.get("available") is False, "adviser could not go unavailable: %r" % r


@pytest.mark.parametrize("frame", [
    {"type": "availability", "available": True, "capacity": 0},
    {"type": "availability", "available": True, "capacity": 9},
    {"type": "availability", "available": "yes"},
    {"type": "availability"},
])
async def test_availability_bad_request(svc, frame):
    a = await svc.chatd.adviser("rae", available=None)
    await a.send(frame)
    e = await a.recv_any(("error", "availability"))
    assert e["type"] == "error" and e.get("code") == "bad_request", \
        "%r should be bad_request: %r" % (frame, e)


async def test_assigned_and_connected(svc):
    a = await svc.chatd.adviser("sam")
    p = await svc.chatd.parent_start(text="my toddler bites at nursery")
    asg = await a.recv_type("assigned")
    assert asg.get("conversation"), "assigned has no conversation: %r" % asg
    assert isinstance(asg.get("severity"), str), "assigned has no severity: %r" % asg
    assert asg.get("returning") is False, "a first-time parent marked returning: %r" % asg
    hist = asg.get("history")
    assert isinstance(hist, list) and len(hist) == 1, "history should hold the opening message: %r" % asg
    h = hist[0]
    assert h.get("seq") == 1 and h.get("from") == "parent" and h.get("text") == "my toddler bites at nursery", \
        "the adviser does not see the parent's opening words: %r" % h
    assert is_number(h.get("ts")), "history message lacks ts: %r" % h
    assert "type" not in h, "history entries should be msg objects without type: %r" % h
    con = await p.recv_type("connected")
    assert con.get("adviser") == "sam" and con.get("conversation") == asg["conversation"], \
        "the parent is not told who they are talking to: %r" % con


async def test_assigned_carries_topic_and_area(svc):
    a = await svc.chatd.adviser("tess")
    await svc.chatd.parent_start(text="help", topic="behaviour", area="PR1")
    asg = await a.recv_type("assigned")
    assert asg.get("topic") == "behaviour" and asg.get("area") == "PR1", \
        "the adviser does not see the topic/area the parent chose: %r" % asg


async def chat(svc, text="he won't go to school", name="uma"):
    a = await svc.chatd.adviser(name)
    p = await svc.chatd.parent_start(text=text)
    asg = await a.recv_type("assigned")
    await p.recv_type("connected")
    return p, a, asg["conversation"]


async def test_staff_msg_ack_and_delivery(svc):
    p, a, conv = await chat(svc)
    t0 = now_ms()
    await a.send({"type": "msg", "conversation": conv, "id": "s-1", "text": "I'm sorry to hear that. How old is he?"})
    ack = await a.recv_type("ack")
    assert ack.get("conversation") == conv and ack.get("id") == "s-1" and ack.get("seq") == 2, \
        "staff ack should be {conversation, id, seq:2}: %r" % ack
    m = await p.recv_type("msg")
    assert m.get("seq") == 2 and m.get("from") == "adviser" and m.get("text") == "I'm sorry to hear that. How old is he?", \
        "parent got the wrong message: %r" % m
    assert is_number(m.get("ts")) and abs(m["ts"] - t0) < 60000, "ts should be epoch milliseconds: %r" % m
    await a.expect_nothing("msg", 0.5, "the adviser was echoed their own message")


async def test_parent_msg_has_triage(svc):
    p, a, conv = await chat(svc)
    await p.send({"type": "msg", "id": "p-1", "text": "he is 9"})
    m = await a.recv_type("msg")
    assert m.get("conversation") == conv and m.get("seq") == 2 and m.get("from") == "parent" \
        and m.get("text") == "he is 9" and is_number(m.get("ts")), m
    t = m.get("triage")
    assert isinstance(t, dict), "parent message reaches the adviser without triage: %r" % m
    assert isinstance(t.get("severity"), str), t
    assert isinstance(t.get("categories"), list), t
    assert isinstance(t.get("spans"), list), t


NONE = {"severity": "none", "categories": [], "spans": []}


async def test_nothing_found_still_shows_triage(svc):
    """A message where triage found nothing is stored without its triage
    JSON (wire_triage_stored); the adviser still sees severity none, live,
    in the history of a new assignment and after a reconnect."""
    p, a, conv = await chat(svc, text="hello, is anyone there?", name="nia")
    await p.send({"type": "msg", "id": "p-1", "text": "he is 9"})
    m = await a.recv_type("msg")
    assert m.get("seq") == 2 and m.get("triage") == NONE, \
        "a message with nothing found should reach the adviser with triage none: %r" % m
    log = svc.redis.cmd("XRANGE", "conv:%s:log" % conv, "-", "+")
    tri = [dict(zip(kv[::2], kv[1::2])).get(b"tri") for _id, kv in log]
    assert tri == [b"", b""], "nothing found should store no triage JSON: %r" % tri
    await a.close()
    a2 = await svc.chatd.adviser("nia")
    asg = await a2.recv_type("assigned")
    hist = asg.get("history") or []
    assert [h.get("triage") for h in hist] == [NONE, NONE], \
        "after a reconnect the history should show triage none: %r" % asg


async def test_triage_spans_utf16(svc):
    """spans are [start,end) in UTF-16 code units of text."""
    p, a, conv = await chat(svc)
    text = "😀😀 I want to kill myself tonight"
    await p.send({"type": "msg", "id": "p-1", "text": text})
    m = await a.recv_type("msg")
    t = m.get("triage") or {}
    assert t.get("severity") in ("high", "emergency"), \
        "'I want to kill myself tonight' not rated high/emergency by triage: %r" % t
    assert t.get("spans"), "a flagged message has no spans to highlight: %r" % t
    u16 = text.encode("utf-16-le")
    for span in t["spans"]:
        assert isinstance(span, list) and len(span) == 2, span
        s, e = span
        assert 0 <= s < e <= len(u16) // 2, "span %r out of range for the text" % (span,)
        frag = u16[2 * s:2 * e].decode("utf-16-le", "replace")
        assert "kill" in frag or "myself" in frag or "tonight" in frag, \
            "span %r highlights %r, not the risky words (byte offsets instead of UTF-16?)" % (span, frag)


async def test_ordered_seq_both_sides(svc):
    p, a, conv = await chat(svc, text="opening")
    # alternate, each waiting for its ack
    for i in range(3):
        await p.send({"type": "msg", "id": "p%d" % i, "text": "parent %d" % i})
        await p.recv_type("ack")
        await a.send({"type": "msg", "conversation": conv, "id": "a%d" % i, "text": "adviser %d" % i})
        await a.recv_type("ack")
    # then a burst from both at once
    async def burst_p():
        for i in range(3, 8):
            await p.send({"type": "msg", "id": "p%d" % i, "text": "parent %d" % i})

    async def burst_a():
        for i in range(3, 8):
            await a.send({"type": "msg", "conversation": conv, "id": "a%d" % i, "text": "adviser %d" % i})

    await asyncio.gather(burst_p(), burst_a())
    p_got = await p.collect(2.0, ("msg", "ack"))
    a_got = await a.collect(0.5, ("msg", "ack"))
    p_acks = [f for f in p.seen if f["type"] == "ack"]
    a_acks = [f for f in a.seen if f["type"] == "ack"]
    p_msgs = [f for f in p.seen if f["type"] == "msg"]
    a_msgs = [f for f in a.seen if f["type"] == "msg"]
    assert len(p_acks) == 8 and len(a_acks) == 8, "not every message was acknowledged: parent %d, adviser %d" % (len(p_acks), len(a_acks))
    assert len(p_msgs) == 8, "parent received %d adviser messages, expected 8: %r" % (len(p_msgs), p_msgs)
    assert len(a_msgs) == 8, "adviser received %d parent messages, expected 8: %r" % (len(a_msgs), a_msgs)
    all_seq = sorted([f["seq"] for f in p_acks + a_acks] + [1])
    assert all_seq == list(range(1, 18)), "seq numbers have gaps or repeats: %r" % all_seq
    for who, msgs in (("parent", p_msgs), ("adviser", a_msgs)):
        seqs = [m["seq"] for m in msgs]
        assert seqs == sorted(seqs), "%s sees messages out of order: %r" % (who, seqs)
    assert [m["text"] for m in p_msgs] == ["adviser %d" % i for i in range(8)], \
        "adviser's messages arrive garbled or reordered: %r" % [m["text"] for m in p_msgs]
    assert [m["text"] for m in a_msgs] == ["parent %d" % i for i in range(8)], \
        "parent's messages arrive garbled or reordered: %r" % [m["text"] for m in a_msgs]
    ack_by_id = {f["id"]: f["seq"] for f in p_acks}
    assert [m["seq"] for m in a_msgs] == [ack_by_id["p%d" % i] for i in range(8)], \
        "the seq the parent was acked differs from the one the adviser saw"


async def test_staff_end(svc):
    p, a, conv = await chat(svc)
    await a.send({"type": "end", "conversation": conv})
    e = await p.recv_type("ended")
    assert e.get("by") == "adviser", "parent should see the adviser ended the chat: %r" % e


async def test_wrapup(svc):
    p, a, conv = await chat(svc)
    await a.send({"type": "end", "conversation": conv})
    await p.recv_type("ended")
    await a.send({"type": "wrapup", "conversation": conv, "categories": ["behaviour"], "outcome": "advice"})
    w = await a.recv_any(("wrapped", "error"))
    assert w["type"] == "wrapped" and w.get("conversation") == conv, "wrap-up not stored: %r" % w


async def test_wrapup_after_parent_end(svc):
    p, a, conv = await chat(svc)
    await p.send({"type": "end"})
    await a.recv_type("ended")
    await a.send({"type": "wrapup", "conversation": conv, "categories": ["behaviour"],
                  "outcome": "advice", "note": "gave bedtime routine tips"})
    w = await a.recv_any(("wrapped", "error"))
    assert w["type"] == "wrapped" and w.get("conversation") == conv, "wrap-up after the parent left refused: %r" % w


@pytest.mark.parametrize("patch", [
    {"outcome": "solved"},
    {"outcome": None},
    {"categories": "behaviour"},
    {"categories": None},
])
async def test_wrapup_bad_request(svc, patch):
    p, a, conv = await chat(svc)
    await a.send({"type": "end", "conversation": conv})
    await p.recv_type("ended")
    frame = {"type": "wrapup", "conversation": conv, "categories": ["behaviour"], "outcome": "advice"}
    frame.update(patch)
    frame = {k: v for k, v in frame.items() if v is not None}
    await a.send(frame)
    e = await a.recv_any(("error", "wrapped"))
    assert e["type"] == "error" and e.get("code") == "bad_request", "%r should be bad_request: %r" % (patch, e)


async def test_wrapup_before_end_not_allowed(svc):
    p, a, conv = await chat(svc)
    await a.send({"type": "wrapup", "conversation": conv, "categories": ["behaviour"], "outcome": "advice"})
    e = await a.recv_any(("error", "wrapped"))
    assert e["type"] == "error" and e.get("code") == "not_allowed", \
        "wrap-up of a live chat should be not_allowed: %r" % e
    await p.expect_nothing("ended", 0.3, "a refused wrap-up ended the parent's chat")


async def test_wrapped_frees_capacity(svc):
    a = await svc.chatd.adviser("vic", capacity=1)
    p1 = await svc.chatd.parent_start(text="first parent")
    asg = await a.recv_type("assigned")
    p2 = await svc.chatd.parent_start(text="second parent")
    await a.expect_nothing("assigned", 0.5, "an adviser with capacity 1 got a second parent")
    await a.send({"type": "end", "conversation": asg["conversation"]})
    await p1.recv_type("ended")
    await a.send({"type": "wrapup", "conversation": asg["conversation"], "categories": ["behaviour"], "outcome": "advice"})
    await a.recv_type("wrapped")
    asg2 = await a.recv_type("assigned", timeout=5)
    assert asg2["history"][0]["text"] == "second parent", asg2
    await p2.recv_type("connected")


async def test_not_your_conversation(svc):
    p, a, conv = await chat(svc, name="wyn")
    other = await svc.chatd.adviser("xan", available=False)
    for frame in ({"type": "msg", "conversation": conv, "id": "hijack", "text": "hello from someone else"},
                  {"type": "end", "conversation": conv},
                  {"type": "wrapup", "conversation": conv, "categories": ["behaviour"], "outcome": "advice"}):
        await other.send(frame)
        e = await other.recv_any(("error", "ack", "wrapped"))
        assert e["type"] == "error" and e.get("code") == "not_allowed", \
            "another adviser could %s in someone else's chat: %r" % (frame["type"], e)
    await other.send({"type": "typing", "conversation": conv})
    await p.expect_nothing(("msg", "ended", "typing"), 0.5, "another adviser's frames reached the parent")
    await other.send({"type": "msg", "conversation": "no-such-conversation", "id": "x", "text": "hi"})
    e = await other.recv_any(("error", "ack"))
    assert e["type"] == "error" and e.get("code") in ("not_allowed", "bad_request"), e


async def test_queue_frames(svc):
    a = await svc.chatd.adviser("yara", capacity=1)
    p0 = await svc.chatd.parent_start(text="first, gets the adviser")
    await a.recv_type("assigned")
    await svc.chatd.parent_start(text="second")
    q = await a.recv_type("queue", where=lambda f: f.get("waiting") == 1)
    assert is_number(q.get("oldest_wait_s")) and q["oldest_wait_s"] >= 0, q
    assert isinstance(q.get("by_severity"), dict), "queue frame lacks by_severity: %r" % q
    await svc.chatd.parent_start(text="third")
    q = await a.recv_type("queue", where=lambda f: f.get("waiting") == 2)
    assert sum(q["by_severity"].values()) == 2, "by_severity does not add up to waiting: %r" % q


async def test_queue_frames_reach_unavailable_staff(svc):
    a = await svc.chatd.adviser("zoe", available=False)
    await svc.chatd.parent_start(text="anyone?")
    q = await a.recv_type("queue", where=lambda f: f.get("waiting") == 1)
    assert q["waiting"] == 1


async def test_parent_type_on_staff_socket(svc):
    a = await svc.chatd.adviser("abe", available=None)
    await a.send({"type": "start", "text": "hi"})
    e = await a.recv_type("error")
    assert e.get("code") == "unknown_type", "a parent-only type on /ws/staff should be unknown_type: %r" % e

"""Parent endpoint /ws/parent: every row of the parent tables in
docs/protocol.md."""


import pytest

from harness import is_number, now_ms

pytestmark = pytest.mark.asyncio


async def paired(svc, text="my daughter keeps hitting her brother", adviser="amira"):
    """A parent chatting with an adviser.  Returns (parent, adviser, conversation)."""
    a = await svc.chatd.adviser(adviser, capacity=2)
    p = await svc.chatd.parent_start(text=text)
    asg = await a.recv_type("assigned")
    con = await p.recv_type("connected")
    assert con["conversation"] == asg["conversation"]
    return p, a, asg["conversation"]


async def test_hello_welcome_new(svc):
    p = await svc.chatd.parent()
    await p.send({"type": "hello"})
    w = await p.recv_type("welcome")
    assert isinstance(w.get("resume"), str) and w["resume"], \
        "welcome has no resume token: the parent could never rejoin after a dropped signal: %r" % w
    assert w.get("state") == "new", "a first hello should be state new: %r" % w
    assert w.get("open") is True, "with no opening hours the line must say open: %r" % w


async def test_resume_tokens_differ(svc):
    p1 = await svc.chatd.parent_hello()
    p2 = await svc.chatd.parent_hello()
    assert p1.resume != p2.resume, "two parents got the same resume token: one could read the other's chat"
    assert len(p1.resume) >= 20, "resume token %r is short enough to guess" % p1.resume


async def test_hello_unknown_resume_gives_new_session(svc):
    p = await svc.chatd.parent()
    await p.send({"type": "hello", "resume": "no-such-token-0123456789abcdef", "last_seq": 0})
    w = await p.recv_type("welcome")
    assert w.get("state") == "new", "an unknown resume token should start afresh: %r" % w
    assert w.get("resume") and w["resume"] != "no-such-token-0123456789abcdef", \
        "the server adopted a token the client made up: %r" % w


async def test_start_queued_position_1(svc):
    p = await svc.chatd.parent_hello()
    await p.send({"type": "start", "text": "hi, can I talk to someone"})
    q = await p.recv_type("queued")
    assert q.get("position") == 1, "the only waiting parent should be told they are next: %r" % q
    assert is_number(q.get("eta_s")), "queued frame has no numeric eta_s: %r" % q
    assert q["eta_s"] >= 0, "negative waiting time: %r" % q


async def test_start_without_text(svc):
    p = await svc.chatd.parent_hello()
    await p.send({"type": "start"})
    q = await p.recv_type("queued")
    assert q.get("position") == 1, q
    await p.send({"type": "msg", "id": "m1", "text": "first words"})
    ack = await p.recv_type("ack")
    assert ack == {"type": "ack", "id": "m1", "seq": 1} or (ack["id"] == "m1" and ack["seq"] == 1), \
        "with no opening text the first message should be seq 1: %r" % ack


async def test_second_parent_position_2(svc):
    await svc.chatd.parent_start(text="first")
    p2 = await svc.chatd.parent_start(text="second")
    assert p2.position == 2, "the second parent waiting should be told position 2, got %r" % p2.position


async def test_start_twice_not_allowed(svc):
    p = await svc.chatd.parent_start()
    await p.send({"type": "start", "text": "again"})
    e = await p.error()
    assert e.get("code") == "not_allowed", "a second start should be not_allowed: %r" % e
    assert e.get("ref") == "start", "error should echo ref=start: %r" % e
    # still one place in the queue
    q = await p.collect(0.5, "queued")
    assert all(f.get("position") == 1 for f in q), "a second start moved the parent: %r" % q


async def test_msg_before_hello_no_session(svc):
    p = await svc.chatd.parent()
    await p.send({"type": "msg", "id": "x1", "text": "hello?"})
    e = await p.error()
    assert e.get("code") == "no_session", "a frame before hello should be no_session: %r" % e
    # the parent socket stays usable: hello now works
    await p.send({"type": "hello"})
    w = await p.recv_type("welcome")
    assert w.get("state") == "new", w


async def test_start_before_hello_no_session(svc):
    p = await svc.chatd.parent()
    await p.send({"type": "start", "text": "hi"})
    e = await p.error()
    assert e.get("code") == "no_session", "start before hello should be no_session: %r" % e


async def test_msg_before_start_not_allowed(svc):
    p = await svc.chatd.parent_hello()
    await p.send({"type": "msg", "id": "early-1", "text": "is anyone there"})
    e = await p.error()
    assert e.get("code") == "not_allowed", "msg before start should be not_allowed: %r" % e
    assert e.get("id") == "early-1", "error should echo the client id so the widget can mark that message: %r" % e
    assert e.get("ref") == "msg", "error should echo ref=msg: %r" % e
    assert isinstance(e.get("message"), str), "error has no message: %r" % e


async def test_msg_ack_while_queued(svc):
    p = await svc.chatd.parent_start(text="opening words")
    await p.send({"type": "msg", "id": "q-1", "text": "still waiting, it's urgent-ish"})
    ack = await p.recv_type("ack")
    assert ack.get("id") == "q-1" and ack.get("seq") == 2, \
        "a message while queued should be stored after the opening message (seq 2): %r" % ack


async def test_messages_typed_while_queued_shown_when_paired(svc):
    p = await svc.chatd.parent_start(text="opening words")
    await p.send({"type": "msg", "id": "q-1", "text": "second thing while waiting"})
    await p.recv_type("ack")
    a = await svc.chatd.adviser("bea")
    asg = await a.recv_type("assigned")
    texts = [(m.get("seq"), m.get("from"), m.get("text")) for m in asg.get("history", [])]
    assert texts == [(1, "parent", "opening words"), (2, "parent", "second thing while waiting")], \
        "the adviser does not see what the parent wrote while waiting: %r" % texts


async def test_msg_ack_and_relay(svc):
    p, a, conv = await paired(svc)
    t0 = now_ms()
    await p.send({"type": "msg", "id": "c-1", "text": "he threw a chair today"})
    ack = await p.recv_type("ack")
    assert ack.get("id") == "c-1" and ack.get("seq") == 2, "ack should be {id: c-1, seq: 2}: %r" % ack
    m = await a.recv_type("msg")
    assert m.get("conversation") == conv and m.get("seq") == 2 and m.get("from") == "parent" \
        and m.get("text") == "he threw a chair today", "adviser got the wrong message: %r" % m
    assert is_number(m.get("ts")) and abs(m["ts"] - t0) < 60000, \
        "ts should be milliseconds since the epoch, got %r" % m.get("ts")
    # the parent is not sent their own live message
    await p.expect_nothing("msg", 0.5, "the parent was echoed their own message")


async def test_typing_relayed_both_ways_not_stored(svc):
    p, a, conv = await paired(svc)
    await p.send({"type": "typing"})
    t = await a.recv_type("typing")
    assert t.get("conversation") == conv, "adviser's typing indicator lacks the conversation: %r" % t
    await a.send({"type": "typing", "conversation": conv})
    await p.recv_type("typing")
    await p.send({"type": "msg", "id": "after-typing", "text": "ok"})
    ack = await p.recv_type("ack")
    assert ack.get("seq") == 2, "typing was stored as a message (seq jumped): %r" % ack


async def test_parent_end(svc):
    p, a, conv = await paired(svc)
    await p.send({"type": "end"})
    e = await p.recv_type("ended")
    assert e.get("by") == "parent", "parent ending should report by=parent: %r" % e
    ea = await a.recv_type("ended")
    assert ea.get("conversation") == conv and ea.get("by") == "parent", \
        "the adviser is not told the parent left: %r" % ea
    # nothing more reaches the ended conversation
    await a.send({"type": "msg", "conversation": conv, "id": "late", "text": "are you there?"})
    err_or_ack = await a.recv_any(("error", "ack"))
    await p.expect_nothing("msg", 0.5, "the parent still receives messages after ending the chat")
    assert err_or_ack["type"] == "error" and err_or_ack.get("code") == "not_allowed", \
        "adviser could still send into an ended chat: %r" % err_or_ack


async def test_quick_exit_tells_adviser(svc):
    p, a, conv = await paired(svc)
    await p.send({"type": "end", "reason": "exit"})
    await p.recv_type("ended")
    ea = await a.recv_type("ended")
    assert ea.get("by") == "parent" and ea.get("reason") == "exit", \
        "the adviser is not told the parent left in a hurry: %r" % ea


async def test_end_while_queued_leaves_queue(svc):
    p1 = await svc.chatd.parent_start(text="one")
    p2 = await svc.chatd.parent_start(text="two")
    assert p2.position == 2
    await p1.send({"type": "end"})
    e = await p1.recv_type("ended")
    assert e.get("by") == "parent", e
    q = await p2.recv_type("queued", where=lambda f: f.get("position") == 1)
    assert q["position"] == 1
    r = svc.chatd.get("/api/status").json()
    assert r.get("waiting") == 1, "/api/status still counts the parent who left: %r" % r


async def test_status_counts_waiting(svc):
    assert svc.chatd.get("/api/status").json().get("waiting") == 0
    await svc.chatd.parent_start(text="one")
    await svc.chatd.parent_start(text="two")
    r = svc.chatd.get("/api/status").json()
    assert r.get("waiting") == 2, "/api/status shows the wrong number waiting: %r" % r


async def test_feedback_after_end(svc):
    p, a, conv = await paired(svc)
    await p.send({"type": "end"})
    await p.recv_type("ended")
    await p.send({"type": "feedback", "rating": 5, "text": "thank you so much"})
    f = await p.recv_any(("feedback_ok", "error"))
    assert f["type"] == "feedback_ok", "feedback after the chat was refused: %r" % f


@pytest.mark.parametrize("rating", [0, 6, "5", None])
async def test_feedback_bad_rating(svc, rating):
    p = await svc.chatd.parent_start()
    await p.send({"type": "end"})
    await p.recv_type("ended")
    frame = {"type": "feedback", "rating": rating}
    await p.send(frame)
    e = await p.recv_any(("error", "feedback_ok"))
    assert e["type"] == "error" and e.get("code") == "bad_request", \
        "rating %r should be bad_request: %r" % (rating, e)
    # a good rating still goes through afterwards
    await p.send({"type": "feedback", "rating": 4})
    ok = await p.recv_any(("feedback_ok", "error"))
    assert ok["type"] == "feedback_ok", "after a bad rating the good one is refused: %r" % ok


async def test_feedback_before_end_not_allowed(svc):
    p = await svc.chatd.parent_start()
    await p.send({"type": "feedback", "rating": 3})
    e = await p.recv_any(("error", "feedback_ok"))
    assert e["type"] == "error" and e.get("code") == "not_allowed", \
        "feedback while still queued should be not_allowed: %r" % e


async def test_start_again_after_end(svc):
    p = await svc.chatd.parent_start(text="first chat")
    await p.send({"type": "end"})
    await p.recv_type("ended")
    await p.send({"type": "start", "text": "actually, one more thing"})
    q = await p.recv_any(("queued", "error"))
    assert q["type"] == "queued" and q.get("position") == 1, \
        "a parent cannot start a new chat after ending one: %r" % q
    a = await svc.chatd.adviser("cara")
    asg = await a.recv_type("assigned")
    hist = asg.get("history", [])
    assert [m.get("text") for m in hist] == ["actually, one more thing"] and hist[0].get("seq") == 1, \
        "a new conversation should start at seq 1 with only the new text: %r" % hist


async def test_ws_without_subprotocol_accepted(svc):
    p = await svc.chatd.connect("/ws/parent", subprotocols=())
    await p.send({"type": "hello"})
    w = await p.recv_type("welcome")
    assert w.get("state") == "new", w


async def test_subprotocol_selected(svc):
    p = await svc.chatd.parent()
    assert p.ws.subprotocol == "helpline.v1", \
        "server did not select helpline.v1 (got %r)" % p.ws.subprotocol

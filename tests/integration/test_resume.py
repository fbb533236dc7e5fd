"""Sequence numbers, dedupe by client id, and resuming after a dropped
socket (docs/protocol.md: hello/resume/last_seq, msg id)."""

import pytest


pytestmark = pytest.mark.asyncio


async def chat(svc, text="opening words", name="ada"):
    a = await svc.chatd.adviser(name)
    p = await svc.chatd.parent_start(text=text)
    asg = await a.recv_type("assigned")
    await p.recv_type("connected")
    return p, a, asg["conversation"]


async def test_resend_same_id_deduped(svc):
    p, a, conv = await chat(svc)
    await p.send({"type": "msg", "id": "dup-1", "text": "did this send?"})
    ack1 = await p.recv_type("ack")
    await p.send({"type": "msg", "id": "dup-1", "text": "did this send?"})
    ack2 = await p.recv_type("ack")
    assert ack1.get("id") == ack2.get("id") == "dup-1" and ack1.get("seq") == ack2.get("seq") == 2, \
        "a resend was stored again instead of re-acknowledged: %r then %r" % (ack1, ack2)
    got = await a.collect(1.0, "msg")
    assert [m.get("text") for m in got] == ["did this send?"], \
        "the adviser sees a resent message %d times: %r" % (len(got), got)
    await p.send({"type": "msg", "id": "dup-2", "text": "next"})
    ack3 = await p.recv_type("ack")
    assert ack3.get("seq") == 3, "after a deduped resend the next seq should be 3: %r" % ack3


async def test_resend_after_reconnect_deduped(svc):
    """The widget resends unacknowledged messages after reconnecting."""
    p, a, conv = await chat(svc)
    await p.send({"type": "msg", "id": "lost-ack", "text": "sent just before the tunnel"})
    ack = await p.recv_type("ack")
    await a.recv_type("msg")
    p.drop()
    p2 = await svc.chatd.parent()
    await p2.send({"type": "hello", "resume": p.resume, "last_seq": 1})
    w = await p2.recv_type("welcome")
    assert w.get("state") == "chatting", w
    await p2.send({"type": "msg", "id": "lost-ack", "text": "sent just before the tunnel"})
    ack2 = await p2.recv_type("ack")
    assert ack2.get("seq") == ack["seq"], "a resend after reconnecting got a new seq: %r vs %r" % (ack2, ack)
    await a.expect_nothing("msg", 0.8, "the adviser got the resent message twice")


async def test_resume_chatting_gets_exactly_missed(svc):
    p, a, conv = await chat(svc)
    await p.send({"type": "msg", "id": "p-1", "text": "before the drop"})
    await p.recv_type("ack")
    await a.send({"type": "msg", "conversation": conv, "id": "a-1", "text": "seen before the drop"})
    await p.recv_type("msg")
    last = p.last_seq
    assert last == 3, "parent should have seen seq 3 by now, saw %r" % last
    p.drop()
    await a.send({"type": "msg", "conversation": conv, "id": "a-2", "text": "missed one"})
    await a.recv_type("ack")
    await a.send({"type": "msg", "conversation": conv, "id": "a-3", "text": "missed two"})
    await a.recv_type("ack")
    p2 = await svc.chatd.parent()
    await p2.send({"type": "hello", "resume": p.resume, "last_seq": last})
    w = await p2.recv_type("welcome")
    assert w.get("state") == "chatting", "a parent coming back mid-chat is not told they are chatting: %r" % w
    con = await p2.recv_type("connected")
    assert con.get("conversation") == conv and con.get("adviser") == "ada", \
        "after resuming the parent is not told who they are talking to: %r" % con
    got = await p2.collect(1.5, "msg")
    assert [(m.get("seq"), m.get("from"), m.get("text")) for m in got] == \
        [(4, "adviser", "missed one"), (5, "adviser", "missed two")], \
        "after reconnecting the parent should get exactly the two missed messages, got %r" % got
    # and the chat carries on both ways
    await p2.send({"type": "msg", "id": "p-2", "text": "I'm back"})
    ack = await p2.recv_type("ack")
    assert ack.get("seq") == 6, ack
    m = await a.recv_type("msg", where=lambda f: f.get("text") == "I'm back")
    assert m.get("seq") == 6


async def test_resume_replays_everything_from_zero(svc):
    p, a, conv = await chat(svc, text="opening words")
    await p.send({"type": "msg", "id": "mine-1", "text": "my first"})
    await p.recv_type("ack")
    await a.send({"type": "msg", "conversation": conv, "id": "a-1", "text": "adviser reply"})
    await p.recv_type("msg")
    await p.send({"type": "msg", "id": "mine-2", "text": "my second"})
    await p.recv_type("ack")
    p.drop()
    p2 = await svc.chatd.parent()
    await p2.send({"type": "hello", "resume": p.resume, "last_seq": 0})
    w = await p2.recv_type("welcome")
    assert w.get("state") == "chatting", w
    got = await p2.collect(1.5, "msg")
    summary = [(m.get("seq"), m.get("from"), m.get("text")) for m in got]
    assert summary == [(1, "parent", "opening words"), (2, "parent", "my first"),
                       (3, "adviser", "adviser reply"), (4, "parent", "my second")], \
        "a parent reopening the chat (last_seq 0) does not see the whole conversation: %r" % summary
    assert got[1].get("id") == "mine-1" and got[3].get("id") == "mine-2", \
        "the parent's own messages are replayed without their id (the widget shows them twice): %r" % got


async def test_resume_without_last_seq_means_zero(svc):
    p, a, conv = await chat(svc, text="opening words")
    p.drop()
    p2 = await svc.chatd.parent()
    await p2.send({"type": "hello", "resume": p.resume})
    await p2.recv_type("welcome")
    got = await p2.collect(1.0, "msg")
    assert [m.get("text") for m in got] == ["opening words"], \
        "hello with resume and no last_seq should replay from the start: %r" % got


async def test_resume_while_queued_keeps_place(svc):
    await svc.chatd.parent_start(text="first")
    p = await svc.chatd.parent_start(text="second")
    p3 = await svc.chatd.parent_start(text="third")
    assert p.position == 2 and p3.position == 3
    p.drop()
    p2 = await svc.chatd.parent()
    await p2.send({"type": "hello", "resume": p.resume, "last_seq": 1})
    w = await p2.recv_type("welcome")
    assert w.get("state") == "queued", "a parent who lost signal while waiting lost their session: %r" % w
    q = await p2.recv_type("queued")
    assert q.get("position") == 2, "a parent who lost signal for a moment lost their place in the queue: %r" % q
    # nobody else moved
    moved = [f for f in await p3.collect(0.5, "queued") if f.get("position") != 3]
    assert not moved, "third parent's position changed although nobody left: %r" % moved


async def test_resume_ended_session(svc):
    p, a, conv = await chat(svc)
    await a.send({"type": "end", "conversation": conv})
    await p.recv_type("ended")
    p.drop()
    p2 = await svc.chatd.parent()
    await p2.send({"type": "hello", "resume": p.resume, "last_seq": 1})
    w = await p2.recv_type("welcome")
    assert w.get("state") == "ended", "a parent reopening an ended chat should see it ended: %r" % w
    e = await p2.recv_type("ended")
    assert e.get("by") == "adviser", e
    await p2.send({"type": "feedback", "rating": 4})
    ok = await p2.recv_any(("feedback_ok", "error"))
    assert ok["type"] == "feedback_ok", "feedback after resuming an ended chat refused: %r" % ok


async def test_acked_message_survives_parent_drop_and_adviser_sees_it(svc):
    """The parent's message, once acked, reaches the adviser even if the
    parent's socket dies straight after."""
    p, a, conv = await chat(svc)
    await p.send({"type": "msg", "id": "last-words", "text": "please call me back"})
    await p.recv_type("ack")
    p.drop()
    m = await a.recv_type("msg", where=lambda f: f.get("text") == "please call me back")
    assert m.get("seq") == 2

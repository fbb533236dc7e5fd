"""Routing rules (SPEC.md "Routing rules"): queue order, capacity, least
busy, longest idle, pushed positions, grace for parents and advisers.
Each test runs on a fresh redis + chatd."""

import asyncio
import time

import pytest

from harness import GRACE_S, GRACE_SLACK_S, Service

pytestmark = pytest.mark.asyncio

HIGH_TEXT = "ive got all my tablets lined up for tonight, i want to kill myself"
CALM_TEXT = "hi my son wont sleep"


def first_text(asg):
    return asg["history"][0]["text"] if asg.get("history") else None


async def test_severity_before_arrival(svc):
    calm = await svc.chatd.parent_start(text=CALM_TEXT)
    high = await svc.chatd.parent_start(text=HIGH_TEXT)
    a = await svc.chatd.adviser("ali", capacity=1)
    asg = await a.recv_type("assigned")
    assert asg["history"][0]["text"] == HIGH_TEXT, (
        "the adviser was given the calm parent who came first (%r, severity %r) instead of the parent "
        "at risk who came later: the queue is not ordered by severity (or triage rated %r too low)"
        % (asg["history"][0]["text"], asg.get("severity"), HIGH_TEXT))
    assert asg.get("severity") in ("high", "emergency"), \
        "a parent writing about tablets lined up is assigned with severity %r" % asg.get("severity")
    await high.recv_type("connected")
    await calm.expect_nothing("connected", 0.3, "the calm parent was also connected to a capacity-1 adviser")


async def test_same_severity_first_come_first_served(svc):
    p1 = await svc.chatd.parent_start(text="my son wont sleep")
    await asyncio.sleep(0.05)
    p2 = await svc.chatd.parent_start(text="my daughter wont sleep")
    a = await svc.chatd.adviser("bo", capacity=1)
    asg = await a.recv_type("assigned")
    assert asg["history"][0]["text"] == "my son wont sleep", \
        "the parent who joined later was served first: %r" % asg["history"]
    await p1.recv_type("connected")
    q = await p2.recv_type("queued", where=lambda f: f.get("position") == 1)
    assert q["position"] == 1


async def test_high_severity_reorders_waiting_positions(svc):
    calm = await svc.chatd.parent_start(text=CALM_TEXT)
    assert calm.position == 1
    high = await svc.chatd.parent_start(text=HIGH_TEXT)
    assert high.position == 1, "a parent at risk was put behind a calm one (position %r)" % high.position
    q = await calm.recv_type("queued", where=lambda f: f.get("position") == 2)
    assert q["position"] == 2


async def test_capacity(svc):
    parents = [await svc.chatd.parent_start(text="parent %d" % i) for i in range(3)]
    a = await svc.chatd.adviser("cy", capacity=2)
    got = [await a.recv_type("assigned"), await a.recv_type("assigned")]
    texts = sorted(first_text(x) for x in got)
    assert texts == ["parent 0", "parent 1"], "the adviser got the wrong parents: %r" % texts
    await a.expect_nothing("assigned", 1.0, "an adviser with capacity 2 was given a third parent")
    await parents[0].recv_type("connected")
    await parents[1].recv_type("connected")
    q = await parents[2].recv_type("queued", where=lambda f: f.get("position") == 1)
    assert q["position"] == 1
    await parents[2].expect_nothing("connected", 0.3, "the third parent was connected beyond capacity")


async def test_unavailable_adviser_gets_nobody(svc):
    a = await svc.chatd.adviser("dee", capacity=2, available=False)
    p = await svc.chatd.parent_start(text="hello")
    await a.expect_nothing("assigned", 1.0, "an unavailable adviser was given a parent")
    await a.send({"type": "availability", "available": True, "capacity": 2})
    asg = await a.recv_type("assigned")
    assert asg["history"][0]["text"] == "hello"
    await p.recv_type("connected")


async def test_going_unavailable_keeps_current_chats(svc):
    a = await svc.chatd.adviser("eve", capacity=2)
    p = await svc.chatd.parent_start(text="one")
    asg = await a.recv_type("assigned")
    await p.recv_type("connected")
    await a.send({"type": "availability", "available": False})
    await a.recv_type("availability", where=lambda f: f.get("available") is False)
    p2 = await svc.chatd.parent_start(text="two")
    await a.expect_nothing("assigned", 1.0, "an adviser who went unavailable was given a new parent")
    await a.send({"type": "msg", "conversation": asg["conversation"], "id": "x", "text": "still here"})
    m = await p.recv_type("msg")
    assert m["text"] == "still here", "going unavailable cut off the adviser's current chat"
    assert p2.position == 1


async def test_least_busy_adviser(svc):
    a = await svc.chatd.adviser("aaron", capacity=2)
    await svc.chatd.parent_start(text="first")
    await a.recv_type("assigned")
    b = await svc.chatd.adviser("zara", capacity=2)
    p2 = await svc.chatd.parent_start(text="second")
    asg = await b.recv_type("assigned", timeout=5)
    assert asg["history"][0]["text"] == "second"
    await a.expect_nothing("assigned", 0.5, "the adviser already busy with one chat got the next parent, not the idle one")
    con = await p2.recv_type("connected")
    assert con.get("adviser") == "zara", con


async def test_longest_idle_adviser(svc):
    # zed becomes available first, then amy (names chosen so that alphabetical
    # or most-recent order would pick the wrong one)
    z = await svc.chatd.adviser("zed", capacity=2)
    await asyncio.sleep(1.1)
    m = await svc.chatd.adviser("amy", capacity=2)
    p = await svc.chatd.parent_start(text="who will I get")
    con = await p.recv_type("connected")
    assert con.get("adviser") == "zed", \
        "with both advisers free, the one idle longest (zed) should get the parent, got %r" % con
    await z.recv_type("assigned")
    await m.expect_nothing("assigned", 0.3, "both advisers were assigned the same parent")


async def test_longest_idle_after_a_chat(svc):
    """An adviser who just finished a chat is idle for less time than one
    who has been waiting."""
    a = await svc.chatd.adviser("abby", capacity=1)
    p1 = await svc.chatd.parent_start(text="first")
    asg = await a.recv_type("assigned")
    await p1.recv_type("connected")
    b = await svc.chatd.adviser("bart", capacity=1)
    await asyncio.sleep(1.1)
    await a.send({"type": "end", "conversation": asg["conversation"]})
    await p1.recv_type("ended")
    await a.send({"type": "wrapup", "conversation": asg["conversation"], "categories": ["behaviour"], "outcome": "advice"})
    await a.recv_type("wrapped")
    p2 = await svc.chatd.parent_start(text="second")
    con = await p2.recv_type("connected")
    assert con.get("adviser") == "bart", \
        "the adviser who just finished a chat got the next parent instead of the one idle longer: %r" % con


async def test_positions_pushed_when_head_paired(svc):
    ps = [await svc.chatd.parent_start(text="parent %d" % i) for i in range(4)]
    assert [p.position for p in ps] == [1, 2, 3, 4], [p.position for p in ps]
    await svc.chatd.adviser("fay", capacity=1)
    await ps[0].recv_type("connected")
    for i, p in enumerate(ps[1:], start=1):
        q = await p.recv_type("queued", where=lambda f, i=i: f.get("position") == i)
        assert q["position"] == i, "parent %d was not told they moved up to %d" % (i, i)


async def test_queued_parent_grace_return(svc):
    p1 = await svc.chatd.parent_start(text="first")
    p2 = await svc.chatd.parent_start(text="second")
    p3 = await svc.chatd.parent_start(text="third")
    p2.drop()
    await asyncio.sleep(GRACE_S / 2)
    r = await svc.chatd.parent()
    await r.send({"type": "hello", "resume": p2.resume, "last_seq": 1})
    w = await r.recv_type("welcome")
    assert w.get("state") == "queued", w
    q = await r.recv_type("queued")
    assert q.get("position") == 2, "returning within grace lost the parent's place: %r" % q
    await asyncio.sleep(GRACE_S + 0.5)
    moved = [f for f in await p3.collect(0.5, "queued") if f.get("position") != 3]
    assert not moved, "a parent who came back in time was still dropped from the queue: %r" % moved


async def test_queued_parent_grace_expires(svc):
    p1 = await svc.chatd.parent_start(text="first")
    p2 = await svc.chatd.parent_start(text="second")
    p3 = await svc.chatd.parent_start(text="third")
    t0 = time.monotonic()
    p2.drop()
    early = await p3.collect(GRACE_S * 0.6, "queued")
    assert all(f.get("position") == 3 for f in early), \
        "a parent who lost signal was dropped before grace_s: %r" % early
    q = await p3.recv_type("queued", timeout=GRACE_S + GRACE_SLACK_S, where=lambda f: f.get("position") == 2)
    assert q["position"] == 2, "after a parent's grace expired the others did not move up"
    assert time.monotonic() - t0 >= GRACE_S - 0.3, "the parent was removed before grace_s"
    # and the one who left cannot reclaim the place
    r = await svc.chatd.parent()
    await r.send({"type": "hello", "resume": p2.resume, "last_seq": 1})
    w = await r.recv_type("welcome")
    assert w.get("state") in ("new", "ended"), \
        "a parent gone longer than grace_s is still queued: %r" % w
    st = svc.chatd.get("/api/status").json()
    assert st.get("waiting") == 2, "/api/status still counts the parent who left: %r" % st


async def test_adviser_grace_expires_requeue_front(svc):
    a = await svc.chatd.adviser("gus", capacity=1)
    p = await svc.chatd.parent_start(text="first words")
    asg = await a.recv_type("assigned")
    conv = asg["conversation"]
    await p.recv_type("connected")
    behind = await svc.chatd.parent_start(text="second in line")
    assert behind.position == 1, behind.position
    await p.send({"type": "msg", "id": "p1", "text": "parent says something"})
    await p.recv_type("ack")
    await a.recv_type("msg")
    await a.send({"type": "msg", "conversation": conv, "id": "a1", "text": "adviser replies"})
    await a.recv_type("ack")
    await p.recv_type("msg")
    a.drop()
    early = await p.collect(GRACE_S * 0.6, ("queued", "ended"))
    assert not early, "the parent was re-queued or ended before the adviser's grace_s ran out: %r" % early
    q = await p.recv_type("queued", timeout=GRACE_S + GRACE_SLACK_S)
    assert q.get("position") == 1, \
        "a parent whose adviser vanished should go back to the front of the queue: %r" % q
    await p.expect_nothing("ended", 0.2, "the parent's chat was ended when the adviser vanished")
    qb = await behind.recv_type("queued", where=lambda f: f.get("position") == 2)
    assert qb["position"] == 2, "the parent behind was not told they moved back to 2"
    b = await svc.chatd.adviser("hal", capacity=1)
    asg2 = await b.recv_type("assigned")
    assert asg2.get("conversation") == conv, \
        "the parent got a new conversation instead of continuing the old one: %r" % asg2
    hist = [(m.get("seq"), m.get("from"), m.get("text")) for m in asg2.get("history", [])]
    assert hist[:3] == [(1, "parent", "first words"), (2, "parent", "parent says something"),
                        (3, "adviser", "adviser replies")], \
        "the new adviser does not see the conversation so far: %r" % hist
    con = await p.recv_type("connected")
    assert con.get("adviser") == "hal", con
    await behind.expect_nothing("connected", 0.3, "the parent behind jumped the returning parent")


async def test_adviser_reconnects_within_grace(svc):
    a = await svc.chatd.adviser("ida", capacity=2)
    p = await svc.chatd.parent_start(text="please help")
    asg = await a.recv_type("assigned")
    await p.recv_type("connected")
    conv = asg["conversation"]
    a.drop()
    await asyncio.sleep(GRACE_S / 3)
    await p.send({"type": "msg", "id": "while-away", "text": "are you still there?"})
    await p.recv_type("ack")
    a2 = await svc.chatd.staff(a.cookie)
    await a2.recv_type("welcome")
    again = await a2.recv_type("assigned")
    assert again.get("conversation") == conv, \
        "a reconnecting adviser is not given back their open conversation: %r" % again
    texts = [m.get("text") for m in again.get("history", [])]
    assert texts == ["please help", "are you still there?"], \
        "the reconnecting adviser misses what the parent wrote meanwhile: %r" % texts
    await a2.send({"type": "msg", "conversation": conv, "id": "back", "text": "sorry, I'm back"})
    ack = await a2.recv_any(("ack", "error"))
    assert ack["type"] == "ack" and ack.get("seq") == 3, "reconnected adviser cannot carry on: %r" % ack
    m = await p.recv_type("msg")
    assert m.get("text") == "sorry, I'm back"
    await asyncio.sleep(GRACE_S + 0.5)
    late = await p.collect(0.5, ("queued", "ended", "connected"))
    assert not late, "the parent was moved although the adviser came back in time: %r" % late


async def test_places_far_back_move_up_too():
    """A refresh lists the front of the queue and one page of the rest
    (conv.c QUEUE_HEAD, QUEUE_PAGE): a parent far back must still be told
    when those ahead are answered, and staff the true count."""
    s = Service(extra_env={"CHATD_MAX_CONNECTIONS_PER_ADDRESS": "1000",
                           "CHATD_ADDRESS_FRAMES_PER_S": "100000",
                           "CHATD_ADDRESS_FRAMES_BURST": "1000000"})
    s.start()
    try:
        n = 130  # past the 100 places every refresh lists
        ps = [await s.chatd.parent_start(text="parent %d" % i) for i in range(n)]
        assert [p.position for p in ps] == list(range(1, n + 1)), \
            "parents were not told their places on joining"
        staff = await s.chatd.adviser("gus", capacity=3)
        for p in ps[:3]:
            await p.recv_type("connected")
        for i in (3, 50, 103, 120, n - 1):
            q = await ps[i].recv_type("queued", where=lambda f, i=i: f.get("position") == i - 2)
            assert q["position"] == i - 2, \
                "the parent in place %d was not told they moved up to %d" % (i + 1, i - 2)
        q = await staff.recv_type("queue", where=lambda f: f.get("waiting") == n - 3)
        assert sum(q["by_severity"].values()) == n - 3, q
        # Far back and back after a lost signal: told their place again.
        last = ps[n - 1]
        last.drop()
        back = await s.chatd.parent()
        await back.send({"type": "hello", "resume": last.resume, "last_seq": 0})
        await back.recv_type("welcome")
        q = await back.recv_type("queued", timeout=1)
        assert q["position"] == n - 3, "back in the queue at %r, not %d" % (q, n - 3)
    finally:
        await s.close()

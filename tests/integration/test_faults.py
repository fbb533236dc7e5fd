"""Faults, tested (issue #7): real processes broken on purpose.

  * a chatd process SIGKILLed while its parent sends a burst: the parent
    resumes on the other process and resends what was not acknowledged;
    every acknowledged message reaches the adviser once, in order, no gaps;
  * the adviser's process SIGKILLed: the adviser comes back within grace_s
    and carries on; or does not, and the parent is queued again and the
    next adviser gets the whole conversation;
  * Redis killed and restarted under load (appendfsync always): /readyz 503
    meanwhile, chatd reconnects, nothing acknowledged is lost;
  * Redis absent at start: chatd waits for it (clear log line, /healthz 200,
    /readyz 503), then becomes ready when Redis appears;
  * SIGTERM: clients get close code 1001, the process exits 0 within 5 s.
"""

import asyncio
import signal
import time

import pytest

from harness import GRACE_S, GRACE_SLACK_S, Service, tail, wait_status

pytestmark = pytest.mark.asyncio


async def paired(parent_chatd, adviser_chatd, name, text="opening words"):
    adv = await adviser_chatd.adviser(name, capacity=2)
    p = await parent_chatd.parent_start(text=text)
    asg = await adv.recv_type("assigned")
    await p.recv_type("connected")
    return p, adv, asg["conversation"]


def parent_msgs(frames, conv):
    return [f for f in frames if f["type"] == "msg" and f.get("conversation") == conv
            and f.get("from") == "parent"]


# --------------------------------------------------------------------------
# The parent's process dies mid-burst


async def test_parent_process_killed_mid_burst_resume_and_resend(svc2):
    A, B = svc2.chatds
    p, adv, conv = await paired(A, B, "kit", text="burst opening")
    n = 20
    texts = {"b%02d" % i: "burst message number %02d" % i for i in range(n)}
    ids = sorted(texts)
    acked = {}  # id -> seq

    async def sender():
        for i in ids:
            try:
                await p.send({"type": "msg", "id": i, "text": texts[i]})
            except Exception:
                return
            await asyncio.sleep(0.01)

    task = asyncio.ensure_future(sender())
    # Kill A once a handful of the burst is acknowledged, while the rest is
    # still on its way.
    try:
        while len(acked) < 6:
            f = await p.recv_any(("ack", "error"), timeout=5)
            assert f["type"] == "ack", "a burst message was refused: %r" % f
            acked[f["id"]] = f["seq"]
    finally:
        A.kill()
    await asyncio.sleep(0.05)
    task.cancel()
    # Whatever A acknowledged before it died counts too.
    for f in p.buf + p.seen:
        if f["type"] == "ack":
            acked[f["id"]] = f["seq"]
    assert len(acked) < n, "the burst finished before the kill; nothing was tested"

    # Resume on B with the highest seq acknowledged, resend the rest (same ids).
    last = max(acked.values())
    p2 = await B.parent()
    await p2.send({"type": "hello", "resume": p.resume, "last_seq": last})
    w = await p2.recv_type("welcome")
    assert w.get("state") == "chatting", "the parent could not resume on B: %r" % w
    replay = await p2.collect(1.0, "msg")
    for f in replay:
        assert f["seq"] > last, "resume replayed seq %d <= last_seq %d" % (f["seq"], last)
        if f.get("id") in texts:
            acked.setdefault(f["id"], f["seq"])
    resent = [i for i in ids if i not in acked]
    for i in resent:
        await p2.send({"type": "msg", "id": i, "text": texts[i]})
        a = await p2.recv_any(("ack", "error"), timeout=5)
        assert a["type"] == "ack" and a["id"] == i, "a resend was not acknowledged: %r" % a
        acked[i] = a["seq"]
    # A resend of something already stored keeps its seq and is not stored twice.
    dup = ids[0]
    await p2.send({"type": "msg", "id": dup, "text": texts[dup]})
    a = await p2.recv_type("ack")
    assert a["seq"] == acked[dup], "a resend got a new seq: %r vs %r" % (a, acked[dup])

    # The adviser (on B all along) got each message exactly once, in order.
    got = parent_msgs(await adv.collect(1.5, "msg"), conv)
    got_texts = [f["text"] for f in got]
    want = [texts[i] for i in ids]
    assert got_texts == want, \
        "the adviser's view of the burst is wrong (lost, doubled or out of order):\n%r" % got_texts
    seqs = [f["seq"] for f in got]
    assert seqs == list(range(2, 2 + n)), "gaps or repeats in seq: %r" % seqs
    assert sorted(acked.values()) == seqs, (acked, seqs)

    # ...and the adviser's reply reaches the parent on B.
    await adv.send({"type": "msg", "conversation": conv, "id": "r1", "text": "got every word"})
    await adv.recv_type("ack")
    m = await p2.recv_type("msg", where=lambda f: f.get("from") == "adviser")
    assert m["text"] == "got every word" and m["seq"] == n + 2, m


# --------------------------------------------------------------------------
# The adviser's process dies


async def test_adviser_process_killed_adviser_returns_within_grace(svc2):
    A, B = svc2.chatds
    p, adv, conv = await paired(A, B, "lou")
    await p.send({"type": "msg", "id": "p1", "text": "before the crash"})
    await p.recv_type("ack")
    await adv.recv_type("msg")
    B.kill()
    t0 = time.monotonic()
    adv2 = await A.staff(adv.cookie)  # the same session, the other process
    w = await adv2.recv_type("welcome")
    assert w.get("name") == "lou", w
    asg = await adv2.recv_type("assigned", where=lambda f: f.get("conversation") == conv)
    assert time.monotonic() - t0 < GRACE_S, "reconnect took longer than grace_s"
    assert [m["text"] for m in asg["history"]] == ["opening words", "before the crash"], asg
    await adv2.send({"type": "msg", "conversation": conv, "id": "a1", "text": "sorry, I am back"})
    await adv2.recv_type("ack")
    m = await p.recv_type("msg")
    assert m["text"] == "sorry, I am back", m
    await p.send({"type": "msg", "id": "p2", "text": "no problem"})
    await p.recv_type("ack")
    m = await adv2.recv_type("msg")
    assert m["text"] == "no problem" and m["seq"] == 4, m
    # Past grace_s the parent is still with the same adviser.
    await asyncio.sleep(GRACE_S + 0.5)
    await p.expect_nothing(("queued", "ended"), 0.5,
                           "the parent was released although the adviser came back")


async def test_adviser_process_killed_adviser_gone_parent_requeued(svc2):
    A, B = svc2.chatds
    p, adv, conv = await paired(A, B, "mo", text="first words")
    await p.send({"type": "msg", "id": "p1", "text": "second words"})
    await p.recv_type("ack")
    await adv.send({"type": "msg", "conversation": conv, "id": "a1", "text": "adviser words"})
    await adv.recv_type("ack")
    await p.recv_type("msg")
    B.kill()
    q = await p.recv_type("queued", timeout=GRACE_S + GRACE_SLACK_S + 2)
    assert q.get("position") == 1, "the released parent should be first in the queue: %r" % q
    await p.send({"type": "msg", "id": "p2", "text": "are you still there"})
    await p.recv_type("ack")
    nxt = await A.adviser("ned", capacity=1)
    asg = await nxt.recv_type("assigned")
    assert asg["conversation"] == conv, asg
    texts = [m.get("text") for m in asg["history"]]
    want = ["first words", "second words", "adviser words", "are you still there"]
    assert [t for t in texts if t in want] == want, \
        "the next adviser's history is not the whole conversation: %r" % texts
    await p.recv_type("connected", where=lambda f: f.get("adviser") == "ned")


# --------------------------------------------------------------------------
# Redis


async def test_redis_killed_and_restarted_under_load_nothing_acked_lost(svc):
    chatd = svc.chatd
    adv = await chatd.adviser("pat", capacity=3)
    parents = []
    for i in range(3):
        p = await chatd.parent_start(text="load opening %d" % i)
        await adv.recv_type("assigned")
        await p.recv_type("connected")
        parents.append(p)
    acked = [dict() for _ in parents]   # id -> (seq, text)
    errors = []
    stop = asyncio.Event()

    async def load(k, p):
        i = 0
        while not stop.is_set():
            mid = "L%d-%03d" % (k, i)
            text = "load %d message %03d" % (k, i)
            try:
                await p.send({"type": "msg", "id": mid, "text": text})
            except Exception:
                return
            try:
                f = await p.recv_any(("ack", "error"), timeout=1.0)
                if f["type"] == "ack":
                    acked[k][f["id"]] = (f["seq"], text)
                else:
                    errors.append(f)
            except AssertionError:
                pass  # no answer while Redis is away
            i += 1
            await asyncio.sleep(0.25)  # 4 frames/s: inside the rate limit

    tasks = [asyncio.ensure_future(load(k, p)) for k, p in enumerate(parents)]
    await asyncio.sleep(1.0)
    before = sum(len(a) for a in acked)
    svc.redis.proc.kill()   # SIGKILL: no shutdown fsync to help
    svc.redis.proc.wait()
    got = await wait_status(chatd, "/readyz", 503, 5)
    assert got is True, "/readyz should be 503 while Redis is away, got %r" % got
    assert chatd.get("/healthz").status == 200 and chatd.alive()
    await asyncio.sleep(1.0)
    svc.redis.start()
    got = await wait_status(chatd, "/readyz", 200, 10)
    assert got is True, "/readyz did not come back after Redis returned: %r" % got
    await asyncio.sleep(1.5)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    after = sum(len(a) for a in acked)
    assert before > 0 and after > before, \
        "the load did not run on both sides of the restart (%d, %d)" % (before, after)
    for e in errors:
        assert e.get("code") in ("closed", "rate_limited"), \
            "unexpected error while Redis was away: %r" % e
    with open(svc.chatd.log, "rb") as f:
        log = f.read().decode("utf-8", "replace")
    assert "reconnecting" in log, "no reconnect in chatd's log:\n%s" % tail(svc.chatd.log, 30)

    # A fresh resume from 0 replays every acknowledged message at its seq.
    for k, p in enumerate(parents):
        r = await chatd.parent()
        await r.send({"type": "hello", "resume": p.resume, "last_seq": 0})
        w = await r.recv_type("welcome")
        assert w.get("state") == "chatting", w
        replay = {f.get("id"): (f["seq"], f["text"]) for f in await r.collect(1.5, "msg")
                  if f.get("from") == "parent"}
        lost = {i: v for i, v in acked[k].items() if replay.get(i) != v}
        assert not lost, "acknowledged messages lost or changed after the Redis restart: %r" % lost
        seqs = sorted(s for s, _ in replay.values())
        assert seqs == list(range(1, len(seqs) + 1)), "gaps in seq after the restart: %r" % seqs


async def test_redis_absent_at_start_waits_then_ready():
    s = Service(nchatd=1)   # Redis not started: its socket does not exist
    c = s.chatd
    ok = False
    try:
        c.start(wait=False)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if c.get("/healthz").status == 200:
                    break
            except OSError:
                pass
            assert c.alive(), "chatd exited with no Redis (status %s):\n%s" % (
                c.proc.returncode, tail(c.log))
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("chatd never answered /healthz without Redis:\n%s" % tail(c.log))
        await asyncio.sleep(1.5)
        assert c.alive(), "chatd exited while waiting for Redis:\n%s" % tail(c.log)
        assert c.get("/healthz").status == 200
        assert c.get("/readyz").status == 503, "/readyz must be 503 with no Redis"
        with open(c.log, "rb") as f:
            log = f.read().decode("utf-8", "replace")
        assert "redis" in log.lower() and ("cannot connect" in log or "reconnecting" in log), \
            "no clear message about the missing Redis in the log:\n%s" % log[-2000:]
        s.redis.start()
        got = await wait_status(c, "/readyz", 200, 10)
        assert got is True, "/readyz did not become 200 once Redis appeared: %r" % got
        p = await c.parent_start(text="hello once Redis is here")
        assert p.position == 1
        ok = True
    finally:
        await s.close(failed=not ok)


# --------------------------------------------------------------------------
# SIGTERM


async def test_sigterm_closes_1001_and_exits_0(svc):
    chatd = svc.chatd
    p, adv, conv = await paired(chatd, chatd, "quin")
    await p.send({"type": "msg", "id": "last", "text": "just before the stop"})
    ack = await p.recv_type("ack")
    t0 = time.monotonic()
    chatd.proc.send_signal(signal.SIGTERM)
    codes = await asyncio.gather(p.wait_closed(5), adv.wait_closed(5))
    assert codes == [1001, 1001], "clients should be told 'going away' (1001): %r" % codes
    try:
        rc = chatd.proc.wait(max(0.1, 5 - (time.monotonic() - t0)))
    except Exception:
        raise AssertionError("chatd did not exit within 5 s of SIGTERM")
    assert rc == 0, "chatd exited %s after SIGTERM, expected 0" % rc
    # The acknowledged message is in Redis for whoever serves the parent next.
    chatd.start()
    r = await chatd.parent()
    await r.send({"type": "hello", "resume": p.resume, "last_seq": 0})
    await r.recv_type("welcome")
    replay = [(f["seq"], f["text"]) for f in await r.collect(1.0, "msg")]
    assert (ack["seq"], "just before the stop") in replay, replay

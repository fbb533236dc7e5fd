"""The service's figures (docs/reports.md): `chatd report` over a small day
of real traffic, and scripts/metrics_snapshot.lua against the Redis state
that traffic leaves behind.

The `chatd report` tests need main.c's dispatch line, which the lead adds;
until then they are skipped.  The snapshot-script test runs the script
straight on the test's Redis with EVAL, so it runs now.
"""

import csv
import io
import json
import os

import pytest

from harness import REPO

ASYNC = pytest.mark.asyncio


async def day_of_traffic(svc):
    """Three parents: one abandoned while waiting, one answered and wrapped
    (advice, behaviour), one quick exit after being answered (wrapped as
    disconnected).  Returns the adviser's Client, still available."""
    # 1. nobody on shift: the parent waits, then leaves
    p1 = await svc.chatd.parent_start(text="is anyone there, my son will not sleep")
    assert p1.position == 1, "the first parent is not first in the queue: %r" % p1.position
    await p1.send({"type": "end"})
    e = await p1.recv_type("ended")
    assert e.get("by") == "parent", e

    # 2. an adviser comes on shift; a parent is answered, the chat is wrapped
    a = await svc.chatd.adviser("amira", capacity=2)
    p2 = await svc.chatd.parent_start(text="my daughter refuses to do her homework")
    asg = await a.recv_type("assigned")
    await p2.recv_type("connected")
    conv2 = asg["conversation"]
    await p2.send({"type": "msg", "id": "m1", "text": "what can I do about it"})
    await p2.recv_type("ack")
    await a.send({"type": "end", "conversation": conv2})
    await p2.recv_type("ended")
    await a.send({"type": "wrapup", "conversation": conv2,
                  "categories": ["behaviour"], "outcome": "advice"})
    w = await a.recv_any(("wrapped", "error"))
    assert w["type"] == "wrapped", "wrap-up refused: %r" % w

    # 3. a parent is answered and leaves in a hurry
    p3 = await svc.chatd.parent_start(text="I need some advice about my toddler")
    asg = await a.recv_type("assigned")
    await p3.recv_type("connected")
    conv3 = asg["conversation"]
    await p3.send({"type": "end", "reason": "exit"})
    await p3.recv_type("ended")
    ea = await a.recv_type("ended", where=lambda f: f.get("conversation") == conv3)
    assert ea.get("reason") == "exit", ea
    await a.send({"type": "wrapup", "conversation": conv3,
                  "categories": ["behaviour"], "outcome": "disconnected"})
    w = await a.recv_any(("wrapped", "error"))
    assert w["type"] == "wrapped", "wrap-up of the quick exit refused: %r" % w
    return a


def events(svc):
    out = []
    for _id, kv in svc.redis.cmd("XRANGE", "events", "-", "+"):
        out.append({kv[i].decode(): kv[i + 1].decode() for i in range(0, len(kv), 2)})
    return out


@ASYNC
async def test_report_json_for_a_day_of_traffic(svc):
    await day_of_traffic(svc)
    types = [e["t"] for e in events(svc)]
    assert types.count("offered") == 3 and types.count("abandoned") == 1, \
        "the Lua scripts did not write the events the report reads: %r" % types

    r = svc.cli("report", "--from", "today", "--to", "today", "--json")
    assert r.returncode == 0, "`chatd report --json` failed (%s): %s" % (
        r.returncode, r.stderr.decode(errors="replace"))
    j = json.loads(r.stdout)
    s = j["summary"]
    assert s["offered"] == 3, "offered: %r" % s
    assert s["answered"] == 2, "answered: %r" % s
    assert s["abandoned"] == 1, "abandoned while waiting: %r" % s
    assert abs(s["answer_rate"] - 2 / 3) < 1e-9, "answer rate: %r" % s
    assert s["quick_exits"] == 1, "quick exits: %r" % s
    assert s["ended"] == 2 and s["wrapped"] == 2, s
    assert isinstance(s["wait_p50_ms"], int) and 0 <= s["wait_p50_ms"] <= s["wait_p90_ms"], s
    assert isinstance(s["handle_median_ms"], int) and s["handle_median_ms"] >= 0, s
    assert j["by_outcome"]["advice"] == 1, j["by_outcome"]
    assert j["by_outcome"]["disconnected"] == 1, j["by_outcome"]
    assert j["by_category"] == {"behaviour": 2}, j["by_category"]
    assert sum(v["offered"] for v in j["by_severity"].values()) == 3, j["by_severity"]
    assert j["time_zone"] == "Europe/London" and j["percentiles"] == "nearest-rank", j
    assert j["from"] == j["to"], "from today to today is one day: %r" % j
    assert len(j["per_day"]) == 1 and j["per_day"][0]["offered"] == 3, j["per_day"]
    assert len(j["per_hour"]) == 24, "per_hour has %d rows" % len(j["per_hour"])
    assert sum(h["offered"] for h in j["per_hour"]) == 3
    assert sum(h["answered"] for h in j["per_hour"]) == 2


@ASYNC
async def test_report_text_and_csv(svc):
    await day_of_traffic(svc)
    r = svc.cli("report")  # defaults: today to today, text
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode()
    for want in ("chats offered", "answered", "abandoned while waiting",
                 "answer rate", "wait p50 / p90", "Per hour of day"):
        assert want in text, "text report has no %r:\n%s" % (want, text)
    assert "66.7%" in text, "answer rate 2 of 3 not shown:\n%s" % text

    r = svc.cli("report", "--from", "today", "--to", "today", "--csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(io.StringIO(r.stdout.decode())))
    assert rows[0] == ["table", "key", "metric", "value"], rows[0]
    assert all(len(row) == 4 for row in rows), "a CSV row without 4 fields"
    got = {(t, k, m): v for t, k, m, v in rows[1:]}
    assert got[("summary", "all", "offered")] == "3"
    assert got[("summary", "all", "answered")] == "2"
    assert got[("summary", "all", "abandoned")] == "1"
    assert got[("summary", "all", "quick_exits")] == "1"
    assert got[("outcome", "advice", "conversations")] == "1"


def test_report_bad_dates_exit_2(shared_sync):
    for args in (("--from", "2024-02-30"), ("--to", "31/12/2024"),
                 ("--from", "2024-10-28", "--to", "2024-10-27"), ("--pdf",)):
        r = shared_sync.cli("report", *args)
        assert r.returncode == 2, "`chatd report %s` exited %s" % (" ".join(args), r.returncode)
        assert r.stderr.strip(), "no message for `chatd report %s`" % " ".join(args)
        assert not r.stdout.strip(), "a report was printed for bad dates"


def snapshot(svc):
    lua = ""
    for name in ("lib.lua", "metrics_snapshot.lua"):
        with open(os.path.join(REPO, "chatd", "scripts", name)) as f:
            lua += f.read() + "\n"
    return svc.redis.cmd("EVAL", lua, "0")


@ASYNC
async def test_metrics_snapshot_script(svc):
    """metrics_snapshot.lua on the state real traffic leaves in Redis."""
    a = await day_of_traffic(svc)
    # two chats in progress with amira (capacity 2), then one parent waits
    p4 = await svc.chatd.parent_start(text="hello, a question about school")
    await a.recv_type("assigned")
    await p4.recv_type("connected")
    p5 = await svc.chatd.parent_start(text="hello, a question about sleep")
    await a.recv_type("assigned")
    p6 = await svc.chatd.parent_start(text="hello, a question about food")
    assert p6.position == 1, "with the only adviser full, p6 should wait: %r" % p6.position
    del p5

    r = snapshot(svc)
    assert isinstance(r, list) and len(r) == 8, "snapshot reply: %r" % (r,)
    queue, advisers, active, h = r[0:5], r[5], r[6], r[7]
    assert sum(queue) == 1, "one parent waiting, by severity: %r" % queue
    assert advisers == 1, "amira is available: %r" % advisers
    assert active == 2, "amira has two chats in progress: %r" % active
    m = {h[i].decode(): h[i + 1].decode() for i in range(0, len(h), 2)}
    assert int(m.get("messages:parent", 0)) >= 1, "no parent message counter: %r" % m
    # read only: nothing written
    before = svc.redis.cmd("XLEN", "events")
    snapshot(svc)
    assert svc.redis.cmd("XLEN", "events") == before, "the snapshot wrote an event"

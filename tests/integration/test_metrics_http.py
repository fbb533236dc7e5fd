"""GET /metrics (Prometheus text format 0.0.4) and GET /api/reports
(supervisors and admins), as docs/reports.md describes them.

Skipped until http.c serves both and lib.lua's assign() keeps the wait
histogram counters; then remove the skip.
"""

import json
import re

import pytest

from harness import DEFAULT_PASSWORD



NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"^(%s)(\{%s(?:,%s)*\})? (-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|[-+]Inf|NaN)$"
                    % (NAME, LABEL, LABEL))
BUCKETS = ["5", "15", "30", "60", "120", "300", "600", "1800", "+Inf"]


def parse_exposition(text):
    """Check format 0.0.4 and return {sample name with labels: value}."""
    assert text.endswith("\n"), "the exposition does not end with a newline"
    types, samples, family = {}, {}, None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            family = line.split(" ")[2]
            assert family not in types, "family %s declared twice" % family
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name == family, "TYPE %s without its HELP" % name
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line `name{labels} value`: %r" % line
        name = m.group(1)
        assert family in types, "sample before its TYPE: %r" % line
        if types[family] == "histogram":
            assert name in (family + "_bucket", family + "_sum", family + "_count"), line
        else:
            assert name == family, "%s under family %s" % (name, family)
        samples[name + (m.group(2) or "")] = float(m.group(3))
    return types, samples


def check_histogram(samples, family):
    values = [samples["%s_bucket{le=\"%s\"}" % (family, le)] for le in BUCKETS]
    assert values == sorted(values), "%s buckets are not cumulative: %r" % (family, values)
    assert values[-1] == samples[family + "_count"], \
        "%s: +Inf bucket %r != _count %r" % (family, values[-1], samples[family + "_count"])
    return values


async def traffic(svc):
    """One chat answered and wrapped, one chat in progress, one parent
    waiting (the only adviser is full)."""
    a = await svc.chatd.adviser("amira", capacity=2)
    p1 = await svc.chatd.parent_start(text="my son will not go to bed")
    conv1 = (await a.recv_type("assigned"))["conversation"]
    await p1.recv_type("connected")
    await p1.send({"type": "msg", "id": "m1", "text": "he is four"})
    await p1.recv_type("ack")
    await a.send({"type": "end", "conversation": conv1})
    await p1.recv_type("ended")
    await a.send({"type": "wrapup", "conversation": conv1, "categories": ["behaviour"],
                  "outcome": "advice"})
    assert (await a.recv_any(("wrapped", "error")))["type"] == "wrapped"
    p2 = await svc.chatd.parent_start(text="a question about school")
    await a.recv_type("assigned")
    await p2.recv_type("connected")
    p3 = await svc.chatd.parent_start(text="a question about food")
    await a.recv_type("assigned")
    await p3.recv_type("connected")
    p4 = await svc.chatd.parent_start(text="a question about sleep")
    assert p4.position == 1, "p4 should wait: %r" % p4.position
    return a


@pytest.mark.asyncio
async def test_metrics_exposition(svc):
    await traffic(svc)
    r = svc.chatd.get("/metrics")
    assert r.status == 200, "/metrics: %r" % r
    ctype = r.header("content-type") or ""
    assert ctype.startswith("text/plain") and "version=0.0.4" in ctype, ctype
    types, s = parse_exposition(r.body.decode())
    assert types.get("chatd_queue_length") == "gauge"
    assert types.get("chatd_advisers_available") == "gauge"
    assert types.get("chatd_active_chats") == "gauge"
    assert types.get("chatd_messages_total") == "counter"
    assert types.get("chatd_triage_hits_total") == "counter"
    assert types.get("chatd_wait_seconds") == "histogram"
    waiting = sum(s['chatd_queue_length{severity="%s"}' % sev]
                  for sev in ("none", "low", "medium", "high", "emergency"))
    assert waiting == 1, "one parent waits: %r" % waiting
    assert s["chatd_advisers_available"] == 1
    assert s["chatd_active_chats"] == 2, "amira has two chats: %r" % s["chatd_active_chats"]
    # four opening messages (start) and one msg
    assert s['chatd_messages_total{from="parent"}'] == 5, \
        "parent messages: %r (an opening message sent with start must count too)" \
        % s['chatd_messages_total{from="parent"}']
    buckets = check_histogram(s, "chatd_wait_seconds")
    assert buckets[-1] == 3, "three parents were paired: %r" % buckets
    assert buckets[0] == 3, "all were paired within 5 s: %r" % buckets
    assert 0 <= s["chatd_wait_seconds_sum"] < 15, s["chatd_wait_seconds_sum"]


@pytest.mark.asyncio
async def test_metrics_abandoned_histogram(svc):
    p = await svc.chatd.parent_start(text="hello?")
    await p.send({"type": "end"})
    await p.recv_type("ended")
    r = svc.chatd.get("/metrics")
    _, s = parse_exposition(r.body.decode())
    if "chatd_abandoned_wait_seconds_count" in s:
        values = check_histogram(s, "chatd_abandoned_wait_seconds")
        assert values[-1] == 1, values


def test_metrics_no_session_needed_and_no_personal_data(shared_sync):
    r = shared_sync.chatd.get("/metrics")
    assert r.status == 200, "/metrics should be scrapeable: %r" % r
    parse_exposition(r.body.decode())
    assert "conv" not in r.body.decode(), "a conversation id in /metrics"


def report_get(svc, path, role=None, name=None):
    headers = {}
    if role:
        name = name or "rep-" + role
        svc.ensure_user(name, role, DEFAULT_PASSWORD)
        headers["Cookie"] = "chatd_session=" + svc.chatd.login(name)
    return svc.chatd.get(path, headers=headers)


def test_reports_roles(shared_sync):
    s = shared_sync
    assert report_get(s, "/api/reports").status == 401
    assert report_get(s, "/api/reports", "adviser").status == 403
    assert report_get(s, "/api/reports", "lead").status == 403
    for role in ("supervisor", "admin"):
        r = report_get(s, "/api/reports", role)
        assert r.status == 200, "%s cannot read reports: %r" % (role, r)
        j = r.json()
        assert j["from"] == j["to"], "the default is today: %r" % j
        assert len(j["per_hour"]) == 24


def test_reports_bad_dates_400(shared_sync):
    for q in ("from=2024-02-30", "to=31/12/2024", "from=2024-10-28&to=2024-10-27"):
        r = report_get(shared_sync, "/api/reports?" + q, "supervisor")
        assert r.status == 400, "/api/reports?%s: %r" % (q, r)


@pytest.mark.asyncio
async def test_reports_figures(svc):
    await traffic(svc)
    r = report_get(svc, "/api/reports?from=today&to=today", "supervisor")
    assert r.status == 200, r
    j = json.loads(r.body)
    assert j["summary"]["offered"] == 4, j["summary"]
    assert j["summary"]["answered"] == 3, j["summary"]
    assert j["summary"]["abandoned"] == 0, j["summary"]
    assert j["by_outcome"]["advice"] == 1, j["by_outcome"]
    assert j["by_category"] == {"behaviour": 1}, j["by_category"]
    r = report_get(svc, "/api/reports?from=today&to=today&format=csv", "supervisor")
    assert r.status == 200, r
    assert (r.header("content-type") or "").startswith("text/csv"), r.headers
    assert r.body.decode().startswith("table,key,metric,value\r\n")

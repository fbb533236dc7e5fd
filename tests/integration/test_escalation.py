"""Escalation (issue #4): cases opened by triage or by the adviser, the
lead's alert, observe, whisper and decide, the wrap-up rule for a
conversation that reached high, and the audit trail."""

import pytest

from harness import CALM, EMERGENCY

pytestmark = pytest.mark.asyncio


async def paired(svc, text, adviser="ali"):
    p = await svc.chatd.parent_start(text=text)
    a = await svc.chatd.adviser(adviser)
    asg = await a.recv_type("assigned")
    await p.recv_type("connected")
    return p, a, asg["conversation"]


async def test_lead_observes_whispers_decides(svc):
    lead = await svc.chatd.adviser("lena", role="lead", available=None)
    p, a, conv = await paired(svc, EMERGENCY)
    alert = await lead.recv_type("alert")
    assert alert["conversation"] == conv and alert["severity"] == "emergency", alert

    await lead.send({"type": "cases"})
    cases = (await lead.recv_type("cases"))["cases"]
    assert [c["conversation"] for c in cases] == [conv], cases
    assert cases[0]["status"] == "open" and cases[0]["severity"] == "emergency", cases[0]

    await lead.send({"type": "observe", "conversation": conv})
    obs = await lead.recv_type("observing")
    assert obs["adviser"] == "ali", obs
    assert [m["text"] for m in obs["history"]] == [EMERGENCY], \
        "the observing lead must see the whole conversation so far: %r" % obs

    await a.send({"type": "msg", "conversation": conv, "id": "a1", "text": "I'm here with you"})
    await p.send({"type": "msg", "id": "p1", "text": "thank you"})
    seen = [(await lead.recv_type("msg"))["text"] for _ in range(2)]
    assert sorted(seen) == sorted(["I'm here with you", "thank you"]), \
        "an observing lead must see both sides live: %r" % seen
    assert (await p.recv_type("msg"))["text"] == "I'm here with you"

    await lead.send({"type": "whisper", "conversation": conv, "text": "ask if the tablets are with her now"})
    w = await a.recv_type("whisper")
    assert w["from"] == "lena" and w["text"] == "ask if the tablets are with her now", w
    await p.expect_nothing(("whisper", "msg"), 0.5, "the parent received the lead's whisper")

    await a.send({"type": "end", "conversation": conv})
    await a.recv_type("ended")
    await a.send({"type": "wrapup", "conversation": conv, "categories": ["suicide"], "outcome": "escalated"})
    e = await a.recv_type("error")
    assert e["code"] == "not_allowed", \
        "a conversation that reached emergency was wrapped up with no decision: %r" % e

    await lead.send({"type": "decide", "conversation": conv, "decision": "emergency_services",
                     "note": "ambulance called with her consent", "reference": "CAD-1234"})
    d = await lead.recv_type("decided")
    assert d["conversation"] == conv, d
    c = await a.recv_type("case_update")
    assert c["status"] == "decided" and c["decision"] == "emergency_services", c

    await a.send({"type": "wrapup", "conversation": conv, "categories": ["suicide"], "outcome": "escalated"})
    await a.recv_type("wrapped")

    await lead.send({"type": "case", "conversation": conv})
    one = (await lead.recv_type("case"))["case"]
    assert one["decision"] == "emergency_services" and one["reference"] == "CAD-1234", one
    assert one["decision_note"] == "ambulance called with her consent", one
    assert one["decided_by"] == "lena", one

    audit = svc.redis.cmd("XRANGE", "audit", "-", "+")
    def text(v):
        return v.decode() if isinstance(v, bytes) else v
    actions = [text(dict(zip(map(text, f[::2]), f[1::2]))["action"]) for _, f in audit]
    for want in ("observe", "decide", "read_case", "history"):
        assert want in actions, "the audit log lacks %r: %r" % (want, actions)


async def test_adviser_escalates_calm_conversation(svc):
    lead = await svc.chatd.adviser("lena", role="lead", available=None)
    p, a, conv = await paired(svc, CALM)
    await lead.expect_nothing("alert", 0.3, "a calm conversation alerted the lead")
    await a.send({"type": "escalate", "conversation": conv, "severity": "high",
                  "note": "mentions her partner locks her in"})
    r = await a.recv_type("escalated")
    assert r["conversation"] == conv and r["status"] == "open", r
    al = await lead.recv_type("alert")
    assert al["escalated_by"] == "ali" and al["severity"] == "high", al
    await lead.send({"type": "case", "conversation": conv})
    one = (await lead.recv_type("case"))["case"]
    assert one["note"] == "mentions her partner locks her in" and one["opened_by"] == "ali", one


async def test_high_wrapup_with_reason_instead_of_decision(svc):
    p, a, conv = await paired(svc, EMERGENCY)
    await a.send({"type": "end", "conversation": conv})
    await a.recv_type("ended")
    await a.send({"type": "wrapup", "conversation": conv, "categories": ["suicide"],
                  "outcome": "advice", "no_decision_reason": "triage misread a film plot"})
    await a.recv_type("wrapped")


async def test_lead_actions_refused_to_advisers(svc):
    p, a, conv = await paired(svc, CALM)
    for frame in ({"type": "cases"}, {"type": "observe", "conversation": conv},
                  {"type": "decide", "conversation": conv, "decision": "signposted"},
                  {"type": "whisper", "conversation": conv, "text": "x"}):
        await a.send(frame)
        e = await a.recv_type("error")
        assert e["code"] == "not_allowed", "an adviser could %s: %r" % (frame["type"], e)


async def test_audit_cli_prints_reads_and_decisions(svc):
    import json
    lead = await svc.chatd.adviser("lena", role="lead", available=None)
    p, a, conv = await paired(svc, EMERGENCY)
    await lead.recv_type("alert")
    await lead.send({"type": "decide", "conversation": conv, "decision": "signposted"})
    await lead.recv_type("decided")
    r = svc.cli("audit", "--since", "1h", "--json")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(l) for l in r.stdout.decode().splitlines()]
    assert {"who": "lena", "action": "decide", "conversation": conv} .items() <= \
        next((x for x in rows if x["action"] == "decide"), {}).items(), rows
    assert any(x["action"] == "history" and x["who"] == "ali" for x in rows), \
        "the adviser's read of the transcript is not in the audit log: %r" % rows
    bad = svc.cli("audit", "--since", "yesterday-ish")
    assert bad.returncode == 2 and b"--since" in bad.stderr

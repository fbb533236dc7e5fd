"""Safeguarding alerts (issue #3): a conversation that reaches high or
emergency alerts every safeguarding lead on shift, once per rise."""

import pytest

from harness import CALM, EMERGENCY, HIGH

pytestmark = pytest.mark.asyncio


async def test_emergency_opening_alerts_lead_not_adviser(svc):
    lead = await svc.chatd.adviser("lena", role="lead", available=None)
    adv = await svc.chatd.adviser("ali", available=None)
    p = await svc.chatd.parent_start(text=EMERGENCY)
    a = await lead.recv_type("alert")
    assert a.get("severity") == "emergency", "the lead's alert has the wrong severity: %r" % a
    assert "suicide" in a.get("categories", []), "the alert does not say why: %r" % a
    assert isinstance(a.get("conversation"), str) and a["conversation"], a
    await adv.expect_nothing("alert", 0.5, "an adviser (not a lead) was sent a safeguarding alert")
    await p.send({"type": "end"})


async def test_calm_parent_alerts_when_a_later_message_is_high(svc):
    lead = await svc.chatd.adviser("lena", role="lead", available=None)
    p = await svc.chatd.parent_start(text=CALM)
    await lead.expect_nothing("alert", 0.5, "a calm opening message raised an alert")
    await p.send({"type": "msg", "id": "m1", "text": HIGH})
    await p.recv_type("ack")
    a = await lead.recv_type("alert")
    assert a.get("severity") in ("high", "emergency"), a
    assert "domestic_abuse" in a.get("categories", []), a


async def test_alert_once_per_rise(svc):
    lead = await svc.chatd.adviser("lena", role="lead", available=None)
    p = await svc.chatd.parent_start(text=HIGH)
    first = await lead.recv_type("alert")
    assert first.get("severity") == "high", first
    await p.send({"type": "msg", "id": "m1", "text": "he hit me again this morning"})
    await p.recv_type("ack")
    await lead.expect_nothing("alert", 0.5,
                              "a second high message in a conversation already at high alerted again")
    await p.send({"type": "msg", "id": "m2", "text": EMERGENCY})
    await p.recv_type("ack")
    second = await lead.recv_type("alert")
    assert second.get("severity") == "emergency", \
        "a rise from high to emergency must alert the lead again: %r" % second
    assert second.get("conversation") == first.get("conversation"), (first, second)

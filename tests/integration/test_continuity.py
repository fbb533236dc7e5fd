"""One key person (issue #4): a return code brings a parent back to the same
adviser, who sees the previous wrap-up; after continuity_wait_s anyone may
take them; a transfer hands a chat on with a note."""

import re

import pytest
import pytest_asyncio

from harness import Service

pytestmark = pytest.mark.asyncio

CODE = re.compile(r"^[ACDEFHJKMNPRTUVWXY3479]{4}-[ACDEFHJKMNPRTUVWXY3479]{4}$")


@pytest_asyncio.fixture
async def cont():
    s = Service(extra_env={"CHATD_CONTINUITY_WAIT_S": "2"})
    s.start()
    yield s
    await s.close()


async def first_chat(svc, adviser):
    p = await svc.chatd.parent_start(text="my son wont sleep")
    asg = await adviser.recv_type("assigned")
    await p.recv_type("connected")
    conv = asg["conversation"]
    await adviser.send({"type": "end", "conversation": conv})
    ended = await p.recv_type("ended")
    assert CODE.match(ended.get("return_code") or ""), \
        "a parent whose chat ended should get a return code to note: %r" % ended
    await adviser.recv_type("ended")
    await adviser.send({"type": "wrapup", "conversation": conv, "categories": ["behaviour"],
                        "outcome": "advice", "note": "likes to be called Jo"})
    await adviser.recv_type("wrapped")
    return ended["return_code"]


async def test_return_code_reaches_same_adviser_though_another_waited_longer(cont):
    ali = await cont.chatd.adviser("ali", capacity=1)
    code = None
    p = await cont.chatd.parent_start(text="my son wont sleep")
    asg = await ali.recv_type("assigned")
    conv = asg["conversation"]
    bea = await cont.chatd.adviser("bea", capacity=1)   # idle from now
    await ali.send({"type": "end", "conversation": conv})
    code = (await p.recv_type("ended"))["return_code"]
    await ali.recv_type("ended")
    await ali.send({"type": "wrapup", "conversation": conv, "categories": ["behaviour"],
                    "outcome": "advice", "note": "likes to be called Jo"})
    await ali.recv_type("wrapped")
    # ali is now idle for less time than bea: without continuity bea would get it.
    back = await cont.chatd.parent_start(text="its me again", return_code=code.lower().replace("-", " "))
    asg = await ali.recv_type("assigned")
    assert asg["returning"] is True, asg
    prev = asg.get("previous") or {}
    assert prev.get("note") == "likes to be called Jo" and prev.get("outcome") == "advice", \
        "the adviser should see the previous wrap-up: %r" % asg
    await bea.expect_nothing("assigned", 0.3, "the returning parent went to another adviser")
    c = await back.recv_type("connected")
    assert c["adviser"] == "ali", c


async def test_continuity_wait_then_anyone(cont):
    ali = await cont.chatd.adviser("ali", capacity=1)
    code = await first_chat(cont, ali)
    await ali.send({"type": "availability", "available": False})
    await ali.recv_type("availability")
    bea = await cont.chatd.adviser("bea", capacity=1)
    back = await cont.chatd.parent_start(text="hello again", return_code=code)
    await bea.expect_nothing("assigned", 1.0,
                             "the returning parent was given to someone else before continuity_wait_s")
    asg = await bea.recv_type("assigned", timeout=5)
    assert asg["returning"] is True and asg["previous"]["note"] == "likes to be called Jo", asg
    assert (await back.recv_type("connected"))["adviser"] == "bea"


async def test_unknown_return_code_starts_afresh(cont):
    ali = await cont.chatd.adviser("ali", capacity=1)
    p = await cont.chatd.parent_start(text="hi", return_code="ZZZZ-ZZZZ")
    asg = await ali.recv_type("assigned")
    assert asg["returning"] is False, asg


async def test_transfer_with_note(cont):
    ali = await cont.chatd.adviser("ali", capacity=2)
    p = await cont.chatd.parent_start(text="my ex wont let me see the kids")
    asg = await ali.recv_type("assigned")
    conv = asg["conversation"]
    await p.recv_type("connected")
    await p.send({"type": "msg", "id": "m1", "text": "its been three weeks"})
    await p.recv_type("ack")
    bea = await cont.chatd.adviser("bea", capacity=2)
    await ali.send({"type": "transfer", "conversation": conv, "note": "needs family law advice"})
    assert (await ali.recv_type("transferred"))["conversation"] == conv
    got = await bea.recv_type("assigned")
    assert got["conversation"] == conv, got
    assert got.get("transfer") == {"from": "ali", "note": "needs family law advice"}, got
    texts = [m["text"] for m in got["history"]]
    assert texts[:2] == ["my ex wont let me see the kids", "its been three weeks"], texts
    sysmsg = await p.recv_type("msg")
    assert sysmsg["from"] == "system" and "colleague" in sysmsg["text"], sysmsg
    c = await p.recv_type("connected")
    assert c["adviser"] == "bea", "the parent should be told who they now talk to: %r" % c
    await ali.expect_nothing("assigned", 0.3, "the chat went back to the adviser who handed it on")

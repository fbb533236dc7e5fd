"""A parent who vanishes mid-chat (tab closed, phone off, quick exit while
offline): past grace_s the adviser is told they are away, and back if they
return; past parent_timeout_s the chat ends as disconnected."""

import asyncio

import pytest
import pytest_asyncio

from harness import GRACE_S, GRACE_SLACK_S, Service

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def svc_t():
    s = Service(extra_env={"CHATD_PARENT_TIMEOUT_S": "5"})
    s.start()
    yield s
    await s.close()


async def test_away_back_then_disconnected(svc_t):
    p = await svc_t.chatd.parent_start(text="hello")
    a = await svc_t.chatd.adviser("ali")
    conv = (await a.recv_type("assigned"))["conversation"]
    await p.recv_type("connected")
    resume = p.resume
    await p.ws.close()
    away = await a.recv_type("parent_away", timeout=6)
    assert away["conversation"] == conv, away
    back = await svc_t.chatd.parent_hello(resume=resume, last_seq=1)
    assert back.welcome["state"] == "chatting", back.welcome
    assert (await a.recv_type("parent_back"))["conversation"] == conv
    await back.ws.close()
    await a.recv_type("parent_away", timeout=6)
    ended = await a.recv_type("ended", timeout=10)
    assert ended["by"] == "system" and ended.get("reason") == "disconnected", ended


async def test_quiet_but_connected_are_never_away(svc_t):
    """Heartbeats refresh a slice of the clients each sweep (conv.c
    heartbeat()); every quiet but connected parent and adviser must still
    be refreshed within grace_s, or the sweep would call them away."""
    advisers = [await svc_t.chatd.adviser("q%d" % i, capacity=3) for i in range(3)]
    parents = []
    for i in range(8):
        parents.append(await svc_t.chatd.parent_start(text="hello %d" % i))
    for p in parents:
        await p.recv_type("connected")
    quiet = GRACE_S * 3 + GRACE_SLACK_S
    results = await asyncio.gather(
        *[a.collect(quiet, ("parent_away", "ended", "transferred")) for a in advisers],
        *[p.collect(0.1, ("ended",)) for p in parents])
    assert not any(results), "quiet but connected clients were swept: %r" % results
    await parents[0].send({"type": "msg", "id": "after", "text": "still here"})
    ack = await parents[0].recv_type("ack")
    assert ack.get("id") == "after", ack

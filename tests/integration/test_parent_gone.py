"""A parent who vanishes mid-chat (tab closed, phone off, quick exit while
offline): past grace_s the adviser is told they are away, and back if they
return; past parent_timeout_s the chat ends as disconnected."""

import pytest
import pytest_asyncio

from harness import Service

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

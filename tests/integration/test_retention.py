"""Retention (issue #4): transcripts are deleted after retention by
destroying the conversation and its key; a lead's hold keeps one."""

import asyncio

import pytest
import pytest_asyncio

from harness import Service

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def short():
    s = Service(extra_env={"CHATD_RETENTION_S": "1", "CHATD_RETENTION_SWEEP_S": "1"})
    s.start()
    yield s
    await s.close()


async def chat_and_end(svc, adviser, text):
    p = await svc.chatd.parent_start(text=text)
    conv = (await adviser.recv_type("assigned"))["conversation"]
    await p.send({"type": "msg", "id": "m", "text": "something private"})
    await p.recv_type("ack")
    await adviser.send({"type": "end", "conversation": conv})
    await adviser.recv_type("ended")
    return conv


def exists(svc, key):
    return int(svc.redis.cmd("EXISTS", key))


async def wait_gone(svc, conv, timeout=6):
    for _ in range(int(timeout / 0.2)):
        if not exists(svc, "conv:%s" % conv) and not exists(svc, "conv:%s:log" % conv):
            return True
        await asyncio.sleep(0.2)
    return False


async def test_deleted_after_retention_and_held_kept(short):
    ali = await short.chatd.adviser("ali", capacity=2)
    lead = await short.chatd.adviser("lena", role="lead", available=None)
    gone = await chat_and_end(short, ali, "my son wont sleep")
    kept = await chat_and_end(short, ali, "my daughter wont eat")
    await lead.send({"type": "hold", "conversation": kept})
    assert (await lead.recv_type("held"))["hold"] is True
    assert await wait_gone(short, gone), "a transcript past retention was not deleted"
    await asyncio.sleep(1.5)
    assert exists(short, "conv:%s" % kept) and exists(short, "conv:%s:log" % kept), \
        "a transcript a lead put on hold was deleted"
    await lead.send({"type": "hold", "conversation": kept, "hold": False})
    await lead.recv_type("held")
    assert await wait_gone(short, kept), "a released hold was not deleted after retention"

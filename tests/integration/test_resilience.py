"""The daemon survives its Redis going away (issue #2: reconnect with
backoff, /readyz false meanwhile) and throttles guessed staff passwords."""

import asyncio
import time

import pytest

from harness import DEFAULT_PASSWORD, wait_status

pytestmark = pytest.mark.asyncio


async def test_redis_restart_readyz_and_chat_carries_on(svc):
    p = await svc.chatd.parent_start(text="my son wont go to school")
    await p.send({"type": "msg", "id": "before", "text": "are you there"})
    ack = await p.recv_type("ack")
    svc.redis.stop()
    got = await wait_status(svc.chatd, "/readyz", 503, 5)
    assert got is True, "/readyz should be 503 while Redis is away, got %r" % got
    assert svc.chatd.get("/healthz").status == 200, "/healthz should stay 200: the process is alive"
    assert svc.chatd.alive(), "chatd died when Redis went away"
    svc.redis.start()
    got = await wait_status(svc.chatd, "/readyz", 200, 10)
    assert got is True, "/readyz should come back to 200 after Redis returns, got %r" % got
    # The acknowledged message survived (appendfsync always) and the chat goes on.
    a = await svc.chatd.adviser("ali")
    asg = await a.recv_type("assigned")
    texts = [m["text"] for m in asg["history"]]
    assert "are you there" in texts, \
        "a message acknowledged before Redis restarted is missing: %r" % texts
    assert ack["seq"] in [m["seq"] for m in asg["history"]]


async def test_login_throttled_after_failures(svc):
    svc.ensure_user("tam")
    statuses = [svc.chatd.login_response("tam", "wrong-%d" % i).status for i in range(5)]
    assert statuses == [401] * 5, "wrong passwords should each answer 401: %r" % statuses
    r = svc.chatd.login_response("tam", DEFAULT_PASSWORD)
    assert r.status == 429, \
        "after 5 failures even the right password must be throttled (429), got %d" % r.status
    other = svc.chatd.login_response("uma-not-a-user", "x")
    assert other.status == 401, "throttling one name must not affect another (%d)" % other.status

"""The daemon survives its Redis going away (issue #2: reconnect with
backoff, /readyz false meanwhile) and throttles guessed staff passwords."""

import asyncio
import signal

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


async def test_redis_killed_mid_command_readyz_recovers(svc):
    """Redis dies holding a command chatd sent but it never read: the kernel
    resets the socket (an error event, not a clean end of file).  chatd must
    still notice, reconnect when Redis is back, and tell the parent whose
    message was in flight that it was not stored."""
    p = await svc.chatd.parent_start(text="my son wont go to school")
    svc.redis.proc.send_signal(signal.SIGSTOP)
    try:
        await p.send({"type": "msg", "id": "in-flight", "text": "are you there"})
        await asyncio.sleep(0.3)  # chatd has written the command; Redis has not read it
    finally:
        svc.redis.proc.send_signal(signal.SIGKILL)
        svc.redis.proc.wait()
    got = await wait_status(svc.chatd, "/readyz", 503, 5)
    assert got is True, "/readyz should be 503 once Redis is gone, got %r" % got
    err = await p.recv_type("error")
    assert err.get("id") == "in-flight", \
        "the parent must hear that the in-flight message was not stored: %r" % err
    svc.redis.start()
    got = await wait_status(svc.chatd, "/readyz", 200, 10)
    assert got is True, "/readyz should come back to 200 after Redis returns, got %r" % got
    await svc.chatd.parent_start(text="is anyone there")  # asserts it is not refused

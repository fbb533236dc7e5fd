"""Group commit (store_group_us, chatd/rds.c): under load chatd holds the
messages it stores for a moment and sends them to Redis together.  Held
messages must still arrive once, in order, and before anything the same
person did after them.

The hold is set far longer than the default (1 ms), HOLD_S below, so that
an end sent straight after the messages would overtake them if anything
but a stored message could jump the batch.  How long a message actually
waits is not asserted: any other command to Redis (a heartbeat, every
few hundred ms) sends a held batch first, to keep the order."""

import pytest
import pytest_asyncio

from harness import Service

pytestmark = pytest.mark.asyncio

HOLD_S = 3.0


@pytest_asyncio.fixture
async def held():
    s = Service(extra_env={"CHATD_STORE_GROUP_US": str(int(HOLD_S * 1e6))})
    s.start()
    yield s
    await s.close()


async def chatting(svc):
    adv = await svc.chatd.adviser("ali", capacity=1)
    p = await svc.chatd.parent_start(text="can I ask something")
    asg = await adv.recv_type("assigned")
    await p.recv_type("connected")
    assert [h.get("text") for h in asg.get("history", [])] == ["can I ask something"], asg
    return p, adv, asg["conversation"]


async def test_held_messages_arrive_once_in_order_before_the_end(held):
    p, adv, conv = await chatting(held)
    texts = ["one", "two", "three", "four", "five"]
    for i, t in enumerate(texts):
        await p.send({"type": "msg", "id": "g-%d" % i, "text": t})
    # The end is not a stored message: it must still come after them.
    await p.send({"type": "end"})
    acks = [await p.recv_type("ack", timeout=HOLD_S + 5) for _ in texts]
    assert [a["id"] for a in acks] == ["g-%d" % i for i in range(5)], acks
    seqs = [a["seq"] for a in acks]
    assert seqs == list(range(seqs[0], seqs[0] + 5)), \
        "held messages should be numbered in the order sent, without gaps: %r" % seqs
    got = [await adv.recv_type("msg", timeout=HOLD_S + 5) for _ in texts]
    assert [m.get("text") for m in got] == texts, got
    await adv.recv_type("ended", timeout=HOLD_S + 5)
    await adv.expect_nothing("msg", 0.5, "a held message was delivered twice")

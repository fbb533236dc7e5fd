"""Two chatd processes on one Redis behave as one helpline (issue #2,
"Several processes, one service")."""

import asyncio

import pytest

pytestmark = pytest.mark.asyncio


async def test_parent_on_a_adviser_on_b(svc2):
    A, B = svc2.chatds
    adv = await B.adviser("nell", capacity=2)
    p = await A.parent_start(text="hello from process A")
    asg = await adv.recv_type("assigned")
    assert asg["history"][0]["text"] == "hello from process A", asg
    conv = asg["conversation"]
    con = await p.recv_type("connected")
    assert con.get("adviser") == "nell" and con.get("conversation") == conv, \
        "parent on one process not told of an adviser on another: %r" % con
    await p.send({"type": "msg", "id": "p1", "text": "can you hear me"})
    ack = await p.recv_type("ack")
    m = await adv.recv_type("msg")
    assert m.get("text") == "can you hear me" and m.get("seq") == ack.get("seq") == 2, (m, ack)
    await adv.send({"type": "msg", "conversation": conv, "id": "a1", "text": "yes, loud and clear"})
    ack = await adv.recv_type("ack")
    m = await p.recv_type("msg")
    assert m.get("text") == "yes, loud and clear" and m.get("seq") == ack.get("seq") == 3, (m, ack)
    await p.send({"type": "typing"})
    await adv.recv_type("typing")
    await p.send({"type": "end"})
    e = await adv.recv_type("ended")
    assert e.get("by") == "parent", e


async def test_queue_positions_agree(svc2):
    A, B = svc2.chatds
    pa = await A.parent_start(text="on A")
    pb = await B.parent_start(text="on B")
    assert (pa.position, pb.position) == (1, 2), \
        "two processes disagree about the queue: positions %r and %r" % (pa.position, pb.position)
    for chatd in (A, B):
        st = chatd.get("/api/status").json()
        assert st.get("waiting") == 2, "process %d reports %r waiting, expected 2" % (chatd.index, st)
    await pa.send({"type": "end"})
    await pa.recv_type("ended")
    q = await pb.recv_type("queued", where=lambda f: f.get("position") == 1)
    assert q["position"] == 1, "a parent on B was not told they moved up when one on A left"


async def test_session_cookie_works_on_other_process(svc2):
    A, B = svc2.chatds
    svc2.ensure_user("olga")
    cookie = A.login("olga")
    c = await B.staff(cookie)
    w = await c.recv_type("welcome")
    assert w.get("name") == "olga", "logged in on one process, refused on another: %r" % w


async def test_no_double_assignment(svc2):
    A, B = svc2.chatds
    a1 = await A.adviser("pia", capacity=1, available=False)
    b1 = await B.adviser("ros", capacity=1, available=False)
    parents = [await (A if i % 2 else B).parent_start(text="parent %d" % i) for i in range(3)]
    # both go available at the same moment
    await asyncio.gather(
        a1.send({"type": "availability", "available": True, "capacity": 1}),
        b1.send({"type": "availability", "available": True, "capacity": 1}))
    got_a = await a1.recv_type("assigned")
    got_b = await b1.recv_type("assigned")
    assert got_a["conversation"] != got_b["conversation"], \
        "two advisers on two processes were given the same parent"
    assert sorted([got_a["history"][0]["text"], got_b["history"][0]["text"]]) == ["parent 0", "parent 1"], \
        "the two longest-waiting parents were not the ones served"
    await a1.expect_nothing("assigned", 0.8, "capacity 1 exceeded on process A")
    await b1.expect_nothing("assigned", 0.2, "capacity 1 exceeded on process B")
    connected = 0
    for p in parents:
        connected += len(await p.collect(0.3, "connected"))
    assert connected == 2, "%d parents were told they are connected, expected 2" % connected


async def test_acked_message_survives_process_death(svc2):
    """A message acknowledged to its sender is never lost, even if the chatd
    process that took it dies the next instant."""
    A, B = svc2.chatds
    adv = await B.adviser("quil", capacity=2)
    p = await A.parent_start(text="opening")
    asg = await adv.recv_type("assigned")
    await p.recv_type("connected")
    await p.send({"type": "msg", "id": "precious", "text": "I need to tell you something important"})
    ack = await p.recv_type("ack")
    A.kill()
    m = await adv.recv_type("msg", where=lambda f: f.get("text") == "I need to tell you something important")
    assert m.get("seq") == ack.get("seq"), (m, ack)
    p2 = await B.parent()
    await p2.send({"type": "hello", "resume": p.resume, "last_seq": 0})
    w = await p2.recv_type("welcome")
    assert w.get("state") == "chatting", "after its process died the parent could not rejoin on another: %r" % w
    got = await p2.collect(1.0, "msg")
    assert [(x.get("seq"), x.get("text")) for x in got] == \
        [(1, "opening"), (2, "I need to tell you something important")], \
        "the acknowledged message is missing after the process died: %r" % got
    assert got[1].get("id") == "precious", "replayed own message lacks its id: %r" % got[1]
    await adv.send({"type": "msg", "conversation": asg["conversation"], "id": "after", "text": "I'm listening"})
    m = await p2.recv_type("msg")
    assert m.get("text") == "I'm listening" and m.get("seq") == 3, m

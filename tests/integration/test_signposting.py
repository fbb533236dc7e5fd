"""Signposting and opening hours (issue #4): the directory API, triage
suggestions to the adviser, service cards to the parent, and the closed
line answering `closed` with when it opens and what is open now."""

import datetime
import os
import urllib.parse

import pytest
import pytest_asyncio

from harness import REPO, Service

pytestmark = pytest.mark.asyncio

LOCAL = os.path.join(REPO, "config", "services-local.sample.json")


@pytest_asyncio.fixture
async def local():
    s = Service(extra_env={"CHATD_SERVICES_LOCAL_FILE": LOCAL})
    s.start()
    yield s
    await s.close()


@pytest_asyncio.fixture
async def shut():
    today = datetime.date.today().isoformat()
    s = Service(extra_env={"CHATD_HOURS": "mon-sun 00:00-23:59",
                           "CHATD_HOURS_EXCEPTIONS": "%s closed" % today})
    s.start()
    yield s
    await s.close()


def services(chatd, **q):
    r = chatd.get("/api/services?" + urllib.parse.urlencode(q))
    assert r.status == 200, r
    return r.json()["services"]


async def test_directory_search_local_first_and_open_now(local):
    got = services(local.chatd, category="neglect", area="PR1")
    ids = [s["id"] for s in got]
    assert ids and ids[0].startswith("sample-"), "local services must come before national: %r" % ids
    assert any(not i.startswith("sample-") for i in ids), ids
    assert all("open_now" in s for s in got), got[0]
    national = services(local.chatd, category="neglect", area="M1")
    assert not any(s["id"].startswith("sample-") for s in national), \
        "a Preston service was offered to a Manchester parent"
    crisis = services(local.chatd, category="suicide")
    assert "samaritans" in [s["id"] for s in crisis]
    assert local.chatd.get("/api/services?category=nonsense").status == 400


async def test_suggest_once_and_signpost_card(local):
    p = await local.chatd.parent_start(text="hello, can I talk to someone", area="PR1")
    a = await local.chatd.adviser("ali")
    asg = await a.recv_type("assigned")
    conv = asg["conversation"]
    await p.recv_type("connected")
    await p.send({"type": "msg", "id": "m1", "text": "my partner hit me again last night"})
    sug = await a.recv_type("suggest", timeout=5)
    ids = [s["id"] for s in sug["services"]]
    assert sug["conversation"] == conv and ids, sug
    await p.send({"type": "msg", "id": "m2", "text": "he hit me again this morning"})
    await a.recv_type("msg")
    await a.recv_type("msg")
    await a.expect_nothing("suggest", 0.5, "the same services were suggested twice in one conversation")
    await a.send({"type": "signpost", "conversation": conv, "service": ids[0]})
    await a.recv_type("signposted")
    card = await p.recv_type("signpost")
    assert card["service"]["id"] == ids[0] and card["service"]["name"], card
    assert isinstance(card["seq"], int), card
    mine = await a.recv_type("signpost")
    assert mine["seq"] == card["seq"] and mine["conversation"] == conv
    await a.send({"type": "signpost", "conversation": conv, "service": "no-such-service"})
    assert (await a.recv_type("error"))["code"] == "bad_request"


async def test_closed_hours(shut):
    st = shut.chatd.get("/api/status").json()
    assert st["open"] is False and st["next_open"], st
    assert st["services"] and all(s.get("name") for s in st["services"]), st
    c = await shut.chatd.parent_hello()
    assert c.welcome["open"] is False, "welcome must say the line is shut: %r" % c.welcome
    await c.send({"type": "start", "text": "is anyone there"})
    closed = await c.recv_type("closed")
    tomorrow = (datetime.date.today() + datetime.timedelta(days=1)).isoformat()
    assert closed["next_open"].startswith(tomorrow + "T00:00"), closed
    assert "samaritans" in [s["id"] for s in closed["services"]], \
        "a parent at a closed line must be shown the 24/7 lines: %r" % closed
    await c.expect_nothing(("queued",), 0.3, "a parent was queued while the line is shut")

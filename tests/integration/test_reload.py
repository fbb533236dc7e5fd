"""SIGHUP reloads the triage rules; a broken rule file is refused with
file:line and the rules in force stay in force (issue #3, DEVELOPERS.md)."""

import asyncio
import os
import shutil
import signal

import pytest
import pytest_asyncio

from harness import EMERGENCY, REPO, Service

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def rules_svc(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(os.path.join(REPO, "moderation", "rules"), rules)
    s = Service(extra_env={"CHATD_RULES_DIR": str(rules)})
    s.start()
    yield s, rules
    await s.close()


async def wait_for_log(chatd, text, timeout=5):
    for _ in range(int(timeout / 0.1)):
        with open(chatd.log) as f:
            if text in f.read():
                return True
        await asyncio.sleep(0.1)
    return False


async def test_broken_rules_refused_old_rules_stay(rules_svc):
    svc, rules = rules_svc
    with open(rules / "suicide.rules", "a") as f:
        f.write("this is not a rule\n")
    svc.chatd.proc.send_signal(signal.SIGHUP)
    assert await wait_for_log(svc.chatd, "suicide.rules:"), \
        "a broken rule file was not refused with file:line in the log"
    assert svc.chatd.alive(), "chatd died on a broken rule file"
    lead = await svc.chatd.adviser("lena", role="lead", available=None)
    await svc.chatd.parent_start(text=EMERGENCY)
    a = await lead.recv_type("alert")
    assert a.get("severity") == "emergency", \
        "after a refused reload the old rules must still triage: %r" % a


async def test_good_rules_reloaded(rules_svc):
    svc, rules = rules_svc
    os.remove(rules / "suicide.rules")
    svc.chatd.proc.send_signal(signal.SIGHUP)
    assert await wait_for_log(svc.chatd, "triage rules reloaded"), \
        "a valid rule set was not reloaded on SIGHUP"
    lead = await svc.chatd.adviser("lena", role="lead", available=None)
    await svc.chatd.parent_start(text=EMERGENCY)
    await lead.expect_nothing("alert", 1.0,
                              "with the suicide rules removed and reloaded, the old rules are still in force")

"""Data protection as a parent would expect it (SPEC.md "Data protection"):
message text never in logs, never in Redis in clear, key files private."""

import os
import stat

import pytest

pytestmark = pytest.mark.asyncio

SECRET = "my partner hits me when the kids are asleep zq7xw"


async def chat_with_secret(svc):
    a = await svc.chatd.adviser("una")
    p = await svc.chatd.parent_start(text="opening " + SECRET)
    asg = await a.recv_type("assigned")
    await p.recv_type("connected")
    await p.send({"type": "msg", "id": "s1", "text": "again: " + SECRET})
    await p.recv_type("ack")
    await a.recv_type("msg")
    await a.send({"type": "msg", "conversation": asg["conversation"], "id": "r1", "text": "reply " + SECRET})
    await a.recv_type("ack")
    await p.recv_type("msg")


def files_under(root):
    for d, _, names in os.walk(root):
        for n in names:
            yield os.path.join(d, n)


async def test_message_text_not_in_logs(svc):
    await chat_with_secret(svc)
    for c in svc.chatds:
        with open(c.log, "rb") as f:
            log = f.read()
        assert SECRET.encode() not in log and b"zq7xw" not in log, \
            "a parent's message text was written to chatd's log (%s)" % c.log


async def test_message_text_encrypted_in_redis(svc):
    await chat_with_secret(svc)
    svc.redis.cmd("BGREWRITEAOF")  # harmless; AOF is fsynced on every write anyway
    hits = []
    for path in files_under(svc.redis.dir):
        if path.endswith(".log") or path.endswith(".sock"):
            continue
        try:
            with open(path, "rb") as f:
                if b"zq7xw" in f.read():
                    hits.append(path)
        except OSError:
            pass
    assert not hits, "message text is stored in clear in Redis (found in %s)" % hits


async def test_data_dir_files_private(svc):
    await chat_with_secret(svc)
    files = list(files_under(svc.data_dir))
    assert files, "chatd keeps no master key under CHATD_DATA_DIR"
    loose = [(p, oct(stat.S_IMODE(os.stat(p).st_mode))) for p in files
             if stat.S_IMODE(os.stat(p).st_mode) & 0o077]
    assert not loose, "files under the data dir are readable by other users: %r" % loose

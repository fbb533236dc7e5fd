"""Bad input gets an error frame and the connection stays usable
(docs/protocol.md, "Errors" and "Transport")."""

import json

import pytest
import websockets.exceptions

pytestmark = pytest.mark.asyncio


async def still_works(c):
    """A socket that has not said hello yet still answers hello."""
    await c.send({"type": "hello"})
    w = await c.recv_type("welcome")
    assert w.get("state") == "new", w


async def session_still_works(c):
    """A parent socket after hello (state new) still answers start."""
    await c.send({"type": "start", "text": "still there?"})
    q = await c.recv_any(("queued", "error"))
    assert q["type"] == "queued", "after the bad frame the socket no longer works: %r" % q


async def expect_error(c, code, what):
    e = await c.recv_type("error")
    assert e.get("code") == code, "%s should give error %s, got %r" % (what, code, e)
    assert isinstance(e.get("message"), str), "error without a message: %r" % e
    return e


async def queued_parent_with_adviser(svc):
    a = await svc.chatd.adviser("val")
    p = await svc.chatd.parent_start(text="opening")
    asg = await a.recv_type("assigned")
    await p.recv_type("connected")
    return p, a, asg["conversation"]


@pytest.mark.parametrize("raw", ["{not json", "", "{\"type\": \"hello\"", "hello"])
async def test_malformed_json(shared, raw):
    c = await shared.chatd.parent()
    await c.send_raw(raw)
    await expect_error(c, "bad_json", "malformed JSON %r" % raw)
    await still_works(c)


@pytest.mark.parametrize("raw", ["[]", "[{\"type\":\"hello\"}]", "42", "\"hello\"", "null", "true"])
async def test_json_not_object(shared, raw):
    c = await shared.chatd.parent()
    await c.send_raw(raw)
    await expect_error(c, "bad_json", "JSON that is not an object (%s)" % raw)
    await still_works(c)


@pytest.mark.parametrize("frame", [{}, {"text": "hi"}, {"type": 7}, {"type": None}, {"type": ["hello"]},
                                   {"type": "nonsense"}, {"type": "HELLO"}, {"type": "assigned"}])
async def test_unknown_type(shared, frame):
    c = await shared.chatd.parent_hello()
    await c.send(frame)
    e = await expect_error(c, "unknown_type", "frame %r" % frame)
    if frame.get("type") == "nonsense":
        assert e.get("ref") == "nonsense", "error should echo ref=nonsense: %r" % e
    await session_still_works(c)


async def test_unknown_type_staff(svc):
    a = await svc.chatd.adviser("walt", available=None)
    await a.send({"type": "nonsense"})
    await expect_error(a, "unknown_type", "staff frame of type nonsense")
    await a.send({"type": "availability", "available": False})
    await a.recv_type("availability")


async def test_unknown_fields_ignored(shared):
    c = await shared.chatd.parent()
    await c.send({"type": "hello", "future_field": {"x": 1}, "colour": "blue"})
    w = await c.recv_type("welcome")
    assert w.get("state") == "new", "unknown fields must be ignored: %r" % w


@pytest.mark.parametrize("frame,why", [
    ({"type": "msg", "text": "no id"}, "msg without id"),
    ({"type": "msg", "id": "m1"}, "msg without text"),
    ({"type": "msg", "id": "m1", "text": 12345}, "msg with numeric text"),
    ({"type": "msg", "id": 17, "text": "numeric id"}, "msg with numeric id"),
    ({"type": "msg", "id": "", "text": "empty id"}, "msg with empty id"),
    ({"type": "msg", "id": "x" * 65, "text": "id too long"}, "msg with a 65-character id"),
    ({"type": "msg", "id": "tab\there", "text": "control char in id"}, "msg id with a control character"),
    ({"type": "msg", "id": "caf\u00e9", "text": "non-ascii id"}, "msg id with non-ASCII"),
])
async def test_msg_bad_request(shared, frame, why):
    p = await shared.chatd.parent_start(text="opening")
    await p.send(frame)
    e = await expect_error(p, "bad_request", why)
    assert e.get("ref") == "msg", "error should echo ref=msg: %r" % e
    await p.send({"type": "msg", "id": "ok-1", "text": "valid after all"})
    ack = await p.recv_any(("ack", "error"))
    assert ack["type"] == "ack" and ack.get("seq") == 2, \
        "after %s the next valid message was not stored as seq 2: %r" % (why, ack)


async def test_msg_id_64_chars_accepted(shared):
    p = await shared.chatd.parent_start(text="opening")
    await p.send({"type": "msg", "id": "y" * 64, "text": "longest id allowed"})
    ack = await p.recv_any(("ack", "error"))
    assert ack["type"] == "ack" and ack.get("id") == "y" * 64, "a 64-character id was refused: %r" % ack


@pytest.mark.parametrize("frame,why", [
    ({"type": "start", "text": 5}, "start with numeric text"),
    ({"type": "start", "topic": "t" * 65}, "start with a 65-character topic"),
    ({"type": "start", "area": "not a postcode"}, "start with a bad area"),
    ({"type": "start", "area": "1PR"}, "start with area digits first"),
    ({"type": "hello", "last_seq": "3", "resume": "whatever"}, "hello with a string last_seq"),
])
async def test_parent_fields_bad_request(shared, frame, why):
    c = await shared.chatd.parent()
    if frame["type"] != "hello":
        await c.send({"type": "hello"})
        await c.recv_type("welcome")
    await c.send(frame)
    await expect_error(c, "bad_request", why)
    q = await c.collect(0.3, "queued")
    assert not q, "%s was refused yet the parent was queued: %r" % (why, q)


async def test_staff_msg_bad_request(svc):
    p, a, conv = await queued_parent_with_adviser(svc)
    for frame, why in (({"type": "msg", "id": "s1", "text": "no conversation"}, "staff msg without conversation"),
                       ({"type": "msg", "conversation": conv, "text": "no id"}, "staff msg without id"),
                       ({"type": "msg", "conversation": conv, "id": "s2", "text": ["x"]}, "staff msg with array text")):
        await a.send(frame)
        await expect_error(a, "bad_request", why)
    await p.expect_nothing("msg", 0.3, "a refused staff message reached the parent")


async def test_text_too_long_nothing_stored(svc):
    p, a, conv = await queued_parent_with_adviser(svc)
    await p.send({"type": "msg", "id": "big", "text": "a" * 4001})
    e = await expect_error(p, "too_long", "a 4,001-character message")
    assert e.get("id") == "big", "too_long error should echo the id: %r" % e
    await a.expect_nothing("msg", 0.8, "the adviser received a message that was refused as too long")
    await p.send({"type": "msg", "id": "next", "text": "short"})
    ack = await p.recv_type("ack")
    assert ack.get("seq") == 2, "a refused message used up a seq number: %r" % ack


async def test_text_4000_unicode_chars_accepted(svc):
    """The limit is 4,000 characters, not bytes: 4,000 'é' (8,000 bytes) fit."""
    p, a, conv = await queued_parent_with_adviser(svc)
    text = "\u00e9" * 4000
    await p.send({"type": "msg", "id": "accents", "text": text})
    ack = await p.recv_any(("ack", "error"))
    assert ack["type"] == "ack", "4,000 accented characters refused (counting bytes, not characters?): %r" % ack
    m = await a.recv_type("msg")
    assert m.get("text") == text, "long accented message arrived altered"


async def test_staff_text_too_long(svc):
    p, a, conv = await queued_parent_with_adviser(svc)
    await a.send({"type": "msg", "conversation": conv, "id": "long", "text": "b" * 4001})
    await expect_error(a, "too_long", "an adviser message of 4,001 characters")
    await p.expect_nothing("msg", 0.5, "the parent received an over-long message")


async def test_frame_over_16k(svc):
    p = await svc.chatd.parent_start(text="opening")
    big = json.dumps({"type": "msg", "id": "huge", "text": "x" * 3000, "pad": "p" * 17000})
    await p.send_raw(big)
    outcome = None
    try:
        e = await p.recv_type("error")
        outcome = e.get("code")
    except AssertionError:
        outcome = p.close_code()
    assert outcome in ("too_long", 1009), \
        "a 20 KB frame should give too_long or close 1009, got %r" % outcome
    # the server survived
    c = await svc.chatd.parent()
    await still_works(c)
    assert svc.chatd.get("/healthz").status == 200
    if outcome == "too_long":
        await p.send({"type": "msg", "id": "after-big", "text": "small"})
        ack = await p.recv_type("ack")
        assert ack.get("seq") == 2, "the oversized frame was stored: %r" % ack


async def test_frame_just_under_16k_accepted_by_framing(shared):
    """A 15 KiB frame with a short text and an unknown padding field is
    within the frame limit: unknown fields are ignored."""
    p = await shared.chatd.parent_start(text="opening")
    frame = json.dumps({"type": "msg", "id": "padded", "text": "fine", "pad": "p" * (15 * 1024)})
    assert len(frame) < 16 * 1024
    await p.send_raw(frame)
    ack = await p.recv_any(("ack", "error"))
    assert ack["type"] == "ack", "a frame under 16 KiB was refused: %r" % ack


@pytest.mark.parametrize("data", [b"\xff\xfe{}", b'{"type":"hello","x":"\xc3\x28"}', b'{"type":"he\xedllo"}'])
async def test_invalid_utf8(shared, data):
    c = await shared.chatd.parent()
    await c.send_text_bytes(data)
    await expect_error(c, "bad_json", "invalid UTF-8 %r" % data)
    await still_works(c)


async def test_binary_frame(shared):
    c = await shared.chatd.parent()
    await c.send_raw(b'{"type":"hello"}')
    await expect_error(c, "bad_request", "a binary frame")
    await still_works(c)


async def test_binary_frame_staff(svc):
    a = await svc.chatd.adviser("xia", available=None)
    await a.send_raw(b"\x00\x01\x02")
    await expect_error(a, "bad_request", "a binary frame on /ws/staff")


async def test_foreign_origin_refused(svc):
    for path in ("/ws/parent", "/ws/staff"):
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as ei:
            await svc.chatd.connect(path, origin="http://evil.example")
        assert ei.value.status_code == 403, \
            "upgrade from a foreign Origin on %s should be refused with 403, got %s" % (path, ei.value.status_code)


async def test_foreign_origin_with_cookie_refused(svc):
    """Cross-site WebSocket hijacking: a staff cookie sent from another site
    must not open a staff socket."""
    svc.ensure_user("yan")
    cookie = svc.chatd.login("yan")
    for origin in ("http://evil.example", "http://127.0.0.1.evil.example:%d" % svc.chatd.port, "null"):
        with pytest.raises(websockets.exceptions.InvalidHandshake):
            await svc.chatd.connect("/ws/staff", cookie=cookie, origin=origin)


async def test_rapid_bad_frames_do_not_kill_server(svc):
    c = await svc.chatd.parent()
    for i in range(20):
        await c.send_raw("{oops %d" % i)
    errors = await c.collect(1.5, "error")
    assert errors and all(e.get("code") in ("bad_json", "rate_limited") for e in errors), errors
    d = await svc.chatd.parent()
    await still_works(d)

"""TLS by config (issue #7): chatd with CHATD_TLS_CERT / CHATD_TLS_KEY and a
self-signed certificate made here with openssl.  HTTPS and wss:// work
with a context that trusts that certificate; plain HTTP on the same port
does not; the staff login cookie carries Secure."""

import asyncio
import http.client
import json
import os
import shutil
import ssl
import subprocess
import time

import pytest
import pytest_asyncio
import websockets

from harness import DEFAULT_PASSWORD, SUBPROTOCOL, Client, Response, Service, tail

pytestmark = pytest.mark.asyncio


def make_cert(d):
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    r = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", key, "-out", cert], capture_output=True, timeout=60)
    if r.returncode != 0:  # an openssl without -addext: the brief's command
        r = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
            capture_output=True, timeout=60)
    assert r.returncode == 0, "openssl failed: %s" % r.stderr.decode(errors="replace")
    os.chmod(key, 0o600)
    return cert, key


def context(cert):
    ctx = ssl.create_default_context(cafile=cert)
    ctx.check_hostname = False  # trust is the pinned certificate itself
    return ctx


def https(port, ctx, method, path, body=None, headers=None):
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=ctx)
    try:
        h = dict(headers or {})
        if body is not None:
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        return Response(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


@pytest_asyncio.fixture
async def tls(request):
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed: cannot make a test certificate")
    s = Service(nchatd=1)
    cert, key = make_cert(s.root)
    s.extra_env.update({"CHATD_TLS_CERT": cert, "CHATD_TLS_KEY": key})
    ctx = context(cert)
    c = s.chatd
    ok = False
    try:
        s.redis.start()
        c.start(wait=False)
        deadline = time.monotonic() + 10
        last = None
        while True:
            assert c.alive(), "chatd exited with TLS configured:\n%s" % tail(c.log)
            try:
                last = https(c.port, ctx, "GET", "/readyz")
                if last.status == 200:
                    break
            except (OSError, ssl.SSLError) as e:
                last = e
            assert time.monotonic() < deadline, \
                "chatd not ready over HTTPS in 10 s (last: %r):\n%s" % (last, tail(c.log))
            await asyncio.sleep(0.05)
        s.tls_ctx = ctx
        s.tls_cert = cert
        yield s
        ok = True
    finally:
        await s.close(failed=not ok)


async def test_healthz_over_https(tls):
    r = https(tls.chatd.port, tls.tls_ctx, "GET", "/healthz")
    assert r.status == 200 and r.body.strip() == b"ok", r


async def test_certificate_is_the_one_configured(tls):
    # A context that trusts nothing refuses it: the server really is
    # presenting the generated (self-signed) certificate.
    with pytest.raises(ssl.SSLCertVerificationError):
        https(tls.chatd.port, ssl.create_default_context(), "GET", "/healthz")


async def test_plain_http_on_the_tls_port_fails(tls):
    try:
        r = tls.chatd.get("/healthz")
    except (OSError, http.client.HTTPException):
        return  # refused, reset or garbage: the port speaks TLS only
    assert r.status != 200, "plain HTTP got a 200 on the TLS port: %r" % r


async def test_wss_parent_hello_start(tls):
    c = tls.chatd
    ws = await websockets.connect(
        "wss://127.0.0.1:%d/ws/parent" % c.port, ssl=tls.tls_ctx,
        server_hostname="localhost", subprotocols=[SUBPROTOCOL],
        origin="https://127.0.0.1:%d" % c.port, open_timeout=5, close_timeout=1,
        ping_interval=None)
    p = Client(ws, c)
    tls.clients.append(p)
    await p.send({"type": "hello"})
    w = await p.recv_type("welcome")
    assert w.get("state") == "new" and w.get("resume"), w
    await p.send({"type": "start", "text": "hello over TLS"})
    q = await p.recv_any(("queued", "connected", "error"))
    assert q["type"] == "queued" and q.get("position") == 1, q


async def test_login_cookie_is_secure(tls):
    tls.ensure_user("tia")
    r = https(tls.chatd.port, tls.tls_ctx, "POST", "/api/login",
              {"name": "tia", "password": DEFAULT_PASSWORD},
              headers={"Origin": "https://127.0.0.1:%d" % tls.chatd.port})
    assert r.status == 200, r
    cookies = [v for v in r.header_all("Set-Cookie") if v.startswith("chatd_session=")]
    assert cookies, "no session cookie over TLS: %r" % r.headers
    attrs = [a.strip().lower() for a in cookies[0].split(";")[1:]]
    assert "secure" in attrs, "the session cookie lacks Secure over TLS: %r" % cookies[0]
    assert "httponly" in attrs and "samesite=strict" in attrs, cookies[0]

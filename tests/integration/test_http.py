"""HTTP surface: health, readiness, security headers, login/logout, static
files and path traversal (docs/protocol.md, "HTTP API", "Static files")."""

import json

import pytest

from harness import DEFAULT_PASSWORD, cookie_from

PAGES = ["/", "/widget.js", "/console/", "/api/status", "/no-such-page-really"]


def csp_directives(value):
    out = {}
    for part in value.split(";"):
        words = part.strip().split()
        if words:
            out[words[0].lower()] = [w.lower() for w in words[1:]]
    return out


def test_healthz(shared_sync):
    r = shared_sync.chatd.get("/healthz")
    assert r.status == 200, "a load balancer would take chatd out of service: /healthz %r" % r
    assert r.body.strip() == b"ok", "/healthz should answer `ok`, got %r" % r.body


def test_readyz(shared_sync):
    r = shared_sync.chatd.get("/readyz")
    assert r.status == 200, "chatd connected to Redis says it is not ready: %r" % r
    assert r.body.strip() == b"ready", "/readyz should answer `ready`, got %r" % r.body


@pytest.mark.parametrize("path", PAGES)
def test_security_headers(shared_sync, path):
    r = shared_sync.chatd.get(path)
    csp = r.header("Content-Security-Policy")
    assert csp, "%s (status %s) has no Content-Security-Policy: injected script would run" % (path, r.status)
    d = csp_directives(csp)
    script = d.get("script-src", d.get("default-src"))
    assert script is not None, "%s: CSP %r restricts neither script-src nor default-src" % (path, csp)
    assert "'unsafe-inline'" not in script, \
        "%s: CSP allows inline script (%r), so an XSS in a message would run" % (path, csp)
    assert (r.header("X-Content-Type-Options") or "").lower() == "nosniff", \
        "%s lacks X-Content-Type-Options: nosniff" % path
    assert (r.header("Referrer-Policy") or "").lower() == "no-referrer", \
        "%s lacks Referrer-Policy: no-referrer, so the helpline URL leaks to linked sites" % path


@pytest.mark.parametrize("path,ctype", [("/", "text/html"), ("/widget.js", "javascript"),
                                        ("/console/", "text/html")])
def test_static_pages_served(shared_sync, path, ctype):
    r = shared_sync.chatd.get(path)
    assert r.status == 200, "%s is not served (status %s): parents/staff get no page" % (path, r.status)
    assert ctype in (r.header("Content-Type") or ""), \
        "%s served with Content-Type %r; browsers will refuse it under nosniff" % (path, r.header("Content-Type"))


def test_unknown_path_404(shared_sync):
    r = shared_sync.chatd.get("/no-such-page-really")
    assert r.status == 404, "a missing page should be 404, got %s" % r.status


def test_api_status(shared_sync):
    r = shared_sync.chatd.get("/api/status")
    assert r.status == 200, "/api/status: %r" % r
    assert "application/json" in (r.header("Content-Type") or ""), "status is not served as JSON"
    body = r.json()
    for k in ("open", "next_open", "waiting", "eta_s"):
        assert k in body, "/api/status lacks %r: the widget cannot say whether the line is open: %r" % (k, body)
    assert body["open"] is True, "with no opening hours configured the line must be open: %r" % body
    assert isinstance(body["waiting"], int) and not isinstance(body["waiting"], bool), body


def test_login_sets_safe_cookie(shared_sync):
    shared_sync.ensure_user("hannah", "adviser")
    r = shared_sync.chatd.login_response("hannah", DEFAULT_PASSWORD)
    assert r.status == 200, "the right password is refused: %r" % r
    assert "application/json" in (r.header("Content-Type") or ""), r.headers
    assert r.json() == {"name": "hannah", "role": "adviser"} or \
        (r.json().get("name") == "hannah" and r.json().get("role") == "adviser"), \
        "login should answer {name, role}: %r" % r.body
    header, value = cookie_from(r)
    assert header, "login set no chatd_session cookie: %r" % r.headers
    attrs = [a.strip().lower() for a in header.split(";")[1:]]
    assert "httponly" in attrs, "session cookie readable by page script (no HttpOnly): %r" % header
    assert "samesite=strict" in attrs, "session cookie not SameSite=Strict (CSRF): %r" % header
    assert "path=/" in attrs, "session cookie lacks Path=/: %r" % header
    assert len(value) >= 40, "session id %r is too short to hold 256 random bits" % value
    _, value2 = cookie_from(shared_sync.chatd.login_response("hannah", DEFAULT_PASSWORD))
    assert value2 and value2 != value, "two logins got the same session id"


def test_me_with_and_without_cookie(shared_sync):
    shared_sync.ensure_user("ivan", "lead")
    cookie = shared_sync.chatd.login("ivan")
    r = shared_sync.chatd.get("/api/me", headers={"Cookie": "chatd_session=" + cookie})
    assert r.status == 200, "a logged-in lead is not recognised by /api/me: %r" % r
    assert r.json().get("name") == "ivan" and r.json().get("role") == "lead", r.body
    r = shared_sync.chatd.get("/api/me")
    assert r.status == 401, "/api/me without a cookie should be 401, got %r" % r
    r = shared_sync.chatd.get("/api/me", headers={"Cookie": "chatd_session=" + "A" * 43})
    assert r.status == 401, "/api/me with a forged cookie should be 401, got %r" % r


def test_login_wrong_password(shared_sync):
    shared_sync.ensure_user("jo", "adviser")
    r = shared_sync.chatd.login_response("jo", "not the password")
    assert r.status == 401, "a wrong password must be refused with 401, got %r" % r
    assert json.loads(r.body).get("error") == "bad_credentials", r.body
    assert cookie_from(r)[1] in (None, ""), "a failed login set a session cookie: %r" % r.headers


def test_login_unknown_user(shared_sync):
    r = shared_sync.chatd.login_response("nobody-by-this-name", "whatever")
    assert r.status == 401, "an unknown user must get 401 (same as a wrong password), got %r" % r
    assert json.loads(r.body).get("error") == "bad_credentials", \
        "an unknown user must look exactly like a wrong password: %r" % r.body


def test_logout_invalidates_session(shared_sync):
    shared_sync.ensure_user("kim", "adviser")
    cookie = shared_sync.chatd.login("kim")
    h = {"Cookie": "chatd_session=" + cookie}
    assert shared_sync.chatd.get("/api/me", headers=h).status == 200
    r = shared_sync.chatd.http("POST", "/api/logout", headers=h)
    assert r.status == 204, "logout should answer 204, got %r" % r
    header, value = cookie_from(r)
    assert header is not None, "logout did not clear the cookie in the browser: %r" % r.headers
    low = header.lower()
    assert value == "" or "max-age=0" in low or "expires=thu, 01 jan 1970" in low, \
        "logout's Set-Cookie does not clear the cookie: %r" % header
    r = shared_sync.chatd.get("/api/me", headers=h)
    assert r.status == 401, "after logout the old cookie still works (stolen cookie stays valid): %r" % r


TRAVERSALS = [
    "/../etc/passwd",
    "/../../../../../../etc/passwd",
    "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "//etc/passwd",
    "/console/../../../../../../etc/passwd",
    "/../Makefile",
    "/%2e%2e/Makefile",
    "/..%2fMakefile",
    "/console/..%2f..%2fMakefile",
    "/%2e%2e/docs/protocol.md",
    "/....//....//Makefile",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_not_served(shared_sync, path):
    r = shared_sync.chatd.get(path)
    body = r.body
    assert b"root:x:0:0" not in body and b"PKG_CFLAGS" not in body and b"wire protocol v1" not in body, \
        "GET %s served a file from outside the web root: %r" % (path, body[:200])
    assert r.status != 200, "GET %s answered 200 (%r); only files under widget/ may be served" % (path, body[:120])

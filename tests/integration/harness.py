"""harness.py - real redis-server and real chatd processes, driven over real
WebSockets, for the integration tests.

Contract with the server (see docs/protocol.md and the fixtures in
conftest.py):

  * A private redis-server per Service: unix socket only (`--port 0`), AOF
    with `appendfsync always`, no RDB snapshots, all under a temp dir.
  * chatd ($CHATD_BIN, default bin/chatd, run with the repo root as its
    working directory) with
        CHATD_PORT=<free port>  CHATD_BIND=127.0.0.1
        CHATD_REDIS_URL=unix://<tmp>/redis.sock
        CHATD_DATA_DIR=<tmp>/data  (shared by every chatd of one Service)
        CHATD_GRACE_S=2  CHATD_SWEEP_INTERVAL_MS=200  CHATD_LOG_LEVEL=info
    Ready when GET /readyz answers 200 (polled up to 10 s).  Stopped with
    SIGTERM, then SIGKILL after 5 s.
  * Staff accounts through `chatd user add NAME --role R` (password on
    stdin), `chatd user list`, `chatd user del NAME`, same environment.
  * Login with POST /api/login; the chatd_session cookie goes into the
    /ws/staff handshake.  Every WebSocket handshake sends
    `Origin: http://127.0.0.1:<port>` and offers subprotocol helpline.v1.
"""

import asyncio
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import websockets
import websockets.exceptions
import websockets.frames

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SUBPROTOCOL = "helpline.v1"
GRACE_S = 2
SWEEP_MS = 200
# How long after grace_s a sweep-driven change may take to show.
GRACE_SLACK_S = 3.0
DEFAULT_PASSWORD = "correct horse battery staple"

# Parent messages and what the shipped rules (moderation/rules) make of
# them, for tests that need a conversation at a given severity.
CALM = "hi my son wont sleep"                          # none
HIGH = "my partner hit me again last night"            # high
EMERGENCY = "ive got all my tablets lined up for tonight"  # emergency


def chatd_bin():
    b = os.environ.get("CHATD_BIN", "bin/chatd")
    if not os.path.isabs(b):
        b = os.path.join(REPO, b)
    return b


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def tail(path, n=200):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-n:])
    except OSError as e:
        return "(no log: %s)" % e


# --------------------------------------------------------------------------
# A tiny RESP client over the unix socket (no redis-py on the machine).


class RespError(Exception):
    pass


class Resp:
    def __init__(self, path, timeout=5):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RespError("unexpected reply %r" % line)

    def cmd(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if not isinstance(a, bytes):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self._reply()


class Redis:
    def __init__(self, root):
        self.dir = os.path.join(root, "redis")
        os.makedirs(self.dir, exist_ok=True)
        self.sock = os.path.join(self.dir, "redis.sock")
        self.log = os.path.join(self.dir, "redis.log")
        self.proc = None

    @property
    def url(self):
        return "unix://" + self.sock

    def start(self):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", self.sock,
             "--unixsocketperm", "700", "--dir", self.dir,
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=logf, stderr=subprocess.STDOUT, cwd=self.dir)
        logf.close()
        deadline = time.monotonic() + 10
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited (%s):\n%s"
                                   % (self.proc.returncode, tail(self.log)))
            try:
                r = Resp(self.sock, timeout=1)
                try:
                    if r.cmd("PING") == "PONG":
                        return self
                finally:
                    r.close()
            except (OSError, ConnectionError, RespError) as e:
                last = e
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer PING in 10 s (%s)" % last)

    def cmd(self, *args):
        r = Resp(self.sock)
        try:
            return r.cmd(*args)
        finally:
            r.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --------------------------------------------------------------------------
# HTTP


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value)
        self.body = body

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<HTTP %s %r>" % (self.status, self.body[:200])


def http_request(port, method, path, body=None, headers=None, timeout=5):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        h = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode()
        # skip_host etc. not needed; path is sent exactly as given.
        conn.putrequest(method, path, skip_accept_encoding=True)
        h.setdefault("Connection", "close")
        if body is not None:
            h["Content-Length"] = str(len(body))
        elif method in ("POST", "PUT"):
            h["Content-Length"] = "0"
        for k, v in h.items():
            conn.putheader(k, v)
        conn.endheaders(body)
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, r.getheaders(), data)
    finally:
        conn.close()


def cookie_from(resp, name="chatd_session"):
    """The full Set-Cookie header for `name` and its value."""
    for v in resp.header_all("Set-Cookie"):
        first = v.split(";", 1)[0].strip()
        if first.startswith(name + "="):
            return v, first[len(name) + 1:]
    return None, None


# --------------------------------------------------------------------------
# chatd


class Chatd:
    def __init__(self, service, index, extra_env=None):
        self.service = service
        self.index = index
        self.port = free_port()
        self.log = os.path.join(service.root, "chatd%d.log" % index)
        self.extra_env = dict(extra_env or {})
        self.proc = None

    @property
    def origin(self):
        return "http://127.0.0.1:%d" % self.port

    def env(self):
        e = dict(os.environ)
        e.update(self.service.env())
        e.update({
            "CHATD_PORT": str(self.port),
            "CHATD_BIND": "127.0.0.1",
        })
        e.update(self.extra_env)
        return e

    def start(self, wait=True):
        b = chatd_bin()
        if not os.access(b, os.X_OK):
            raise RuntimeError("chatd binary not found or not executable at %s "
                               "(set CHATD_BIN or run `make`)" % b)
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen([b], env=self.env(), cwd=REPO,
                                     stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        logf.close()
        if wait:
            self.wait_ready()
        return self

    def _port_taken(self):
        """lws logs "ERROR on binding fd N to port P" when P is taken."""
        try:
            with open(self.log, errors="replace") as f:
                return ("to port %d " % self.port) in f.read()
        except OSError:
            return False

    def wait_ready(self, timeout=10):
        deadline = time.monotonic() + timeout
        last = None
        retries = 3
        while time.monotonic() < deadline:
            if retries and self._port_taken():
                # free_port() is only a guess: on a busy machine another
                # process may take the port first.  Try another.
                retries -= 1
                if self.proc.poll() is None:
                    self.proc.kill()
                    self.proc.wait()
                self.port = free_port()
                self.start(wait=False)
                continue
            if self.proc.poll() is not None:
                raise RuntimeError("chatd exited with status %s before it was ready:\n%s"
                                   % (self.proc.returncode, tail(self.log)))
            try:
                r = http_request(self.port, "GET", "/readyz", timeout=1)
                if r.status == 200:
                    return
                last = r
            except OSError as e:
                last = e
            time.sleep(0.05)
        raise RuntimeError("chatd not ready in %s s (last: %r):\n%s"
                           % (timeout, last, tail(self.log)))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    # ---- HTTP
    def http(self, method, path, body=None, headers=None):
        return http_request(self.port, method, path, body=body, headers=headers)

    def get(self, path, headers=None):
        return self.http("GET", path, headers=headers)

    def login_response(self, name, password):
        return self.http("POST", "/api/login", {"name": name, "password": password})

    def login(self, name, password=DEFAULT_PASSWORD):
        r = self.login_response(name, password)
        assert r.status == 200, "staff member %r cannot log in: %r" % (name, r)
        _, value = cookie_from(r)
        assert value, "login answered 200 but set no chatd_session cookie: %r" % (r.headers,)
        return value

    # ---- WebSockets
    async def connect(self, path, cookie=None, origin=None, subprotocols=(SUBPROTOCOL,),
                      headers=None):
        extra = list((headers or {}).items())
        if cookie is not None:
            extra.append(("Cookie", "chatd_session=" + cookie))
        ws = await websockets.connect(
            "ws://127.0.0.1:%d%s" % (self.port, path),
            subprotocols=list(subprotocols) if subprotocols else None,
            origin=origin if origin is not None else self.origin,
            extra_headers=extra,
            open_timeout=5, close_timeout=1, ping_interval=None,
            max_size=None)
        c = Client(ws, self)
        self.service.clients.append(c)
        return c

    async def parent(self):
        return await self.connect("/ws/parent")

    async def staff(self, cookie):
        return await self.connect("/ws/staff", cookie=cookie)

    async def parent_hello(self, **hello):
        c = await self.parent()
        await c.send(dict(type="hello", **hello))
        w = await c.recv_type("welcome")
        c.welcome = w
        c.resume = w.get("resume")
        return c

    async def parent_start(self, text="hello, I need some advice about my son", **start):
        """hello -> welcome -> start -> queued (or connected when an adviser
        was free at once).  Returns the Client; .resume, .position set."""
        c = await self.parent_hello()
        assert c.welcome.get("state") == "new", \
            "a new parent was not greeted as new: %r" % c.welcome
        frame = dict(type="start")
        if text is not None:
            frame["text"] = text
        frame.update(start)
        await c.send(frame)
        f = await c.recv_any(("queued", "connected", "error"), keep=True)
        assert f["type"] != "error", "start was refused: %r" % f
        if f["type"] == "queued":
            c.take(f)
            c.position = f.get("position")
        return c

    async def adviser(self, name, capacity=2, available=True, role="adviser",
                      password=DEFAULT_PASSWORD):
        """Create (once) and log in staff member `name`, connect /ws/staff,
        read welcome, and set availability.  Returns the Client with .name,
        .cookie."""
        self.service.ensure_user(name, role, password)
        cookie = self.login(name, password)
        c = await self.staff(cookie)
        w = await c.recv_type("welcome")
        assert w.get("name") == name, "staff welcome names the wrong person: %r" % w
        c.name = name
        c.cookie = cookie
        if available is not None:
            await c.send({"type": "availability", "available": available,
                          "capacity": capacity})
            a = await c.recv_type("availability")
            assert a.get("available") is available, \
                "adviser %s asked to be available=%s but got %r" % (name, available, a)
        return c


class Service:
    """One Redis and one or more chatd processes sharing it."""

    def __init__(self, nchatd=1, extra_env=None):
        self.root = tempfile.mkdtemp(prefix="chatd-it-")
        self.data_dir = os.path.join(self.root, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.redis = Redis(self.root)
        self.extra_env = dict(extra_env or {})
        self.chatds = [Chatd(self, i) for i in range(nchatd)]
        self.clients = []
        self.users = {}

    def env(self):
        e = {
            "CHATD_REDIS_URL": self.redis.url,
            "CHATD_DATA_DIR": self.data_dir,
            "CHATD_GRACE_S": str(GRACE_S),
            "CHATD_SWEEP_INTERVAL_MS": str(SWEEP_MS),
            "CHATD_LOG_LEVEL": "info",
        }
        e.update(self.extra_env)
        return e

    @property
    def chatd(self):
        return self.chatds[0]

    def start(self):
        """Redis, then every chatd; if any fails to come up, whatever did
        is stopped before the error goes on (no Redis left running)."""
        try:
            self.redis.start()
            for c in self.chatds:
                c.start(wait=False)
            for c in self.chatds:
                c.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def add_chatd(self, **kw):
        c = Chatd(self, len(self.chatds), **kw)
        self.chatds.append(c)
        return c.start()

    # ---- command line
    def cli(self, *args, input=None, timeout=30):
        e = dict(os.environ)
        e.update(self.env())
        return subprocess.run([chatd_bin()] + list(args), input=input, env=e, cwd=REPO,
                              capture_output=True, timeout=timeout)

    def add_user(self, name, role="adviser", password=DEFAULT_PASSWORD):
        return self.cli("user", "add", name, "--role", role,
                        input=(password + "\n").encode())

    def ensure_user(self, name, role="adviser", password=DEFAULT_PASSWORD):
        if self.users.get(name) == (role, password):
            return
        r = self.add_user(name, role, password)
        assert r.returncode == 0, "`chatd user add %s --role %s` failed (%s): %s%s" % (
            name, role, r.returncode, r.stdout.decode(errors="replace"),
            r.stderr.decode(errors="replace"))
        self.users[name] = (role, password)

    # ---- teardown
    async def close_clients(self):
        clients, self.clients = self.clients, []
        for c in clients:
            await c.close()

    def stop(self):
        for c in self.chatds:
            try:
                c.stop()
            except Exception:
                pass
        self.redis.stop()

    def logs(self):
        out = []
        for c in self.chatds:
            out.append("---- chatd%d log (%s) ----\n%s" % (c.index, c.log, tail(c.log)))
        out.append("---- redis log ----\n%s" % tail(self.redis.log, 30))
        return "\n".join(out)

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)

    async def close(self, failed=False):
        """Every teardown: clients closed, processes stopped; the logs
        printed (and the temp dir kept) when the test failed, else the temp
        dir removed."""
        await self.close_clients()
        self.stop()
        if failed:
            print(self.logs())
        else:
            self.cleanup()


# --------------------------------------------------------------------------
# WebSocket client


class Closed(Exception):
    def __init__(self, code, reason):
        super().__init__("connection closed (code %s %r)" % (code, reason))
        self.code = code
        self.reason = reason


SEQ_TYPES = ("msg", "signpost", "ack")


class Client:
    def __init__(self, ws, chatd):
        self.ws = ws
        self.chatd = chatd
        self.buf = []
        self.seen = []  # every frame received, in order
        self.last_seq = 0
        self.resume = None
        self.welcome = None
        self.position = None
        self.name = None
        self.cookie = None

    # ---- sending
    async def send(self, obj):
        await self.ws.send(json.dumps(obj, ensure_ascii=False))

    async def send_raw(self, data):
        """A str goes as a TEXT frame, bytes as a BINARY frame."""
        await self.ws.send(data)

    async def send_text_bytes(self, data):
        """A TEXT frame carrying arbitrary bytes (e.g. invalid UTF-8)."""
        await self.ws.write_frame(True, websockets.frames.Opcode.TEXT, data)

    # ---- receiving
    async def _read(self, timeout):
        try:
            raw = await asyncio.wait_for(self.ws.recv(), timeout)
        except websockets.exceptions.ConnectionClosed as e:
            raise Closed(self.close_code(), self.ws.close_reason) from e
        if isinstance(raw, bytes):
            raise AssertionError("server sent a binary frame: %r" % raw[:100])
        try:
            f = json.loads(raw)
        except ValueError:
            raise AssertionError("server sent a frame that is not JSON: %r" % raw[:200])
        assert isinstance(f, dict) and isinstance(f.get("type"), str), \
            "server sent a frame that is not an object with a string type: %r" % raw[:200]
        self.seen.append(f)
        if f["type"] in SEQ_TYPES and isinstance(f.get("seq"), int):
            self.last_seq = max(self.last_seq, f["seq"])
        return f

    def close_code(self):
        return self.ws.close_code

    async def recv(self, timeout=5):
        """The next frame (buffered ones first)."""
        if self.buf:
            return self.buf.pop(0)
        try:
            return await self._read(timeout)
        except asyncio.TimeoutError:
            raise AssertionError("no frame from the server within %s s" % timeout) from None

    def take(self, frame):
        if frame in self.buf:
            self.buf.remove(frame)

    async def recv_any(self, types, timeout=5, keep=False, where=None):
        """The next frame whose type is in `types` (and matching `where`),
        keeping the others buffered in order.  keep=True leaves the found
        frame in the buffer too."""
        if isinstance(types, str):
            types = (types,)

        def ok(f):
            return f["type"] in types and (where is None or where(f))

        for f in self.buf:
            if ok(f):
                if not keep:
                    self.buf.remove(f)
                return f
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    "expected a %s frame within %s s; got only: %s"
                    % ("/".join(types), timeout, json.dumps(self.buf)[:1500]))
            try:
                f = await self._read(left)
            except asyncio.TimeoutError:
                continue
            except Closed as e:
                raise AssertionError(
                    "expected a %s frame but the server closed the connection "
                    "(code %s); frames before: %s"
                    % ("/".join(types), e.code, json.dumps(self.buf)[:1500])) from None
            if ok(f):
                if keep:
                    self.buf.append(f)
                return f
            self.buf.append(f)

    async def recv_type(self, type, timeout=5, where=None):
        return await self.recv_any((type,), timeout=timeout, where=where)

    async def error(self, timeout=5):
        return await self.recv_type("error", timeout=timeout)

    async def collect(self, duration, types=None):
        """Every frame (of `types`, if given) arriving within `duration`
        seconds, including matching buffered ones; others stay buffered."""
        out = []
        if types is not None and isinstance(types, str):
            types = (types,)
        for f in list(self.buf):
            if types is None or f["type"] in types:
                self.buf.remove(f)
                out.append(f)
        deadline = time.monotonic() + duration
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            try:
                f = await self._read(left)
            except asyncio.TimeoutError:
                return out
            except Closed:
                return out
            if types is None or f["type"] in types:
                out.append(f)
            else:
                self.buf.append(f)

    async def expect_nothing(self, types, timeout=1.0, what=None):
        """Assert no frame of `types` arrives within `timeout` s."""
        if isinstance(types, str):
            types = (types,)
        got = await self.collect(timeout, types)
        assert not got, (what or "unexpected frames") + ": %s" % json.dumps(got)[:1500]

    async def wait_closed(self, timeout=5):
        """Wait for the server to close; return the close code (frames in
        between are buffered)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                f = await self._read(left)
                self.buf.append(f)
            except asyncio.TimeoutError:
                return None
            except Closed as e:
                return e.code

    async def is_open(self):
        return self.ws.open

    # ---- closing
    def drop(self):
        """Drop the TCP connection without a closing handshake (a phone
        losing signal)."""
        try:
            self.ws.transport.abort()
        except Exception:
            pass

    async def close(self):
        try:
            await asyncio.wait_for(self.ws.close(), 2)
        except Exception:
            self.drop()


def is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def now_ms():
    return time.time() * 1000.0


async def wait_status(chatd, path, want, timeout):
    """True once GET path answers `want`, else the last status seen."""
    import asyncio
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = chatd.get(path).status
        except OSError as e:
            last = e
        if last == want:
            return True
        await asyncio.sleep(0.05)
    return last

'use strict';
/* harness.js - shared helpers for the browser tests (tests/browser/*.test.js)
 * and `make screenshots`.
 *
 * The same contract as tests/integration/README.md, from Node:
 *   - a private redis-server per test file: unix socket in a temp dir,
 *     `--port 0 --save '' --appendonly yes --appendfsync always`;
 *   - chatd ($CHATD_BIN, default bin/chatd, cwd the repo root) with
 *     CHATD_PORT=<free> CHATD_BIND=127.0.0.1 CHATD_REDIS_URL=unix://...
 *     CHATD_DATA_DIR=<tmp>/data CHATD_GRACE_S=5 CHATD_SWEEP_INTERVAL_MS=200
 *     (and CHATD_STATIC_DIR=<repo>/widget: this checkout's widget and console);
 *     ready when GET /readyz is 200; stopped with SIGTERM (SIGKILL after 5 s);
 *   - an adviser made with `printf 'pw\n' | chatd user add NAME --role adviser`.
 * The browser is Debian's Chromium ($CHROMIUM, default /usr/bin/chromium)
 * driven by playwright-core; nothing is downloaded, and every request to a
 * host other than 127.0.0.1 is answered locally or aborted.
 */
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const REPO = path.resolve(__dirname, '..', '..');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ADVISER_PASSWORD = 'correct horse battery staple';
// The demo page's data-exit-url.  Answered by the test (never fetched).
const EXIT_URL = 'https://www.bbc.co.uk/weather';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };

function chatdBin() {
  const b = process.env.CHATD_BIN || 'bin/chatd';
  return path.isAbsolute(b) ? b : path.join(REPO, b);
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function tail(file, n = 60) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-n).join('\n');
  } catch (e) {
    return `(no log: ${e.message})`;
  }
}

function httpGet(url) {
  return new Promise((resolve) => {
    const req = http.get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.setTimeout(2000, () => req.destroy());
  });
}

/* PING over the unix socket; true on +PONG. */
function redisPing(sock) {
  return new Promise((resolve) => {
    const c = net.createConnection(sock);
    let buf = '';
    const done = (ok) => { c.destroy(); resolve(ok); };
    c.setTimeout(1000, () => done(false));
    c.on('error', () => done(false));
    c.on('connect', () => c.write('PING\r\n'));
    c.on('data', (d) => { buf += d; if (buf.includes('\r\n')) done(buf.startsWith('+PONG')); });
  });
}

function exited(proc) {
  return proc.exitCode !== null || proc.signalCode !== null;
}

function stopProc(proc, ms = 5000) {
  if (!proc || exited(proc)) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => { try { proc.kill('SIGKILL'); } catch (e) { /* gone */ } }, ms);
    proc.once('exit', () => { clearTimeout(t); resolve(); });
    try { proc.kill('SIGTERM'); } catch (e) { clearTimeout(t); resolve(); }
  });
}

/* A TCP relay in front of chatd for one browser context.  drop() resets
 * every connection through it at once (as a server or network would kill
 * them), and while `down` new connections are refused; up() lets them in. */
class Relay {
  constructor(targetPort) {
    this.targetPort = targetPort;
    this.down = false;
    this.pairs = new Set();
    this.server = net.createServer((client) => this._accept(client));
  }

  async start() {
    this.port = await new Promise((resolve) => {
      this.server.listen(0, '127.0.0.1', () => resolve(this.server.address().port));
    });
    this.url = `http://127.0.0.1:${this.port}`;
    return this;
  }

  _accept(client) {
    if (this.down) { client.resetAndDestroy ? client.resetAndDestroy() : client.destroy(); return; }
    const upstream = net.createConnection(this.targetPort, '127.0.0.1');
    const pair = { client, upstream };
    this.pairs.add(pair);
    const end = () => { this.pairs.delete(pair); client.destroy(); upstream.destroy(); };
    client.on('error', end); upstream.on('error', end);
    client.on('close', end); upstream.on('close', end);
    client.pipe(upstream); upstream.pipe(client);
  }

  /* Reset every live connection; refuse new ones until up(). */
  drop() {
    this.down = true;
    for (const { client, upstream } of this.pairs) {
      if (client.resetAndDestroy) client.resetAndDestroy(); else client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  up() { this.down = false; }

  close() {
    this.drop();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/* One private redis-server + chatd, with an adviser account. */
class Service {
  constructor(extraEnv = {}) {
    this.extraEnv = extraEnv;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatd-browser-'));
    this.redisDir = path.join(this.dir, 'redis');
    this.sock = path.join(this.redisDir, 'redis.sock');
    this.dataDir = path.join(this.dir, 'data');
    this.chatdLog = path.join(this.dir, 'chatd.log');
    this.redisLog = path.join(this.redisDir, 'redis.log');
    this.relays = [];
    fs.mkdirSync(this.redisDir, { recursive: true });
    fs.mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
  }

  env() {
    return {
      ...process.env,
      CHATD_PORT: String(this.port),
      CHATD_BIND: '127.0.0.1',
      CHATD_REDIS_URL: 'unix://' + this.sock,
      CHATD_DATA_DIR: this.dataDir,
      CHATD_GRACE_S: '5',
      CHATD_SWEEP_INTERVAL_MS: '200',
      CHATD_LOG_LEVEL: 'info',
      // The widget and console under test: this checkout's, whichever binary.
      CHATD_STATIC_DIR: path.join(REPO, 'widget'),
      ...this.extraEnv,
    };
  }

  async start() {
    const rlog = fs.openSync(this.redisLog, 'a');
    this.redis = spawn('redis-server', ['--port', '0', '--unixsocket', this.sock, '--unixsocketperm', '700',
      '--dir', this.redisDir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''],
    { cwd: this.redisDir, stdio: ['ignore', rlog, rlog] });
    fs.closeSync(rlog);
    let deadline = Date.now() + 10000;
    for (;;) {
      if (exited(this.redis)) throw new Error('redis-server exited:\n' + tail(this.redisLog));
      if (await redisPing(this.sock)) break;
      if (Date.now() > deadline) throw new Error('redis-server did not answer PING in 10 s');
      await sleep(50);
    }

    this.port = await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    const clog = fs.openSync(this.chatdLog, 'a');
    this.chatd = spawn(chatdBin(), [], { cwd: REPO, env: this.env(), stdio: ['ignore', clog, clog] });
    fs.closeSync(clog);
    deadline = Date.now() + 10000;
    for (;;) {
      if (exited(this.chatd)) throw new Error('chatd exited:\n' + tail(this.chatdLog));
      if ((await httpGet(this.url + '/readyz')).status === 200) break;
      if (Date.now() > deadline) throw new Error('chatd not ready in 10 s:\n' + tail(this.chatdLog));
      await sleep(50);
    }
    return this;
  }

  addUser(name, role = 'adviser', password = ADVISER_PASSWORD) {
    const r = spawnSync(chatdBin(), ['user', 'add', name, '--role', role],
      { cwd: REPO, env: this.env(), input: password + '\n', encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`chatd user add ${name} failed (${r.status}): ${r.stderr}${r.stdout}`);
    return { name, password };
  }

  /* A relay in front of this chatd: see Relay. */
  async relay() {
    const r = await new Relay(this.port).start();
    this.relays.push(r);
    return r;
  }

  logTail(n) { return 'chatd log:\n' + tail(this.chatdLog, n); }

  async stop(keep) {
    await Promise.all(this.relays.map((r) => r.close()));
    await stopProc(this.chatd);
    await stopProc(this.redis);
    if (!keep) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/* extraEnv: more CHATD_* settings, e.g. {CHATD_HOURS: 'mon 09:00-10:00'}. */
async function startService(advisers = ['adviser1'], extraEnv = {}) {
  const svc = new Service(extraEnv);
  try {
    await svc.start();
    svc.advisers = advisers.map((n) => svc.addUser(n));
  } catch (e) {
    await svc.stop(true);
    throw e;
  }
  return svc;
}

function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

function isLocal(url) {
  return /^(https?|wss?):\/\/127\.0\.0\.1(:\d+)?\//.test(url.href || String(url)) ||
    /^(about|data|blob):/.test(url.href || String(url));
}

/* A browser context that never leaves the machine: the exit URL gets a
 * plain local page, anything else not on 127.0.0.1 is aborted.  Dialogs
 * (alert/confirm) are recorded in ctx.dialogs; confirm is accepted. */
async function newContext(browser, opts = {}) {
  const ctx = await browser.newContext({ viewport: opts.viewport || PHONE, deviceScaleFactor: opts.scale || 1, ...opts.extra });
  ctx.dialogs = [];
  await ctx.route((u) => !isLocal(u), (route) => {
    if (route.request().url().startsWith(EXIT_URL)) {
      return route.fulfill({ status: 200, contentType: 'text/html',
        body: '<!doctype html><html lang="en"><title>Weather</title><h1>Weather forecast</h1></html>' });
    }
    return route.abort();
  });
  ctx.on('page', (p) => watchDialogs(ctx, p));
  return ctx;
}

function watchDialogs(ctx, page) {
  page.on('dialog', (d) => {
    ctx.dialogs.push({ type: d.type(), message: d.message() });
    if (d.type() === 'confirm') d.accept().catch(() => {}); else d.dismiss().catch(() => {});
  });
}

/* ------------------------------------------------------------ parent */

const W = '[data-chatd-widget]';
const parentSel = {
  launcher: `${W} button.launcher`,
  panel: `${W} section.panel`,
  heading: `${W} section.panel h2`,
  start: `${W} form.intro button[type=submit]`,
  opening: `${W} form.intro textarea`,
  input: `${W} form.composer textarea`,
  send: `${W} form.composer button[type=submit]`,
  log: `${W} ol.log`,
  texts: `${W} ol.log li.msg .text`,
  banner: `${W} p.banner`,
  endBtn: `${W} .end-row > button`,
  endYes: `${W} .end-confirm button.btn-primary`,
  exitBtn: `${W} button.exit`,
  ended: `${W} .ended`,
};

/* Wait until ChatdWidget.state is `state` (or one of an array). */
async function widgetState(page, state, timeout = 15000) {
  const want = [].concat(state);
  await page.waitForFunction((w) => window.ChatdWidget && w.includes(window.ChatdWidget.state), want, { timeout });
}

/* The demo page with the widget open (in its intro state, status loaded). */
async function openParent(ctx, base, existing) {
  const page = existing || await ctx.newPage();
  await page.goto(base + '/');
  await page.locator(parentSel.launcher).click();
  await page.locator(parentSel.panel).waitFor({ state: 'visible' });
  // The status line has loaded ("We're open now.")
  await page.locator(`${W} p.sub`).filter({ hasText: /open/ }).waitFor();
  return page;
}

async function startChat(page, opening) {
  if (opening) await page.locator(parentSel.opening).fill(opening);
  await page.locator(parentSel.start).click();
  await widgetState(page, ['waiting', 'chatting']); // chatting at once if an adviser is free
}

async function parentSend(page, text) {
  await page.locator(parentSel.input).fill(text);
  await page.locator(parentSel.input).press('Enter');
}

/* Texts of the parent's transcript, in order. */
function parentTexts(page) {
  return page.locator(parentSel.texts).allTextContents();
}

/* Wait until the parent's messages are all sent (none "Sending…"). */
async function parentSettled(page) {
  await page.waitForFunction((w) => {
    const h = document.querySelector(w);
    return h && h.shadowRoot && !h.shadowRoot.querySelector('li.msg-pending');
  }, W);
}

/* ----------------------------------------------------------- console */

const conv = '#panels .conv:not([hidden])';
const consoleSel = {
  conv,
  texts: `${conv} ol.log li.msg .text`,
  reply: `${conv} form.composer textarea`,
  end: `${conv} form.composer button.btn-danger-quiet`,
  wrapup: `${conv} form.wrapup`,
  endedNote: `${conv} .ended-note`,
};

async function openConsole(ctx, base) {
  const page = await ctx.newPage();
  await page.goto(base + '/console/');
  await page.locator('#login-form').waitFor({ state: 'visible' });
  return page;
}

async function login(page, user) {
  await page.fill('#login-name', user.name);
  await page.fill('#login-password', user.password);
  await page.click('#login-form button[type=submit]');
  await page.locator('#app').waitFor({ state: 'visible' });
  await page.locator('#link').filter({ hasText: 'Connected' }).waitFor();
}

async function goAvailable(page) {
  await page.check('#available');
  await page.locator('#avail-state').filter({ hasText: /^Available/ }).waitFor();
}

/* Log in, go available; returns the console page. */
async function adviserReady(ctx, base, user) {
  const page = await openConsole(ctx, base);
  await login(page, user);
  await goAvailable(page);
  return page;
}

function consoleTexts(page) {
  return page.locator(consoleSel.texts).allTextContents();
}

async function adviserSend(page, text) {
  await page.locator(consoleSel.reply).fill(text);
  await page.locator(consoleSel.reply).press('Enter');
}

async function consoleSettled(page) {
  await page.waitForFunction((c) => !document.querySelector(c + ' li.msg-pending'), conv);
}

/* Poll fn() until it returns a value deepEqual to want (assert-friendly). */
async function eventually(fn, check, timeout = 10000) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (check(last)) return last;
    if (Date.now() > deadline) return last;
    await sleep(100);
  }
}

/* Everything a test file needs: a service and a browser.  Use with
 *   before(async () => { env = await setup(); });  after(() => env.teardown());
 *   test('...', env.wrap(async () => { ... }));
 * A failing test prints the tail of chatd's log and keeps the temp dir. */
async function setup(advisers, extraEnv = {}) {
  const svc = await startService(advisers, extraEnv);
  const browser = await launchBrowser();
  const env = {
    svc, browser, failed: false,
    wrap(fn) {
      return async (t) => {
        try { await fn(t); } catch (e) { env.failed = true; throw e; }
      };
    },
    async teardown() {
      await browser.close().catch(() => {});
      if (env.failed) console.error(svc.logTail(80) + `\n(temp dir kept: ${svc.dir})`);
      await svc.stop(env.failed);
    },
  };
  return env;
}

module.exports = {
  REPO, CHROMIUM, EXIT_URL, PHONE, DESKTOP, ADVISER_PASSWORD,
  sleep, freePort, Service, Relay, startService, launchBrowser, newContext, watchDialogs,
  parentSel, consoleSel, widgetState, openParent, startChat, parentSend, parentTexts, parentSettled,
  openConsole, login, goAvailable, adviserReady, consoleTexts, adviserSend, consoleSettled, eventually, setup,
};

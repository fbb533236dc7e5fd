'use strict';
/* A console left open all shift keeps a fresh staff cookie: chatd replaces
 * a session cookie only on an HTTP request, so the console asks /api/me
 * twice per rotation interval.  The old cookie stops working after the
 * overlap while the console stays connected and keeps taking chats. */
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const h = require('./harness');

const ROTATE_S = 2;
const OVERLAP_S = 6; // chatd's minimum

let env;
before(async () => {
  env = await h.setup(['adviser1'], {
    CHATD_SESSION_ROTATE_S: String(ROTATE_S),
    CHATD_SESSION_ROTATE_OVERLAP_S: String(OVERLAP_S),
  });
});
after(() => env && env.teardown());

function me(base, cookie) {
  return new Promise((resolve, reject) => {
    const req = http.get(base + '/api/me', { headers: { Cookie: 'chatd_session=' + cookie } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
  });
}

async function sessionCookie(ctx) {
  const c = (await ctx.cookies()).find((x) => x.name === 'chatd_session');
  return c ? c.value : '';
}

test('an open console rotates its cookie and stays connected', { timeout: 60000 }, async () => env.wrap(async () => {
  const { svc, browser } = env;
  const actx = await h.newContext(browser, { viewport: h.DESKTOP });
  const adviser = await h.adviserReady(actx, svc.url, svc.advisers[0]);
  const first = await sessionCookie(actx);
  assert.ok(first, 'no session cookie after sign-in');

  // Nobody touches the console; it rotates the cookie by itself.
  const next = await h.eventually(() => sessionCookie(actx), (v) => v && v !== first, (ROTATE_S * 3 + 5) * 1000);
  assert.notEqual(next, first, 'the console never had its session cookie rotated');

  // After the overlap the first cookie is refused ...
  const refused = await h.eventually(() => me(svc.url, first), (s) => s === 401, (OVERLAP_S + 5) * 1000);
  assert.equal(refused, 401, 'the rotated-out cookie still works after the overlap');
  // ... while the console is still signed in, connected and takes a chat.
  assert.equal(await me(svc.url, await sessionCookie(actx)), 200, 'the console\u2019s current cookie is refused');
  assert.equal(await adviser.locator('#login').isVisible(), false, 'the console was signed out');
  await adviser.locator('#link').filter({ hasText: 'Connected' }).waitFor();
  const pctx = await h.newContext(browser, { viewport: h.PHONE });
  const parent = await h.openParent(pctx, svc.url);
  await h.startChat(parent, 'Is anyone there tonight');
  await h.widgetState(parent, 'chatting');
  await adviser.locator(h.consoleSel.texts).filter({ hasText: 'Is anyone there tonight' }).waitFor();
})());

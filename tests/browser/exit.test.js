'use strict';
/* Quick exit, by the button and by Shift pressed three times: the page
 * becomes the neutral site (the demo's data-exit-url, answered locally by
 * the harness), the widget's storage is gone, Back does not return to the
 * chat, and the adviser is told the parent left in a hurry. */
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

let env, actx, adviser;
before(async () => {
  env = await h.setup(['adviser1']);
  actx = await h.newContext(env.browser, { viewport: h.DESKTOP });
  adviser = await h.adviserReady(actx, env.svc.url, env.svc.advisers[0]);
});
after(() => env && env.teardown());

/* A parent who came to the demo page from another page of the site, and
 * is now chatting with the adviser. */
async function chattingParent() {
  const pctx = await h.newContext(env.browser, { viewport: h.PHONE });
  const page = await pctx.newPage();
  await page.goto(env.svc.url + '/healthz'); // the page before: where Back goes
  const parent = await h.openParent(pctx, env.svc.url, page);
  await h.startChat(parent, 'Please help');
  await h.widgetState(parent, 'chatting');
  await h.parentSend(parent, 'He is coming back soon');
  await h.parentSettled(parent);
  await adviser.locator(h.consoleSel.texts).filter({ hasText: 'He is coming back soon' }).waitFor();
  const keys = await parent.evaluate(() => Object.keys(sessionStorage));
  assert.ok(keys.includes('chatd.session'), 'the chat is in sessionStorage before the exit');
  return { pctx, parent };
}

async function checkGone(parent, pctx) {
  await parent.waitForURL(h.EXIT_URL, { timeout: 5000 });
  assert.equal(await parent.title(), 'Weather');
  assert.equal(await parent.locator('[data-chatd-widget]').count(), 0);

  // Back: not the chat page, but the page before it; nothing stored.
  await parent.goBack();
  const url = new URL(parent.url());
  assert.equal(url.pathname, '/healthz', `Back went to ${parent.url()}`);
  assert.notEqual(url.pathname, '/');
  assert.equal(await parent.locator('[data-chatd-widget]').count(), 0, 'no chat after Back');
  const stored = await parent.evaluate(() => Object.keys(sessionStorage).concat(Object.keys(localStorage)));
  assert.deepEqual(stored.filter((k) => k.startsWith('chatd')), [], 'storage cleared');
  // Forward is the neutral site again, never the chat.
  await parent.goForward();
  assert.ok(parent.url().startsWith(h.EXIT_URL));
  assert.deepEqual(pctx.dialogs, []);
}

async function adviserToldAndWrapUp() {
  const note = adviser.locator(h.consoleSel.endedNote);
  await note.filter({ hasText: 'The parent left in a hurry' }).waitFor({ timeout: 10000 });
  assert.equal(await adviser.locator(`${h.consoleSel.wrapup} select`).inputValue(), 'disconnected');
  await adviser.locator(`${h.consoleSel.wrapup} button[type=submit]`).click();
  await adviser.locator('#no-chats').waitFor({ state: 'visible' });
}

test('quick exit by the button', { timeout: 45000 }, env_wrap(async () => {
  const { pctx, parent } = await chattingParent();
  const btn = parent.locator(h.parentSel.exitBtn);
  assert.equal(await btn.textContent(), 'Exit quickly');
  await btn.click();
  await checkGone(parent, pctx);
  await adviserToldAndWrapUp();
  await pctx.close();
}));

test('quick exit by pressing Shift three times', { timeout: 45000 }, env_wrap(async () => {
  const { pctx, parent } = await chattingParent();
  await parent.keyboard.press('Shift');
  const live = parent.locator('[data-chatd-widget] div.sr[aria-atomic=true]');
  assert.equal(await live.textContent(), 'Shift, press 2 more times to exit');
  // Any other key resets the count.
  await parent.keyboard.press('a');
  await parent.keyboard.press('Shift');
  await parent.keyboard.press('Shift');
  assert.equal(await live.textContent(), 'Shift, press 1 more time to exit');
  assert.equal(new URL(parent.url()).pathname, '/', 'two presses after a reset: still here');
  await parent.keyboard.press('Shift');
  await checkGone(parent, pctx);
  await adviserToldAndWrapUp();
  await pctx.close();
}));

function env_wrap(fn) {
  return async (t) => env.wrap(fn)(t);
}

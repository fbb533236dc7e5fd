'use strict';
/* Chat tabs by keyboard (ARIA tabs pattern): ArrowRight/ArrowLeft move to
 * the next/previous tab and wrap, Home and End go to the first and last,
 * and the chosen tab is selected and focused, in the adviser's chats and
 * in the lead view's cases and observed chats alike. */
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

let env;
before(async () => { env = await h.setup(['adviser1']); });
after(() => env && env.teardown());

/* The selected tab's text, and whether it has the focus. */
function selectedTab(page, list) {
  return page.evaluate((sel) => {
    const t = document.querySelector(sel + ' [role=tab][aria-selected=true]');
    return t ? { text: t.textContent, focused: document.activeElement === t } : null;
  }, list);
}

async function tabTexts(page, list) {
  return page.locator(list + ' [role=tab]').allTextContents();
}

/* Press key on the focused tab; the selection must land on tab `want`. */
async function press(page, list, key, want) {
  await page.keyboard.press(key);
  const names = await tabTexts(page, list);
  const got = await h.eventually(() => selectedTab(page, list), (s) => s && s.text === names[want]);
  assert.deepEqual(got, { text: names[want], focused: true }, `${key} in ${list}`);
}

test('arrow keys, Home and End move between chat tabs and lead tabs', { timeout: 60000 }, async () => env.wrap(async () => {
  const { svc, browser } = env;
  const lead = await h.openConsole(await h.newContext(browser, { viewport: h.DESKTOP }), svc.url);
  await h.login(lead, svc.addUser('lena', 'lead'));
  const adviser = await h.adviserReady(await h.newContext(browser, { viewport: h.DESKTOP }), svc.url, svc.advisers[0]);

  // Two chats for the adviser (capacity 2); the second one flagged, so
  // the lead has an alert to observe.
  const pctx = await h.newContext(browser, { viewport: h.PHONE });
  for (const text of ['Hello, it is about my son', 'ive got all my tablets lined up for tonight']) {
    const parent = await h.openParent(pctx, svc.url);
    await h.startChat(parent, text);
    await h.widgetState(parent, 'chatting');
  }
  await h.eventually(() => tabTexts(adviser, '#tabs'), (t) => t.length === 2);
  assert.equal((await tabTexts(adviser, '#tabs')).length, 2, 'the adviser should have two chat tabs');

  await adviser.locator('#tabs [role=tab]').first().click();
  await press(adviser, '#tabs', 'ArrowRight', 1);
  await press(adviser, '#tabs', 'ArrowRight', 0); // wraps
  await press(adviser, '#tabs', 'ArrowLeft', 1); // wraps back
  await press(adviser, '#tabs', 'Home', 0);
  await press(adviser, '#tabs', 'End', 1);

  // The lead: Cases, then the observed chat.
  const alert = lead.locator('#alerts li.alert').first();
  await alert.waitFor();
  await alert.getByRole('button', { name: /Observe/ }).click();
  await h.eventually(() => tabTexts(lead, '#lead-tabs'), (t) => t.length === 2);
  await lead.locator('#lead-tabs [role=tab]').first().click();
  await press(lead, '#lead-tabs', 'ArrowRight', 1);
  await press(lead, '#lead-tabs', 'ArrowRight', 0);
  await press(lead, '#lead-tabs', 'End', 1);
  await press(lead, '#lead-tabs', 'Home', 0);
  await press(lead, '#lead-tabs', 'ArrowLeft', 1);
})());

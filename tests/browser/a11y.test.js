'use strict';
/* axe-core (@axe-core/playwright) on the widget and the console: no
 * serious or critical violation.  Every violation found (any impact) is
 * printed as a "# axe" diagnostic line, so the run's log lists them. */
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { AxeBuilder } = require('@axe-core/playwright');
const h = require('./harness');

const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'];

let env, pctx, actx, lctx, parent, adviser, lead;
before(async () => {
  env = await h.setup(['adviser1']);
  pctx = await h.newContext(env.browser, { viewport: h.PHONE });
  actx = await h.newContext(env.browser, { viewport: h.DESKTOP });
  // A lead, signed in from the start so that the flagged chat alerts them.
  lctx = await h.newContext(env.browser, { viewport: h.DESKTOP });
  lead = await h.openConsole(lctx, env.svc.url);
  await h.login(lead, env.svc.addUser('lena', 'lead'));
});
after(() => env && env.teardown());

/* Run axe; report every violation; fail on serious/critical ones. */
async function axe(t, page, what, include) {
  let b = new AxeBuilder({ page }).withTags(TAGS);
  if (include) b = b.include(include);
  const r = await b.analyze();
  const byImpact = {};
  for (const v of r.violations) {
    byImpact[v.impact] = (byImpact[v.impact] || 0) + 1;
    t.diagnostic(`axe ${what}: ${v.impact} ${v.id} (${v.nodes.length}): ${v.help} -- ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(' | ')}`);
  }
  t.diagnostic(`axe ${what}: ${r.passes.length} rules passed, violations by impact ${JSON.stringify(byImpact)}` +
    (r.incomplete.length ? `, needs review: ${r.incomplete.map((v) => `${v.id} (${v.nodes.length})`).join(', ')}` : ''));
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), [],
    `${what}: serious or critical axe violations`);
}

const WIDGET = '[data-chatd-widget]';

test('axe: demo page with the widget closed, open (start state) and chatting', { timeout: 60000 }, async (t) => env.wrap(async () => {
  parent = await pctx.newPage();
  await parent.goto(env.svc.url + '/');
  await parent.locator(h.parentSel.launcher).waitFor({ state: 'visible' });
  await axe(t, parent, 'demo page, widget closed');

  await parent.locator(h.parentSel.launcher).click();
  await parent.locator(`${WIDGET} p.sub`).filter({ hasText: /open/ }).waitFor();
  await axe(t, parent, 'widget open, start state', WIDGET);

  await h.startChat(parent, 'Hello there');
  await h.widgetState(parent, 'waiting');
  await parent.locator(`${WIDGET} p.sub`).filter({ hasText: /queue/ }).waitFor();
  await axe(t, parent, 'widget waiting', WIDGET);

  adviser = await h.adviserReady(actx, env.svc.url, env.svc.advisers[0]);
  await h.widgetState(parent, 'chatting');
  await h.adviserSend(adviser, 'Hi, I am here. What is on your mind?');
  await parent.locator(h.parentSel.texts).filter({ hasText: 'What is on your mind' }).waitFor();
  await h.parentSend(parent, 'ive got all my tablets lined up for tonight');
  await h.parentSettled(parent);
  await axe(t, parent, 'widget chatting', WIDGET);

  // The end confirmation.
  await parent.locator(h.parentSel.endBtn).click();
  await parent.locator(h.parentSel.endYes).waitFor({ state: 'visible' });
  await axe(t, parent, 'widget end confirmation', WIDGET);
})(t));

test('axe: console login page and the logged-in view with a flagged chat', { timeout: 60000 }, async (t) => env.wrap(async () => {
  // The adviser's context has a session cookie: the login page in a fresh one.
  const fresh = await h.newContext(env.browser, { viewport: h.DESKTOP });
  const page = await h.openConsole(fresh, env.svc.url);
  await axe(t, page, 'console login');
  // A failed sign-in shows an error.
  await page.fill('#login-name', 'adviser1');
  await page.fill('#login-password', 'wrong password');
  await page.click('#login-form button[type=submit]');
  await page.locator('#login-error').filter({ hasText: 'Wrong name or password' }).waitFor();
  await axe(t, page, 'console login error');
  await fresh.close();

  // The adviser's console from the first test: a chat with an emergency flag.
  await adviser.locator(`${h.consoleSel.conv} section.emergency`).waitFor({ state: 'visible' });
  await axe(t, adviser, 'console chatting (emergency)');

  // Ended: the wrap-up form.
  await parent.locator(h.parentSel.endYes).click();
  await adviser.locator(h.consoleSel.wrapup).waitFor({ state: 'visible' });
  await axe(t, adviser, 'console wrap-up');
  await h.widgetState(parent, 'ended');
  await axe(t, parent, 'widget ended', WIDGET);
})(t));

test('axe: console adviser tools (escalate dialog) and the lead view (alerts, cases, observing, decide dialog)', { timeout: 60000 }, async (t) => env.wrap(async () => {
  // The adviser's escalate dialog, over the ended chat from the tests above.
  await adviser.locator(`${h.consoleSel.conv} .conv-side`).getByRole('button', { name: 'Escalate…' }).click();
  await adviser.locator('dialog[open]').waitFor();
  await axe(t, adviser, 'console escalate dialog');
  await adviser.keyboard.press('Escape');
  await adviser.locator('dialog[open]').waitFor({ state: 'detached' });

  // The lead: the alert from the flagged chat, the cases list with one read.
  await lead.locator('#alerts li.alert').first().waitFor();
  const kase = lead.locator('#lead-panel-cases li.case').first();
  await kase.waitFor();
  await kase.locator('button[data-act=read]').click();
  await kase.locator('dl.case-detail').waitFor();
  await axe(t, lead, 'lead view: alerts and cases');

  // Observing: the chat has ended, the tab still shows its history.
  await kase.locator('button[data-act=observe]').click();
  const obs = lead.locator('#lead-panels .lead-panel.observe:not([hidden])');
  const ok = await obs.locator('ol.log li.msg').first().waitFor({ timeout: 5000 }).then(() => true, () => false);
  t.diagnostic(`observing an ended chat: ${ok ? 'history shown' : 'refused'}`);
  if (ok) await axe(t, lead, 'lead view: observing');

  await kase.locator('button[data-act=decide]').click().catch(async () => {
    await lead.locator('#lead-tab-cases').click();
    await lead.locator('#lead-panel-cases li.case button[data-act=decide]').first().click();
  });
  await lead.locator('dialog[open]').waitFor();
  await axe(t, lead, 'lead view: decide dialog');
  await lead.keyboard.press('Escape');
})(t));

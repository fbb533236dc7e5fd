'use strict';
/* The lead view: a flagged chat alerts the lead, who observes it, whispers
 * to the adviser (never to the parent) and decides; the adviser's wrap-up
 * is refused until then (with the reason field explained), and accepted
 * after the decision. */
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const TEXT = 'ive got all my tablets lined up for tonight';
const WHISPER = 'ask if the tablets are with her now';

let env, pctx, actx, lctx, parent, adviser, lead;
before(async () => {
  env = await h.setup(['adviser1']);
  const leadUser = env.svc.addUser('lena', 'lead');
  pctx = await h.newContext(env.browser, { viewport: h.PHONE });
  actx = await h.newContext(env.browser, { viewport: h.DESKTOP });
  lctx = await h.newContext(env.browser, { viewport: h.DESKTOP });
  lead = await h.openConsole(lctx, env.svc.url);
  await h.login(lead, leadUser);
  adviser = await h.adviserReady(actx, env.svc.url, env.svc.advisers[0]);
});
after(() => env && env.teardown());

test('lead: alert, observe, whisper, decide; the adviser can then wrap up', { timeout: 30000 }, async (t) => env.wrap(async () => {
  // The lead view is there, with an empty cases list.
  await lead.locator('#leadview').waitFor({ state: 'visible' });
  await lead.locator('#lead-panel-cases').filter({ hasText: 'No cases' }).waitFor();
  assert.equal(await adviser.locator('#leadview').isVisible(), false, 'an adviser has no lead view');

  parent = await h.openParent(pctx, env.svc.url);
  await h.startChat(parent, 'Hello');
  await h.widgetState(parent, 'chatting');
  await h.parentSend(parent, TEXT);
  await h.parentSettled(parent);
  await adviser.locator(h.consoleSel.texts).filter({ hasText: TEXT }).waitFor();

  // The alert: newest first, severity colour, categories, Observe.
  const alert = lead.locator('#alerts li.alert').first();
  await alert.waitFor();
  assert.match(await alert.getAttribute('class'), /sev-border-emergency/);
  assert.equal(await alert.locator('.sev').textContent(), 'Emergency');
  assert.match(await alert.textContent(), /Suicide/);
  assert.match(await lead.locator('#alarm').textContent(), /Safeguarding alert: Emergency/);
  // The cases list was refreshed after the alert: one open case.
  const kase = lead.locator('#lead-panel-cases li.case');
  await kase.first().waitFor();
  assert.equal(await kase.count(), 1);
  assert.match(await kase.first().textContent(), /Open/);

  // Read the case.
  await kase.first().locator('button[data-act=read]').click();
  await kase.first().locator('dl.case-detail').filter({ hasText: 'adviser1' }).waitFor();

  // Observe from the alert: a read-only tab with the history.
  await alert.getByRole('button', { name: /Observe/ }).click();
  const obs = lead.locator('#lead-panels .lead-panel.observe:not([hidden])');
  await obs.locator('ol.log li.msg .text').filter({ hasText: TEXT }).waitFor();
  assert.equal(await lead.locator('#lead-tabs [role=tab][aria-selected=true]').textContent().then((s) => /Observing/.test(s)), true);
  assert.equal(await obs.locator('form.composer textarea').count(), 1, 'only the whisper box');
  assert.match(await obs.locator('form.composer label').textContent(), /Whisper/);

  // Both sides live.
  await h.adviserSend(adviser, "I'm here with you");
  await obs.locator('ol.log li.msg .text').filter({ hasText: "I'm here with you" }).waitFor();
  await h.parentSend(parent, 'thank you');
  await obs.locator('ol.log li.msg .text').filter({ hasText: 'thank you' }).waitFor();

  // Whisper: the adviser sees it; the parent never does.
  await obs.locator('form.composer textarea').fill(WHISPER);
  await obs.getByRole('button', { name: 'Whisper', exact: true }).click();
  const w = adviser.locator(`${h.consoleSel.conv} ol.log li.msg-whisper`);
  await w.filter({ hasText: WHISPER }).waitFor();
  assert.match(await w.first().textContent(), /Whisper from lena/);
  await h.sleep(500);
  const ptexts = await h.parentTexts(parent);
  assert.ok(!ptexts.some((x) => x.includes(WHISPER)), `the parent saw the whisper: ${JSON.stringify(ptexts)}`);
  assert.equal(await parent.evaluate((s) => document.querySelector(s).shadowRoot.textContent.includes('tablets are with her'), '[data-chatd-widget]'), false);

  // The adviser ends (the harness accepts the confirm); the wrap-up is
  // refused until a lead decides.
  await adviser.locator(h.consoleSel.end).click();
  await adviser.locator(h.consoleSel.wrapup).waitFor({ state: 'visible' });
  await adviser.selectOption(`${h.consoleSel.wrapup} select`, 'escalated');
  await adviser.click(`${h.consoleSel.wrapup} button[type=submit]`);
  await adviser.locator(`${h.consoleSel.wrapup} .error`).filter({ hasText: /lead must record a decision/ }).waitFor();
  await adviser.getByLabel('Why no lead decision is needed').waitFor({ state: 'visible' });
  assert.equal(await adviser.evaluate(() => document.activeElement.id.startsWith('reason-')), true, 'focus on the reason field');

  // The lead decides (the dialog is modal, focus inside, returns after).
  await obs.getByRole('button', { name: 'Decide…' }).click();
  const dlg = lead.locator('dialog[open]');
  await dlg.waitFor();
  assert.equal(await lead.evaluate(() => document.activeElement.id), 'decide-decision');
  await dlg.locator('select').selectOption('referred_childrens_social_care');
  await dlg.getByLabel('Note (optional)').fill('referral made by phone');
  await dlg.getByLabel(/Reference/).fill('CSC-42');
  await dlg.getByRole('button', { name: 'Record decision' }).click();
  await lead.locator('dialog[open]').waitFor({ state: 'detached' });
  await lead.locator('#lead-panel-cases li.case').filter({ hasText: "Decided: Referred to children's social care" }).waitFor({ state: 'attached' });

  // The adviser is told, and the wrap-up now goes through without a reason.
  await adviser.locator(`${h.consoleSel.conv} .conv-head .pill`).filter({ hasText: 'Lead decided' }).waitFor();
  await adviser.locator(`${h.consoleSel.wrapup} .field`).filter({ hasText: 'Why no lead decision' }).waitFor({ state: 'hidden' });
  await adviser.click(`${h.consoleSel.wrapup} button[type=submit]`);
  await adviser.locator('#no-chats').waitFor({ state: 'visible' });

  // Stop observing closes the tab and returns to Cases.
  await obs.getByRole('button', { name: 'Stop observing' }).click();
  await lead.locator('#lead-panels .lead-panel.observe').waitFor({ state: 'detached' });
  assert.equal(await lead.locator('#lead-tabs [role=tab][aria-selected=true]').textContent(), 'Cases');
})(t));

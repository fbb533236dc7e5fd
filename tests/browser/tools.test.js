'use strict';
/* The adviser's tools beside a chat: triage suggestions with one-click
 * "Send card" (the parent sees a readable card with tap-to-call), service
 * search, canned responses, escalate, and transfer with a note. */
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const W = '[data-chatd-widget]';
const side = `${h.consoleSel.conv} .conv-side`;

let env, pctx, actx, bctx, parent, adviser, other;
before(async () => {
  env = await h.setup(['adviser1', 'adviser2']);
  pctx = await h.newContext(env.browser, { viewport: h.PHONE });
  actx = await h.newContext(env.browser, { viewport: h.DESKTOP });
  bctx = await h.newContext(env.browser, { viewport: h.DESKTOP });
  adviser = await h.adviserReady(actx, env.svc.url, env.svc.advisers[0]);
  parent = await h.openParent(pctx, env.svc.url);
  await h.startChat(parent, 'Hello, can I talk to someone');
  await h.widgetState(parent, 'chatting');
  await adviser.locator(h.consoleSel.texts).filter({ hasText: 'can I talk' }).waitFor();
});
after(() => env && env.teardown());

test('a suggestion after a flagged message; one click sends the card; the parent sees it', { timeout: 30000 }, async (t) => env.wrap(async () => {
  await h.parentSend(parent, 'my partner hit me again last night');
  const sugg = adviser.locator(`${side} [data-ext=signpost] ul.suggest li`);
  await sugg.first().waitFor();
  const name = (await sugg.first().locator('strong').textContent()).trim();
  assert.ok(name, 'a named suggestion');
  // Suggestions come first in the side panel, before the other tools.
  const order = await adviser.locator(`${side} > section`).evaluateAll((s) => s.filter((x) => !x.hidden).map((x) => x.getAttribute('aria-label')));
  assert.deepEqual(order.slice(0, 2), ['Suggested services', 'Chat tools']);

  await sugg.first().getByRole('button', { name: /Send the .* card/ }).click();
  // The parent: a readable card, a tap-to-call link, text only.
  const card = parent.locator(`${W} ol.log article.card`).filter({ hasText: name });
  await card.waitFor();
  assert.equal((await card.locator('h3').textContent()).trim(), name);
  const tel = card.locator('a[href^="tel:"]');
  if (await tel.count()) assert.match(await tel.first().getAttribute('href'), /^tel:[0-9+]+$/);
  else assert.ok(await card.locator('a[href^="http"]').count(), 'the card has a phone or a link');
  // The adviser's transcript shows the card too.
  await adviser.locator(`${h.consoleSel.conv} ol.log li.msg-card .card-name`).filter({ hasText: name }).waitFor();
  assert.equal(await sugg.first().getByRole('button').textContent(), 'Sent');
})(t));

test('service search with one-click send; canned responses insert into the reply', { timeout: 30000 }, async (t) => env.wrap(async () => {
  await adviser.getByLabel('Words').fill('samaritans');
  await adviser.locator(`${side} form.svc-search button[type=submit]`).click();
  const hit = adviser.locator(`${side} ul.svc-results li`).filter({ hasText: 'Samaritans' }).first();
  await hit.waitFor();
  await hit.getByRole('button', { name: /Send the .* card/ }).click();
  await parent.locator(`${W} ol.log article.card`).filter({ hasText: 'Samaritans' }).waitFor();
  await parent.locator(`${W} ol.log article.card`).filter({ hasText: 'Samaritans' }).locator('a[href^="tel:"]').waitFor();

  // Canned: choose, insert, the text is in the reply box (not sent).
  const canned = adviser.getByLabel('Canned response');
  await adviser.waitForFunction((s) => document.querySelector(s).options.length > 2, `${side} select[id^=canned-]`);
  await canned.selectOption({ label: 'Take your time' });
  await adviser.getByRole('button', { name: 'Insert into reply' }).click();
  assert.match(await adviser.locator(h.consoleSel.reply).inputValue(), /^Take your time\./);
  assert.equal(await adviser.evaluate(() => document.activeElement.tagName), 'TEXTAREA');
  await adviser.locator(h.consoleSel.reply).fill('');
})(t));

test('escalate alerts; transfer with a note closes the tab and the colleague sees the note', { timeout: 30000 }, async (t) => env.wrap(async () => {
  // Escalate through the dialog (focus in, back on the button after).
  const escBtn = adviser.locator(`${side}`).getByRole('button', { name: 'Escalate…' });
  await escBtn.click();
  const dlg = adviser.locator('dialog[open]');
  await dlg.waitFor();
  await dlg.getByLabel('Severity').selectOption('high');
  await dlg.getByLabel(/Note for the lead/).fill('partner is violent');
  await dlg.getByRole('button', { name: 'Escalate' }).click();
  await adviser.locator(`${side} .tool-status`).filter({ hasText: 'Escalated' }).waitFor();
  assert.equal(await adviser.evaluate(() => document.activeElement.textContent), 'Escalate…');

  // Transfer: the tab closes with a notice; adviser2 gets the chat and the note.
  await adviser.locator(side).getByRole('button', { name: 'Transfer…' }).click();
  await adviser.locator('dialog[open]').getByLabel('Note for your colleague').fill('needs someone who knows family law');
  await adviser.locator('dialog[open]').getByRole('button', { name: 'Transfer' }).click();
  await adviser.locator('#notice').filter({ hasText: 'handed on' }).waitFor();
  await adviser.locator('#no-chats').waitFor({ state: 'visible' });

  other = await h.adviserReady(bctx, env.svc.url, env.svc.advisers[1]);
  const ctx = other.locator(`${h.consoleSel.conv} .context`);
  await ctx.filter({ hasText: 'needs someone who knows family law' }).waitFor();
  assert.match(await ctx.textContent(), /Transferred to you by adviser1/);
  // The history came along, cards included.
  await other.locator(`${h.consoleSel.conv} ol.log li.msg-card`).first().waitFor();
})(t));

test('wrap-up of an escalated chat asks why no decision; a returning parent shows the last wrap-up', { timeout: 30000 }, async (t) => env.wrap(async () => {
  // adviser2 ends the transferred (escalated) chat.
  await other.locator(h.consoleSel.end).click(); // the harness accepts the confirm
  await other.locator(h.consoleSel.wrapup).waitFor({ state: 'visible' });
  await h.widgetState(parent, 'ended');
  const code = (await parent.locator(`${W} .ended p.code`).textContent()).trim();
  assert.match(code, /^[A-Z0-9]{4}-[A-Z0-9]{4}$/);

  // Refused without a lead decision: the reason field appears, explained.
  await other.selectOption(`${h.consoleSel.wrapup} select`, 'signposted');
  await other.getByLabel('Note (optional, not shown to the parent)').fill('sent the refuge card');
  await other.click(`${h.consoleSel.wrapup} button[type=submit]`);
  await other.locator(`${h.consoleSel.wrapup} .error`).filter({ hasText: /lead must record a decision/ }).waitFor();
  await other.getByLabel('Why no lead decision is needed').fill('lead briefed by phone');
  await other.click(`${h.consoleSel.wrapup} button[type=submit]`);
  await other.locator('#no-chats').waitFor({ state: 'visible' });

  // The parent comes back with the code; only adviser2 is available.
  await adviser.uncheck('#available');
  await adviser.locator('#avail-state').filter({ hasText: /^Unavailable/ }).waitFor();
  await parent.locator(`${W} .ended button.btn-primary`).last().click();
  await parent.locator(`${W} input[name=return_code]`).fill(code);
  await h.startChat(parent, 'me again');
  const head = other.locator(`${h.consoleSel.conv} .conv-head`);
  await head.locator('.pill-returning').filter({ hasText: 'Returning parent' }).waitFor();
  const prev = other.locator(`${h.consoleSel.conv} .context`);
  await prev.filter({ hasText: 'sent the refuge card' }).waitFor();
  assert.match(await prev.textContent(), /Outcome\s*Signposted/);
})(t));

test('"Parent is away" while the parent\'s connection is gone, cleared when they are back', { timeout: 30000 }, async (t) => env.wrap(async () => {
  const relay = await env.svc.relay();
  const p2 = await h.openParent(await h.newContext(env.browser, { viewport: h.PHONE }), relay.url);
  await h.startChat(p2, 'is anyone there, second chat');
  await h.widgetState(p2, 'chatting');
  const tab = other.locator('#tabs [role=tab]').nth(1);
  await tab.click();
  await other.locator(h.consoleSel.texts).filter({ hasText: 'second chat' }).waitFor();
  const away = other.locator(`${h.consoleSel.conv} .away-note`);
  assert.equal(await away.isVisible(), false);

  relay.drop(); // past grace_s (5 s) the adviser is told
  await away.filter({ hasText: 'The parent is away' }).waitFor({ state: 'visible', timeout: 15000 });
  relay.up();
  await h.widgetState(p2, 'chatting', 20000);
  await away.waitFor({ state: 'hidden', timeout: 10000 });
})(t));

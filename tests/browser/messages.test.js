'use strict';
/* What a message looks like on each side: markup is text and never runs;
 * a message triage flags stands out in the console. */
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

let env, pctx, actx, parent, adviser;
before(async () => {
  env = await h.setup(['adviser1']);
  pctx = await h.newContext(env.browser, { viewport: h.PHONE });
  actx = await h.newContext(env.browser, { viewport: h.DESKTOP });
  adviser = await h.adviserReady(actx, env.svc.url, env.svc.advisers[0]);
  parent = await h.openParent(pctx, env.svc.url);
  await h.startChat(parent, 'Hello');
  await h.widgetState(parent, 'chatting');
  await adviser.locator(h.consoleSel.texts).filter({ hasText: 'Hello' }).waitFor();
});
after(() => env && env.teardown());

const MARKUP = '<img src=x onerror=alert(1)><b>bold</b>';

/* The li of the last message whose text is exactly `text`. */
function lastMsg(page, sel, text) {
  return page.locator(sel).filter({ hasText: text }).last().locator('xpath=ancestor::li[1]');
}

test('markup in a message shows as literal text on both sides and never runs', { timeout: 30000 }, async (t) => env.wrap(async () => {
  const before = { p: pctx.dialogs.length, a: actx.dialogs.length };
  await h.parentSend(parent, MARKUP);
  await h.parentSettled(parent);
  await adviser.locator(h.consoleSel.texts).filter({ hasText: MARKUP }).waitFor();
  await h.adviserSend(adviser, 'You wrote: ' + MARKUP);
  await h.consoleSettled(adviser);
  await parent.locator(h.parentSel.texts).filter({ hasText: 'You wrote: ' + MARKUP }).waitFor();
  await h.sleep(500); // time for a broken image's onerror to fire, if it could

  for (const [page, sel, name] of [[parent, h.parentSel.texts, 'widget'], [adviser, h.consoleSel.texts, 'console']]) {
    const texts = await page.locator(sel).allTextContents();
    assert.ok(texts.includes(MARKUP), `${name}: the parent's markup as literal text: ${JSON.stringify(texts)}`);
    assert.ok(texts.includes('You wrote: ' + MARKUP), `${name}: the adviser's markup as literal text`);
    for (const text of [MARKUP, 'You wrote: ' + MARKUP]) {
      const li = lastMsg(page, sel, text);
      assert.equal(await li.locator('img, b').count(), 0, `${name}: no <img> or <b> inside the message`);
      assert.match(await li.innerHTML(), /&lt;img src=x onerror=alert\(1\)&gt;&lt;b&gt;bold&lt;\/b&gt;/);
    }
    // Nothing in the whole page became an element from the message.
    const injected = await page.evaluate(() => {
      const all = [document];
      const hostEl = document.querySelector('[data-chatd-widget]');
      if (hostEl && hostEl.shadowRoot) all.push(hostEl.shadowRoot);
      return all.reduce((n, root) => n + root.querySelectorAll('img[src="x"], img[onerror]').length, 0);
    });
    assert.equal(injected, 0, `${name}: no injected <img>`);
  }
  assert.equal(pctx.dialogs.length, before.p, 'no dialog on the parent side');
  assert.equal(actx.dialogs.length, before.a, 'no dialog in the console');
})(t));

test('a flagged message is marked in the console with its severity and matched words', { timeout: 30000 }, async (t) => env.wrap(async () => {
  const TEXT = 'ive got all my tablets lined up for tonight';
  await h.parentSend(parent, TEXT);
  await h.parentSettled(parent);
  const li = lastMsg(adviser, h.consoleSel.texts, TEXT);
  await li.waitFor();

  // The message stands out: severity colour (class) and label, categories.
  assert.match(await li.getAttribute('class'), /\bflagged\b/);
  assert.match(await li.getAttribute('class'), /\bsev-border-emergency\b/);
  assert.equal(await li.locator('.msg-head .sev').textContent(), 'Emergency');
  assert.match(await li.locator('.msg-head .sev').getAttribute('class'), /\bsev-emergency\b/);
  assert.equal(await li.locator('.msg-head .cats').textContent(), 'Suicide');
  // The matched words in <mark>, the rest as plain text, nothing lost.
  assert.deepEqual(await li.locator('.text mark').allTextContents(), ['tablets']);
  assert.equal(await li.locator('.text').textContent(), TEXT);
  const bg = await li.locator('.text mark').evaluate((m) => getComputedStyle(m).backgroundColor);
  assert.notEqual(bg, 'rgba(0, 0, 0, 0)', 'the mark is highlighted');

  // The chat as a whole: emergency in its header and tab, protocol beside it.
  assert.equal(await adviser.locator(`${h.consoleSel.conv} .conv-head .sev`).textContent(), 'Emergency');
  assert.match(await adviser.locator('#tabs [role=tab][aria-selected=true]').textContent(), /Emergency/);
  await adviser.locator(`${h.consoleSel.conv} section.emergency`).waitFor({ state: 'visible' });
  assert.match(await adviser.locator('#alarm').textContent(), /Emergency in/);

  // An unflagged message is not marked.
  const plain = lastMsg(adviser, h.consoleSel.texts, 'Hello');
  assert.doesNotMatch(await plain.getAttribute('class'), /flagged/);
  assert.equal(await plain.locator('mark, .sev').count(), 0);

  // The parent sees their words as written, with no flag.
  const mine = lastMsg(parent, h.parentSel.texts, TEXT);
  assert.equal(await mine.locator('mark').count(), 0);
  assert.doesNotMatch(await mine.textContent(), /Emergency|Suicide/);
})(t));

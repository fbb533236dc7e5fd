'use strict';
/* Keyboard alone (Tab, Shift+Tab, Enter, Space, typing): a parent gets
 * from the demo page to an adviser and out again, and can always see
 * where focus is. */
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

let env;
before(async () => { env = await h.setup(['adviser1']); });
after(() => env && env.teardown());

/* What has keyboard focus, looking into the widget's shadow root. */
function focused(page) {
  return page.evaluate(() => {
    let a = document.activeElement, inWidget = false;
    while (a && a.shadowRoot && a.shadowRoot.activeElement) { a = a.shadowRoot.activeElement; inWidget = true; }
    if (!a || a === document.body) return { tag: 'body', text: '' };
    const cs = getComputedStyle(a);
    return {
      tag: a.tagName.toLowerCase(),
      text: (a.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 60),
      cls: String(a.className || ''),
      name: a.getAttribute('name') || '',
      label: a.getAttribute('aria-label') || '',
      inWidget,
      visible: a.getClientRects().length > 0,
      ring: cs.outlineStyle !== 'none' || cs.boxShadow !== 'none',
    };
  });
}

/* Press Tab until `want(focus)` holds; fail after `max` presses. */
async function tabTo(page, what, want, max = 40) {
  const seen = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const f = await focused(page);
    seen.push(f.tag + (f.text ? ' "' + f.text.slice(0, 25) + '"' : f.name ? ' ' + f.name : ''));
    if (f.inWidget) {
      assert.ok(f.visible, `focus on a hidden control: ${JSON.stringify(f)}`);
      assert.ok(f.ring, `focus is not visible on ${JSON.stringify(f)}`);
    }
    if (want(f)) return f;
  }
  assert.fail(`${what}: not reached in ${max} Tabs; focus went ${seen.join(' > ')}`);
}

test('a parent starts a chat and ends it by keyboard alone', { timeout: 60000 }, async (t) => env.wrap(async () => {
  const { svc, browser } = env;
  const actx = await h.newContext(browser, { viewport: h.DESKTOP });
  const adviser = await h.adviserReady(actx, svc.url, svc.advisers[0]);

  const pctx = await h.newContext(browser, { viewport: h.PHONE });
  const page = await pctx.newPage();
  await page.goto(svc.url + '/');
  await page.locator(h.parentSel.launcher).waitFor({ state: 'visible' });

  // The first Tab is the host page's skip link; the chat button follows the page.
  await page.keyboard.press('Tab');
  assert.equal((await focused(page)).text, 'Skip to main content');
  await tabTo(page, 'the chat button', (f) => f.inWidget && /launcher/.test(f.cls));
  await page.keyboard.press('Enter');
  await page.locator(h.parentSel.panel).waitFor({ state: 'visible' });
  let f = await focused(page);
  assert.equal(f.tag, 'h2', 'focus moves to the panel heading');
  assert.equal(f.text, 'Talk to an adviser');
  await page.locator('[data-chatd-widget] p.sub').filter({ hasText: /open/ }).waitFor();

  // The form, by Tab: topic (a select: arrow keys), the opening message.
  await tabTo(page, 'the topic', (f) => f.name === 'topic');
  await page.keyboard.press('ArrowDown'); // first real topic
  assert.notEqual(await page.locator('[data-chatd-widget] select[name=topic]').inputValue(), '');
  await tabTo(page, 'the opening message', (f) => f.name === 'text');
  await page.keyboard.type('I am struggling with bedtimes');
  await tabTo(page, 'the start button', (f) => f.text === 'Start chat');
  await page.keyboard.press('Enter');

  await h.widgetState(page, 'chatting');
  await adviser.locator(h.consoleSel.texts).filter({ hasText: 'I am struggling with bedtimes' }).waitFor();
  // Focus was on the start button, now hidden: it goes to the message box.
  f = await focused(page);
  assert.equal(f.tag, 'textarea', `focus after starting: ${JSON.stringify(f)}`);
  assert.equal(f.label, 'Your message');

  await page.keyboard.type('Every night is a battle');
  await page.keyboard.press('Enter');
  await adviser.locator(h.consoleSel.texts).filter({ hasText: 'Every night is a battle' }).waitFor();
  await h.adviserSend(adviser, 'That sounds exhausting.');
  await page.locator(h.parentSel.texts).filter({ hasText: 'That sounds exhausting.' }).waitFor();
  assert.deepEqual(await h.parentTexts(page), ['I am struggling with bedtimes', 'Every night is a battle', 'That sounds exhausting.']);

  // Out again: End chat (Space), confirm (Enter).
  await tabTo(page, 'the end chat button', (f) => f.text === 'End chat');
  await page.keyboard.press('Space');
  f = await focused(page);
  assert.equal(f.text, 'Yes, end chat', 'focus moves to the confirmation');
  await page.keyboard.press('Enter');
  await h.widgetState(page, 'ended');
  await page.locator(h.parentSel.heading).filter({ hasText: 'The chat has ended' }).waitFor();
  await page.locator('[data-chatd-widget] .ended p').filter({ hasText: 'You ended the chat.' }).first().waitFor();
  f = await focused(page);
  assert.ok(f.inWidget && f.visible, `focus stays in the panel after the end: ${JSON.stringify(f)}`);
  await adviser.locator(h.consoleSel.endedNote).filter({ hasText: 'The parent ended the chat.' }).waitFor();

  // Tab stays inside the open panel (it covers the phone screen) ...
  for (let i = 0; i < 25; i++) {
    await page.keyboard.press('Tab');
    assert.ok((await focused(page)).inWidget, 'Tab left the open panel');
  }
  // ... and Escape hides it, back to the chat button.
  await page.keyboard.press('Escape');
  await page.locator(h.parentSel.panel).waitFor({ state: 'hidden' });
  f = await focused(page);
  assert.ok(/launcher/.test(f.cls), `focus back on the chat button: ${JSON.stringify(f)}`);

  await pctx.close();
  await actx.close();
})(t));

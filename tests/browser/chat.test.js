'use strict';
/* A parent on a phone and an adviser in the console chat end to end. */
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

let env;
before(async () => { env = await h.setup(['adviser1']); });
after(() => env && env.teardown());

test('parent and adviser chat end to end, each message once and in order', { timeout: 60000 }, async () => {
  await env.wrap(async () => {
    const { svc, browser } = env;
    const pctx = await h.newContext(browser, { viewport: h.PHONE });
    const actx = await h.newContext(browser, { viewport: h.DESKTOP });

    const parent = await h.openParent(pctx, svc.url);
    // On a phone the open panel fills the screen.
    const box = await parent.locator(h.parentSel.panel).boundingBox();
    assert.ok(box.width >= h.PHONE.width - 1 && box.height >= h.PHONE.height - 1, `panel is full screen: ${JSON.stringify(box)}`);

    await h.startChat(parent, 'Hello, my son will not go to school');
    await parent.locator(h.parentSel.heading).filter({ hasText: 'Waiting for an adviser' }).waitFor();
    await parent.locator(`[data-chatd-widget] p.sub`).filter({ hasText: /next in the queue/ }).waitFor();

    const adviser = await h.adviserReady(actx, svc.url, svc.advisers[0]);
    await adviser.locator('#tabs [role=tab]').first().waitFor();
    await h.widgetState(parent, 'chatting');
    await parent.locator('[data-chatd-widget] p.sub').filter({ hasText: 'Your adviser is adviser1.' }).waitFor();

    const script = [
      ['parent', 'Hello, my son will not go to school'],
      ['adviser', 'Hi, I am here to help. How old is he?'],
      ['parent', 'He is 14'],
      ['parent', 'It has been going on for weeks'],
      ['adviser', 'That sounds hard. Has anything changed at school?'],
      ['parent', 'He says some boys pick on him'],
      ['adviser', 'Thank you for telling me.'],
    ];
    for (const [who, text] of script.slice(1)) {
      if (who === 'parent') await h.parentSend(parent, text);
      else await h.adviserSend(adviser, text);
      // Each side sees it before the next is sent: a real conversation.
      await adviser.locator(h.consoleSel.texts).filter({ hasText: text }).first().waitFor();
      await parent.locator(h.parentSel.texts).filter({ hasText: text }).first().waitFor();
    }
    await h.parentSettled(parent);
    await h.consoleSettled(adviser);
    const want = script.map((x) => x[1]);
    assert.deepEqual(await h.parentTexts(parent), want, 'parent transcript');
    assert.deepEqual(await h.consoleTexts(adviser), want, 'console transcript');
    // Who said what, as each side labels it.
    const pWho = await parent.locator('[data-chatd-widget] ol.log li.msg .who').allTextContents();
    assert.deepEqual(pWho, script.map((x) => (x[0] === 'parent' ? 'You' : 'adviser1')));
    const aWho = await adviser.locator(`${h.consoleSel.conv} ol.log li.msg .who`).allTextContents();
    assert.deepEqual(aWho, script.map((x) => (x[0] === 'parent' ? 'Parent' : 'You')));

    // The adviser ends the chat (confirm is accepted) and wraps up.
    await adviser.locator(h.consoleSel.end).click();
    await adviser.locator(h.consoleSel.wrapup).waitFor({ state: 'visible' });
    await adviser.locator(h.consoleSel.endedNote).filter({ hasText: 'You ended the chat.' }).waitFor();
    assert.ok(actx.dialogs.some((d) => d.type === 'confirm'), 'the console asked before ending');

    await h.widgetState(parent, 'ended');
    await parent.locator(h.parentSel.heading).filter({ hasText: 'The chat has ended' }).waitFor();
    await parent.locator('[data-chatd-widget] .ended p').filter({ hasText: 'The adviser ended the chat.' }).first().waitFor();
    assert.equal(await parent.locator(h.parentSel.input).isVisible(), false, 'no composer once ended');
    assert.deepEqual(await h.parentTexts(parent), want, 'transcript kept after the end');

    await adviser.locator(`${h.consoleSel.wrapup} select`).selectOption('advice');
    await adviser.locator(`${h.consoleSel.wrapup} button[type=submit]`).click();
    await adviser.locator('#no-chats').waitFor({ state: 'visible' });
    assert.equal(await adviser.locator('#tabs [role=tab]').count(), 0, 'the wrapped chat is closed');

    // The parent can rate the chat.
    await parent.locator('[data-chatd-widget] .rating label').filter({ hasText: '5 – very helpful' }).click();
    await parent.locator('[data-chatd-widget] form.feedback button[type=submit]').click();
    await parent.locator('[data-chatd-widget] .thanks').filter({ hasText: 'Thank you' }).waitFor();

    assert.deepEqual(pctx.dialogs, [], 'no dialog on the parent side');
    await pctx.close();
    await actx.close();
  })();
});

'use strict';
/* The parent's connection is killed mid-chat; the chat resumes with
 * nothing lost or doubled.  The parent's page goes through a TCP relay
 * (harness Relay) that resets every connection at once and refuses new
 * ones for a moment, as a dying mobile network or a restarted proxy would. */
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

let env;
before(async () => { env = await h.setup(['adviser1']); });
after(() => env && env.teardown());

test('a dropped parent socket resumes with every message exactly once', { timeout: 60000 }, async () => {
  await env.wrap(async () => {
    const { svc, browser } = env;
    const relay = await svc.relay();
    const pctx = await h.newContext(browser, { viewport: h.PHONE });
    const actx = await h.newContext(browser, { viewport: h.DESKTOP });

    const parent = await h.openParent(pctx, relay.url);
    await h.startChat(parent, 'Hi, can I talk to someone');
    const adviser = await h.adviserReady(actx, svc.url, svc.advisers[0]);
    await h.widgetState(parent, 'chatting');

    await h.adviserSend(adviser, 'Hello, I am listening');
    await parent.locator(h.parentSel.texts).filter({ hasText: 'Hello, I am listening' }).waitFor();
    await h.parentSend(parent, 'My daughter ran off after a row');
    await h.parentSettled(parent);

    // The connection dies.
    relay.drop();
    await h.widgetState(parent, 'reconnecting');
    const banner = parent.locator(h.parentSel.banner);
    await banner.filter({ hasText: 'Reconnecting' }).waitFor();
    assert.match(await banner.textContent(), /Your chat is safe/);
    // The transcript and the composer stay; the parent can keep typing.
    assert.equal(await parent.locator(h.parentSel.input).isVisible(), true);

    // Meanwhile: the adviser replies, the parent writes two messages.
    await h.adviserSend(adviser, 'Do you know where she might be?');
    await h.consoleSettled(adviser);
    await h.parentSend(parent, 'Probably at her friend Amy');
    await h.parentSend(parent, 'She has her phone with her');
    const pending = parent.locator('[data-chatd-widget] ol.log li.msg-pending');
    assert.equal(await pending.count(), 2, 'typed while away: shown as sending');
    assert.match(await pending.first().textContent(), /Sending/);
    await h.sleep(1200);
    assert.equal(await parent.evaluate(() => window.ChatdWidget.state), 'reconnecting', 'still down while the relay refuses');

    // The network is back: the widget reconnects by itself (backoff).
    relay.up();
    await h.widgetState(parent, 'chatting', 20000);
    await h.parentSettled(parent);
    await parent.locator(h.parentSel.banner).waitFor({ state: 'hidden' });

    const want = [
      'Hi, can I talk to someone',
      'Hello, I am listening',
      'My daughter ran off after a row',
      'Do you know where she might be?',
      'Probably at her friend Amy',
      'She has her phone with her',
    ];
    const pGot = await h.eventually(() => h.parentTexts(parent), (x) => x.length >= want.length);
    assert.deepEqual(pGot, want, 'parent transcript after resume');
    const aGot = await h.eventually(() => h.consoleTexts(adviser), (x) => x.length >= want.length);
    assert.deepEqual(aGot, want, 'console transcript after resume');

    // And still nothing doubled a moment later (late replays, resends).
    await h.sleep(1000);
    assert.deepEqual(await h.parentTexts(parent), want);
    assert.deepEqual(await h.consoleTexts(adviser), want);

    // The chat works as before.
    await h.adviserSend(adviser, 'Good. Let us call Amy\u2019s parents together.');
    await parent.locator(h.parentSel.texts).filter({ hasText: 'call Amy' }).waitFor();
    assert.equal((await h.parentTexts(parent)).length, want.length + 1);

    assert.deepEqual(pctx.dialogs, []);
    await pctx.close();
    await actx.close();
  })();
});

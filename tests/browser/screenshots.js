'use strict';
/* `make screenshots`: PNGs of each widget state at phone size and of the
 * staff console at desktop size, into docs/screenshots/.  Runs a private
 * redis-server + chatd exactly as the browser tests do (harness.js).
 *
 *   CHATD_BIN=bin/chatd node tests/browser/screenshots.js [OUT_DIR]
 */
const fs = require('node:fs');
const path = require('node:path');
const h = require('./harness');

const OUT = path.resolve(process.argv[2] || path.join(h.REPO, 'docs', 'screenshots'));

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const svc = await h.startService(['Sam']);
  const browser = await h.launchBrowser();
  const saved = [];
  const shot = async (page, name, fullPage = false) => {
    const file = path.join(OUT, name + '.png');
    await page.waitForTimeout(300); // transitions, fonts
    await page.screenshot({ path: file, fullPage });
    saved.push(path.relative(h.REPO, file));
  };
  try {
    const relay = await svc.relay();
    const pctx = await h.newContext(browser, { viewport: h.PHONE, scale: 2 });
    const actx = await h.newContext(browser, { viewport: h.DESKTOP });

    // The demo host page, the widget closed.
    const parent = await pctx.newPage();
    await parent.goto(relay.url + '/');
    await parent.locator(h.parentSel.launcher).waitFor({ state: 'visible' });
    await shot(parent, 'demo-page');

    // Start: open or shut, the wait, privacy, the quick-exit note.
    await h.openParent(pctx, relay.url, parent);
    await shot(parent, 'widget-start');

    // Waiting: position and estimate; the parent can type meanwhile.
    await parent.locator('[data-chatd-widget] select[name=topic]').selectOption('behaviour');
    await h.startChat(parent, 'Hi. My son is 14 and every night ends in a shouting match.');
    await parent.locator('[data-chatd-widget] p.sub').filter({ hasText: /queue/ }).waitFor();
    await h.parentSettled(parent);
    await shot(parent, 'widget-waiting');

    // The console: sign in, then available, and the chat arrives.
    const adviser = await h.openConsole(actx, svc.url);
    await shot(adviser, 'console-login');
    await h.login(adviser, svc.advisers[0]);
    await h.goAvailable(adviser);
    await h.widgetState(parent, 'chatting');

    await h.adviserSend(adviser, 'Hello, I\u2019m Sam. That sounds exhausting for both of you. What usually sets it off?');
    await parent.locator(h.parentSel.texts).filter({ hasText: 'What usually sets it off' }).waitFor();
    await h.parentSend(parent, 'His phone. When I ask for it at ten he just explodes.');
    await h.adviserSend(adviser, 'Would it help to agree the phone rule together at a calm moment, not at ten o\u2019clock?');
    await parent.locator(h.parentSel.texts).filter({ hasText: 'calm moment' }).waitFor();
    await h.parentSettled(parent);
    await shot(parent, 'widget-chatting');

    // Dropped connection: the calm banner; a message typed meanwhile waits.
    relay.drop();
    await h.widgetState(parent, 'reconnecting');
    await h.parentSend(parent, 'Maybe. I can try at the weekend.');
    await shot(parent, 'widget-reconnecting');
    relay.up();
    await h.widgetState(parent, 'chatting', 20000);
    await h.parentSettled(parent);

    // The safeguarding lead is on shift, so the flagged message below
    // raises an alert in the lead view.
    const lctx = await h.newContext(browser, { viewport: h.DESKTOP });
    const lead = await h.openConsole(lctx, svc.url);
    await h.login(lead, svc.addUser('Lena', 'lead'));
    await lead.locator('#leadview').waitFor({ state: 'visible' });

    // A flagged message in the console: severity, categories, <mark>,
    // the emergency protocol beside the chat.
    await h.parentSend(parent, 'Honestly some nights ive got all my tablets lined up for tonight');
    await adviser.locator(`${h.consoleSel.conv} section.emergency`).waitFor({ state: 'visible' });
    await h.consoleSettled(adviser);
    await adviser.mouse.move(0, 0);
    await shot(adviser, 'console-chat');

    // The lead view: the alert, the open case, observing the chat with a
    // whisper to the adviser being written.
    const alert = lead.locator('#alerts li.alert').first();
    await alert.waitFor();
    await alert.getByRole('button', { name: /Observe/ }).click();
    const obs = lead.locator('#lead-panels .lead-panel.observe:not([hidden])');
    await obs.locator('ol.log li.msg .text').filter({ hasText: 'tablets' }).waitFor();
    await obs.locator('form.composer textarea').fill('Ask whether the tablets are with her now.');
    await lead.mouse.move(0, 0);
    await shot(lead, 'console-lead');

    // Ended: the parent's return code and rating; the adviser's wrap-up.
    await adviser.locator(h.consoleSel.end).click();
    await adviser.locator(h.consoleSel.wrapup).waitFor({ state: 'visible' });
    await h.widgetState(parent, 'ended');
    await adviser.locator(`${h.consoleSel.wrapup} select`).selectOption('escalated');
    await adviser.locator(`${h.consoleSel.wrapup} textarea`).fill('Parent disclosed tablets lined up. Lead informed.');
    await shot(adviser, 'console-wrapup', true);
    await shot(parent, 'widget-ended');

    await pctx.close();
    await actx.close();
    await lctx.close();
  } finally {
    await browser.close().catch(() => {});
    await svc.stop();
  }

  // Closed: a line open only tomorrow (CHATD_HOURS) shows when it opens
  // and the services open now.
  const tomorrow = new Intl.DateTimeFormat('en-GB', { weekday: 'short', timeZone: 'Europe/London' })
    .format(new Date(Date.now() + 86400000)).toLowerCase().slice(0, 3);
  const shut = await h.startService([], { CHATD_HOURS: tomorrow + ' 09:00-21:00' });
  const browser2 = await h.launchBrowser();
  try {
    const ctx = await h.newContext(browser2, { viewport: h.PHONE, scale: 2 });
    const page = await ctx.newPage();
    await page.goto(shut.url + '/');
    await page.locator(h.parentSel.launcher).click();
    await h.widgetState(page, 'closed');
    await page.locator('[data-chatd-widget] ul.cards li').first().waitFor();
    await shot(page, 'widget-closed');
  } finally {
    await browser2.close().catch(() => {});
    await shut.stop();
  }
  for (const f of saved) console.log('  saved ' + f);
}

main().catch((e) => { console.error(e); process.exit(1); });

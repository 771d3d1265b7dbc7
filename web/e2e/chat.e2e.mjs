#!/usr/bin/env node
/**
 * Browser end-to-end test of the Parley web client against a running Parley
 * (edge serving web/dist, REST and WebSocket on one origin).
 *
 *   PARLEY_URL=http://127.0.0.1:8080 npm run e2e
 *
 * Environment:
 *   PARLEY_URL      base URL of the running system (default http://127.0.0.1:8080)
 *   CHROMIUM_PATH   browser binary (default /usr/bin/chromium)
 *   E2E_TIMEOUT_MS  per-expectation timeout (default 10000)
 *   E2E_HEADFUL=1   show the browser windows
 *
 * Three browser contexts (three people). Steps run in order; after the first
 * failure the remaining steps are skipped, since each builds on the previous
 * ones. Screenshots go to e2e/screenshots/ (numbered in journey order, plus
 * parley-web.png, the one the READMEs show). Prints "e2e: N passed, M failed"
 * and exits non-zero on any failure.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const BASE = (process.env.PARLEY_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TIMEOUT = Number(process.env.E2E_TIMEOUT_MS ?? 10_000);
const SHOTS = join(dirname(fileURLToPath(import.meta.url)), 'screenshots');
mkdirSync(SHOTS, { recursive: true });
// Screenshots of an earlier run would mix with this one's.
for (const f of readdirSync(SHOTS)) if (f.endsWith('.png')) rmSync(join(SHOTS, f));

const rand = Math.random().toString(36).slice(2, 8);
const PASSWORD = 'e2e-password-123';
const people = {
  ann: { username: `ann_${rand}`, displayName: `Ann ${rand}` },
  ben: { username: `ben_${rand}`, displayName: `Ben ${rand}` },
  cat: { username: `cat_${rand}`, displayName: `Cat ${rand}` },
};

const results = [];
let failed = false;
let shotCounter = 0;

async function shot(page, name) {
  shotCounter += 1;
  const file = join(SHOTS, `${String(shotCounter).padStart(2, '0')}-${name}.png`);
  try {
    await page.screenshot({ path: file, fullPage: false });
  } catch {
    // a closed page cannot be captured; the step result says what happened
  }
}

/** A screenshot under a fixed name (referenced from the READMEs). */
async function namedShot(page, file) {
  try {
    await page.screenshot({ path: join(SHOTS, file), fullPage: false });
  } catch {
    // see shot()
  }
}

async function step(name, fn) {
  if (failed) {
    results.push({ name, status: 'skipped' });
    console.log(`- skip  ${name}`);
    return;
  }
  const started = Date.now();
  try {
    await fn();
    results.push({ name, status: 'passed' });
    console.log(`✓ pass  ${name} (${Date.now() - started} ms)`);
  } catch (err) {
    failed = true;
    results.push({ name, status: 'failed', error: err });
    console.log(`✗ FAIL  ${name}\n        ${String(err?.message ?? err).split('\n').join('\n        ')}`);
    for (const [who, p] of Object.entries(pages)) await shot(p, `FAILED-${who}`);
  }
}

/** Polls `fn` until it returns a truthy value. */
async function until(what, fn, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
}

const pages = {};
const contexts = {};

async function register(page, who) {
  await page.goto(BASE + '/');
  await page.getByTestId('auth-form').waitFor({ timeout: TIMEOUT });
  await page.getByTestId('auth-toggle').click();
  await page.getByTestId('auth-username').fill(who.username);
  await page.getByTestId('auth-displayname').fill(who.displayName);
  await page.getByTestId('auth-password').fill(PASSWORD);
  await page.getByTestId('auth-submit').click();
  await page.getByTestId('chat-app').waitFor({ timeout: TIMEOUT });
  await until('the live connection', async () => (await page.getByTestId('connection-banner').getAttribute('data-state')) === 'online');
}

async function openConversation(page, title) {
  const item = page.locator(`[data-testid="conversation-item"][data-title="${title}"]`);
  await item.waitFor({ timeout: TIMEOUT });
  await item.click();
  await until(`conversation "${title}" to open`, async () => (await page.getByTestId('conversation-title').textContent()) === title);
}

async function send(page, text) {
  const input = page.getByTestId('composer-input');
  await input.click();
  await input.fill(text);
  await input.press('Enter');
}

/** Status shown under the title of a direct chat: presence dot + "online" / "last seen …". */
async function peerStatus(page) {
  const sub = page.getByTestId('conversation-subtitle');
  if ((await sub.count()) === 0) return { presence: null, text: null, dot: null };
  const dot = page.locator('.conversation-header [data-testid="presence-dot"]');
  return {
    presence: await sub.getAttribute('data-presence'),
    text: await sub.textContent(),
    dot: (await dot.count()) ? await dot.getAttribute('data-status') : null,
  };
}

async function hover(page, text) {
  const msg = messageByText(page, text).first();
  await msg.locator('.bubble').hover();
  return msg;
}

function messageByText(page, text) {
  return page.locator('[data-testid="message"]', { has: page.locator('[data-testid="message-text"]', { hasText: text }) });
}

async function seesMessage(page, text) {
  await messageByText(page, text).first().waitFor({ timeout: TIMEOUT });
}

async function main() {
  console.log(`e2e against ${BASE} (run ${rand})`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: process.env.E2E_HEADFUL !== '1',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'].filter(
      (a) => process.env.E2E_HEADFUL !== '1' || a !== '--headless',
    ),
  });
  try {
    for (const who of ['ann', 'ben', 'cat']) {
      contexts[who] = await browser.newContext({ viewport: { width: 1100, height: 760 } });
      pages[who] = await contexts[who].newPage();
      pages[who].on('pageerror', (err) => console.log(`  [${who} page error] ${err.message}`));
    }
    const { ann, ben, cat } = pages;

    await step('the app is served and shows the sign-in screen', async () => {
      const res = await ann.goto(BASE + '/');
      if (!res || !res.ok()) throw new Error(`GET / answered ${res?.status()}`);
      await ann.getByTestId('auth-form').waitFor({ timeout: TIMEOUT });
      await shot(ann, 'sign-in');
    });

    await step('three people register and come online', async () => {
      await register(ann, people.ann);
      await register(ben, people.ben);
      await register(cat, people.cat);
      await shot(ann, 'ann-empty');
    });

    await step('Ann finds Ben and starts a direct chat', async () => {
      await ann.getByTestId('new-chat').click();
      await ann.getByTestId('user-search').fill(people.ben.username);
      const result = ann.locator(`[data-testid="user-result"][data-username="${people.ben.username}"]`);
      await result.waitFor({ timeout: TIMEOUT });
      await result.getByTestId('start-direct').click();
      await until('the direct chat to open', async () => (await ann.getByTestId('conversation-title').textContent()) === people.ben.displayName);
    });

    await step('Ann sees Ben online (presence dot and status)', async () => {
      await until('Ben shown online', async () => {
        const st = await peerStatus(ann);
        return st.presence === 'online' && st.dot === 'online' && st.text === 'online';
      });
    });

    await step('Ann sends a message; it shows at once, then gets its tick', async () => {
      await send(ann, 'Hello Ben, this is Ann');
      const mine = messageByText(ann, 'Hello Ben, this is Ann');
      await mine.waitFor({ timeout: TIMEOUT });
      await until('the message to be sequenced', async () => ['sent', 'delivered', 'read'].includes(await mine.getByTestId('ticks').getAttribute('data-tick')));
      await shot(ann, 'ann-sent');
    });

    await step('Ben sees the new chat with an unread badge and reads the message', async () => {
      const item = ben.locator(`[data-testid="conversation-item"][data-title="${people.ann.displayName}"]`);
      await item.waitFor({ timeout: TIMEOUT });
      await until('an unread badge', async () => (await item.getByTestId('unread-badge').textContent()) === '1');
      await shot(ben, 'ben-unread');
      await openConversation(ben, people.ann.displayName);
      await seesMessage(ben, 'Hello Ben, this is Ann');
    });

    await step("Ann's message turns read (blue ticks)", async () => {
      const mine = messageByText(ann, 'Hello Ben, this is Ann');
      await until('read ticks', async () => (await mine.getByTestId('ticks').getAttribute('data-tick')) === 'read');
      await shot(ann, 'ann-read');
    });

    await step('Ann sees Ben typing, then his reply', async () => {
      const input = ben.getByTestId('composer-input');
      await input.click();
      await input.pressSequentially('Hi Ann', { delay: 40 });
      await until('the typing indicator', async () => (await ann.getByTestId('typing-indicator').count()) > 0);
      await shot(ann, 'ann-sees-typing');
      await input.press('Enter');
      await seesMessage(ann, 'Hi Ann');
      await until('the typing indicator to go away', async () => (await ann.getByTestId('typing-indicator').count()) === 0);
    });

    await step('Ann edits her message and Ben sees the new text', async () => {
      const mine = messageByText(ann, 'Hello Ben, this is Ann').first();
      await mine.locator('.bubble').hover();
      await mine.getByTestId('action-edit').click();
      const input = ann.getByTestId('composer-input');
      await input.fill('Hello Ben, this is Ann (edited)');
      await input.press('Enter');
      const theirs = messageByText(ben, 'Hello Ben, this is Ann (edited)');
      await theirs.waitFor({ timeout: TIMEOUT });
      await theirs.getByTestId('edited-label').waitFor({ timeout: TIMEOUT });
    });

    await step('Ben reacts with 👍 and Ann sees the reaction', async () => {
      const msg = messageByText(ben, 'Hello Ben, this is Ann (edited)').first();
      await msg.locator('.bubble').hover();
      await msg.getByTestId('action-react').click();
      await msg.locator('[data-testid="emoji-picker"] button[data-emoji="👍"]').click();
      const chip = messageByText(ann, 'Hello Ben, this is Ann (edited)').locator('[data-testid="reaction-chip"][data-emoji="👍"]');
      await chip.waitFor({ timeout: TIMEOUT });
      const count = await chip.getAttribute('data-count');
      if (count !== '1') throw new Error(`reaction count ${count}, expected 1`);
      await shot(ann, 'ann-edit-reaction');
      await shot(ben, 'ben-conversation');
    });

    await step('Ben replies quoting a message; the quote is shown to Ann', async () => {
      const msg = messageByText(ben, 'Hello Ben, this is Ann (edited)').first();
      await msg.locator('.bubble').hover();
      await msg.getByTestId('action-reply').click();
      await ben.getByTestId('reply-preview').waitFor({ timeout: TIMEOUT });
      await send(ben, 'Quoting you');
      const reply = messageByText(ann, 'Quoting you').first();
      await reply.waitFor({ timeout: TIMEOUT });
      await reply.getByTestId('reply-quote').waitFor({ timeout: TIMEOUT });
    });

    const groupName = `E2E group ${rand}`;
    await step('Ann creates a group with Ben and Cat; Cat receives its first message', async () => {
      await ann.getByTestId('new-chat').click();
      await ann.getByTestId('tab-group').click();
      await ann.getByTestId('group-name').fill(groupName);
      for (const who of [people.ben, people.cat]) {
        await ann.getByTestId('user-search').fill(who.username);
        const r = ann.locator(`[data-testid="user-result"][data-username="${who.username}"]`);
        await r.waitFor({ timeout: TIMEOUT });
        await r.getByTestId('add-member').click();
      }
      await ann.getByTestId('create-group').click();
      await until('the group to open', async () => (await ann.getByTestId('conversation-title').textContent()) === groupName);
      await send(ann, `Welcome to the group @${people.cat.username}`);
      await openConversation(cat, groupName);
      await seesMessage(cat, 'Welcome to the group');
      await shot(cat, 'cat-group');
    });

    await step('in the group, Ann sees "read by" counts once both have read', async () => {
      await openConversation(ben, groupName);
      await seesMessage(ben, 'Welcome to the group');
      const mine = messageByText(ann, 'Welcome to the group').first();
      await until('read by everyone', async () => (await mine.getByTestId('ticks').getAttribute('data-tick')) === 'read');
      const label = await mine.getByTestId('ticks').getAttribute('title');
      if (!/Read by 2 of 2/.test(label ?? '')) throw new Error(`receipt label "${label}"`);
      await mine.getByTestId('ticks').click();
      const details = await mine.getByTestId('receipt-details').textContent();
      for (const who of [people.ben, people.cat]) {
        if (!details?.includes(who.displayName)) throw new Error(`"read by" details lack ${who.displayName}: ${details}`);
      }
      // No hover toolbar over the text in the picture.
      await ann.evaluate(() => document.activeElement instanceof HTMLElement && document.activeElement.blur());
      await ann.mouse.move(700, 500);
      await shot(ann, 'ann-group-read');
      await namedShot(ann, 'parley-web.png');
      await mine.getByTestId('ticks').click();
    });

    await step('Ben goes offline, Ann sends, Ben comes back and catches up in order', async () => {
      await openConversation(ben, people.ann.displayName);
      await seesMessage(ben, 'Quoting you');
      await contexts.ben.setOffline(true);
      await until("Ben's client to notice", async () => (await ben.getByTestId('connection-banner').getAttribute('data-state')) !== 'online');
      await shot(ben, 'ben-offline');
      await openConversation(ann, people.ben.displayName);
      await until('Ann to see Ben offline with a last-seen time', async () => {
        const st = await peerStatus(ann);
        return st.presence === 'offline' && st.dot === 'offline' && /^last seen/.test(st.text ?? '');
      });
      await shot(ann, 'ann-sees-last-seen');
      const texts = ['offline one', 'offline two', 'offline three'];
      for (const t of texts) await send(ann, t);
      for (const t of texts) await messageByText(ann, t).first().waitFor({ timeout: TIMEOUT });
      await new Promise((r) => setTimeout(r, 500));
      await contexts.ben.setOffline(false);
      await until('Ben back online', async () => (await ben.getByTestId('connection-banner').getAttribute('data-state')) === 'online', TIMEOUT * 3);
      for (const t of texts) await seesMessage(ben, t);
      await until('Ann to see Ben online again', async () => (await peerStatus(ann)).presence === 'online');
      const order = await ben.locator('[data-testid="message-text"]').allTextContents();
      const idx = texts.map((t) => order.findIndex((x) => x.includes(t)));
      if (!(idx[0] < idx[1] && idx[1] < idx[2])) throw new Error(`out of order after catch-up: ${JSON.stringify(order)}`);
      await shot(ben, 'ben-caught-up');
      const last = messageByText(ann, 'offline three').first();
      await until('Ann sees her offline messages read', async () => (await last.getByTestId('ticks').getAttribute('data-tick')) === 'read');
    });

    await step('a message sent while offline is delivered after reconnecting (same id)', async () => {
      await contexts.ben.setOffline(true);
      await until("Ben's client to notice", async () => (await ben.getByTestId('connection-banner').getAttribute('data-state')) !== 'online');
      await send(ben, 'queued while offline');
      const pending = messageByText(ben, 'queued while offline').first();
      await pending.waitFor({ timeout: TIMEOUT });
      const tick = await pending.getByTestId('ticks').getAttribute('data-tick');
      if (tick !== 'sending') throw new Error(`tick while offline: ${tick}`);
      await contexts.ben.setOffline(false);
      await seesMessage(ann, 'queued while offline');
      const copies = await messageByText(ann, 'queued while offline').count();
      if (copies !== 1) throw new Error(`${copies} copies delivered`);
    });

    await step('Cat reports a message in the group; it is marked reported', async () => {
      await openConversation(cat, groupName);
      const msg = await hover(cat, 'Welcome to the group');
      await msg.getByTestId('action-report').click();
      const dialog = cat.getByTestId('report-dialog');
      await dialog.waitFor({ timeout: TIMEOUT });
      await dialog.getByTestId('report-reason').selectOption('Spam');
      await dialog.getByTestId('report-details').fill('e2e report');
      await dialog.getByTestId('report-submit').click();
      await dialog.getByTestId('report-done').waitFor({ timeout: TIMEOUT });
      await shot(cat, 'cat-reported');
      await dialog.getByTestId('report-close').click();
      await messageByText(cat, 'Welcome to the group').first().getByTestId('reported-label').waitFor({ timeout: TIMEOUT });
      if (await messageByText(cat, 'Welcome to the group').first().getByTestId('action-report').count()) throw new Error('Report still offered');
    });

    await step('Ben turns read receipts off: Ann sees "delivered", never "read"', async () => {
      await openConversation(ben, people.ann.displayName);
      await ben.getByTestId('open-settings').click();
      const dialog = ben.getByTestId('settings-dialog');
      await dialog.waitFor({ timeout: TIMEOUT });
      await dialog.getByTestId('setting-read-receipts').uncheck();
      await dialog.getByTestId('save-profile').click();
      await dialog.locator('.form-ok').waitFor({ timeout: TIMEOUT });
      await dialog.getByRole('button', { name: 'Close' }).click();
      await openConversation(ann, people.ben.displayName);
      await send(ann, 'Receipts are off now?');
      await seesMessage(ben, 'Receipts are off now?');
      const mine = messageByText(ann, 'Receipts are off now?').first();
      await until('delivered ticks', async () => (await mine.getByTestId('ticks').getAttribute('data-tick')) === 'delivered');
      await new Promise((r) => setTimeout(r, 1500));
      const tick = await mine.getByTestId('ticks').getAttribute('data-tick');
      if (tick !== 'delivered') throw new Error(`tick "${tick}" with Ben's read receipts off`);
      // Back on: the read watermark shows again.
      await ben.getByTestId('open-settings').click();
      await dialog.getByTestId('setting-read-receipts').check();
      await dialog.getByTestId('save-profile').click();
      await dialog.locator('.form-ok').waitFor({ timeout: TIMEOUT });
      await dialog.getByRole('button', { name: 'Close' }).click();
      await send(ben, 'They are on again');
      await seesMessage(ann, 'They are on again');
      await send(ann, 'Read this one');
      await seesMessage(ben, 'Read this one');
      const next = messageByText(ann, 'Read this one').first();
      await until('read ticks again', async () => (await next.getByTestId('ticks').getAttribute('data-tick')) === 'read');
    });

    await step('Ben hides his presence: after a reload Ann sees no status for him', async () => {
      await ben.getByTestId('open-settings').click();
      const dialog = ben.getByTestId('settings-dialog');
      await dialog.getByTestId('setting-presence-privacy').selectOption('nobody');
      await dialog.getByTestId('save-profile').click();
      await dialog.locator('.form-ok').waitFor({ timeout: TIMEOUT });
      await dialog.getByRole('button', { name: 'Close' }).click();
      await ann.reload();
      await until('Ann back online', async () => (await ann.getByTestId('connection-banner').getAttribute('data-state')) === 'online');
      await openConversation(ann, people.ben.displayName);
      await seesMessage(ann, 'Read this one');
      await new Promise((r) => setTimeout(r, 1000));
      const st = await peerStatus(ann);
      if (st.presence || st.dot) throw new Error(`Ben's presence still visible: ${JSON.stringify(st)}`);
      // Visible again for the rest of the journey.
      await ben.getByTestId('open-settings').click();
      await dialog.getByTestId('setting-presence-privacy').selectOption('everyone');
      await dialog.getByTestId('save-profile').click();
      await dialog.locator('.form-ok').waitFor({ timeout: TIMEOUT });
      await dialog.getByRole('button', { name: 'Close' }).click();
    });

    await step('Ben blocks Ann: both see the chat closed; unblocking reopens it', async () => {
      await openConversation(ben, people.ann.displayName);
      await ben.getByTestId('open-info').click();
      await ben.getByTestId('block-user').click();
      await ben.getByTestId('confirm-block').click();
      const benNotice = ben.getByTestId('blocked-notice');
      await benNotice.waitFor({ timeout: TIMEOUT });
      await until('Ben to see his own block', async () => (await benNotice.getAttribute('data-blocked')) === 'byMe');
      if (await ben.getByTestId('composer-input').count()) throw new Error("Ben's composer still shown");
      const annNotice = ann.getByTestId('blocked-notice');
      await annNotice.waitFor({ timeout: TIMEOUT });
      await until('Ann to see that she cannot send', async () => (await annNotice.getAttribute('data-blocked')) === 'byThem');
      if (await ann.getByTestId('composer-input').count()) throw new Error("Ann's composer still shown");
      await shot(ben, 'ben-blocked');
      await shot(ann, 'ann-blocked');
      // The group with both of them stays open.
      await openConversation(ann, groupName);
      await ann.getByTestId('composer-input').waitFor({ timeout: TIMEOUT });
      await openConversation(ann, people.ben.displayName);
      await ben.getByTestId('unblock-user').click();
      await ben.getByTestId('composer-input').waitFor({ timeout: TIMEOUT });
      await ann.getByTestId('composer-input').waitFor({ timeout: TIMEOUT });
      await send(ann, 'Glad we can talk again');
      await seesMessage(ben, 'Glad we can talk again');
    });

    await step('narrow screens show the list and the conversation as separate screens', async () => {
      await ann.setViewportSize({ width: 390, height: 760 });
      await ann.getByTestId('back-to-list').click();
      await until('list view', async () => (await ann.getByTestId('chat-app').getAttribute('data-view')) === 'list');
      if (await ann.getByTestId('conversation-view').isVisible()) throw new Error('conversation still visible');
      await shot(ann, 'mobile-list');
      await openConversation(ann, people.ben.displayName);
      await seesMessage(ann, 'queued while offline');
      if (await ann.getByTestId('conversation-list').isVisible()) throw new Error('list still visible');
      await shot(ann, 'mobile-conversation');
    });

    await step('sign out returns to the sign-in screen', async () => {
      await cat.getByTestId('open-settings').click();
      await cat.getByTestId('logout').click();
      await cat.getByTestId('auth-form').waitFor({ timeout: TIMEOUT });
    });
  } finally {
    await browser.close();
  }
}

main()
  .catch((err) => {
    failed = true;
    results.push({ name: 'setup', status: 'failed', error: err });
    console.log(`✗ FAIL  setup: ${err?.message ?? err}`);
  })
  .finally(() => {
    const passed = results.filter((r) => r.status === 'passed').length;
    const failures = results.filter((r) => r.status === 'failed').length;
    const skipped = results.filter((r) => r.status === 'skipped').length;
    console.log(`screenshots: ${SHOTS}`);
    console.log(`e2e: ${passed} passed, ${failures} failed${skipped ? `, ${skipped} skipped` : ''}`);
    process.exit(failures > 0 ? 1 : 0);
  });

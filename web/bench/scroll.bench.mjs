#!/usr/bin/env node
/**
 * Scroll benchmark of the conversation view (react-virtuoso) over a long
 * history, in headless Chromium.
 *
 *   npm run build && npm run bench:scroll
 *
 * By default it starts the in-memory mock edge (dev/mock-server.mjs) seeded
 * with BENCH_MESSAGES messages (default 50,000) on BENCH_PORT (default 8095).
 * Set PARLEY_URL plus BENCH_USER / BENCH_PASSWORD / BENCH_CONVERSATION to
 * run against a real system instead.
 *
 * Phase 1 pages upward through the history (GET …/messages?before=&limit=50)
 * by holding the list at its top, and checks after every prepend that the
 * message at the top of the viewport did not move (firstItemIndex technique).
 * Phase 2 wheels through everything that was loaded while recording frame
 * intervals with requestAnimationFrame, and checks that the DOM stays small.
 *
 * Prints a report and a closing line "bench: N passed, M failed".
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 50_000);
const PORT = Number(process.env.BENCH_PORT ?? 8095);
const EXTERNAL = process.env.PARLEY_URL;
const BASE = (EXTERNAL ?? `http://127.0.0.1:${PORT}`).replace(/\/$/, '');
const USER = process.env.BENCH_USER ?? 'alice';
const PASSWORD = process.env.BENCH_PASSWORD ?? 'password123';
const PAGING_LIMIT_S = Number(process.env.BENCH_PAGING_SECONDS ?? 600);
const WHEEL_SECONDS = Number(process.env.BENCH_WHEEL_SECONDS ?? 12);
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HOLD_MS = 200;
const PAGE_SIZE = Number(process.env.BENCH_PAGE_SIZE ?? 500);

const checks = [];
const check = (name, ok, detail) => {
  checks.push({ name, ok, detail });
  console.log(`${ok ? '✓' : '✗'} ${name}${detail ? ` — ${detail}` : ''}`);
};

function pct(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function waitForServer(url, ms = 20_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`server at ${url} did not come up`);
}

async function main() {
  let server = null;
  if (!EXTERNAL) {
    server = spawn(process.execPath, [join(ROOT, 'dev/mock-server.mjs')], {
      env: { ...process.env, PORT: String(PORT), SEED_MESSAGES: String(MESSAGES) },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  try {
    await waitForServer(`${BASE}/healthz`);
    const page = await (await browser.newContext({ viewport: { width: 1100, height: 800 } })).newPage();
    await page.goto(BASE + '/');
    await page.getByTestId('auth-username').fill(USER);
    await page.getByTestId('auth-password').fill(PASSWORD);
    await page.getByTestId('auth-submit').click();
    const item = process.env.BENCH_CONVERSATION
      ? page.locator(`[data-testid="conversation-item"][data-conversation-id="${process.env.BENCH_CONVERSATION}"]`)
      : page.getByTestId('conversation-item').first();
    await item.waitFor({ timeout: 20_000 });
    const t0 = Date.now();
    await item.click();
    await page.getByTestId('message').first().waitFor({ timeout: 20_000 });
    check('first page renders', true, `${Date.now() - t0} ms to first message`);

    const scroller = page.getByTestId('message-list');
    // Hold history pages back briefly so the list's state before each prepend can be observed.
    let hold = false;
    // Unmeasured pages are fetched in bigger slices (BENCH_PAGE_SIZE) so the whole
    // history loads in minutes; measured pages keep the client's own limit of 50.
    await page.route(/\/api\/v1\/conversations\/[^/]+\/messages\?.*before=/, async (route) => {
      if (hold) {
        await new Promise((r) => setTimeout(r, HOLD_MS));
        await route.continue();
        return;
      }
      const url = new URL(route.request().url());
      url.searchParams.set('limit', String(PAGE_SIZE));
      await route.continue({ url: url.toString() });
    });
    const minSeq = () =>
      page.evaluate(() => {
        const seqs = [...document.querySelectorAll('[data-testid="message"][data-seq]')].map((e) => Number(e.getAttribute('data-seq'))).filter((n) => n > 0);
        return seqs.length ? Math.min(...seqs) : Infinity;
      });

    // ---------------------------------------------------------------- phase 1: page upward
    const pagingStart = Date.now();
    let pages = 0;
    let maxJump = 0;
    let jumps = 0;
    let measured = 0;
    let lowest = await minSeq();
    while (Date.now() - pagingStart < PAGING_LIMIT_S * 1000) {
      // Scroll to the top; history answers are held back (see the route below), so
      // the top of the list is rendered and can be noted before the prepend lands.
      // measured on the first 20 prepends and then on every 10th, to keep the run short
      hold = pages < 20 || pages % 10 === 0;
      await scroller.evaluate((el) => {
        el.scrollTop = 0;
      });
      if (hold) await page.waitForTimeout(HOLD_MS / 2);
      const { anchor, anchorTopBefore } = await scroller.evaluate((el) => {
        const top = el.getBoundingClientRect().top;
        const rows = [...el.querySelectorAll('[data-testid="message"]')];
        const first = rows.find((r) => r.getBoundingClientRect().bottom > top + 1);
        return first
          ? { anchor: first.getAttribute('data-message-id'), anchorTopBefore: first.getBoundingClientRect().top - top }
          : { anchor: null, anchorTopBefore: null };
      });
      // wait for the prepend (or the beginning of the conversation)
      let grew = false;
      for (let i = 0; i < 200; i++) {
        await page.waitForTimeout(20);
        const atStart = await page.locator('.list-header', { hasText: 'beginning of the conversation' }).count();
        const m = await minSeq();
        if (m < lowest) {
          lowest = m;
          grew = true;
          break;
        }
        if (atStart) break;
      }
      if (!grew) break;
      pages++;
      if (!hold) continue;
      measured++;
      await page.waitForTimeout(60);
      const anchorTopAfter = await scroller.evaluate(
        (el, id) => {
          const n = el.querySelector(`[data-message-id="${id}"]`);
          return n ? n.getBoundingClientRect().top - el.getBoundingClientRect().top : null;
        },
        anchor,
      );
      if (anchorTopBefore !== null && anchorTopAfter !== null) {
        const jump = Math.abs(anchorTopAfter - anchorTopBefore);
        maxJump = Math.max(maxJump, jump);
        if (jump > 40) jumps++;
      } else if (anchorTopBefore !== null) {
        jumps++;
        if (process.env.BENCH_DEBUG) {
          const dbg = await scroller.evaluate((el) => ({
            top: el.scrollTop,
            ids: [...el.querySelectorAll('[data-testid="message"]')].map((n) => `${n.getAttribute('data-seq')}@${Math.round(n.getBoundingClientRect().top)}`),
          }));
          console.log('anchor lost', anchor, anchorTopBefore, JSON.stringify(dbg));
        }
      }
    }
    const pagingMs = Date.now() - pagingStart;
    const loaded = await page.evaluate(() => document.querySelectorAll('[data-testid="message"]').length);
    console.log(`paging: ${pages} prepends in ${pagingMs} ms (${(pagingMs / Math.max(pages, 1)).toFixed(1)} ms/page), lowest seq ${lowest}`);
    check('pages upward through the whole history', lowest <= 1 || EXTERNAL !== undefined, `lowest seq reached ${lowest}`);
    check('scroll position kept on every prepend', jumps === 0, `max anchor shift ${maxJump.toFixed(1)} px, ${jumps} jumps in ${measured} measured prepends`);
    check('DOM stays virtualized', loaded < 200, `${loaded} message elements in the DOM`);

    // ---------------------------------------------------------------- phase 2: wheel through it
    await scroller.evaluate((el) => {
      el.scrollTop = 0;
    });
    await page.waitForTimeout(300);
    await page.evaluate(() => {
      const w = window;
      w.__frames = [];
      let last = performance.now();
      const tick = (t) => {
        w.__frames.push(t - last);
        last = t;
        if (!w.__stopFrames) requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
    const box = await scroller.boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    const wheelEnd = Date.now() + WHEEL_SECONDS * 1000;
    let wheels = 0;
    while (Date.now() < wheelEnd) {
      await page.mouse.wheel(0, 600);
      wheels++;
      await page.waitForTimeout(16);
    }
    // a few long jumps, like dragging the scrollbar
    for (const f of [0.25, 0.75, 0.5, 0.1, 0.9]) {
      await scroller.evaluate((el, frac) => {
        el.scrollTop = el.scrollHeight * frac;
      }, f);
      await page.waitForTimeout(120);
    }
    const frames = await page.evaluate(() => {
      window.__stopFrames = true;
      return window.__frames.slice(2);
    });
    const sorted = [...frames].sort((a, b) => a - b);
    const long = frames.filter((f) => f > 50).length;
    const scrolled = await scroller.evaluate((el) => ({ top: el.scrollTop, height: el.scrollHeight }));
    const domAfter = await page.evaluate(() => document.querySelectorAll('[data-testid="message"]').length);
    const blank = await scroller.evaluate((el) => el.querySelectorAll('[data-testid="message"]').length === 0);
    console.log(
      `wheel: ${wheels} wheel events, ${frames.length} frames; frame interval p50 ${pct(sorted, 50).toFixed(1)} ms, p95 ${pct(sorted, 95).toFixed(1)} ms, p99 ${pct(sorted, 99).toFixed(1)} ms, max ${sorted[sorted.length - 1].toFixed(1)} ms; ${long} frames > 50 ms; scroll height ${scrolled.height}px`,
    );
    check('smooth scrolling (p95 frame interval ≤ 50 ms)', pct(sorted, 95) <= 50, `p95 ${pct(sorted, 95).toFixed(1)} ms`);
    check('long frames are rare (< 5% over 50 ms)', long / Math.max(frames.length, 1) < 0.05, `${long} of ${frames.length}`);
    check('no blank viewport after jumps', !blank, `${domAfter} message elements rendered`);
  } finally {
    await browser.close();
    server?.kill('SIGTERM');
  }
}

main()
  .catch((err) => {
    check('bench ran', false, err?.message ?? String(err));
  })
  .finally(() => {
    const passed = checks.filter((c) => c.ok).length;
    const failed = checks.length - passed;
    console.log(`bench: ${passed} passed, ${failed} failed`);
    process.exit(failed ? 1 : 0);
  });

/**
 * The dashboard in a real browser: Debian's Chromium driven by playwright-core. The page signs
 * in, shows a queue declared over AMQP, follows its depth live while a publisher runs (no
 * reload), publishes and peeks through its dialogs, and purges the queue. Screenshots go to
 * test/ext/screenshots/ (gitignored) for a person to look at.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import amqplib from 'amqplib';
import type { ChannelModel } from 'amqplib';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startManaged, type Managed } from '../helpers/management.js';
import { eventually } from '../helpers/wait.js';

const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium';
const SCREENSHOTS = resolve(import.meta.dirname, 'screenshots');

let m: Managed;
let conn: ChannelModel;
let browser: BrowserContext;
let page: Page;
let profile: string;
const pageErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install Debian's package (apt-get install chromium) or set CHROMIUM to a Chromium binary`);
  }
  m = await startManaged();
  conn = await amqplib.connect(m.warren.url, { clientProperties: { connection_name: 'dashboard-test-publisher' } });
  const ch = await conn.createChannel();
  await ch.assertQueue('dash-orders', { durable: true });
  await ch.assertQueue('dash-audit', { durable: false, arguments: { 'x-message-ttl': 60000 } });
  await ch.assertExchange('dash-events', 'topic', { durable: true });
  await ch.bindQueue('dash-audit', 'dash-events', 'order.#');
  // a worker that consumes and acks, so the rate chart has deliveries and acks too
  await ch.assertQueue('dash-work', { durable: false });
  const worker = await conn.createChannel();
  await worker.prefetch(50);
  await worker.consume('dash-work', (msg) => msg && setTimeout(() => worker.ack(msg), 20), { consumerTag: 'dash-worker' });
  profile = mkdtempSync(join(tmpdir(), 'warren-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1440, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (msg) => {
    if (msg.type() === 'error') pageErrors.push(msg.text());
  });
  mkdirSync(SCREENSHOTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await conn?.close().catch(() => {});
  await m?.warren.close();
});

const depthCell = (queue: string) => page.locator(`#table-queues tr[data-queue="${queue}"] [data-col="messages_ready"]`);

describe('dashboard in Chromium', () => {
  it('signs in and shows a queue declared over AMQP', async () => {
    await page.goto(`${m.base}/`);
    await page.fill('#login-form [name=user]', 'guest');
    await page.fill('#login-form [name=pass]', 'guest');
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#login', { state: 'hidden' });
    await page.waitForSelector('#live-status.on', { timeout: 10_000 });
    await page.click('#tabs button[data-tab=queues]');
    await page.waitForSelector('#table-queues tr[data-queue="dash-orders"]', { timeout: 10_000 });
    expect(await depthCell('dash-orders').textContent()).toBe('0');
  });

  it('follows the queue depth live while a publisher runs', async () => {
    await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 42));
    const ch = await conn.createChannel();
    const seen = new Set<string>();
    let sent = 0;
    const publisher = setInterval(() => {
      for (let i = 0; i < 25; i++) ch.sendToQueue('dash-orders', Buffer.from(JSON.stringify({ order: ++sent })));
      for (let i = 0; i < 5; i++) ch.publish('dash-events', 'order.created', Buffer.from(`event ${sent}`));
      for (let i = 0; i < 40; i++) ch.sendToQueue('dash-work', Buffer.from(`job ${sent}.${i}`));
    }, 100);
    try {
      await eventually(
        async () => {
          seen.add((await depthCell('dash-orders').textContent()) ?? '');
          return seen.size >= 6;
        },
        15_000,
        'three different depths on the page',
      );
    } finally {
      clearInterval(publisher);
    }
    const numbers = [...seen].map(Number).filter((n) => n > 0);
    expect(numbers.length).toBeGreaterThanOrEqual(2);
    // the page was updated in place, never reloaded
    expect(await page.evaluate(() => (globalThis as unknown as { marker: number }).marker)).toBe(42);
    await eventually(async () => Number(await depthCell('dash-orders').textContent()) === sent, 10_000, 'the final depth on the page');
    // a few seconds of history for the charts, then a look at the overview
    await page.click('#tabs button[data-tab=overview]');
    await new Promise((r) => setTimeout(r, 4000));
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-overview.png'), fullPage: true });
    await page.click('#tabs button[data-tab=queues]');
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-queues.png'), fullPage: true });
  });

  it('publishes a message and peeks at it from the page', async () => {
    const before = Number(await depthCell('dash-audit').textContent());
    await page.click('#table-queues tr[data-queue="dash-audit"] button[data-action=publish]');
    await page.fill('#form-publish [name=payload]', 'published from the dashboard');
    await page.click('#form-publish button[type=submit]');
    await eventually(async () => Number(await depthCell('dash-audit').textContent()) === before + 1, 10_000, 'the published message');
    const q = m.warren.broker.vhost('/')!.queues.get('dash-audit')!;
    expect(q.messageCount).toBe(before + 1);
    await page.click('#table-queues tr[data-queue="dash-audit"] button[data-action=get]');
    await page.fill('#form-get [name=count]', String(before + 1));
    await page.click('#form-get button[type=submit]');
    await page.waitForSelector('#get-result .message');
    expect(await page.locator('#get-result').textContent()).toContain('published from the dashboard');
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-get.png') });
    await page.click('#dlg-get [data-close]');
    // peeking requeues: the depth is unchanged
    expect(q.messageCount).toBe(before + 1);
  });

  it('purges the queue from the page', async () => {
    expect(Number(await depthCell('dash-orders').textContent())).toBeGreaterThan(0);
    await page.click('#table-queues tr[data-queue="dash-orders"] button[data-action=purge]');
    await page.click('#confirm-ok');
    await eventually(async () => (await depthCell('dash-orders').textContent()) === '0', 10_000, 'the purged depth on the page');
    expect(m.warren.broker.vhost('/')!.queues.get('dash-orders')!.messageCount).toBe(0);
  });

  it('shows the other tables', async () => {
    for (const tab of ['exchanges', 'bindings', 'connections', 'channels', 'consumers']) {
      await page.click(`#tabs button[data-tab=${tab}]`);
      await page.waitForSelector(`#panel-${tab} table.data tbody tr`);
    }
    await page.click('#tabs button[data-tab=connections]');
    expect(await page.locator('#panel-connections').textContent()).toContain('dashboard-test-publisher');
    await page.click('#tabs button[data-tab=bindings]');
    expect(await page.locator('#panel-bindings').textContent()).toContain('order.#');
    expect(pageErrors).toEqual([]);
  });
});

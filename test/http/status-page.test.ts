import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { loadConfig } from '../../src/config/load-config.ts';
import { silentLogger } from '../../src/logger.ts';
import { startSentinel, type Sentinel } from '../../src/main.ts';
import { formatTimestamp } from '../../src/core/naming.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { CHROMIUM, chromiumMissing } from '../helpers/browser.ts';

// The status page as a person sees it: the real service (monitor-only, directory storage with backups
// written by hand) and Debian's chromium driven by playwright-core.
// UPDATE_DOCS_SCREENSHOT=1 also saves the screenshots the docs show (docs/images/).
describe('the status page in a real browser', { skip: chromiumMissing() }, () => {
  let browser: Browser;
  let dir: string;
  const sentinels: Sentinel[] = [];
  const HOUR = 3_600_000;

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'status-page-'));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  after(async () => {
    await Promise.all(sentinels.map((s) => s.stop()));
    await browser?.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  // `count` daily backups, the newest `newestAgeHours` old, sizes varying around 40 KB.
  async function backups(sub: string, count: number, newestAgeHours: number): Promise<string[]> {
    const folder = path.join(dir, sub);
    await fs.mkdir(folder, { recursive: true });
    const keys: string[] = [];
    for (let i = 0; i < count; i++) {
      const time = new Date(Date.now() - newestAgeHours * HOUR - (count - 1 - i) * 24 * HOUR);
      const key = `backup-${formatTimestamp(time)}.sql.gz`;
      await fs.writeFile(path.join(folder, key), Buffer.alloc(40_000 + ((i * 7919) % 9_000), i));
      keys.push(key);
    }
    return keys;
  }

  async function serve(sub: string): Promise<Sentinel> {
    const config = loadConfig({ BACKUP_DIR: path.join(dir, sub), SENTINEL_NAME: 'acme-prod backups', LOG_LEVEL: 'silent' });
    const sentinel = await startSentinel({ config, logger: silentLogger(), host: '127.0.0.1', port: 0 });
    sentinels.push(sentinel);
    await waitFor(() => sentinel.monitor.snapshot().lastCheck !== undefined, 'the first check', { timeoutMs: 20_000 });
    return sentinel;
  }

  it('shows the verdict, the newest backup against its limit, a chart point per backup and a restore command', async () => {
    const keys = await backups('fresh', 12, 2);
    const sentinel = await serve('fresh');
    const page = await browser.newPage({ viewport: { width: 1000, height: 1400 } });
    const response = await page.goto(`http://127.0.0.1:${sentinel.port}/`);
    assert.equal(response?.status(), 200);
    assert.match(response?.headers()['content-type'] ?? '', /^text\/html/);
    assert.equal(await page.title(), 'OK · acme-prod backups');
    assert.match(await page.locator('[role=status]').innerText(), /All good/);
    assert.equal(await page.locator('.newest-key').innerText(), keys.at(-1));
    assert.match(await page.getByRole('row', { name: /^Age / }).innerText(), /2\.0 h ago \(limit 25 h\)/);
    assert.equal(await page.locator('svg.chart rect').count(), 12);
    await page.locator('details summary').click();
    assert.match(await page.locator('code.restore').innerText(), new RegExp(`restore --key '${keys.at(-1)}'`));
    // Nothing is fetched from anywhere else: one document, no scripts.
    assert.equal(await page.locator('script').count(), 0);
    assert.equal(await page.locator('meta[http-equiv=refresh]').getAttribute('content'), '60');
    if (process.env.UPDATE_DOCS_SCREENSHOT === '1') await page.screenshot({ path: 'docs/images/status-page.png', fullPage: true });
    await page.close();
  });

  it('says what is wrong and what to do when the newest backup is too old, readable on a phone in dark mode', async () => {
    await backups('stale', 5, 40);
    const sentinel = await serve('stale');
    const page = await browser.newPage({ viewport: { width: 390, height: 844 }, colorScheme: 'dark', isMobile: true });
    await page.goto(`http://127.0.0.1:${sentinel.port}/`);
    const banner = page.locator('[role=status]');
    assert.equal(await banner.getAttribute('data-verdict'), 'fail');
    assert.match(await banner.innerText(), /Backups are at risk[\s\S]*newest backup is 40 h old \(limit 25 h\)/);
    assert.match(await page.locator('.finding.fail').first().innerText(), /What to do: /);
    assert.equal(await page.locator('svg.chart rect').count(), 5);
    // Nothing wider than the phone's screen.
    // Evaluated in the page (as text: this project's TypeScript has no DOM types).
    const overflow = Number(await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'));
    assert.ok(overflow <= 0, `the page is ${overflow} px wider than the screen`);
    const background = String(await page.evaluate('getComputedStyle(document.body).backgroundColor'));
    assert.equal(background, 'rgb(13, 17, 23)', 'dark colours when the browser prefers dark');
    if (process.env.UPDATE_DOCS_SCREENSHOT === '1') await page.screenshot({ path: 'docs/images/status-page-phone-dark.png', fullPage: true });
    await page.close();
  });

  it('gives scripts and curl the endpoint list as JSON at /', async () => {
    const sentinel = sentinels[0];
    assert.ok(sentinel);
    const body = (await (await fetch(`http://127.0.0.1:${sentinel.port}/`)).json()) as { endpoints: string[] };
    assert.ok(body.endpoints.includes('/status'));
  });
});

/**
 * The dashboard's expected band in Debian's Chromium (skipped where it is missing, as
 * test/dashboard.test.ts is): a panel over four weeks of hourly history with one spike in the
 * last day shows the band and marks exactly that bucket. Screenshot in test-artifacts/.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { RecordMetrics } from './operations.js';
import { startApp, type TestApp } from './harness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = 'test-artifacts';
const HOUR = 3_600_000;
// The last whole hour and the spike 5 hours before it: read in beforeAll, when the data is written.
let END = NaN;
let SPIKE = NaN;

describe.runIf(existsSync(CHROMIUM))('dashboard anomaly band in Chromium', () => {
  let app: TestApp;
  let browser: Browser;
  let adminKey: string;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    END = Math.floor(Date.now() / HOUR) * HOUR;
    SPIKE = END - 5 * HOUR;
    app = await startApp('embedded', { ALERT_EVALUATION_CRON: 'off', MAX_BATCH_SIZE: '2000' });
    ({ adminKey } = await app.createTenant());
    const metrics = [];
    for (let t = END - 29 * 24 * HOUR; t < END; t += HOUR) {
      const hour = new Date(t).getUTCHours();
      const wobble = (((t / HOUR) * 7919) % 11) / 5;
      metrics.push({ name: 'load', type: 'GAUGE' as const, value: 100 + 50 * Math.sin((hour / 24) * 2 * Math.PI) + wobble + (t === SPIKE ? 80 : 0), timestamp: new Date(t + 60_000).toISOString() });
    }
    expect((await app.gql(RecordMetrics, { metrics }, adminKey)).data!.recordMetrics.failed).toEqual([]);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  }, 300_000);
  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  test('a panel with the band option draws it and marks the one anomalous hour', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${app.url}/dashboard`);
    await page.getByLabel(/API key or JWT/).fill(adminKey);
    await page.getByRole('button', { name: 'Use this key' }).click();
    await page.getByLabel('Metric or definition').fill('load');
    await page.getByLabel('Range').selectOption('24h');
    await page.getByLabel('Granularity').selectOption('HOUR');
    await page.getByLabel(/Expected band and anomalies/).check();
    await page.getByRole('button', { name: 'Add panel' }).click();

    const panel = page.locator('[data-panel="0"]');
    await expect.poll(() => panel.getAttribute('data-anomalies'), { timeout: 20_000 }).toBe('1');
    const legend = await panel.locator('.u-legend').textContent();
    expect(legend).toContain('load expected low');
    expect(legend).toContain('load anomaly');
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-anomaly-band.png`, fullPage: true });
    expect(errors).toEqual([]);
  }, 60_000);
});

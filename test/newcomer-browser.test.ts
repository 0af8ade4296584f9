/**
 * A newcomer's first hour in Chromium (Debian's, driven by playwright-core): a subscription run
 * from GraphiQL with the key in its Headers tab receives points; `npm run demo` fills the
 * dashboard, whose chart shows the metric's unit on its title, axis and legend, with values
 * in the legend before any hover. Screenshots go to test-artifacts/.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { startApp, type TestApp } from './harness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = 'test-artifacts';
// The demo opens its own embedded engine in a child process: fixed work a busy machine stretches.
const DEMO_TIMEOUT_MS = 10 * 60_000;
const BROWSER_TIMEOUT_MS = 3 * 60_000;
/** expect.poll's 1 s default is shorter than a page's round trip on a busy machine. */
const POLL = { timeout: 60_000, interval: 100 };

describe.runIf(existsSync(CHROMIUM))('a newcomer in Chromium', () => {
  let app: TestApp;
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    app = await startApp('embedded');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  test('GraphiQL opens on the Metrograph example, with the headers template', async () => {
    const page = await browser.newPage();
    await page.goto(`${app.url}/graphql`);
    const editor = page.locator('.graphiql-query-editor');
    const text = async () => ((await editor.textContent()) ?? '').replace(/[\s\u00a0]+/g, ' ');
    await expect.poll(text, { timeout: BROWSER_TIMEOUT_MS, interval: 250 }).toContain('# Welcome to Metrograph. Paste your API key in Headers');
    expect(await text()).toContain('mutation Record');
    expect(await text()).not.toContain('is an in-browser tool');
    expect(((await page.locator('.graphiql-editor-tool').textContent()) ?? '').replace(/[\s\u00a0]+/g, '')).toContain('"Authorization":"Bearer<yourAPIkey>"');
    await page.close();
  }, BROWSER_TIMEOUT_MS);

  test('GraphiQL: a subscription with the key in Headers (as the dashboard’s link fills it) receives points', async () => {
    const { adminKey } = await app.createTenant();
    const record = (value: number) => app.gql(`mutation { recordMetric(input: { name: "gq.live", value: ${value}, type: GAUGE, unit: "ms" }) { id } }`, {}, adminKey);
    await record(1); // the metric exists: a subscription to it is not a typo
    const query = 'subscription { metricRecorded(filter: { metrics: ["gq.live"] }) { point { metric value } } }';
    const headers = JSON.stringify({ Authorization: `Bearer ${adminKey}` });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${app.url}/graphql?query=${encodeURIComponent(query)}#headers=${encodeURIComponent(headers)}`);
    await page.locator('.graphiql-execute-button').click({ timeout: BROWSER_TIMEOUT_MS });
    const response = page.locator('.graphiql-response');
    // Until the subscription is in place a point is not delivered: record until one shows.
    // The editor renders spaces as no-break spaces: compared without any.
    const shown = async () => ((await response.textContent()) ?? '').replace(/[\s\u00a0]+/g, '');
    while (!(await shown()).includes('"value":77')) {
      await record(77);
      await page.waitForTimeout(250);
      expect(await shown()).not.toContain('UNAUTHENTICATED');
    }
    expect(await shown()).toContain('"metric":"gq.live"');
    await page.screenshot({ path: `${ARTIFACTS}/graphiql-subscription.png`, fullPage: true });
    expect(errors).toEqual([]);
    // GraphiQL's bundle and editors load in Chromium: fixed work that a busy machine stretches.
  }, BROWSER_TIMEOUT_MS);

  test(
    'npm run demo fills the dashboard: a p95 panel in ms with values in the legend; Ctrl-C stops it cleanly',
    async () => {
      // node with tsx's loader, as `npm run demo` runs it, without the tsx CLI in between: sent to
      // the CLI alone (not to a terminal's whole process group), a SIGINT is relayed to the demo
      // and, when the demo's receipt is slow to come back on a busy machine, relayed again —
      // which the demo rightly takes as a second Ctrl-C (exit 130).
      const demo = spawn(process.execPath, ['--import', 'tsx', 'src/demo.ts'], { env: { ...process.env, PORT: '0', LOG_LEVEL: 'silent', METROGRAPH_URL: '', METROGRAPH_API_KEY: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      demo.stdout.on('data', (d) => (stdout += String(d)));
      const exited = new Promise<number | null>((resolve) => demo.on('exit', (code) => resolve(code)));
      try {
        await expect.poll(() => /Recording live/.test(stdout), { timeout: DEMO_TIMEOUT_MS, interval: 500 }).toBe(true);
        const url = /Demo service: (http:\/\/localhost:\d+)\//.exec(stdout)![1]!;
        const key = /^ {2}(mg_\S+)$/m.exec(stdout)![1]!;

        const page = await browser.newPage();
        await page.goto(`${url}/dashboard`);
        await page.getByLabel(/API key or JWT/).fill(key);
        await page.getByRole('button', { name: 'Use this key' }).click();
        await page.getByLabel('Metric or definition').fill('http.latency');
        await page.getByLabel('Metric or definition').press('Tab');
        await expect.poll(() => page.locator('#group-by option').allTextContents(), POLL).toContain('route');
        await page.getByLabel('Group by').selectOption('route');
        await page.getByLabel('avg').uncheck();
        await page.getByLabel('p95').check();
        await page.getByRole('button', { name: 'Add panel' }).click();

        const panel = page.locator('[data-panel="0"]');
        await expect.poll(() => panel.evaluate((el: HTMLElement) => Number(el.dataset.count ?? 0)), POLL).toBeGreaterThan(0);
        expect(await panel.evaluate((el: HTMLElement) => el.dataset.groups)).toBe('/api/orders|/api/search|/health|/login');
        expect(await panel.locator('h3').textContent()).toMatch(/\(ms\)$/);
        expect(await panel.locator('.u-legend').textContent()).toContain('/api/orders p95 (ms)');
        // Values in the legend without hovering: numbers, not uPlot's "--".
        const values = await panel.locator('.u-legend .u-series:not(:first-child) .u-value').allTextContents();
        expect(values.length).toBe(4);
        expect(values.every((v) => /^\d/.test(v))).toBe(true);
        // uPlot draws the axis on a canvas: data-unit is what its label and ticks are made from.
        expect(await panel.evaluate((el: HTMLElement) => el.dataset.unit)).toBe('ms');
        // The demo writes every second: the newest minute is still filling, and says so.
        expect(await panel.evaluate((el: HTMLElement) => el.dataset.filling)).toMatch(/^\d{4}-/);
        expect(await panel.locator('.filling').textContent()).toMatch(/^The last bucket \(from .+\) is still filling until .+: it reads low until then\.$/);
        await page.screenshot({ path: `${ARTIFACTS}/demo-dashboard.png`, fullPage: true });

        demo.kill('SIGINT');
        expect(await exited).toBe(0);
        expect(stdout).toMatch(/Stopped after \d+ points\./);
      } finally {
        if (demo.exitCode === null) demo.kill('SIGKILL');
      }
    },
    DEMO_TIMEOUT_MS + 120_000,
  );
});

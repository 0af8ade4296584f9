/**
 * Webhook SSRF (issue 16, item 9): the address is checked after DNS and pinned; private,
 * loopback, link-local, unique-local and metadata targets are refused unless allowed.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { isPrivateAddress, postWebhook } from '../src/alerts/webhook-target.js';

test.each([
  ['169.254.169.254', true], // cloud metadata
  ['100.100.100.200', true], // Alibaba metadata (CGNAT range)
  ['10.1.2.3', true],
  ['172.16.0.1', true],
  ['192.168.1.1', true],
  ['127.0.0.1', true],
  ['0.0.0.0', true],
  ['::1', true],
  ['fd00:ec2::254', true], // AWS metadata over IPv6 (ULA)
  ['fe80::1', true],
  ['::ffff:127.0.0.1', true],
  ['::ffff:10.0.0.1', true],
  ['8.8.8.8', false],
  ['2606:4700:4700::1111', false],
  ['::ffff:8.8.8.8', false],
])('%s is private: %s', (address, expected) => {
  expect(isPrivateAddress(address)).toBe(expected);
});

let url: string;
const server = createServer((_req, res) => res.writeHead(204).end());
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const post = (target: string, allowPrivate: boolean) => postWebhook(target, { headers: { 'content-type': 'application/json' }, body: '{}', timeoutMs: 2_000, allowPrivate });

test('an IP literal and a name that resolves to loopback are refused by default; allowed by the setting', async () => {
  await expect(post(url, false)).rejects.toThrow('refused: private address');
  await expect(post(url.replace('127.0.0.1', 'localhost'), false)).rejects.toThrow('refused: private address');
  await expect(post(url.replace('127.0.0.1', '[::ffff:127.0.0.1]'), false)).rejects.toThrow('refused: private address');
  expect(await post(url, true)).toBe(204);
});

test('a closed port and an open one fail alike: the reason does not tell them apart', async () => {
  const closed = url.replace(/:\d+\//, ':1/');
  await expect(post(closed, true)).rejects.toThrow(/^transport error$/);
});

/**
 * Webhook delivery that cannot be pointed at the service's own network (SSRF): the target's
 * address is checked where it is connected to — after DNS, not on the URL's text — and the
 * connection uses exactly the address that was checked (the lookup is the one the socket
 * uses, so a second resolution cannot swap in 127.0.0.1). Private, loopback, link-local,
 * unique-local, CGNAT (incl. 100.100.100.200), multicast, reserved and cloud-metadata addresses
 * are refused unless WEBHOOK_ALLOW_PRIVATE is set (local development, the tests' receiver).
 *
 * What a delivery log shows of a failure is deliberately coarse: an HTTP status, `refused:
 * private address`, `timed out` or `transport error` — not the socket's error text, which
 * told open ports from closed ones to anyone who could read the log.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP } from 'node:net';

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24],
  ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blocked.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96], ['2001:db8::', 32], ['100::', 64],
] as const) blocked.addSubnet(net, prefix, 'ipv6');

/** Whether `address` (IPv4 or IPv6, IPv4-mapped included) is one a webhook may not reach. */
export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return blocked.check(mapped[1]!, 'ipv4');
  const family = isIP(address);
  if (family === 0) return true;
  return blocked.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

export class RefusedTarget extends Error {}

/** POSTs `body` to `url`; resolves with the HTTP status, or rejects with the coarse reason (see above). */
export function postWebhook(url: string, init: { headers: Record<string, string>; body: string; timeoutMs: number; allowPrivate: boolean }): Promise<number> {
  const target = new URL(url);
  const host = target.hostname.replace(/^\[|\]$/g, '');
  // An IP literal is connected to without a lookup: checked here.
  if (!init.allowPrivate && isIP(host) && isPrivateAddress(host)) return Promise.reject(new RefusedTarget('refused: private address'));
  const lookup = (hostname: string, options: object, callback: (error: Error | null, address: string | LookupAddress[], family?: number) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const list = addresses as LookupAddress[];
      const allowed = init.allowPrivate ? list : list.filter((a) => !isPrivateAddress(a.address));
      if (allowed.length === 0) return callback(new RefusedTarget('refused: private address'), []);
      const all = (options as { all?: boolean }).all;
      if (all) callback(null, allowed);
      else callback(null, allowed[0]!.address, allowed[0]!.family);
    });
  };
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(target, { method: 'POST', headers: { ...init.headers, 'content-length': Buffer.byteLength(init.body) }, lookup: lookup as never, timeout: init.timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (error) => reject(error instanceof RefusedTarget || error.message === 'timed out' ? error : new Error('transport error', { cause: error })));
    req.end(init.body);
  });
}

/**
 * The bare reference of `npm run bench:live`: graphql-ws over `ws` with graphql-js and an
 * in-process EventEmitter. No authentication, no tenants, no filtering, no Redis: what live
 * delivery costs with nothing of Metrograph's. `POST /publish` with `{ "value": n }` emits one
 * point to every subscriber. Prints its URL.
 */
import { EventEmitter, on } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { buildSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';

const schema = buildSchema(`
  type Point { id: ID! metric: String! value: Float! timestamp: String! tags: String }
  type Event { point: Point! dropped: Int! }
  type Query { ok: Boolean }
  type Subscription { metricRecorded: Event! }
`);
const emitter = new EventEmitter();
emitter.setMaxListeners(0);

const roots = {
  ok: () => true,
  metricRecorded: async function* () {
    for await (const [point] of on(emitter, 'point')) yield { metricRecorded: { point, dropped: 0 } };
  },
};

const http = createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/publish') {
    res.writeHead(404).end();
    return;
  }
  let body = '';
  req.on('data', (chunk: Buffer) => (body += chunk));
  req.on('end', () => {
    const { value } = JSON.parse(body) as { value: number };
    emitter.emit('point', { id: randomUUID(), metric: 'bench.live', value, timestamp: new Date().toISOString(), tags: null });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
});
const wss = new WebSocketServer({ server: http, path: '/graphql' });
useServer({ schema, roots: { subscription: roots, query: roots } }, wss);
http.listen(0, '127.0.0.1', () => console.log(`reference at http://127.0.0.1:${(http.address() as AddressInfo).port}`));
process.on('SIGTERM', () => process.exit(0));

/**
 * `metricRecorded` over graphql-ws without running GraphQL once per subscriber and point.
 *
 * The ordinary path costs, for every point and every subscriber: an async iterator step
 * through envelop's wrappers, a graphql execution of the selection set (variables coerced
 * again, scalars serialised again), graphql-ws's message object and JSON.stringify, then one
 * socket write. With a few thousand dashboards watching the same metric, that is the same
 * work done a few thousand times. Here, for a WebSocket subscription whose only root field is
 * `metricRecorded`:
 *
 *   - the source stream (the subscriber's feed) is created as usual, through envelop, so rate
 *     limits, metrics, error masking and the end-of-subscription hooks apply as before;
 *   - each point is executed once per distinct selection (the root field without its
 *     arguments, the fragments it uses and the variables it reads) and `dropped` count, by
 *     graphql-js on the same schema, and the JSON of that result is shared by every
 *     subscriber with that selection (a WeakMap on the point: it goes when the point goes);
 *   - the subscriber's own message is `{"id":<id>,"type":"next","payload":<that JSON>}`,
 *     byte for byte what graphql-ws would send, written straight to its socket;
 *   - a client that falls behind gets its waiting messages (up to MAX_BATCH) in one socket
 *     write, still one protocol message per point; the next batch waits for that write's
 *     callback, so a stalled socket stops the pulling and the feed's drop-oldest buffer takes
 *     the rest, counted in `dropped` as before.
 *
 * What graphql-ws still does for these subscriptions: subscribe, validation, errors of the
 * subscribe step, `complete` from either side, and ending everything when the socket closes
 * (it calls return() on the iterator this returns, which closes the feed). Its `onNext` hook
 * is not called for these messages: the shared payload has no errors to translate, and the
 * rare one with errors is masked here (INTERNAL, logged).
 *
 * Credentials: nothing here outlives the connection's checks. The operation is authorised when
 * it subscribes (server.ts onSubscribe and the resolver's tenant check), and the connection's
 * periodic re-check closes the socket (4403), which ends this feed before its next write.
 * `flush` in deliverDirectly is where every message of these subscriptions passes, in place
 * of graphql-ws's onNext: a per-message check belongs there.
 */
import {
  createSourceEventStream,
  execute,
  getOperationAST,
  GraphQLError,
  Kind,
  print,
  visit,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type FieldNode,
  type FragmentDefinitionNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from '../log.js';
import type { Feed } from './feed.js';

/** Messages written together when a client is behind: bounds what leaves the drop-oldest buffer at once. */
export const MAX_BATCH = 64;

/** The parts of a `ws` WebSocket used here. */
interface Socket {
  readonly readyState: number;
  readonly OPEN: number;
  send(data: string, callback?: (error?: Error) => void): void;
  /** ws's underlying net.Socket: corked around a batch so it leaves in one write. */
  _socket?: { cork(): void; uncork(): void };
}

/** What server.ts puts in a WebSocket operation's context. */
interface WsContext {
  socket?: unknown;
  operationId?: unknown;
}

const isSocket = (value: unknown): value is Socket =>
  typeof value === 'object' && value !== null && typeof (value as Socket).send === 'function' && typeof (value as Socket).readyState === 'number';

const isPromise = <T>(value: T | Promise<T>): value is Promise<T> => typeof (value as Promise<T>)?.then === 'function';

const isFeed = (value: unknown): value is Feed<unknown, { item: object; dropped: number }> =>
  typeof value === 'object' && value !== null && typeof (value as Feed<unknown, unknown>).attach === 'function';

/**
 * What decides the per-event result besides the event: the root field without its arguments
 * (they only choose the events), the fragments it spreads, and the variables those read.
 * Null when the operation is not a lone `field` subscription without directives.
 */
export function selectionKey(document: DocumentNode, operationName: string | null | undefined, variables: Record<string, unknown> | null | undefined, field: string): string | null {
  const operation = getOperationAST(document, operationName);
  if (operation?.operation !== 'subscription' || operation.directives?.length) return null;
  const [root, ...rest] = operation.selectionSet.selections;
  if (!root || rest.length > 0 || root.kind !== Kind.FIELD || root.name.value !== field || root.directives?.length) return null;
  const stripped: FieldNode = { ...root, arguments: [] };
  const fragments = new Map(document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]));
  const used = new Set<string>();
  const read = new Set<string>();
  const walk = (node: FieldNode | FragmentDefinitionNode) =>
    visit(node, {
      FragmentSpread(spread) {
        const name = spread.name.value;
        const definition = fragments.get(name);
        if (used.has(name) || !definition) return;
        used.add(name);
        walk(definition);
      },
      Variable(variable) {
        read.add(variable.name.value);
      },
    });
  walk(stripped);
  const parts = [print(stripped), ...[...used].sort().map((name) => print(fragments.get(name)!))];
  const values = [...read].sort().map((name) => [name, variables?.[name] ?? null]);
  return `${parts.join('\n')}\n${JSON.stringify(values)}`;
}

/** graphql-ws's `next` message for `id` around an already serialised payload (same bytes as its JSON.stringify). */
export const nextMessagePrefix = (id: string) => `{"id":${JSON.stringify(id)},"type":"next","payload":`;

/** A payload's JSON, or its promise while the first execution of its event runs. */
type Payload = string | Promise<string>;

/** Writes a feed's messages to a socket as they come, in batches when behind. */
export function deliverDirectly<M>(feed: Feed<unknown, M>, socket: Socket, id: string, payloadOf: (message: M) => Payload): void {
  const prefix = nextMessagePrefix(id);
  let writing = false;
  const written = (error?: Error) => {
    writing = false;
    // A failed write means the socket is going: its close handler ends the subscription.
    if (!error) flush();
  };
  const failed = (error: unknown) => {
    writing = false;
    feed.fail(error instanceof Error ? error : new Error(String(error)));
  };
  function write(payloads: readonly string[]) {
    if (feed.closed || socket.readyState !== socket.OPEN) {
      writing = false;
      return;
    }
    const raw = socket._socket;
    raw?.cork();
    try {
      const last = payloads.length - 1;
      for (let i = 0; i <= last; i++) socket.send(`${prefix}${payloads[i]}}`, i === last ? written : undefined);
    } catch (error) {
      failed(error);
    } finally {
      raw?.uncork();
    }
  }
  function flush() {
    // graphql-ws ends the feed when the socket closes; until then a closing socket takes nothing.
    if (writing || feed.closed || socket.readyState !== socket.OPEN) return;
    const payloads: Payload[] = [];
    let pending = false;
    try {
      for (let message = feed.pull(); message !== undefined; message = payloads.length < MAX_BATCH ? feed.pull() : undefined) {
        const payload = payloadOf(message);
        if (typeof payload !== 'string') pending = true;
        payloads.push(payload);
      }
    } catch (error) {
      failed(error);
      return;
    }
    if (payloads.length === 0) return;
    writing = true;
    if (pending) Promise.all(payloads).then(write, failed);
    else write(payloads as string[]);
  }
  feed.attach(flush);
}

/** The yoga plugin: WebSocket subscriptions to `field` are delivered as above. */
export function useDirectDelivery(options: { field: string; log: Logger }): Plugin {
  const { field, log } = options;
  // Per event (a point object shared by all its subscribers on this instance), per selection key: the payload's JSON.
  const payloads = new WeakMap<object, Map<string, Payload>>();

  /** One execution of the selection set over `event`, as graphql-ws would have sent it. */
  function serialise(args: ExecutionArgs, event: object): Payload {
    // Asynchronous only if the root field's resolver is: src/plugins/zod-once.ts leaves a
    // subscription's resolve unwrapped (plain plugin-zod made it async, parsing the arguments per event).
    const result = execute({ ...args, rootValue: event });
    return isPromise(result) ? result.then(toJson) : toJson(result);
  }

  function toJson(result: ExecutionResult): string {
    if (!result.errors?.length) return JSON.stringify({ data: result.data });
    // Unexpected (the fields below the root only read the event): masked like any other internal error.
    log.error({ err: result.errors.map((e) => e.message).join('; ') }, `${field}: a point could not be serialised`);
    const errors = result.errors.map((error) => {
      const original = error.originalError;
      if (original instanceof GraphQLError && original.extensions?.code) return new GraphQLError(original.message, { path: error.path, extensions: original.extensions }).toJSON();
      return new GraphQLError('Unexpected error.', { path: error.path, extensions: { code: 'INTERNAL' } }).toJSON();
    });
    return JSON.stringify({ data: result.data, errors });
  }

  return {
    onSubscribe({ args, setSubscribeFn }) {
      const context = args.contextValue as WsContext;
      const { socket, operationId } = context;
      if (!isSocket(socket) || typeof operationId !== 'string') return;
      const key = selectionKey(args.document, args.operationName, args.variableValues as Record<string, unknown> | undefined, field);
      if (key === null) return;
      setSubscribeFn(async (subscribeArgs) => {
        const source = await createSourceEventStream(subscribeArgs);
        if (!isFeed(source)) {
          if (Symbol.asyncIterator in source) throw new Error(`${field} must return a feed to be delivered directly`);
          return source; // the errors of the subscribe step, masked by yoga as usual
        }
        const payloadOf = ({ item, dropped }: { item: object; dropped: number }) => {
          let byKey = payloads.get(item);
          if (!byKey) payloads.set(item, (byKey = new Map()));
          const k = dropped === 0 ? key : `${key}\u0000${dropped}`;
          let json = byKey.get(k);
          if (json === undefined) {
            json = serialise(subscribeArgs, { item, dropped });
            // Once known, later subscribers of the event get the string itself.
            if (typeof json !== 'string') void json.then((text) => byKey.set(k, text), () => byKey.delete(k));
            byKey.set(k, json);
          }
          return json;
        };
        let started = false;
        // graphql-ws registers the subscription and then pulls: the first next() is when writing may begin.
        return {
          [Symbol.asyncIterator]() {
            return this;
          },
          next() {
            if (!started) {
              started = true;
              deliverDirectly(source, socket, operationId, payloadOf);
            }
            return source.next() as Promise<IteratorResult<ExecutionResult>>;
          },
          return: () => source.return!() as Promise<IteratorResult<ExecutionResult>>,
          throw: (error?: unknown) => source.throw!(error) as Promise<IteratorResult<ExecutionResult>>,
        };
      });
    },
  };
}

/**
 * A subscriber's outgoing queue as an async iterator, bounded by its buffer policy: graphql-ws
 * pulls the next message only after the previous one reached the socket, so a client that
 * stops reading stops the pulling, and the buffer, not the server's memory, takes the rest.
 *
 * `return()` (the client completed or disconnected) ends the feed at once, even while the
 * consumer waits for a message, and runs `onClose` exactly once: nothing is left behind.
 */
export interface Buffer<In, Out> {
  add(item: In): void;
  /** The next message, or undefined when there is none. */
  take(): Out | undefined;
}

export interface Feed<In, Out> extends AsyncIterableIterator<Out> {
  push(item: In): void;
  /** Ends the feed with an error (the subscription gets it). */
  fail(error: Error): void;
  readonly closed: boolean;
  /**
   * Hands the messages to a synchronous consumer (src/realtime/direct-delivery.ts): from now on
   * `wake` is called after each push and the consumer takes messages with `pull()`; `next()`
   * yields nothing and only settles when the feed ends (done) or fails (rejects), so the async
   * iterator still carries the subscription's end to graphql-ws.
   */
  attach(wake: () => void): void;
  /** The next message for an attached consumer, or undefined (none waiting, or closed). */
  pull(): Out | undefined;
}

export function createFeed<In, Out>(buffer: Buffer<In, Out>, onClose: () => void): Feed<In, Out> {
  let waiting: { resolve: (result: IteratorResult<Out>) => void; reject: (error: Error) => void } | null = null;
  let closed = false;
  let failure: Error | null = null;
  let wake: (() => void) | null = null;

  const close = () => {
    if (closed) return;
    closed = true;
    onClose();
  };

  const feed: Feed<In, Out> = {
    get closed() {
      return closed;
    },
    push(item) {
      if (closed) return;
      buffer.add(item);
      if (wake) wake();
      else if (waiting) {
        const next = buffer.take();
        if (next !== undefined) {
          const { resolve } = waiting;
          waiting = null;
          resolve({ value: next, done: false });
        }
      }
    },
    fail(error) {
      if (closed) return;
      failure = error;
      close();
      if (waiting) {
        waiting.reject(error);
        waiting = null;
      }
    },
    attach(consumer) {
      wake = consumer;
      // Whatever arrived before the consumer was ready goes out now.
      if (!closed) consumer();
    },
    pull() {
      return closed ? undefined : buffer.take();
    },
    next() {
      if (failure) return Promise.reject(failure);
      if (closed) return Promise.resolve({ value: undefined, done: true });
      const next = wake ? undefined : buffer.take();
      if (next !== undefined) return Promise.resolve({ value: next, done: false });
      return new Promise((resolve, reject) => (waiting = { resolve, reject }));
    },
    return() {
      close();
      if (waiting) {
        waiting.resolve({ value: undefined, done: true });
        waiting = null;
      }
      return Promise.resolve({ value: undefined, done: true });
    },
    throw(error?: unknown) {
      close();
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    },
    [Symbol.asyncIterator]() {
      return feed;
    },
  };
  return feed;
}

/** Keeps the newest `max` items; drops the oldest beyond that and says how many with the next one out. */
export function dropOldest<T>(max: number): Buffer<T, { item: T; dropped: number }> & { readonly size: number } {
  // A ring: constant time at both ends, whatever the size.
  const ring: Array<T | undefined> = new Array(max);
  let head = 0;
  let size = 0;
  let dropped = 0;
  return {
    get size() {
      return size;
    },
    add(item) {
      if (size === max) {
        ring[head] = undefined;
        head = (head + 1) % max;
        size--;
        dropped++;
      }
      ring[(head + size) % max] = item;
      size++;
    },
    take() {
      if (size === 0) return undefined;
      const item = ring[head] as T;
      ring[head] = undefined;
      head = (head + 1) % max;
      size--;
      const out = { item, dropped };
      dropped = 0;
      return out;
    },
  };
}

/** Keeps one pending message, merging each new item into it: only the newest state waits. */
export function latestOnly<T>(merge: (pending: T, item: T) => T): Buffer<T, T> {
  let pending: T | undefined;
  return {
    add(item) {
      pending = pending === undefined ? item : merge(pending, item);
    },
    take() {
      const out = pending;
      pending = undefined;
      return out;
    },
  };
}

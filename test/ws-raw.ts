/** The graphql-ws protocol by hand, for tests that compare its messages exactly. */
import WebSocket from 'ws';
import type { TestApp } from './harness.js';

export interface Message {
  type: string;
  id?: string;
  payload?: any;
}

/** A raw graphql-ws connection: send messages, wait for the next one of a kind, see how it closed. */
export async function openRawSocket(app: TestApp, connectionParams?: Record<string, unknown>) {
  const socket = new WebSocket(`${app.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
  const inbox: Message[] = [];
  const waiters: Array<() => void> = [];
  let closed: { code: number; reason: string } | undefined;
  socket.on('message', (data) => {
    inbox.push(JSON.parse(String(data)) as Message);
    waiters.splice(0).forEach((w) => w());
  });
  socket.on('close', (code, reason) => {
    closed = { code, reason: String(reason) };
    waiters.splice(0).forEach((w) => w());
  });
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  const send = (message: Message) => socket.send(JSON.stringify(message));
  /** The next message matching `match`, taken out of the inbox; rejects if the socket closes first. */
  const next = async (match: (m: Message) => boolean): Promise<Message> => {
    for (;;) {
      const index = inbox.findIndex(match);
      if (index >= 0) return inbox.splice(index, 1)[0]!;
      if (closed) throw new Error(`socket closed ${closed.code} ${closed.reason}`);
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  /**
   * Calls `act` until a message matching `match` comes: a subscription is in place only some
   * time after its subscribe message (the server checks it asynchronously), and a point
   * recorded before then is not delivered. No bound on how long that takes.
   */
  const nextAfter = async (act: () => Promise<unknown>, match: (m: Message) => boolean): Promise<Message> => {
    for (;;) {
      await act();
      for (let wait = 0; wait < 10; wait++) {
        const index = inbox.findIndex(match);
        if (index >= 0) return inbox.splice(index, 1)[0]!;
        if (closed) throw new Error(`socket closed ${closed.code} ${closed.reason}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }
  };
  const whenClosed = async () => {
    while (!closed) await new Promise<void>((resolve) => waiters.push(resolve));
    return closed;
  };
  send({ type: 'connection_init', ...(connectionParams ? { payload: connectionParams } : {}) });
  await next((m) => m.type === 'connection_ack');
  return { send, next, nextAfter, inbox, whenClosed, close: () => socket.close() };
}

export type RawSocket = Awaited<ReturnType<typeof openRawSocket>>;

/**
 * [code, message] of each error a subscription was refused with: an `error` message (refused
 * before it ran: auth, validation) or a `next` whose payload has errors (its resolver threw).
 * Null when the message carries no error.
 */
export function refusal(message: Message): Array<[string, string]> | null {
  const errors = message.type === 'error' ? message.payload : message.type === 'next' ? message.payload?.errors : undefined;
  return errors?.length ? errors.map((e: { message: string; extensions?: { code?: string } }) => [e.extensions?.code ?? 'NO_CODE', e.message]) : null;
}

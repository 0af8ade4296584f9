/**
 * What `npm start` tells a person while it starts: each slow step as it begins (opening the
 * embedded engine is silent for tens of seconds), and a port already in use as one line that
 * says what to change, instead of two stack traces.
 */
import { createServer } from 'node:net';

/** Writes each step, and every `everyMs` a line saying it is still going, until the next step or `done`. */
export function startupProgress(write: (line: string) => void, everyMs = 5_000) {
  const started = Date.now();
  let current: { step: string; since: number } | undefined;
  const ticker = setInterval(() => {
    if (current) write(`  … still ${current.step} (${Math.round((Date.now() - current.since) / 1000)} s)`);
  }, everyMs);
  ticker.unref();
  return {
    step(step: string) {
      current = { step, since: Date.now() };
      write(`  ${step}…`);
    },
    done() {
      clearInterval(ticker);
      current = undefined;
      return Date.now() - started;
    },
  };
}

/** True when the error says the address is taken (listen's EADDRINUSE). */
export function isPortInUse(error: unknown): boolean {
  return (error as { code?: string })?.code === 'EADDRINUSE';
}

/** The one line for a port in use. */
export function portInUseMessage(port: number, host: string): string {
  return `Port ${port} on ${host} is already in use (another Metrograph?). Set PORT to a free one, e.g. PORT=${port + 1} npm start`;
}

/** Checks the port before the slow start: resolves true when something already listens there. */
export function portTaken(port: number, host: string): Promise<boolean> {
  if (port === 0) return Promise.resolve(false);
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', (error) => resolve(isPortInUse(error)));
    probe.listen(port, host, () => probe.close(() => resolve(false)));
  });
}

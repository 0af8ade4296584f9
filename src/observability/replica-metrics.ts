/**
 * Read replicas on /metrics: each replica's lag and whether it takes reads, and where reads
 * ran (a replica, or the primary and why). Labels are bounded: replica names come from
 * DATABASE_READ_URLS (host:port/database, no credentials), reasons from a fixed set.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ReplicatedReads } from '../db/replicas.js';

export function registerReplicaMetrics(registers: Registry[], reads: ReplicatedReads): void {
  new Gauge({
    name: 'metrograph_db_replica_lag_seconds',
    help: 'Age of the oldest WAL a read replica has not replayed (absent while it is down or promoted).',
    labelNames: ['replica'],
    registers,
    collect() {
      this.reset();
      for (const r of reads.status()) if (r.lagMs !== null) this.set({ replica: r.name }, r.lagMs / 1000);
    },
  });
  new Gauge({
    name: 'metrograph_db_replica_in_rotation',
    help: 'Whether a read replica takes reads (1), or is out (0): down, promoted or lagging past DATABASE_READ_MAX_LAG_MS.',
    labelNames: ['replica', 'state'],
    registers,
    collect() {
      this.reset();
      for (const r of reads.status()) this.set({ replica: r.name, state: r.state }, r.state === 'up' ? 1 : 0);
    },
  });
  // The router keeps its own totals; a counter only goes up, so each scrape adds what is new.
  const seen = new Map<string, number>();
  const add = (counter: Counter<'target' | 'reason'>, labels: { target: string; reason: string }, total: number) => {
    const key = `${labels.target}\u0000${labels.reason}`;
    counter.inc(labels, total - (seen.get(key) ?? 0));
    seen.set(key, total);
  };
  new Counter({
    name: 'metrograph_db_reads_total',
    help: 'Tenant reads by where they ran: a replica (reason current), or the primary and why (behind: no replica had replayed the tenant’s last write in time; lagging, unavailable: no replica in rotation; lsn_unknown: Redis could not say; replica_failed: retried after a replica failed).',
    labelNames: ['target', 'reason'],
    registers,
    collect() {
      for (const r of reads.status()) add(this, { target: r.name, reason: 'current' }, r.reads);
      for (const [reason, total] of Object.entries(reads.primaryReads())) add(this, { target: 'primary', reason }, total);
    },
  });
  let shareFailuresSeen = 0;
  new Counter({
    name: 'metrograph_db_lsn_share_failures_total',
    help: 'Write positions that could not be stored in Redis (read-your-writes then holds only on the writing instance).',
    registers,
    collect() {
      this.inc(reads.lsnShareFailures - shareFailuresSeen);
      shareFailuresSeen = reads.lsnShareFailures;
    },
  });
}

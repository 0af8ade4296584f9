/**
 * What a tenant's data takes on disk: raw points (compressed and not) and each aggregate
 * level, from `tenant_storage_stats()` (a security definer function that counts only the
 * transaction's tenant).
 */
import { sql } from 'kysely';
import type { TenantTx } from '../db/tenant.js';

export interface StorageRow {
  relation: string;
  rows: number;
  bytes: number;
  compressed_rows: number;
  compressed_bytes: number;
  uncompressed_bytes: number;
}

/** One aggregate level: its stats and sketch relations (and its tag groups'), summed. */
export interface LevelStorage {
  level: string;
  rows: number;
  bytes: number;
  compressedRows: number;
  compressedBytes: number;
  uncompressedBytes: number;
}

export interface StorageStats {
  raw: StorageRow;
  /** One entry per level (1m, 5m, 1h, 1d, in that order). */
  aggregates: LevelStorage[];
}

export async function readStorageStats(trx: TenantTx): Promise<StorageStats> {
  const { rows } = await sql<StorageRow>`select relation, rows::float8 as rows, bytes::float8 as bytes, compressed_rows::float8 as compressed_rows,
    compressed_bytes::float8 as compressed_bytes, uncompressed_bytes::float8 as uncompressed_bytes from tenant_storage_stats()`.execute(trx);
  const raw = rows.find((r) => r.relation === 'raw')!;
  const levels = new Map<string, LevelStorage>();
  for (const row of rows.filter((r) => r.relation !== 'raw')) {
    const level = row.relation.replace(/^(group_)?(stats|sketch)_/, '');
    const entry = levels.get(level) ?? { level, rows: 0, bytes: 0, compressedRows: 0, compressedBytes: 0, uncompressedBytes: 0 };
    entry.rows += Number(row.rows);
    entry.bytes += Number(row.bytes);
    entry.compressedRows += Number(row.compressed_rows);
    entry.compressedBytes += Number(row.compressed_bytes);
    entry.uncompressedBytes += Number(row.uncompressed_bytes);
    levels.set(level, entry);
  }
  const order = ['1m', '5m', '1h', '1d'];
  return { raw, aggregates: [...levels.values()].sort((a, b) => order.indexOf(a.level) - order.indexOf(b.level)) };
}

/**
 * `metricRecorded` subscribers grouped by their filter (tenant, metrics, tags): one bus listener
 * per distinct filter matches each point once and pushes it to every feed of the group. A
 * thousand dashboards on the same metric cost one tag match per point, not a thousand; each
 * feed keeps its own drop-oldest buffer, so one slow client still loses only its own points.
 *
 * The bus already indexes listeners by tenant and metric, so a point reaches only the groups of
 * its tenant that name its metric.
 */
import type { Tags } from '../db/tables.js';
import { tagsKey } from '../ingest/record-item.js';
import type { LivePoint, PointBus } from './bus.js';
import { createFeed, dropOldest, type Feed } from './feed.js';
import { matchesTags } from './live-aggregates.js';

export type RecordedFeed = Feed<LivePoint, { item: LivePoint; dropped: number }>;

export interface RecordedFeeds {
  /** A feed of the tenant's committed points of `metrics` whose tags include `tags`; it leaves its group when it ends. */
  subscribe(tenantId: string, metrics: readonly string[], tags: Tags, bufferPoints: number): RecordedFeed;
  /** Distinct filters listening, and feeds in them. */
  stats(): { filters: number; subscribers: number };
}

export function createRecordedFeeds(bus: PointBus): RecordedFeeds {
  const groups = new Map<string, { feeds: Set<RecordedFeed>; unsubscribe: () => void }>();
  return {
    subscribe(tenantId, metrics, tags, bufferPoints) {
      const names = [...new Set(metrics)].sort();
      const key = JSON.stringify([tenantId, names, tagsKey(tags)]);
      let found = groups.get(key);
      if (!found) {
        const feeds = new Set<RecordedFeed>();
        const unsubscribe = bus.subscribe(
          tenantId,
          (points) => {
            for (const point of points) {
              if (!matchesTags(point.tags, tags, [])) continue;
              for (const feed of feeds) feed.push(point);
            }
          },
          names,
        );
        groups.set(key, (found = { feeds, unsubscribe }));
      }
      const group = found;
      const { feeds } = group;
      const feed: RecordedFeed = createFeed(dropOldest<LivePoint>(bufferPoints), () => {
        feeds.delete(feed);
        if (feeds.size > 0) return;
        groups.delete(key);
        group.unsubscribe();
      });
      feeds.add(feed);
      return feed;
    },
    stats() {
      let subscribers = 0;
      for (const group of groups.values()) subscribers += group.feeds.size;
      return { filters: groups.size, subscribers };
    },
  };
}

const byBus = new WeakMap<PointBus, RecordedFeeds>();

/** The groups of `bus` (one per bus, so per server). */
export function recordedFeeds(bus: PointBus): RecordedFeeds {
  let feeds = byBus.get(bus);
  if (!feeds) byBus.set(bus, (feeds = createRecordedFeeds(bus)));
  return feeds;
}

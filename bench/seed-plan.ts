import type { Location } from '../src/config/types.ts';
import { backupKey, manifestKey } from '../src/core/naming.ts';
import type { SeedObject } from '../test/helpers/s3-server.ts';

// What the monitor measurement seeds into the local S3 server: `count` backups named as the service
// names them, one every `intervalMinutes`, the newest at `newest`, each with its manifest beside it
// (as the service leaves them), so the bucket looks like years of real backup-sentinel history.
export interface SeedPlan {
  location: Location;
  count: number;
  // ISO time of the newest backup.
  newest: string;
  intervalMinutes: number;
  // Size of the oldest backup in bytes; each later one is a byte larger (steady growth, no anomaly).
  baseSize: number;
  withManifests: boolean;
}

// The objects of a plan, oldest first. Sizes stay small (the server writes real bytes), which changes
// nothing for the monitor: listing costs depend on the number of keys, not on their sizes.
export function planSeedObjects(plan: SeedPlan): SeedObject[] {
  const newest = new Date(plan.newest).getTime();
  const objects: SeedObject[] = [];
  for (let i = 0; i < plan.count; i++) {
    const startedAt = new Date(newest - (plan.count - 1 - i) * plan.intervalMinutes * 60_000);
    const key = backupKey(plan.location, startedAt, { format: 'plain', compression: 'zstd', encrypted: false });
    const uploadedAt = new Date(startedAt.getTime() + 10_000);
    objects.push({ key, size: plan.baseSize + i, lastModified: uploadedAt });
    if (plan.withManifests) {
      objects.push({ key: manifestKey(key), body: JSON.stringify({ key, size: plan.baseSize + i, seeded: true }), lastModified: uploadedAt });
    }
  }
  return objects;
}

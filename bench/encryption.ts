// Standalone benchmark of the age encryption stage: MB/s of a passthrough, the encrypt stream and
// the decrypt stream over the same incompressible bytes. Usage: npx tsx bench/encryption.ts [MiB]
import { measureEncryptionCost } from '../src/crypto/measure-encryption-cost.ts';

const mib = Number(process.argv[2] ?? 512);
if (!Number.isFinite(mib) || mib <= 0) {
  console.error(`usage: npx tsx bench/encryption.ts [MiB > 0], got ${JSON.stringify(process.argv[2])}`);
  process.exit(2);
}
const rssBefore = process.memoryUsage().rss;
const cost = await measureEncryptionCost(mib * 1024 * 1024);
const rssGrowthMiB = Math.round((process.memoryUsage().rss - rssBefore) / 1024 / 1024);
console.log(JSON.stringify({ ...cost, rssGrowthMiB }, null, 2));

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// The package version, read once from package.json (found from src/ in development and dist/src/ in
// the image); "unknown" when it cannot be read.
export function readVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i += 1) {
    const file = path.join(dir, 'package.json');
    try {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'backup-sentinel' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not here: look one folder up
    }
    dir = path.dirname(dir);
  }
  return 'unknown';
}

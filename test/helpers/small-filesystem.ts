import { execa } from 'execa';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface SmallFilesystem {
  dir: string;
  unmount(): Promise<void>;
}

// A real, tiny filesystem (tmpfs of `sizeBytes`) to run out of space on. Needs root (CI runs as root);
// returns a reason instead where mounting is not possible, so the caller can skip with it.
export async function mountSmallFilesystem(sizeBytes: number): Promise<SmallFilesystem | { skip: string }> {
  if (process.platform !== 'linux') return { skip: 'needs Linux tmpfs' };
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return { skip: 'mounting a tmpfs needs root (CI runs as root)' };
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'full-disk-'));
  try {
    await execa('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0777`, 'tmpfs', dir]);
  } catch (error) {
    await fs.rmdir(dir).catch(() => undefined);
    return { skip: `cannot mount a tmpfs here: ${(error as Error).message.split('\n')[0] ?? ''}` };
  }
  return {
    dir,
    async unmount() {
      await execa('umount', [dir]).catch(() => undefined);
      await fs.rmdir(dir).catch(() => undefined);
    },
  };
}

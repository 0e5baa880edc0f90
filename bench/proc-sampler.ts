import fs from 'node:fs';

// Samples a process tree while it runs: regular files its processes hold open for writing (temp
// disk), and the sizes of those files. Linux /proc only.

function childrenOf(): Map<number, number[]> {
  const map = new Map<number, number[]>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = map.get(ppid) ?? [];
      list.push(Number(name));
      map.set(ppid, list);
    } catch {
      // the process ended meanwhile
    }
  }
  return map;
}

function tree(root: number): number[] {
  const children = childrenOf();
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

export interface WriteSample {
  // Largest total size seen of the regular files open for writing at one time.
  peakTempBytes: number;
  files: Set<string>;
  processes: Set<string>;
}

// Samples every `intervalMs` until stop() is called.
export function sampleWrites(rootPid: number, intervalMs = 200): { stop(): WriteSample } {
  const result: WriteSample = { peakTempBytes: 0, files: new Set(), processes: new Set() };
  const tick = () => {
    let total = 0;
    for (const pid of tree(rootPid)) {
      try {
        result.processes.add(fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
        for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
          // 0-2 are inherited (the benchmark's own terminal or log file), not files the service made.
          if (Number(fd) <= 2) continue;
          let target: string;
          try {
            target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
          } catch {
            continue;
          }
          if (!target.startsWith('/') || target.startsWith('/dev/') || target.startsWith('/proc/')) continue;
          const flags = /flags:\s*(\d+)/.exec(fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1];
          if (flags === undefined || (parseInt(flags, 8) & 3) === 0) continue;
          result.files.add(target);
          try {
            total += fs.statSync(target).size;
          } catch {
            // deleted file: count nothing
          }
        }
      } catch {
        // process gone
      }
    }
    result.peakTempBytes = Math.max(result.peakTempBytes, total);
  };
  const timer = setInterval(tick, intervalMs);
  tick();
  return {
    stop() {
      clearInterval(timer);
      return result;
    },
  };
}

// CPU seconds of this process's finished children (pg_dump, zstd): cutime + cstime of
// /proc/self/stat, in clock ticks (USER_HZ, 100 on Linux). 0 where /proc is missing.
export function reapedChildrenCpuSeconds(): number {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is stat field 3 (state): cutime and cstime are fields 16 and 17.
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return 0;
  }
}

// CPU seconds (utime + stime) another live process has used so far, e.g. the benchmark's S3 server:
// fields 14 and 15 of /proc/<pid>/stat, in clock ticks (USER_HZ, 100 on Linux). 0 where /proc is missing.
export function processCpuSeconds(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

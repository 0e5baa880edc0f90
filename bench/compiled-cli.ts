import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';

// The compiled CLI (`npm run build` → dist/), which is what the Docker image runs: the restore and
// idle measurements use it so that tsx's start-up and loader cost are not counted as the service's.
// Rebuilt when a file under src/ is newer than the build.
export async function compiledCli(root: string, log: (line: string) => void): Promise<string> {
  const cli = path.join(root, 'dist', 'src', 'cli.js');
  const builtAt = fs.existsSync(cli) ? fs.statSync(cli).mtimeMs : 0;
  const newest = (dir: string): number =>
    Math.max(0, ...fs.readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(path.join(dir, e.name)) : fs.statSync(path.join(dir, e.name)).mtimeMs)));
  if (builtAt === 0 || newest(path.join(root, 'src')) > builtAt) {
    log('  running: npm run build (the compiled CLI, as the image runs it)');
    await execa('npm', ['run', 'build'], { cwd: root });
    // tsc leaves an unchanged output file's time alone: mark the build as current.
    const now = new Date();
    fs.utimesSync(cli, now, now);
  }
  return cli;
}

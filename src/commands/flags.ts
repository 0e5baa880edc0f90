import type { CommandContext } from './command.ts';

// The boolean flags of a simple command. Unknown ones are written to stderr with the usage, and the
// caller returns 64 (undefined here); the flags given otherwise.
export function readFlags(args: readonly string[], allowed: readonly string[], usage: string, ctx: Pick<CommandContext, 'stderr'>): Set<string> | undefined {
  const unknown = args.filter((a) => !allowed.includes(a));
  if (unknown.length > 0) {
    ctx.stderr.write(`Unknown option ${unknown.map((a) => JSON.stringify(a)).join(', ')}. Usage: backup-sentinel ${usage}\n`);
    return undefined;
  }
  return new Set(args);
}

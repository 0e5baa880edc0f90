import { Writable } from 'node:stream';
import type { CommandContext } from '../../src/commands/command.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import type { Logger } from '../../src/logger.ts';

export interface CapturedContext {
  ctx: CommandContext;
  stdout: () => string;
  stderr: () => string;
}

function collector(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  return {
    stream: new Writable({
      write(chunk: Buffer | string, _encoding, callback) {
        chunks.push(chunk.toString());
        callback();
      },
    }),
    text: () => chunks.join(''),
  };
}

// A command context from environment variables, with output captured.
export function commandContext(env: Record<string, string>, logger: Logger): CapturedContext {
  const out = collector();
  const err = collector();
  return {
    ctx: { config: loadConfig(env), logger, stdout: out.stream, stderr: err.stream, stopSignal: new AbortController().signal },
    stdout: out.text,
    stderr: err.text,
  };
}

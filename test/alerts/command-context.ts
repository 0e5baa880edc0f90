import type { CommandContext } from '../../src/commands/command.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import type { Logger } from '../../src/logger.ts';
import { captureStream } from '../helpers/log-sink.ts';

export interface CapturedContext {
  ctx: CommandContext;
  stdout: () => string;
  stderr: () => string;
}

// A command context from environment variables, with output captured.
export function commandContext(env: Record<string, string>, logger: Logger): CapturedContext {
  const out = captureStream();
  const err = captureStream();
  return {
    ctx: { config: loadConfig(env), logger, stdout: out.stream, stderr: err.stream, stopSignal: new AbortController().signal },
    stdout: out.text,
    stderr: err.text,
  };
}

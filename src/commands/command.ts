import type { Writable } from 'node:stream';
import type { Config } from '../config/types.ts';
import type { Logger } from '../logger.ts';

export interface CommandContext {
  config: Config;
  logger: Logger;
  // Where people-facing output goes (tests pass their own streams).
  stdout: Writable;
  stderr: Writable;
  // Resolves when the process is asked to stop (SIGINT/SIGTERM); long-running commands await it.
  stopSignal: AbortSignal;
}

export interface Command {
  name: string;
  usage: string;
  summary: string;
  // Returns the process exit code.
  run(args: string[], ctx: CommandContext): Promise<number>;
}

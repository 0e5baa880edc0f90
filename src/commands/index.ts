import type { Command } from './command.ts';
import { pruneCommand } from './prune.ts';

// Every CLI command, in the order `backup-sentinel help` lists them. Each lives in its own file.
export const COMMANDS: Command[] = [pruneCommand];

import { alertTestCommand } from './alert-test.ts';
import { backupCommand } from './backup.ts';
import { checkCommand } from './check.ts';
import { configCommand } from './config.ts';
import { doctorCommand } from './doctor.ts';
import type { Command } from './command.ts';
import { listCommand } from './list.ts';
import { pruneCommand } from './prune.ts';
import { restoreCommand } from './restore.ts';
import { serveCommand } from './serve.ts';
import { verifyCommand } from './verify.ts';

// Every CLI command, in the order `backup-sentinel help` lists them. Each lives in its own file.
export const COMMANDS: Command[] = [serveCommand, backupCommand, checkCommand, listCommand, pruneCommand, restoreCommand, verifyCommand, alertTestCommand, doctorCommand, configCommand];

import type { Command } from './command.ts';

// Every CLI command, in the order `backup-sentinel help` lists them. Each lives in its own file, defined
// with defineCommand, and is imported when it is run: a command's module brings the code it works with
// (serve nearly all of it, list or check a fraction), and every invocation is a new process, so `list`
// from a cron job does not pay for loading serve's HTTP server, restore or the age library.
const LOADERS: readonly (readonly [name: string, load: () => Promise<Command>])[] = [
  ['serve', async () => (await import('./serve.ts')).serveCommand],
  ['backup', async () => (await import('./backup.ts')).backupCommand],
  ['check', async () => (await import('./check.ts')).checkCommand],
  ['list', async () => (await import('./list.ts')).listCommand],
  ['prune', async () => (await import('./prune.ts')).pruneCommand],
  ['restore', async () => (await import('./restore.ts')).restoreCommand],
  ['verify', async () => (await import('./verify.ts')).verifyCommand],
  ['alert-test', async () => (await import('./alert-test.ts')).alertTestCommand],
  ['doctor', async () => (await import('./doctor.ts')).doctorCommand],
  ['config', async () => (await import('./config.ts')).configCommand],
];

// The command called `name`, loaded; undefined when there is none.
export async function findCommand(name: string): Promise<Command | undefined> {
  const command = await LOADERS.find(([known]) => known === name)?.[1]();
  // The table's name and the definition's must agree, or `help` would list a command `find` misses.
  if (command !== undefined && command.name !== name) throw new Error(`the command table names ${JSON.stringify(name)} a module defining ${JSON.stringify(command.name)}`);
  return command;
}

// Every command, loaded (for the usage list, which shows each one's usage line and summary).
export async function allCommands(): Promise<Command[]> {
  return await Promise.all(LOADERS.map(([name]) => findCommand(name).then((command) => command!)));
}

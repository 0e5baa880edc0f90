#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { loadConfig } from './config/load-config.ts';
import { maskSecretsInText } from './config/secret.ts';
import { ConfigError, errForLog, SentinelError } from './errors.ts';
import { createLogger, stderrDestination } from './logger.ts';
import { EXIT_USAGE } from './commands/command.ts';
import { allCommands, findCommand } from './commands/index.ts';

async function usage(): Promise<string> {
  // A usage line too long for the column puts its summary on the next line, still aligned.
  const lines = (await allCommands()).map((c) => (c.usage.length > 44 ? `  ${c.usage}\n  ${''.padEnd(44)} ${c.summary}` : `  ${c.usage.padEnd(44)} ${c.summary}`));
  return [
    'Usage: backup-sentinel <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    '`backup-sentinel <command> --help` (or `backup-sentinel help <command>`) describes its options.',
    'Configuration comes from environment variables: see README.md.',
  ].join('\n');
}

interface CliOutput {
  stdout: Writable;
  stderr: Writable;
}

// Runs one CLI invocation and returns its exit code; never throws.
export async function runCli(argv: string[], env: NodeJS.ProcessEnv = process.env, io: CliOutput = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const [name = 'serve', ...args] = argv;
  if (name === 'help' || name === '--help' || name === '-h') {
    const topic = name === 'help' ? args[0] : undefined;
    if (topic === undefined) {
      io.stdout.write(`${await usage()}\n`);
      return 0;
    }
    // The same text as `<command> --help`, from the same definition.
    const about = await findCommand(topic);
    if (about === undefined) {
      io.stderr.write(`Unknown command ${JSON.stringify(maskSecretsInText(topic))}.\n\n${await usage()}\n`);
      return EXIT_USAGE;
    }
    io.stdout.write(about.help());
    return 0;
  }
  const command = await findCommand(name);
  if (!command) {
    io.stderr.write(`Unknown command ${JSON.stringify(maskSecretsInText(name))}.\n\n${await usage()}\n`);
    return EXIT_USAGE;
  }
  // Arguments before configuration: --help and a wrong flag answer even where the configuration is broken.
  const parsed = command.parse(args);
  if (parsed.kind === 'help') {
    io.stdout.write(parsed.text);
    return 0;
  }
  if (parsed.kind === 'refused') {
    io.stderr.write(parsed.text);
    return EXIT_USAGE;
  }
  let config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr.write(`${error.message}\n`);
      return 78;
    }
    throw error;
  }
  const logger = createLogger(config.logLevel, command.name === 'serve' ? undefined : stderrDestination());
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      logger.warn({ signal }, 'second stop signal: exiting now');
      process.exit(130);
    }
    logger.info({ signal }, 'stop requested; finishing cleanly');
    controller.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    return await parsed.run({
      config,
      logger,
      stdout: io.stdout,
      stderr: io.stderr,
      stopSignal: controller.signal,
    });
  } catch (error) {
    const message = error instanceof SentinelError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
    logger.error({ err: errForLog(error) }, 'command failed');
    io.stderr.write(`${message}\n`);
    return 1;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

// True when this file is the program being run (also through the npm bin symlink), not an import.
function isMainModule(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

const isMain = isMainModule();
if (isMain) {
  const code = await runCli(process.argv.slice(2));
  process.exitCode = code;
}

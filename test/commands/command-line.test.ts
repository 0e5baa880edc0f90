import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../../src/cli.ts';
import { allCommands } from '../../src/commands/index.ts';
import { runCommand } from '../restore/fixtures.ts';

const COMMANDS = await allCommands();

interface Case {
  command: string;
  // Options the help must list, besides -h/--help.
  options: string[];
  // A wrong value where the command has an option that takes one: the arguments and the expected line.
  badValue?: { args: string[]; message: RegExp };
}

const CASES: Case[] = [
  { command: 'serve', options: [] },
  { command: 'backup', options: ['--set NAME', '--destination NAME'] },
  { command: 'check', options: ['--json', '--set NAME', '--destination NAME'], badValue: { args: ['--json=yes'], message: /^--json takes no value, got "--json=yes"\.$/ } },
  { command: 'list', options: ['--json', '--set NAME', '--destination NAME'], badValue: { args: ['--json=yes'], message: /^--json takes no value, got "--json=yes"\.$/ } },
  { command: 'prune', options: ['--dry-run', '--json', '--set NAME', '--destination NAME'], badValue: { args: ['--dry-run=no'], message: /^--dry-run takes no value, got "--dry-run=no"\.$/ } },
  {
    command: 'restore',
    options: ['--key KEY', '--latest', '--all', '--set NAME', '--target-url URL', '--clean', '--create', '--jobs N', '--no-owner', '--destination NAME'],
    badValue: { args: ['--jobs', 'many', '--target-url', 'postgres://u@h/db'], message: /^--jobs expects a whole number from 1 to 64, got "many"\.$/ },
  },
  {
    command: 'verify',
    options: ['--key KEY', '--drill', '--history', '--set NAME', '--destination NAME'],
    badValue: { args: ['--key', '--drill'], message: /^--key expects a value \(KEY\), got "--drill", which looks like an option; for a value that starts with "-", write --key=VALUE\.$/ },
  },
  { command: 'alert-test', options: [] },
  { command: 'doctor', options: ['--send'], badValue: { args: ['--send=yes'], message: /^--send takes no value, got "--send=yes"\.$/ } },
  { command: 'config', options: ['--json'], badValue: { args: ['--json=yes'], message: /^--json takes no value, got "--json=yes"\.$/ } },
];

// Every command refuses before doing anything, so a directory store that is never written to suffices.
describe('every command has --help and refuses wrong arguments alike', () => {
  let dir: string;
  let env: Record<string, string>;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cli-'));
    env = { BACKUP_DIR: dir, LOG_LEVEL: 'silent' };
  });
  after(async () => {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('covers every command', () => {
    assert.deepEqual(CASES.map((c) => c.command).sort(), COMMANDS.map((c) => c.name).sort());
  });

  for (const c of CASES) {
    const command = COMMANDS.find((x) => x.name === c.command);
    const usageLine = `Usage: backup-sentinel ${command?.usage ?? '?'}`;

    it(`${c.command} --help and -h print the usage and every option, exit 0`, async () => {
      assert.ok(command);
      for (const flag of ['--help', '-h']) {
        const { code, stdout, stderr } = await runCommand(command, [flag], env);
        assert.equal(code, 0, stderr);
        assert.equal(stderr, '');
        assert.ok(stdout.startsWith(`${usageLine}\n`), stdout);
        for (const option of [...c.options, '-h, --help']) assert.match(stdout, new RegExp(`^  ${escape(option)}  `, 'm'), `${option} in:\n${stdout}`);
      }
    });

    it(`${c.command} refuses an unknown option naming it, what is expected and the usage, exit 64`, async () => {
      assert.ok(command);
      const { code, stdout, stderr } = await runCommand(command, ['--frobnicate'], env);
      assert.equal(code, 64);
      assert.equal(stdout, '');
      const expected = [...c.options.map((o) => o.split(' ')[0]), '-h/--help'].join(', ');
      assert.equal(stderr, `Unknown option "--frobnicate": ${c.command} expects one of ${expected}.\n${usageLine}\n`);
    });

    it(`${c.command} refuses a positional argument, exit 64`, async () => {
      assert.ok(command);
      const { code, stderr } = await runCommand(command, ['now'], env);
      assert.equal(code, 64);
      assert.match(stderr, new RegExp(`^Unexpected argument "now": ${c.command} expects only the options .*-h/--help\\.\\n${escape(usageLine)}\\n$`));
    });

    if (c.badValue !== undefined) {
      const { args, message } = c.badValue;
      it(`${c.command} refuses a bad value naming the option, what was expected and given, exit 64`, async () => {
        assert.ok(command);
        const { code, stdout, stderr } = await runCommand(command, args, env);
        assert.equal(code, 64);
        assert.equal(stdout, '');
        const [first, second, rest] = stderr.split('\n');
        assert.match(first ?? '', message);
        assert.equal(second, usageLine);
        assert.equal(rest, '');
      });
    }
  }

  it('never prints a password given in a mistyped or wrong argument', async () => {
    const restore = COMMANDS.find((x) => x.name === 'restore');
    assert.ok(restore);
    for (const args of [['--target-ur=postgres://app:hunter2@db:5432/app'], ['--jobs', 'postgres://app:hunter2@db:5432/app', '--target-url', 'postgres://u@h/db'], ['postgres://app:hunter2@db:5432/app']]) {
      const { code, stderr } = await runCommand(restore, args, env);
      assert.equal(code, 64);
      assert.ok(!stderr.includes('hunter2'), stderr);
      assert.match(stderr, /postgres:\/\/app:\*\*\*@db|postgres:\/\/\*\*\*@db/, stderr);
    }
  });

  it('a string option without its value is refused', async () => {
    const verify = COMMANDS.find((x) => x.name === 'verify');
    assert.ok(verify);
    const { code, stderr } = await runCommand(verify, ['--key'], env);
    assert.equal(code, 64);
    assert.match(stderr, /^--key expects a value \(KEY\), got nothing\.\n/);
  });
});

describe('backup-sentinel help', () => {
  async function cli(argv: string[], env: Record<string, string>) {
    const out: string[] = [];
    const err: string[] = [];
    const into = (chunks: string[]) => new Writable({ write: (c: Buffer, _e, cb) => { chunks.push(c.toString()); cb(); } });
    const code = await runCli(argv, env, { stdout: into(out), stderr: into(err) });
    return { code, stdout: out.join(''), stderr: err.join('') };
  }

  it('`help <command>` prints what `<command> --help` prints, and `help` lists each usage line and summary', async () => {
    const list = await cli(['help'], {});
    assert.equal(list.code, 0);
    for (const command of COMMANDS) {
      const viaHelp = await cli(['help', command.name], {});
      const viaFlag = await cli([command.name, '--help'], {});
      assert.equal(viaHelp.code, 0);
      assert.equal(viaFlag.code, 0);
      assert.equal(viaHelp.stdout, viaFlag.stdout);
      assert.ok(viaFlag.stdout.startsWith(`Usage: backup-sentinel ${command.usage}\n`));
      assert.match(list.stdout, new RegExp(`^  ${escape(command.usage)}\\s+${escape(command.summary)}$`, 'm'));
    }
  });

  it('answers --help and refuses a wrong flag before reading the configuration (which may be broken)', async () => {
    const broken = { RETENTION_DAYS: 'soon' };
    assert.equal((await cli(['check'], broken)).code, 78, 'this configuration is refused');
    const help = await cli(['check', '--help'], broken);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: backup-sentinel check \[--json\] \[--set NAME\] \[--destination NAME\]\n/);
    const wrong = await cli(['check', '--jsn'], broken);
    assert.equal(wrong.code, 64);
    assert.match(wrong.stderr, /^Unknown option "--jsn"/);
  });

  it('refuses an unknown command and an unknown help topic with exit 64', async () => {
    for (const argv of [['frobnicate'], ['help', 'frobnicate']]) {
      const { code, stderr } = await cli(argv, {});
      assert.equal(code, 64);
      assert.match(stderr, /^Unknown command "frobnicate"\.\n\nUsage: backup-sentinel <command>/);
    }
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

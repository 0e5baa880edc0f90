import type { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import type { Config } from '../config/types.ts';
import { maskSecretsInText } from '../config/secret.ts';
import { SentinelError } from '../errors.ts';
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

// The exit code of a command called wrongly (sysexits EX_USAGE): scripts can tell it from a failed run.
export const EXIT_USAGE = 64;

interface CommandOption {
  type: 'boolean' | 'string';
  short?: string;
  // For a string option: its placeholder in the usage and help (KEY, URL, N).
  valueName?: string;
  description: string;
  // For a string option: what a valid value is, said as "--jobs expects <expected>, got ...".
  accepts?: { expected: string; test: (value: string) => boolean };
}

type CommandOptions = Record<string, CommandOption>;

type OptionValues<O extends CommandOptions> = { [K in keyof O]?: O[K]['type'] extends 'string' ? string : boolean };

interface CommandDefinition<O extends CommandOptions> {
  name: string;
  // The arguments part of the usage line, e.g. "[--json]"; omitted when the command takes none.
  usage?: string;
  summary: string;
  options: O;
  // Returns the process exit code; throws UsageError for a problem between options (e.g. two that
  // exclude each other), which is then reported like any other bad argument.
  run(values: OptionValues<O>, ctx: CommandContext): Promise<number>;
}

// What the arguments ask for, known before any configuration is read: --help and a wrong argument need
// no configuration (and must work when the configuration itself is broken).
type ParsedArgs =
  | { kind: 'help'; text: string }
  | { kind: 'refused'; text: string }
  | { kind: 'run'; run: (ctx: CommandContext) => Promise<number> };

export interface Command {
  readonly name: string;
  // The full usage line after "backup-sentinel ", e.g. "check [--json]".
  readonly usage: string;
  readonly summary: string;
  help(): string;
  parse(args: readonly string[]): ParsedArgs;
  // parse, then help (exit 0), the refusal (exit 64) or the run; what the CLI does once configured.
  run(args: readonly string[], ctx: CommandContext): Promise<number>;
}

// A wrong combination of arguments, found by the command itself: printed with the usage line, exit 64.
export class UsageError extends SentinelError {}

const HELP: CommandOption = { type: 'boolean', short: 'h', description: 'print this help and exit' };

export function defineCommand<const O extends CommandOptions>(def: CommandDefinition<O>): Command {
  const options: CommandOptions = { ...def.options, help: HELP };
  const usage = def.usage === undefined ? def.name : `${def.name} ${def.usage}`;
  const refusal = (problem: string) => `${problem}\nUsage: backup-sentinel ${usage}\n`;
  const refuse = (problem: string): ParsedArgs => ({ kind: 'refused', text: refusal(problem) });
  const help = () => helpText(usage, def.summary, options);
  const expected = Object.entries(options)
    .map(([name, o]) => (o.short === undefined ? `--${name}` : `-${o.short}/--${name}`))
    .join(', ');

  function parse(args: readonly string[]): ParsedArgs {
    // Not parseArgs' own strict mode: its errors are prose without the option as a field, and they
    // suggest "--" positionals that no command takes. The checks below are that strict mode, worded alike
    // for every command.
    const { tokens } = parseArgs({
      args: [...args],
      options: Object.fromEntries(Object.entries(options).map(([name, o]) => [name, o.short === undefined ? { type: o.type } : { type: o.type, short: o.short }])),
      strict: false,
      allowPositionals: true,
      tokens: true,
    });
    if (tokens.some((t) => t.kind === 'option' && t.name === 'help')) return { kind: 'help', text: help() };
    const values: Record<string, string | boolean> = {};
    for (const token of tokens) {
      const given = shown(args[token.index] ?? '');
      if (token.kind === 'option-terminator') continue;
      if (token.kind === 'positional') {
        return refuse(`Unexpected argument ${given}: ${def.name} expects only the options ${expected}.`);
      }
      const option = options[token.name];
      if (option === undefined) return refuse(`Unknown option ${given}: ${def.name} expects one of ${expected}.`);
      const flag = `--${token.name}`;
      if (option.type === 'boolean') {
        if (token.inlineValue === true) return refuse(`${flag} takes no value, got ${given}.`);
        values[token.name] = true;
        continue;
      }
      const value = token.value;
      const wants = `a value (${option.valueName ?? 'VALUE'})`;
      if (value === undefined) return refuse(`${flag} expects ${wants}, got nothing.`);
      // "--key --latest": the next argument looks like another option, most likely after a forgotten value.
      if (token.inlineValue !== true && value.startsWith('-')) {
        return refuse(`${flag} expects ${wants}, got ${shown(value)}, which looks like an option; for a value that starts with "-", write ${flag}=VALUE.`);
      }
      if (value === '') return refuse(`${flag} expects ${wants}, got an empty string.`);
      if (option.accepts !== undefined && !option.accepts.test(value)) return refuse(`${flag} expects ${option.accepts.expected}, got ${shown(value)}.`);
      values[token.name] = value;
    }
    return {
      kind: 'run',
      run: async (ctx) => {
        try {
          return await def.run(values as OptionValues<O>, ctx);
        } catch (error) {
          if (!(error instanceof UsageError)) throw error;
          ctx.stderr.write(refusal(error.message));
          return EXIT_USAGE;
        }
      },
    };
  }

  return {
    name: def.name,
    usage,
    summary: def.summary,
    help,
    parse,
    async run(args, ctx) {
      const parsed = parse(args);
      switch (parsed.kind) {
        case 'help':
          ctx.stdout.write(parsed.text);
          return 0;
        case 'refused':
          ctx.stderr.write(parsed.text);
          return EXIT_USAGE;
        case 'run':
          return await parsed.run(ctx);
      }
    },
  };
}

// An argument quoted back to the user; a URL's password or a token in it is "***" (arguments are
// also where a mistyped --target-url=postgres://user:password@... lands).
function shown(text: string): string {
  return JSON.stringify(maskSecretsInText(text));
}

function spell(name: string, option: CommandOption): string {
  const long = option.type === 'string' ? `--${name} ${option.valueName ?? 'VALUE'}` : `--${name}`;
  return option.short === undefined ? long : `-${option.short}, ${long}`;
}

function helpText(usage: string, summary: string, options: CommandOptions): string {
  const rows = Object.entries(options).map(([name, o]) => [spell(name, o), o.accepts === undefined ? o.description : `${o.description} (${o.accepts.expected})`] as const);
  const width = Math.max(...rows.map(([left]) => left.length));
  return [
    `Usage: backup-sentinel ${usage}`,
    '',
    `${summary.charAt(0).toUpperCase()}${summary.slice(1)}.`,
    '',
    'Options:',
    ...rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`),
    '',
    'Configuration comes from environment variables: see README.md.',
    '',
  ].join('\n');
}

import path from 'node:path';

// How a Node process of the test run (a test file, a spawned CLI, a fixture) runs this project's
// TypeScript: Node 22.18+ and 24 strip the types themselves (tsconfig's erasableSyntaxOnly keeps the code
// within what they strip), so no tsx and its hooks and transform (about 0.4 s of CPU per process); on
// Node 22 a small hook keeps what the stripping made (typescript-cache.js). Older Node (20) goes through
// tsx. scripts/test.ts and every test that spawns a program of the project take the flags from here, so
// all of them run the way the test run itself does.
const typeStripping = (process.features as { typescript?: string | false }).typescript;
// Node 22 strips the types anew in every process (Node 24 keeps the result in its compile cache):
// typescript-cache.js keeps them for it.
const strippingEachTime = Number(process.versions.node.split('.')[0]) < 24;

export const TYPESCRIPT_LOADER: readonly string[] = !typeStripping
  ? ['--import', 'tsx']
  : strippingEachTime
    ? ['--import', path.join(import.meta.dirname, 'typescript-cache.js')]
    : [];

// Node's compile cache (scripts/test.ts sets NODE_COMPILE_CACHE for the run: on Node 24 it keeps the
// stripped and compiled modules, which is most of a process's start-up). A spawned program whose
// environment is made from scratch (extendEnv: false, to control exactly what it sees) gets it from here.
// Empty where the run has none (a test file run on its own).
export function compileCacheEnv(): Record<string, string> {
  const dir = process.env.NODE_COMPILE_CACHE;
  return dir ? { NODE_COMPILE_CACHE: dir } : {};
}

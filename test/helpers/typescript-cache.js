// Loaded with --import into the processes of a test run on Node 22 (see typescript-node.ts): keeps the
// JavaScript that Node's type stripping makes of each TypeScript file, so a process loading ~150 modules
// of src/ finds them stripped instead of starting the stripper (a WebAssembly build of SWC) and running
// it over each: about 0.4 s of CPU per process, for each test file and each CLI a test spawns. Node 24
// keeps the stripped code in its compile cache itself (NODE_COMPILE_CACHE); Node 22's cache does not.
//
// The hook changes nothing else: Node still reads the file and decides its format (a .ts file that is
// not an ES module is left to Node), the code comes from the same stripper (module.stripTypeScriptTypes,
// what Node runs on its own), and stripping keeps every line and column, so stack traces are the same.
//
// Plain JavaScript, not TypeScript: Node would start its stripper for this one file, which is the cost
// the hook saves (about 0.1 s of CPU per process).
//
// An entry is named by the hash of the file's content and the Node version, so a changed file is
// stripped afresh; the entries live in node_modules/.cache, like the other caches of the test run.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { registerHooks, stripTypeScriptTypes } from 'node:module';
import path from 'node:path';

const dir = path.resolve(import.meta.dirname, '../../node_modules/.cache/backup-sentinel/typescript-strip');

function stripped(source) {
  // The API warns that it is experimental on each process that calls it; what it returns is what Node's
  // own loader would have run, and the warning would land in the output of the programs under test.
  const emitWarning = Reflect.get(process, 'emitWarning');
  process.emitWarning = () => undefined;
  try {
    return stripTypeScriptTypes(source, { mode: 'strip' });
  } finally {
    Reflect.set(process, 'emitWarning', emitWarning);
  }
}

fs.mkdirSync(dir, { recursive: true });
registerHooks({
  load(url, context, nextLoad) {
    const loaded = nextLoad(url, context);
    if (loaded.format !== 'module-typescript' || loaded.source === undefined) return loaded;
    const source = typeof loaded.source === 'string' ? loaded.source : Buffer.from(loaded.source).toString('utf8');
    const entry = path.join(dir, `${createHash('sha256').update(process.version).update('\0').update(source).digest('hex').slice(0, 32)}.js`);
    let code;
    try {
      code = fs.readFileSync(entry, 'utf8');
    } catch {
      code = stripped(source);
      // Written aside and renamed: a process reading the entry at the same time sees all of it or none.
      const partial = `${entry}.${process.pid}.tmp`;
      fs.writeFileSync(partial, code);
      fs.renameSync(partial, entry);
    }
    return { ...loaded, format: 'module', source: code };
  },
});

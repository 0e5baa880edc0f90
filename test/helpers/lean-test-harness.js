// Loaded with --import into the processes of a test run (scripts/test.ts): the runner and each test file.
//
// node:test keeps an async hook enabled in every test process, with init and destroy callbacks, to know
// which test an asynchronous resource belongs to. Such a hook makes V8 call into JavaScript for every
// promise made and every promise collected, which slows promise-heavy code (the S3 SDK, s3rver, streams,
// the code under test) several times over: a loop of awaits runs about fifteen times slower inside a test
// than outside one (Node 22 and 24).
//
// The tests here use that bookkeeping for one thing: a test, suite or hook declared inside a describe() or
// test() callback belongs to it. That lookup asks for the test whose scope is running, so registering each
// test (node:test's own init callback, called with the test) when its scope is first entered keeps it,
// and promises go untracked.
//
// What changes: an uncaught exception or unhandled rejection is no longer pinned on the test that caused
// it. node:test reports it as an error of the file instead (the run still fails, and shows the error), and
// the file's other tests go on. lean-test-harness.test.ts holds both.
//
// If node:test is not built this way (the hook is not found), nothing is changed. Plain JavaScript, like
// typescript-cache.js, so that no type stripper runs for it.
import asyncHooks from 'node:async_hooks';

const marker = Symbol.for('backup-sentinel.lean-test-harness');
const originalCreateHook = asyncHooks.createHook;
let registerTest;

asyncHooks.createHook = function createHook(callbacks) {
  // node:test's hook is made by its harness module, once per process, before any test is declared.
  if (registerTest === undefined && typeof callbacks?.init === 'function' && /internal\/test_runner\/harness/.test(new Error().stack ?? '')) {
    registerTest = callbacks.init;
    globalThis[marker] = true;
    const inert = { enable: () => inert, disable: () => inert };
    return inert;
  }
  return originalCreateHook.call(this, callbacks);
};

// Whether a resource is one of node:test's tests (Test, or its Suite and TestHook subclasses), by the
// classes it descends from; decided once per class.
const isTestClass = new WeakMap();
function isTest(resource) {
  const proto = Object.getPrototypeOf(resource);
  let known = isTestClass.get(proto);
  if (known === undefined) {
    known = false;
    for (let p = proto; p !== null && !known; p = Object.getPrototypeOf(p)) known = p.constructor?.name === 'Test';
    isTestClass.set(proto, known);
  }
  return known;
}

const registered = new WeakSet();
const originalRunInAsyncScope = asyncHooks.AsyncResource.prototype.runInAsyncScope;
asyncHooks.AsyncResource.prototype.runInAsyncScope = function runInAsyncScope(...args) {
  if (registerTest !== undefined && !registered.has(this) && isTest(this)) {
    registered.add(this);
    registerTest(this.asyncId(), 'Test', this.triggerAsyncId(), this);
  }
  return originalRunInAsyncScope.apply(this, args);
};

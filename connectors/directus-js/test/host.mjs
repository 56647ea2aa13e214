// Runs a connector's modules under Node for unit tests: resolves the
// contract's imports (`synchost:connector/http@0.2.0`, `.../log@0.2.0`) to
// stand-ins that call `globalThis.synchostHost.send(request)` and
// `.log(level, message)`, which a test sets. Use: `node --import ./test/host.mjs --test`.
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

// Module hooks run in a thread of their own, which loads this file again.
if (isMainThread) register(import.meta.url);

const STUBS = {
  'synchost:connector/http@0.2.0': `export function send(req) {
    const host = globalThis.synchostHost;
    if (!host || !host.send) throw new Error('the test set no synchostHost.send');
    return host.send(req);
  }`,
  'synchost:connector/log@0.2.0': `export function log(level, message) {
    globalThis.synchostHost?.log?.(level, message);
  }`,
};

export async function resolve(specifier, context, next) {
  if (specifier in STUBS) return { url: `data:text/javascript,${encodeURIComponent(STUBS[specifier])}`, shortCircuit: true };
  return next(specifier, context);
}

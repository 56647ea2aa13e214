// Unit tests of the SDK helper and the template under Node:
// `node --import ./test/host.mjs --test` in sdk/js.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  ConnectorError,
  decodeCursor,
  encodeCursor,
  errors,
  exportConnector,
  http,
  httpDateToRfc3339,
  auth,
  entityInfo,
  outcomes,
  Response,
  unknown,
  written,
} from '../src/synchost-sdk.js';
import { api } from '../src/connector.js';

const bytes = (s) => new TextEncoder().encode(s);
const resp = (status, headers = [], body = '') => new Response(status, headers, bytes(body));

test('statuses map to the typed errors the Rust SDK gives', () => {
  const kind = (status, headers) => errors.fromStatus(resp(status, headers, 'nope')).payload.tag;
  assert.equal(errors.fromStatus(resp(204)), undefined);
  assert.equal(kind(401), 'unauthorized');
  assert.equal(kind(403), 'unauthorized');
  assert.equal(kind(404), 'not-found');
  assert.equal(kind(410), 'not-found');
  assert.equal(kind(409), 'conflict');
  assert.equal(kind(400), 'invalid-input');
  assert.equal(kind(422), 'invalid-input');
  assert.equal(kind(408), 'transient');
  assert.equal(kind(503), 'transient');
  assert.equal(kind(418), 'fatal');
  const limited = errors.fromStatus(resp(429, [['Retry-After', '2.5']])).payload;
  assert.deepEqual(limited.val.retryAfterMs, 2500n);
  assert.equal(errors.fromStatus(resp(429)).payload.val.retryAfterMs, 1000n);
  assert.equal(errors.fromStatus(resp(429, [['retry-after', 'Wed, 21 Oct 2015 07:28:00 GMT']])).payload.val.retryAfterMs, 1000n);
  assert.match(errors.fromStatus(resp(500, [], 'x'.repeat(400))).payload.val, /^HTTP 500: x{300}…$/);
});

test('cursors round-trip any JSON and refuse what they did not make', () => {
  const state = { after: 17, since: '2024-01-01T00:00:00+02:00', name: 'Zoë/é' };
  const cursor = encodeCursor(state);
  assert.match(cursor, /^[A-Za-z0-9_-]+$/);
  assert.deepEqual(decodeCursor(cursor), state);
  assert.throws(() => decodeCursor('%%%'), (e) => e instanceof ConnectorError && e.kind === 'invalid-input');
});

test('HTTP dates become RFC 3339; anything else is undefined', () => {
  assert.equal(httpDateToRfc3339('Sun, 06 Nov 1994 08:49:37 GMT'), '1994-11-06T08:49:37Z');
  assert.equal(httpDateToRfc3339('Sunday, 06-Nov-94 08:49:37 GMT'), undefined);
  assert.equal(httpDateToRfc3339('yesterday'), undefined);
});

test('encode leaves only unreserved characters', () => {
  assert.equal(http.encode("a b/c+d!'()*~._-"), 'a%20b%2Fc%2Bd%21%27%28%29%2A~._-');
});

test('requests go through the host import; a refused one is a typed error', () => {
  const seen = [];
  globalThis.synchostHost = {
    send(req) {
      seen.push(req);
      if (req.url.includes('denied')) {
        const e = new Error('denied');
        e.payload = { tag: 'denied', val: 'undeclared host' };
        throw e;
      }
      return { status: 200, headers: [['content-type', 'application/json']], body: bytes('{"ok":true}') };
    },
  };
  assert.deepEqual(http.post('https://x.example/a?b=1').json({ n: 1 }).sendJson(), { ok: true });
  assert.equal(seen[0].method, 'POST');
  assert.deepEqual(seen[0].headers, [['Content-Type', 'application/json']]);
  assert.equal(new TextDecoder().decode(seen[0].body), '{"n":1}');
  assert.throws(
    () => http.get('https://denied.example/x?q=secret').send(),
    (e) => e.kind === 'fatal' && e.message.includes('https://denied.example/x') && !e.message.includes('secret'),
  );
});

test('exports return the contract shapes and turn stray exceptions into fatal errors', () => {
  class C {
    static describe() {
      return { name: 'c', version: '1.0.0', entities: ['e'], capabilities: ['read', 'write'], rate: { perSecond: 2, dailyBudget: 1000 } };
    }
    static configure(settings) {
      return new C(settings.require('x'));
    }
    constructor(x) {
      this.x = x;
    }
    read() {
      return null.boom;
    }
    write(entity, ops) {
      return ops.map((op) => (op.tag === 'create' ? written('1') : op.tag === 'delete' ? errors.notFound('no') : unknown('timed out')));
    }
  }
  const wire = exportConnector(C);
  const d = wire.describe();
  assert.equal(d.contract, '0.2.0');
  assert.equal(d.checkpoint, 'timestamp');
  assert.equal(d.maxBatch, undefined);
  assert.deepEqual(d.capabilities, { read: true, write: true });
  assert.deepEqual(d.rate, { perSecond: 2, burst: 1, dailyBudget: 1000n });
  assert.deepEqual(d.auth, { tag: 'none' });
  assert.throws(() => wire.schema('e'), (e) => e.payload.tag === 'invalid-input' && /configure/.test(e.payload.val));
  assert.throws(() => wire.configure([]), (e) => e.payload.tag === 'invalid-input' && /`x`/.test(e.payload.val));
  wire.configure([['x', '1']]);
  assert.throws(() => wire.read({}), (e) => e.payload.tag === 'fatal' && /TypeError/.test(e.payload.val));
  assert.deepEqual(wire.entities(), [{ name: 'e', description: '' }], 'the descriptor\'s entities by default');
  const out = wire.write('e', [{ tag: 'create', val: [] }, { tag: 'delete', val: { id: '2' } }, { tag: 'update', val: { id: '3' } }]);
  assert.deepEqual(out[0], { tag: 'written', val: { id: '1', version: undefined, updatedAt: undefined } });
  assert.deepEqual(out[1], { tag: 'failed', val: { tag: 'not-found', val: 'no' } });
  assert.deepEqual(out[2], { tag: 'unknown', val: 'timed out' });
  assert.throws(() => wire.webhook({}), (e) => e.payload.tag === 'fatal' && /webhook/.test(e.payload.val));
});

test('descriptors carry the checkpoint kind and max batch; auth schemes and outcomes take the contract shapes', () => {
  class D {
    static describe() {
      return { name: 'd', version: '1.0.0', checkpoint: 'opaque', maxBatch: 100, auth: auth.basic('user', 'pass') };
    }
    static configure() {
      return new D();
    }
    entities() {
      return [entityInfo('tasks', 'Tasks'), entityInfo('notes')];
    }
  }
  const wire = exportConnector(D);
  const d = wire.describe();
  assert.equal(d.checkpoint, 'opaque');
  assert.equal(d.maxBatch, 100);
  assert.deepEqual(d.auth, { tag: 'basic', val: { userSecret: 'user', passwordSecret: 'pass' } });
  wire.configure([]);
  assert.deepEqual(wire.entities(), [{ name: 'tasks', description: 'Tasks' }, { name: 'notes', description: '' }]);
  assert.throws(() => wire.write('tasks', []), (e) => e.payload.tag === 'fatal' && /write/.test(e.payload.val));
  assert.deepEqual(auth.clientCredentials('https://x.example/token', 'id', 'secret', ['a']), {
    tag: 'client-credentials',
    val: { tokenUrl: 'https://x.example/token', clientIdSecret: 'id', clientSecretSecret: 'secret', scopes: ['a'] },
  });
  assert.deepEqual(auth.clientCredentials('https://x.example/token', 'id', 'secret').val.scopes, []);
  for (const bad of [{ checkpoint: 'later' }, { maxBatch: 0 }, { maxBatch: 1.5 }]) {
    const w = exportConnector({ describe: () => ({ name: 'b', version: '1', ...bad }) });
    assert.throws(() => w.describe(), (e) => e.payload.tag === 'fatal', JSON.stringify(bad));
  }
  assert.deepEqual(outcomes([written('1'), errors.transient('x'), unknown('cut short')]).map((o) => o.tag), ['written', 'failed', 'unknown']);
  assert.throws(() => outcomes([{ nope: true }]), (e) => e.kind === 'fatal');
});

test('the template reads the items API with its cursor and checkpoint', () => {
  const urls = [];
  globalThis.synchostHost = {
    send(req) {
      urls.push(req.url);
      const last = req.url.includes('after=');
      const items = last
        ? [{ id: 'item-2', name: 'B', done: true, updated_at: '2024-01-02T00:00:00+00:00' }]
        : [{ id: 'item-1', name: 'A', done: false, updated_at: '2024-01-03T00:00:00+00:00' }];
      return { status: 200, headers: [], body: bytes(JSON.stringify({ items, next: last ? null : 'item-1' })) };
    },
  };
  assert.equal(api.describe().name, 'items');
  assert.equal(api.describe().checkpoint, 'timestamp');
  api.configure([]);
  assert.deepEqual(api.entities(), [{ name: 'items', description: '' }]);
  const first = api.read({ entity: 'items', pageSize: 500, since: '2024-01-01T00:00:00+00:00' });
  assert.equal(urls[0], 'https://items.example.com/v1/items?limit=100&updated_since=2024-01-01T00%3A00%3A00%2B00%3A00');
  assert.equal(first.nextCursor, 'item-1');
  assert.equal(first.checkpoint, undefined);
  assert.deepEqual(first.records[0].fields[1], { name: 'done', value: { tag: 'boolean', val: false } });
  const second = api.read({ entity: 'items', pageSize: 10, cursor: first.nextCursor });
  assert.equal(second.nextCursor, undefined);
  assert.equal(second.checkpoint, '2024-01-02T00:00:00+00:00');
  assert.throws(() => api.read({ entity: 'nope', pageSize: 10 }), (e) => e.payload.tag === 'not-found');
});

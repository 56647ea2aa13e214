// Unit tests of the Directus connector's pure parts and its write plan under
// Node, with the host's http import answered by the test:
// `node --import ./test/host.mjs --test test/*.test.js`.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { ConnectorError, decodeCursor, Settings } from '../src/synchost-sdk.js';
import { KeyKind, parseEntities, parseFields } from '../src/schema.js';
import { toBody, toFieldValue, toRecord } from '../src/convert.js';
import { deletionsUrl, itemsUrl, lookupUrl, mapError, pageSize } from '../src/api.js';
import { deletionsPage, itemsPage, later, resume } from '../src/read.js';
import { execute } from '../src/write.js';
import { api, parseConfig } from '../src/connector.js';

const bytes = (s) => new TextEncoder().encode(s);

/** The `/fields` answer of a collection with most of Directus' kinds of field. */
const TASKS = {
  data: [
    { field: 'id', type: 'integer', schema: { is_primary_key: true, has_auto_increment: true, foreign_key_table: null }, meta: { special: null, interface: 'input' } },
    { field: 'name', type: 'string', schema: { is_primary_key: false }, meta: { interface: 'input' } },
    { field: 'status', type: 'string', schema: {}, meta: { interface: 'select-dropdown', options: { choices: [{ text: 'To do', value: 'todo' }, { text: 'Done', value: 'done' }] } } },
    { field: 'tags', type: 'csv', schema: {}, meta: { interface: 'tags', special: ['cast-csv'] } },
    { field: 'points', type: 'float', schema: {}, meta: null },
    { field: 'owner', type: 'uuid', schema: { foreign_key_table: 'directus_users' }, meta: { special: ['user-created'] } },
    { field: 'subtasks', type: 'alias', schema: null, meta: { special: ['o2m'] } },
    { field: 'due', type: 'date', schema: {}, meta: null },
    { field: 'date_created', type: 'timestamp', schema: {}, meta: { special: ['date-created'] } },
    { field: 'date_updated', type: 'timestamp', schema: {}, meta: { special: ['date-updated'] } },
  ],
};
const tasks = () => parseFields('tasks', TASKS);
const decodeFilter = (url) => JSON.parse(decodeURIComponent(url.split('&filter=')[1]));

test('fields map to types; the key, timestamps and read-only fields are found', () => {
  const c = tasks();
  assert.deepEqual([c.pk, c.pkNumeric, c.created, c.updated], ['id', true, 'date_created', 'date_updated']);
  assert.equal(c.pkKind, KeyKind.AUTO_INCREMENT);
  assert.deepEqual(
    c.fields.map((f) => [f.name, f.kind, f.readOnly]),
    [
      ['id', 'number', true], ['name', 'text', false], ['status', 'select', false], ['tags', 'multi-select', false],
      ['points', 'number', false], ['owner', 'reference', true], ['due', 'date', false],
      ['date_created', 'datetime', true], ['date_updated', 'datetime', true],
    ],
  );
  assert.deepEqual(c.field('status').options, ['todo', 'done']);
  assert.throws(() => parseFields('x', { data: [{ field: 'a', type: 'string', schema: {} }] }), /no primary key/);
});

test('a UUID key is one the connector may generate; other keys are entered by the client', () => {
  for (const [type, special] of [['uuid', ['uuid']], ['uuid', null], ['string', 'uuid']]) {
    const c = parseFields('docs', { data: [{ field: 'id', type, schema: { is_primary_key: true, has_auto_increment: false }, meta: { special } }] });
    assert.deepEqual([c.pkKind, c.pkNumeric], [KeyKind.UUID, false], `${type} ${special}`);
  }
  // An integer key without auto-increment is entered by the client, and so is a string key.
  const n = parseFields('n', { data: [{ field: 'n', type: 'integer', schema: { is_primary_key: true, has_auto_increment: false }, meta: null }] });
  assert.equal(n.pkKind, KeyKind.MANUAL);
  const codes = parseFields('codes', { data: [{ field: 'code', type: 'string', schema: { is_primary_key: true, has_auto_increment: false }, meta: null }] });
  assert.deepEqual([codes.pk, codes.pkNumeric, codes.pkKind], ['code', false, KeyKind.MANUAL]);
});

test('settings: a url is required and collections are per entity', () => {
  const config = parseConfig(new Settings([['url', 'http://127.0.0.1:8055/'], ['collection.tasks', 'project_tasks']]));
  assert.equal(config.base, 'http://127.0.0.1:8055');
  assert.equal(config.collections.get('tasks'), 'project_tasks');
  for (const bad of [[], [['url', 'cms.example.com']], [['url', 'https://']], [['url', 'https://x?y']]]) {
    assert.throws(() => parseConfig(new Settings(bad)), (e) => e.kind === 'invalid-input' && /url/.test(e.message));
  }
  const d = api.describe();
  assert.deepEqual(d.hosts, ['{{setting:url}}']);
  assert.deepEqual(d.auth, { tag: 'bearer', val: 'directus_token' });
  assert.deepEqual(d.capabilities, { read: true, write: true, incremental: true, deletes: true });
  assert.equal(d.contract, '0.2.0');
  assert.equal(d.maxBatch, 100);
  assert.equal(d.checkpoint, 'timestamp');
});

test('entities: the collections with a table, under the entity a setting maps them to', () => {
  const body = {
    data: [
      { collection: 'directus_users', meta: { note: '$t:directus_collection.directus_users' }, schema: { name: 'directus_users' } },
      { collection: 'project_tasks', meta: { note: 'Tasks of projects' }, schema: { name: 'project_tasks' } },
      { collection: 'archive', meta: { note: null }, schema: null },
      { collection: 'notes', meta: null, schema: { name: 'notes' } },
    ],
  };
  assert.deepEqual(parseEntities(body, new Map([['tasks', 'project_tasks']])), [
    { name: 'tasks', description: 'Tasks of projects' },
    { name: 'notes', description: '' },
  ]);
  assert.deepEqual(parseEntities(body, new Map()).map((e) => e.name), ['project_tasks', 'notes']);
  assert.throws(() => parseEntities({ errors: [] }, new Map()), /data/);
  const urls = [];
  globalThis.synchostHost = {
    send(req) {
      urls.push(req.url);
      return { status: 200, headers: [], body: bytes(JSON.stringify(body)) };
    },
  };
  api.configure([['url', 'http://h'], ['collection.tasks', 'project_tasks']]);
  assert.deepEqual(api.entities().map((e) => e.name), ['tasks', 'notes']);
  assert.deepEqual(urls, ['http://h/collections']);
});

test('pages are keyset-paginated by key, filtered by time when incremental', () => {
  const c = tasks();
  assert.equal(itemsUrl('http://h', c, 40), 'http://h/items/tasks?limit=40&sort=id&fields=*');
  assert.deepEqual(decodeFilter(itemsUrl('http://h', c, 40, 17, '2024-01-01T00:00:00Z')), {
    _and: [
      { id: { _gt: 17 } },
      { _or: [{ date_updated: { _gte: '2024-01-01T00:00:00Z' } }, { date_created: { _gte: '2024-01-01T00:00:00Z' } }] },
    ],
  });
  assert.deepEqual(decodeFilter(deletionsUrl('http://h', 'tasks', 'T', 5, 100))._and[3], { id: { _gt: 5 } });
  assert.deepEqual(decodeFilter(lookupUrl('http://h', c, '3')), { id: { _eq: 3 } });
  assert.deepEqual([pageSize(0), pageSize(5000), pageSize(40)], [100, 500, 40]);
});

test('a read goes on past its last key, then to deletions, and checkpoints at the server time', () => {
  const c = tasks();
  const items = (from, to) => ({
    data: Array.from({ length: to - from }, (_, i) => ({ id: from + i, name: `T${from + i}`, date_created: `2024-01-01T00:00:0${from + i}.000Z`, date_updated: null })),
  });
  const state = resume(undefined, '2024-01-01T00:00:00Z');
  state.started = '2024-02-01T00:00:00Z';
  const page = itemsPage(c, items(1, 4), 3, state, true);
  assert.equal(page.records.length, 3);
  assert.equal(page.checkpoint, undefined);
  const next = decodeCursor(page.nextCursor);
  assert.deepEqual([next.after, next.phase, next.latest], [3, 'items', '2024-01-01T00:00:03.000Z']);
  const last = itemsPage(c, items(4, 5), 3, resume(page.nextCursor), true);
  const deletions = resume(last.nextCursor);
  assert.equal(deletions.phase, 'deletions');
  const gone = deletionsPage({ data: [{ id: 10, item: '5', timestamp: '2024-01-05T00:00:00.000Z' }, { id: 11, item: null }] }, 5, deletions);
  assert.deepEqual(gone.records.map((r) => [r.id, r.deleted]), [['5', true]]);
  assert.equal(gone.checkpoint, '2024-02-01T00:00:00Z');
  assert.ok(later('2024-01-01T00:00:02.5Z', '2024-01-01T00:00:02.100Z'));
  assert.ok(!later('2024-01-01T00:00:02Z', '2024-01-01T00:00:02.000Z'));
  assert.throws(() => resume('%%%'), (e) => e.kind === 'invalid-input');
});

test('values convert both ways; what does not fit is refused by name', () => {
  const c = tasks();
  const r = toRecord(c, { id: 7, name: 'A', tags: 'a,b', points: '2.5', date_updated: '2024-01-01T00:00:00', due: '2024-03-04T00:00:00' });
  assert.equal(r.id, '7');
  assert.equal(r.version, '2024-01-01T00:00:00Z');
  assert.deepEqual(Object.fromEntries(r.fields.map((f) => [f.name, f.value])), {
    id: { tag: 'number', val: 7 },
    name: { tag: 'text', val: 'A' },
    tags: { tag: 'multi-select', val: ['a', 'b'] },
    points: { tag: 'number', val: 2.5 },
    date_updated: { tag: 'datetime', val: '2024-01-01T00:00:00Z' },
    due: { tag: 'date', val: '2024-03-04' },
  });
  assert.deepEqual(toFieldValue(c.field('points'), { x: 1 }), { tag: 'json', val: '{"x":1}' });
  assert.deepEqual(toBody(c, [{ name: 'points', value: { tag: 'text', val: ' 3 ' } }, { name: 'status', value: { tag: 'select', val: 'done' } }]), { points: 3, status: 'done' });
  assert.throws(() => toBody(c, [{ name: 'nope', value: { tag: 'null' } }]), (e) => e.kind === 'invalid-input' && /`nope`/.test(e.message));
  assert.throws(() => toBody(c, [{ name: 'date_updated', value: { tag: 'null' } }]), (e) => e.kind === 'invalid-input');
  assert.throws(() => toBody(c, [{ name: 'points', value: { tag: 'boolean', val: true } }]), (e) => e.kind === 'invalid-input');
});

test('errors: Directus codes in the message, 429 with its Retry-After', () => {
  const resp = (status, body, headers = []) => ({ status, headers, body: bytes(body), text: () => body, header: (n) => headers.find(([k]) => k.toLowerCase() === n)?.[1] });
  const e = mapError(resp(401, '{"errors":[{"message":"Invalid user credentials.","extensions":{"code":"INVALID_CREDENTIALS"}}]}'));
  assert.equal(e.kind, 'unauthorized');
  assert.match(e.message, /INVALID_CREDENTIALS: Invalid user credentials/);
  const limited = mapError(resp(429, '{"errors":[{"message":"Too many requests","extensions":{"code":"REQUESTS_EXCEEDED"}}]}', [['Retry-After', '3']]));
  assert.equal(limited.kind, 'rate-limited');
  assert.equal(limited.payload.val.retryAfterMs, 3000n);
  assert.equal(mapError(resp(413, '')).kind, 'invalid-input');
  assert.equal(mapError(resp(503, 'busy')).kind, 'transient');
  assert.equal(mapError(resp(200, '{}')), undefined);
});

test('writes: a batch of creates in one request, a version check before an update, rate limits stop the rest', () => {
  const c = tasks();
  const calls = [];
  let limited = false;
  globalThis.synchostHost = {
    send(req) {
      const body = req.body ? JSON.parse(new TextDecoder().decode(req.body)) : undefined;
      calls.push([req.method, req.url.split('?')[0], body]);
      const json = (status, value, headers = []) => ({ status, headers, body: bytes(value === undefined ? '' : JSON.stringify(value)) });
      if (limited) return json(429, { errors: [{ message: 'slow down', extensions: { code: 'REQUESTS_EXCEEDED' } }] }, [['retry-after', '2']]);
      if (req.method === 'POST') return json(200, { data: body.map((b, i) => ({ id: 100 + i, ...b, date_created: '2024-01-01T00:00:00.000Z' })) });
      if (req.method === 'GET') return json(200, { data: [{ id: 5, date_updated: '2024-01-02T00:00:00.000Z' }] });
      if (req.method === 'PATCH') return json(200, { data: { id: 5, ...body, date_updated: '2024-01-03T00:00:00.000Z' } });
      return json(204);
    },
  };
  const t = { base: 'http://h', collection: c };
  const create = (name) => ({ tag: 'create', val: [{ name: 'name', value: { tag: 'text', val: name } }] });
  const out = execute(t, [
    create('a'),
    create('b'),
    { tag: 'create', val: [{ name: 'nope', value: { tag: 'null' } }] },
    { tag: 'update', val: { id: '5', expectedVersion: '2024-01-01T00:00:00.000Z', fields: [] } },
    { tag: 'update', val: { id: '5', expectedVersion: '2024-01-02T00:00:00.000Z', fields: [{ name: 'name', value: { tag: 'text', val: 'c' } }] } },
    { tag: 'delete', val: { id: '5' } },
  ]);
  assert.deepEqual(calls.map(([m, u]) => `${m} ${u}`), [
    'POST http://h/items/tasks', 'GET http://h/items/tasks', 'GET http://h/items/tasks', 'PATCH http://h/items/tasks/5', 'DELETE http://h/items/tasks/5',
  ]);
  assert.deepEqual(calls[0][2], [{ name: 'a' }, { name: 'b' }]);
  assert.deepEqual(out.slice(0, 2).map((o) => o.id), ['100', '101']);
  assert.ok(out[2] instanceof ConnectorError && out[2].kind === 'invalid-input');
  assert.equal(out[3].kind, 'conflict');
  assert.equal(out[3].payload.val.currentVersion, '2024-01-02T00:00:00.000Z');
  assert.equal(out[4].version, '2024-01-03T00:00:00.000Z');
  assert.equal(out[5].id, '5');

  limited = true;
  assert.throws(() => execute(t, [create('x'), create('y')]), (e) => e.kind === 'rate-limited');
});

test('the exported write gives one write outcome per op', () => {
  globalThis.synchostHost = {
    send(req) {
      const json = (value) => ({ status: 200, headers: [], body: bytes(JSON.stringify(value)) });
      if (req.url.startsWith('http://h/fields/')) return json(TASKS);
      const body = JSON.parse(new TextDecoder().decode(req.body));
      return json({ data: body.map((b, i) => ({ id: 100 + i, ...b, date_created: '2024-01-01T00:00:00.000Z' })) });
    },
  };
  api.configure([['url', 'http://h']]);
  const out = api.write('tasks', [
    { tag: 'create', val: [{ name: 'name', value: { tag: 'text', val: 'a' } }] },
    { tag: 'create', val: [{ name: 'nope', value: { tag: 'null' } }] },
  ]);
  assert.deepEqual(out[0], { tag: 'written', val: { id: '100', version: '2024-01-01T00:00:00.000Z', updatedAt: '2024-01-01T00:00:00.000Z' } });
  assert.equal(out[1].tag, 'failed');
  assert.equal(out[1].val.tag, 'invalid-input');
});

// Directus answers a batch create with its items read back by `readMany`
// (api/src/controllers/items.ts), sorted as any read is: by the collection's
// sort field, else its key; not in the order sent. Each item must be paired
// with its op by identity.

/** A 200 with `value` as JSON (a 204 for `null`). */
const ok = (value) => ({ status: value === null ? 204 : 200, headers: [], body: bytes(value === null ? '' : JSON.stringify(value)) });
const rateLimited = () => ({ status: 429, headers: [['retry-after', '2']], body: bytes('{"errors":[{"message":"Too many requests","extensions":{"code":"REQUESTS_EXCEEDED"}}]}') });
const refused = () => ({ status: 400, headers: [], body: bytes('{"errors":[{"message":"invalid","extensions":{"code":"FAILED_VALIDATION"}}]}') });

/** Runs `ops` against `c`, answering each call with `answer({ method, url, body })` (a response). */
function runOn(c, ops, answer) {
  const calls = [];
  globalThis.synchostHost = {
    send(req) {
      const call = { method: req.method, url: req.url, body: req.body ? JSON.parse(new TextDecoder().decode(req.body)) : undefined };
      calls.push(call);
      return answer(structuredClone(call));
    },
  };
  return { calls, out: execute({ base: 'http://d', collection: c }, ops) };
}

/** Answers from a script, in order. */
const script = (answers) => () => answers.shift();

function collection(name, key) {
  return parseFields(name, {
    data: [
      key,
      { field: 'name', type: 'string', schema: {}, meta: null },
      { field: 'sort', type: 'integer', schema: {}, meta: null },
      { field: 'date_created', type: 'timestamp', schema: {}, meta: { special: ['date-created'] } },
    ],
  });
}

/** A collection keyed by a UUID Directus generates (`special: uuid`). */
const uuidDocs = () =>
  collection('docs', { field: 'id', type: 'uuid', schema: { is_primary_key: true, has_auto_increment: false }, meta: { special: ['uuid'], readonly: true } });
const codes = () => collection('codes', { field: 'code', type: 'string', schema: { is_primary_key: true, has_auto_increment: false }, meta: null });

const isUuidV4 = (s) => /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(s);

/** The items of a batch create as `readMany` answers them: sorted by `by`. */
function readBack(body, by, extra = () => {}) {
  const items = body.map((item, i) => {
    const out = { ...item, date_created: '2024-01-02T00:00:00.000Z' };
    extra(i, out);
    return out;
  });
  const text = (v) => JSON.stringify(v);
  items.sort((a, b) => (text(a[by]) < text(b[by]) ? -1 : text(a[by]) > text(b[by]) ? 1 : 0));
  return { data: items };
}

const unknown = (r) => r instanceof ConnectorError && r.kind === 'transient' && /outcome is unknown/.test(r.message);
const createNamed = (name) => ({ tag: 'create', val: [{ name: 'name', value: { tag: 'text', val: name } }] });
const names = (ns) => ns.map(createNamed);
const item = (id, updated) => ({ id, name: 'x', date_created: '2024-01-01T00:00:00.000Z', date_updated: updated });

test('creates into a UUID collection send their key and are paired by it', () => {
  const mine = '0F8FAD5B-D9CB-469F-A165-70867728950E';
  const ops = [
    ...names(['a', 'b', 'c', 'd']),
    { tag: 'create', val: [{ name: 'id', value: { tag: 'text', val: mine } }, { name: 'name', value: { tag: 'text', val: 'own key' } }] },
  ];
  // Sorted by key (random UUIDs), and MSSQL hands UUIDs back upper case.
  const { calls, out } = runOn(uuidDocs(), ops, ({ body }) => {
    const answer = readBack(body, 'id');
    for (const i of answer.data) i.id = i.id.toUpperCase();
    answer.data.reverse();
    return ok(answer);
  });
  assert.equal(calls.length, 1, 'one request');
  const keys = calls[0].body.map((b) => b.id);
  assert.ok(keys.slice(0, 4).every(isUuidV4), keys.join(' '));
  assert.equal(new Set(keys).size, 5);
  assert.equal(keys[4], mine, 'a key the op carries is sent as it is');
  out.forEach((r, i) => {
    assert.ok(!(r instanceof ConnectorError), `op ${i}: ${r.message}`);
    assert.equal(r.id.toLowerCase(), keys[i].toLowerCase(), `op ${i}`);
    assert.equal(r.version, '2024-01-02T00:00:00.000Z');
  });
});

test('a UUID missing from the answer leaves only its op unknown', () => {
  const { calls, out } = runOn(uuidDocs(), names(['a', 'b', 'c']), ({ body }) => {
    const answer = readBack(body, 'id');
    answer.data = answer.data.filter((i) => i.id !== body[1].id);
    return ok(answer);
  });
  const sent = calls[0].body;
  assert.equal(out[0].id, sent[0].id);
  assert.ok(unknown(out[1]), out[1].message);
  assert.equal(out[2].id, sent[2].id);

  // Answered twice: which one is the op's cannot be told.
  const twice = runOn(uuidDocs(), names(['a', 'b']), ({ body }) => {
    const answer = readBack(body, 'id');
    answer.data.push(answer.data[0]);
    return ok(answer);
  }).out;
  assert.equal(twice.filter(unknown).length, 1);
  assert.equal(twice.filter((r) => !(r instanceof ConnectorError)).length, 1);
});

test('creates into an auto-increment collection with a sort field are paired by key order', () => {
  const c = collection('ranked', { field: 'id', type: 'integer', schema: { is_primary_key: true, has_auto_increment: true }, meta: null });
  const ranked = (name, sort) => ({
    tag: 'create',
    val: [{ name: 'name', value: { tag: 'text', val: name } }, { name: 'sort', value: { tag: 'number', val: sort } }],
  });
  // Keys 11, 12, 13 in the order sent; the answer sorted by `sort` (3, 2, 1): the reverse.
  const { calls, out } = runOn(c, [ranked('a', 3), ranked('b', 2), ranked('c', 1)], ({ body }) =>
    ok(readBack(body, 'sort', (i, it) => { it.id = 11 + i; })),
  );
  assert.equal(calls.length, 1);
  assert.ok(!('id' in calls[0].body[0]));
  assert.deepEqual(out.map((r) => r.id), ['11', '12', '13']);

  // A bigInteger key comes back as a string: sorted as a number (9 < 10).
  const big = runOn(c, names(['a', 'b', 'c']), ({ body }) => ok(readBack(body, 'id', (i, it) => { it.id = String(9 + i); }))).out;
  assert.deepEqual(big.map((r) => r.id), ['9', '10', '11']);
});

test('an answer that does not add up leaves every create unknown', () => {
  // tasks: an auto-increment key.
  const answers = [
    // one item short
    { data: [item(2, 'x'), item(1, 'x')] },
    // one too many
    { data: [item(2, 'x'), item(1, 'x'), item(3, 'x'), item(4, 'x')] },
    // the same key twice
    { data: [item(2, 'x'), item(1, 'x'), item(1, 'x')] },
    // a key that is not a whole number
    { data: [item(2, 'x'), item(1, 'x'), { id: null, name: 'x' }] },
    // no items at all (Directus answers 204 when the token may not read them)
    null,
  ];
  for (const answer of answers) {
    const { out } = runOn(tasks(), names(['a', 'b', 'c']), () => ok(answer));
    assert.equal(out.length, 3);
    assert.ok(out.every(unknown), `${JSON.stringify(answer)}: ${out.map((r) => r.message ?? r.id).join('; ')}`);
  }
});

test('creates with a key the op carries are paired by it', () => {
  const code = (k) => ({ tag: 'create', val: [{ name: 'code', value: { tag: 'text', val: k } }] });
  const { calls, out } = runOn(codes(), [code('zz'), code('aa'), code('mm')], ({ body }) => ok(readBack(body, 'code')));
  assert.equal(calls.length, 1);
  assert.deepEqual(out.map((r) => r.id), ['zz', 'aa', 'mm']);

  // Without its key, an item cannot be told from the others in a batch (a
  // database default may fill it): each is created on its own, and the one
  // item answered is that op's.
  let n = 0;
  const one = runOn(codes(), names(['a', 'b']), ({ body }) => ok({ data: { ...body, code: `k${++n}` } }));
  assert.equal(one.calls.length, 2);
  assert.deepEqual(one.calls[0].body, { name: 'a' });
  assert.deepEqual(one.out.map((r) => r.id), ['k1', 'k2']);
});

test('a create of unknown outcome is never sent again by a later rate limit', () => {
  // The create's answer proves nothing; the update is then rate limited.
  // Failing the whole call would make the host send the create again.
  const { out } = runOn(
    tasks(),
    [createNamed('a'), { tag: 'update', val: { id: '3', fields: [{ name: 'name', value: { tag: 'text', val: 'x' } }] } }],
    script([ok({ data: [] }), rateLimited()]),
  );
  assert.ok(unknown(out[0]), out[0].message);
  assert.equal(out[1].kind, 'rate-limited');
});

test('creates one by one stop at a rate limit; a refused batch is checked item by item', () => {
  // No key of either kind: one request each; a 429 after the first write
  // leaves the rest not attempted, never sent.
  const { calls, out } = runOn(codes(), names(['a', 'b', 'c']), script([ok({ data: { code: 'k1', name: 'a' } }), rateLimited()]));
  assert.equal(calls.length, 2);
  assert.equal(out[0].id, 'k1');
  assert.deepEqual(out.slice(1).map((r) => r.kind), ['rate-limited', 'rate-limited']);
  assert.match(out[2].message, /not attempted/);

  // A refused batch is sent again item by item, and an item answered that is
  // not the one sent is not that op's.
  const code = (k) => ({ tag: 'create', val: [{ name: 'code', value: { tag: 'text', val: k } }] });
  const again = runOn(codes(), [code('x1'), code('x2')], script([refused(), ok({ data: { code: 'x1' } }), ok({ data: { code: 'x3' } })]));
  assert.deepEqual(again.calls.map((c) => Array.isArray(c.body)), [true, false, false]);
  assert.equal(again.out[0].id, 'x1');
  assert.ok(unknown(again.out[1]), again.out[1].message);
});

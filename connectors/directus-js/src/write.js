// Applying write ops (https://docs.directus.io/reference/items.html):
// creates in batches (`POST /items/{c}` with an array), updates one by one
// (`PATCH /items/{c}/{id}`), deletes one by one (`DELETE /items/{c}/{id}`).
//
// A batch create's answer lists the items as Directus reads them back
// (`readMany`, sorted by the collection's sort field, else its key), not in
// the order sent: each item is paired with its op by identity, never by
// position. A UUID key is generated here and sent, so the item is found by
// it; a key the op carries likewise; auto-increment keys ascend in the order
// sent, so the answer sorted by key is in that order. What cannot be paired
// for sure is unknown, never another op's item.
//
// Directus has no conditional requests (no `If-Match`, no version
// precondition), so an op with `expected-version` first reads the item's
// `date_updated` (or `date_created`) and is a `conflict` when it differs.
// The check and the write are two requests: a change in between is not seen.

import { ConnectorError, errors, http, written as confirmed } from './synchost-sdk.js';
import { idText, toBody, toRecord } from './convert.js';
import { KeyKind } from './schema.js';
import { collectionUrl, isForbidden, itemUrl, lookupUrl, sendJson } from './api.js';

/**
 * Items created per request. Directus creates a batch in one transaction:
 * one invalid item fails the whole batch, which is then retried item by
 * item so that each op gets its own outcome.
 */
export const CREATE_BATCH = 100;

function call(method, url, body) {
  const req = http[method.toLowerCase()](url);
  if (body !== undefined) req.json(body);
  return sendJson(req)[0];
}

/** What Directus confirmed for a created or updated item. */
function written(c, item) {
  const r = item && toRecord(c, item);
  if (!r) throw errors.badBody(`a write to \`${c.name}\``, 'an item without its key');
  return confirmed(r.id, { version: r.version, updatedAt: r.updatedAt });
}

function notFound(c, id) {
  return errors.notFound(`item ${id} does not exist in collection \`${c.name}\``);
}

/** `{ exists, version }` of item `id`. */
function lookup(t, id) {
  const body = call('GET', lookupUrl(t.base, t.collection, id));
  const item = body && Array.isArray(body.data) ? body.data[0] : undefined;
  if (!item) return { exists: false };
  const r = toRecord(t.collection, item);
  return { exists: true, version: r ? r.version : undefined };
}

/** The version check Directus does not do itself. */
function checkVersion(t, id, expected) {
  const { exists, version } = lookup(t, id);
  if (!exists) throw notFound(t.collection, id);
  if (version === expected) return;
  throw errors.conflict(
    id,
    version,
    `item ${id} of \`${t.collection.name}\` was changed at ${version ?? 'an unknown time'} since version ${expected}`,
  );
}

/** Directus answers 403 for an item that does not exist as well as for one the token may not change. */
function explainForbidden(t, id, err) {
  if (!isForbidden(err)) return err;
  try {
    return lookup(t, id).exists ? err : notFound(t.collection, id);
  } catch {
    return err;
  }
}

function update(t, { id, expectedVersion, fields }) {
  const body = toBody(t.collection, fields);
  if (expectedVersion !== undefined) checkVersion(t, id, expectedVersion);
  let answer;
  try {
    answer = call('PATCH', itemUrl(t.base, t.collection.name, id), body);
  } catch (e) {
    throw explainForbidden(t, id, e);
  }
  // Directus answers an update of an item that does not exist with 204 and
  // no body: nothing was changed.
  if (!answer || answer.data === null || answer.data === undefined) throw notFound(t.collection, id);
  return written(t.collection, answer.data);
}

/** A delete of an item that does not exist is a 204 as well: gone either way, a success. */
function remove(t, { id, expectedVersion }) {
  if (expectedVersion !== undefined) checkVersion(t, id, expectedVersion);
  try {
    call('DELETE', itemUrl(t.base, t.collection.name, id));
  } catch (e) {
    throw explainForbidden(t, id, e);
  }
  return confirmed(id);
}

/**
 * An outcome that cannot be proven from the answer: reported as unknown
 * (`transient`), which the host reconciles by reading, never by re-sending,
 * and never confirmed with an id that may be another op's item.
 */
function unknown(c, n, why) {
  return errors.badBody(`a create of ${n} items in \`${c.name}\``, why);
}

/** `item[name]`; `undefined` when `item` is not an object. */
function field(item, name) {
  return item !== null && typeof item === 'object' && !Array.isArray(item) ? item[name] : undefined;
}

// A decimal number as Rust's `f64` parses it (no hex, no empty text, unlike
// `Number`): anything else, `Infinity` and `NaN` included, is compared as the
// text it is.
const DECIMAL = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
// A whole number, as a `bigInteger` key comes back in a string.
const WHOLE = /^[+-]?[0-9]+$/;

/**
 * A key as text to compare by: a UUID regardless of case (MSSQL answers them
 * in upper case), a whole number without a fraction; `undefined` for none.
 */
function keyText(c, v) {
  const text = idText(v);
  if (text === undefined) return undefined;
  if (c.pkKind === KeyKind.UUID) return text.replace(/[A-Z]+/g, (s) => s.toLowerCase());
  if (c.pkNumeric) {
    const trimmed = text.trim();
    if (DECIMAL.test(trimmed)) {
      const n = Number(trimmed);
      if (Number.isInteger(n) && Math.abs(n) < 9.0e15) return String(n);
    }
  }
  return text;
}

/** The key a body to create carries, if any. */
function bodyKey(c, body) {
  return keyText(c, body[c.pk]);
}

/**
 * A key of an auto-increment collection as a BigInt, whether the driver
 * hands it back as a number or (a `bigInteger`) as a string; `undefined`
 * when it is neither.
 */
function intKey(v) {
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : undefined;
  if (typeof v === 'string' && WHOLE.test(v.trim())) return BigInt(v.trim());
  return undefined;
}

/**
 * A random (version 4) UUID: `crypto.randomUUID()`, which StarlingMonkey
 * (componentize-js' engine) fills from `wasi:random`, Node from the OS;
 * `undefined` if it fails.
 */
function newUuid() {
  try {
    return globalThis.crypto.randomUUID();
  } catch {
    return undefined;
  }
}

/**
 * A body to create with its key, where the connector can choose it: a UUID
 * key the op does not set is generated here and sent (Directus keeps a UUID
 * it is given, and generates one only when none is), so that the item in the
 * answer is found by its key.
 */
function withKey(c, body) {
  const key = body[c.pk];
  if (c.pkKind === KeyKind.UUID && (key === undefined || key === null || key === '')) {
    const uuid = newUuid();
    if (uuid !== undefined) body[c.pk] = uuid;
  }
  return body;
}

/**
 * Pairs the answer with the bodies sent, each by its own key: an op whose key
 * is not in the answer exactly once (or was sent twice) is unknown.
 */
function pairByKey(c, bodies, items) {
  const n = bodies.length;
  const answered = new Map();
  for (const item of items) {
    const k = keyText(c, field(item, c.pk));
    if (k === undefined) continue;
    if (!answered.has(k)) answered.set(k, []);
    answered.get(k).push(item);
  }
  const keys = bodies.map((b) => bodyKey(c, b));
  const sent = new Map();
  for (const k of keys) if (k !== undefined) sent.set(k, (sent.get(k) ?? 0) + 1);
  return keys.map((k) => {
    if (k === undefined) return unknown(c, n, 'an item was sent without its key');
    const found = answered.get(k);
    if (found === undefined) return unknown(c, n, `the answer does not list the item with key ${k}`);
    if (found.length === 1 && sent.get(k) === 1) return attempt(() => written(c, found[0]));
    return unknown(c, n, `key ${k} was sent or answered more than once`);
  });
}

/**
 * Pairs the answer of an auto-increment collection with the bodies sent.
 * Directus inserts a batch's items one after the other in one transaction
 * (`ItemsService.createMany`), so their keys ascend in the order sent,
 * whatever order the answer lists them in: sorted by key, the answer is in
 * the order sent. Anything that does not add up makes every op unknown.
 */
function pairByOrderOfKeys(c, n, items) {
  const allUnknown = (why) => Array.from({ length: n }, () => unknown(c, n, why));
  if (items.length !== n) return allUnknown(`${items.length} items answered for ${n} sent`);
  const keyed = items.map((item) => ({ key: intKey(field(item, c.pk)), item }));
  if (keyed.some((k) => k.key === undefined)) return allUnknown('an item without a whole-number key');
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  if (keyed.some((k, i) => i > 0 && keyed[i - 1].key === k.key)) return allUnknown('the same key answered twice');
  return keyed.map(({ item }) => attempt(() => written(c, item)));
}

/**
 * Creates one body in a request of its own (`POST /items/{c}` with an
 * object, answered with that item: it is the op's by construction).
 */
function createOne(t, body) {
  const c = t.collection;
  const key = bodyKey(c, body);
  const answer = call('POST', collectionUrl(t.base, c.name), body);
  const item = field(answer, 'data');
  if (key !== undefined && keyText(c, field(item, c.pk)) !== key) {
    throw unknown(c, 1, `an item other than ${key} answered`);
  }
  return written(c, item);
}

function notAttempted(retryAfterMs) {
  return errors.rateLimited(retryAfterMs, 'not attempted: an earlier op of this batch was rate limited');
}

function isRateLimited(outcome) {
  return outcome instanceof ConnectorError && outcome.kind === 'rate-limited';
}

/** Creates each body in a request of its own. A rate limit stops it: the rest are not tried. */
function createSingly(t, bodies) {
  const out = [];
  for (const body of bodies) {
    const outcome = attempt(() => createOne(t, body));
    out.push(outcome);
    if (isRateLimited(outcome)) {
      const retryAfterMs = Number(outcome.payload.val.retryAfterMs);
      while (out.length < bodies.length) out.push(notAttempted(retryAfterMs));
      break;
    }
  }
  return out;
}

/**
 * Creates `bodies` in one request; one outcome (written or error) per body,
 * each paired with its body by identity, never by position (see `KeyKind`):
 * by the key it was sent with, or, for an auto-increment key, by the order
 * of keys. Bodies that have neither are sent one by one.
 */
function createBatch(t, bodies) {
  const c = t.collection;
  const n = bodies.length;
  const keyed = bodies.every((b) => bodyKey(c, b) !== undefined);
  if (!keyed && c.pkKind !== KeyKind.AUTO_INCREMENT) return createSingly(t, bodies);
  let answer;
  try {
    answer = call('POST', collectionUrl(t.base, c.name), bodies);
  } catch (e) {
    if (!(e instanceof ConnectorError)) throw e;
    // Refused as invalid: nothing of the batch was written (Directus validates
    // a batch whole), so find which items are refused. Any other failure may
    // have written some: each op shares it, and an unknown outcome
    // (transient) is reconciled by the host, never re-sent.
    if (e.kind === 'invalid-input' && n > 1) return createSingly(t, bodies);
    return bodies.map(() => e);
  }
  const items = field(answer, 'data');
  if (!Array.isArray(items)) return bodies.map(() => unknown(c, n, 'an answer without its items'));
  return keyed ? pairByKey(c, bodies, items) : pairByOrderOfKeys(c, n, items);
}

/** Whether an op that failed so may have been written all the same. */
function mayHaveLanded(outcome) {
  return !(outcome instanceof ConnectorError) || outcome.kind === 'transient' || outcome.kind === 'rate-limited';
}

function attempt(fn) {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ConnectorError) return e;
    throw e;
  }
}

/**
 * Applies `ops` in order, one outcome each. A rate limit before anything may
 * have been written fails the whole call, so the host retries it as it is;
 * after a write (or an op whose outcome is unknown) it becomes the outcome of
 * that op and of every later one, which are not tried.
 */
export function execute(t, ops) {
  const results = [];
  let i = 0;
  while (i < ops.length) {
    const op = ops[i];
    let outcomes;
    if (op.tag === 'create') {
      const run = [];
      while (i < ops.length && ops[i].tag === 'create' && run.length < CREATE_BATCH) run.push(ops[i++].val);
      const prepared = run.map((fields) => attempt(() => withKey(t.collection, toBody(t.collection, fields))));
      const bodies = prepared.filter((p) => !(p instanceof ConnectorError));
      const sent = bodies.length > 0 ? createBatch(t, bodies) : [];
      let next = 0;
      outcomes = prepared.map((p) => (p instanceof ConnectorError ? p : sent[next++]));
    } else if (op.tag === 'update') {
      outcomes = [attempt(() => update(t, op.val))];
      i++;
    } else if (op.tag === 'delete') {
      outcomes = [attempt(() => remove(t, op.val))];
      i++;
    } else {
      outcomes = [errors.invalidInput(`unknown write op \`${op.tag}\``)];
      i++;
    }
    for (const outcome of outcomes) {
      if (isRateLimited(outcome)) {
        // The host re-sends a rate-limited call whole: only when nothing
        // before may have been written (a create whose outcome is unknown
        // must never be sent again).
        if (!results.some(mayHaveLanded)) throw outcome;
        results.push(outcome);
        const retryAfterMs = Number(outcome.payload.val.retryAfterMs);
        // The rest of this op's batch and every later op: not tried.
        while (results.length < ops.length) results.push(notAttempted(retryAfterMs));
        return results;
      }
      results.push(outcome);
    }
  }
  return results;
}

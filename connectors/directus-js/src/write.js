// Applying write ops (https://docs.directus.io/reference/items.html):
// creates in batches (`POST /items/{c}` with an array), updates one by one
// (`PATCH /items/{c}/{id}`), deletes one by one (`DELETE /items/{c}/{id}`).
//
// Directus has no conditional requests (no `If-Match`, no version
// precondition), so an op with `expected-version` first reads the item's
// `date_updated` (or `date_created`) and is a `conflict` when it differs.
// The check and the write are two requests: a change in between is not seen.

import { ConnectorError, errors, http, written as confirmed } from './synchost-sdk.js';
import { toBody, toRecord } from './convert.js';
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

/** Creates `bodies` in one request; one outcome (written or error) per body. */
function createBatch(t, bodies) {
  const url = collectionUrl(t.base, t.collection.name);
  const n = bodies.length;
  let answer;
  try {
    answer = call('POST', url, bodies);
  } catch (e) {
    if (!(e instanceof ConnectorError)) throw e;
    // Refused as invalid: nothing of the batch was written (Directus validates
    // a batch whole), so find which items are refused. Any other failure may
    // have written some: each op shares it, and an unknown outcome
    // (transient) is reconciled by the host, never re-sent.
    if (e.kind !== 'invalid-input' || n === 1) return bodies.map(() => e);
    return bodies.map((body) => attempt(() => written(t.collection, call('POST', url, body).data)));
  }
  const items = answer && Array.isArray(answer.data) ? answer.data : undefined;
  if (!items || items.length !== n) {
    const err = errors.badBody(`a create of ${n} items in \`${t.collection.name}\``, `an answer without ${n} items`);
    return bodies.map(() => err);
  }
  return items.map((item) => attempt(() => written(t.collection, item)));
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
 * Applies `ops` in order, one outcome each. A rate limit before anything
 * was written fails the whole call, so the host retries it as it is; after a
 * write it becomes the outcome of that op and of every later one, which are
 * not tried.
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
      const prepared = run.map((fields) => attempt(() => toBody(t.collection, fields)));
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
      if (outcome instanceof ConnectorError && outcome.kind === 'rate-limited') {
        if (!results.some((r) => !(r instanceof ConnectorError))) throw outcome;
        results.push(outcome);
        const retryAfterMs = Number(outcome.payload.val.retryAfterMs);
        // The rest of this op's batch and every later op: not tried.
        while (results.length < ops.length) {
          results.push(errors.rateLimited(retryAfterMs, 'not attempted: an earlier op of this batch was rate limited'));
        }
        return results;
      }
      results.push(outcome);
    }
  }
  return results;
}

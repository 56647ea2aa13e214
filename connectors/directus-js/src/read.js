// Pages and the cursor of a read.
//
// A read lists the collection's items in primary key order, one page past
// the last key seen (keyset pagination), so a cursor saved before a restart
// resumes exactly where it stopped. An incremental read then lists the
// collection's deletions from the activity log as tombstones. The
// checkpoint is Directus' own clock (the `Date` of the read's first answer),
// never the connector's: anything changed after that moment is at or after it.

import { decodeCursor, encodeCursor, errors, record } from './synchost-sdk.js';
import { idText, toRecord } from './convert.js';

/** The state of a read from `cursor`, or of a new read with `since`. */
export function resume(cursor, since) {
  if (cursor !== undefined) {
    const state = decodeCursor(cursor);
    if (!state || (state.phase !== 'items' && state.phase !== 'deletions')) {
      throw errors.invalidInput('malformed cursor: not one this connector made');
    }
    return state;
  }
  return { phase: 'items', after: null, since: since ?? null, started: null, activityAfter: 0, latest: null };
}

/**
 * Whether RFC 3339 time `a` is after `b`, for the UTC forms Directus writes
 * (`...Z`): those compare as text once their fractions are aligned.
 */
export function later(a, b) {
  const norm = (s) => {
    const t = s.replace(/Z$/, '');
    const [whole, frac = ''] = t.split('.');
    return `${whole}.${frac.padEnd(9, '0')}`;
  };
  return norm(a) > norm(b);
}

function checkpoint(state) {
  return state.started ?? state.latest ?? state.since ?? undefined;
}

/** The page of items in `body` (the answer to `itemsUrl`). */
export function itemsPage(c, body, limit, state, withDeletions) {
  if (!body || !Array.isArray(body.data)) throw errors.badBody(`GET /items/${c.name}`, 'no `data` array');
  const records = body.data.map((item) => {
    const r = toRecord(c, item);
    if (!r) throw errors.fatal(`an item of \`${c.name}\` has no primary key \`${c.pk}\``);
    if (r.version !== undefined && (state.latest === null || later(r.version, state.latest))) state.latest = r.version;
    return r;
  });
  if (body.data.length >= limit && limit > 0) {
    state.after = body.data[body.data.length - 1][c.pk];
    return { records, nextCursor: encodeCursor(state), checkpoint: undefined };
  }
  if (withDeletions && state.since !== null) {
    state.phase = 'deletions';
    return { records, nextCursor: encodeCursor(state), checkpoint: undefined };
  }
  return { records, nextCursor: undefined, checkpoint: checkpoint(state) };
}

/** The page of tombstones in `body` (the answer to `deletionsUrl`). */
export function deletionsPage(body, limit, state) {
  if (!body || !Array.isArray(body.data)) throw errors.badBody('GET /activity', 'no `data` array');
  const records = [];
  for (const entry of body.data) {
    if (typeof entry.id !== 'number') throw errors.badBody('GET /activity', 'an entry without a numeric id');
    state.activityAfter = Math.max(state.activityAfter, entry.id);
    // A batch delete logs one entry per item; an entry without an item names nothing.
    const id = idText(entry.item);
    if (id === undefined) continue;
    const at = typeof entry.timestamp === 'string' ? entry.timestamp : undefined;
    records.push(record(id, [], { updatedAt: at, deleted: true }));
  }
  if (body.data.length >= limit && limit > 0) {
    return { records, nextCursor: encodeCursor(state), checkpoint: undefined };
  }
  return { records, nextCursor: undefined, checkpoint: checkpoint(state) };
}

// Requests through the host, Directus' answers as typed errors, and the URLs
// of its REST API.
//
// Directus answers an error with `{"errors":[{"message":..,"extensions":
// {"code":..}}]}` (https://docs.directus.io/reference/introduction.html#errors).
// Statuses map as the SDK maps them, with Directus' codes in the message:
// `INVALID_CREDENTIALS`/`INVALID_TOKEN`/`TOKEN_EXPIRED` (401) are
// unauthorized; `FORBIDDEN` (403) is also what Directus answers for a
// collection or item that does not exist, even to an admin, so callers that
// can tell the two apart look further; `REQUESTS_EXCEEDED` (429) is
// rate-limited with `Retry-After`; `SERVICE_UNAVAILABLE` (503, the pressure
// limiter) and other 5xx are transient.
//
// Query parameters follow the global query reference
// (https://docs.directus.io/reference/query.html): `filter` is one JSON
// document, `sort`, `limit` and `fields` plain values.

import { ConnectorError, errors, http } from './synchost-sdk.js';

const enc = http.encode;

/** The first error of a Directus error body: `[code, message]`. */
export function parseErrorBody(response) {
  try {
    const first = JSON.parse(response.text()).errors[0];
    const code = first.extensions && typeof first.extensions.code === 'string' ? first.extensions.code : 'UNKNOWN';
    return [code, typeof first.message === 'string' ? first.message : ''];
  } catch {
    return undefined;
  }
}

/** Whether an error is Directus' 403, which means "forbidden or does not exist". */
export function isForbidden(err) {
  return err instanceof ConnectorError && err.kind === 'unauthorized' && err.message.includes('HTTP 403');
}

/** The typed error for a Directus response; `undefined` for a success. */
export function mapError(response) {
  const generic = errors.fromStatus(response);
  if (!generic) return undefined;
  const status = response.status;
  const parsed = parseErrorBody(response);
  const detail = parsed ? (parsed[1] === '' ? parsed[0] : `${parsed[0]}: ${parsed[1]}`) : response.text().slice(0, 300);
  const message = `Directus HTTP ${status}: ${detail}`;
  const val = generic.payload.val;
  switch (generic.kind) {
    case 'rate-limited': return errors.rateLimited(Number(val.retryAfterMs), message);
    case 'conflict': return errors.conflict(val.id, val.currentVersion, message);
    // 413 (CONTENT_TOO_LARGE) and 415 are about what was sent.
    case 'fatal': return status === 413 || status === 415 ? errors.invalidInput(message) : errors.fatal(message);
    default: return new ConnectorError(generic.kind, message);
  }
}

/** Sends `req`; returns `[json, response]` (an empty body, as a 204, is `null`). */
export function sendJson(req) {
  const response = req.sendRaw();
  const err = mapError(response);
  if (err) throw err;
  if (response.body.length === 0) return [null, response];
  return [response.json(`${req.method} ${req.url.split('?')[0]}`), response];
}

// ---------------------------------------------------------------- URLs

/** Items per page when the host asks for 0: Directus' own default `limit`. */
export const DEFAULT_PAGE = 100;
/** Directus' `QUERY_LIMIT_MAX` is unlimited by default; a page must stay under the host's response limit. */
export const MAX_PAGE = 500;

export function pageSize(requested) {
  return requested === 0 ? DEFAULT_PAGE : Math.min(requested, MAX_PAGE);
}

/** A key as it goes into a filter: numbers unquoted. */
export function keyJson(c, key) {
  if (c.pkNumeric && key.trim() !== '' && !Number.isNaN(Number(key))) return Number(key);
  return key;
}

/**
 * The filter of one items page: past the last key seen (keyset pagination:
 * stable while items are added or removed, unlike `offset`), and, on an
 * incremental read, created or updated at or after `since`.
 */
export function itemsFilter(c, after, since) {
  const and = [];
  if (after !== undefined && after !== null) and.push({ [c.pk]: { _gt: after } });
  if (since !== undefined) {
    const changed = c.versionFields().map((f) => ({ [f]: { _gte: since } }));
    // Without timestamps the read is a full scan, which is still correct.
    if (changed.length > 0) and.push({ _or: changed });
  }
  if (and.length === 0) return undefined;
  return and.length === 1 ? and[0] : { _and: and };
}

/** `GET /items/{collection}` for one page, sorted by the primary key. */
export function itemsUrl(base, c, limit, after, since) {
  let url = `${base}/items/${enc(c.name)}?limit=${limit}&sort=${enc(c.pk)}&fields=*`;
  const filter = itemsFilter(c, after, since);
  if (filter) url += `&filter=${enc(JSON.stringify(filter))}`;
  return url;
}

/**
 * `GET /activity` for the deletions of `collection` at or after `since`, past
 * activity id `after` (https://docs.directus.io/reference/system/activity.html).
 * Deletes are hard deletes: the activity log is the only trace they leave.
 */
export function deletionsUrl(base, collection, since, after, limit) {
  const filter = {
    _and: [
      { collection: { _eq: collection } },
      { action: { _eq: 'delete' } },
      { timestamp: { _gte: since } },
      { id: { _gt: after } },
    ],
  };
  return `${base}/activity?limit=${limit}&sort=id&fields=id,item,timestamp&filter=${enc(JSON.stringify(filter))}`;
}

export function itemUrl(base, collection, id) {
  return `${base}/items/${enc(collection)}/${enc(id)}`;
}

export function collectionUrl(base, collection) {
  return `${base}/items/${enc(collection)}`;
}

/** The key and version fields of the item `id`: an empty `data` means it does not exist. */
export function lookupUrl(base, c, id) {
  const fields = [c.pk, ...c.versionFields()].join(',');
  const filter = { [c.pk]: { _eq: keyJson(c, id) } };
  return `${base}/items/${enc(c.name)}?limit=1&fields=${enc(fields)}&filter=${enc(JSON.stringify(filter))}`;
}

export function fieldsUrl(base, collection) {
  return `${base}/fields/${enc(collection)}`;
}

/** To tell a collection that does not exist from one the token may not read. */
export function collectionsUrl(base) {
  return `${base}/collections?fields=collection`;
}

/**
 * Every collection the token can see, with its `meta` (note) and `schema`
 * (null for a folder, which has no table)
 * (https://docs.directus.io/reference/system/collections.html#list-collections).
 */
export function allCollectionsUrl(base) {
  return `${base}/collections`;
}

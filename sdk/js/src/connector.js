// A synchost connector for the "items" API (see tests/sim/src/items.rs in
// synchost): the starting point `synchost connector new NAME --lang js`
// copies. Replace the URLs, the entity and the JSON mapping with your
// platform's.

import {
  auth,
  errors,
  exportConnector,
  fieldSchema,
  http,
  record,
  value,
} from './synchost-sdk.js';

/**
 * The real origin of the platform. Tests and the demo redirect it to a
 * simulator with the job's `endpoint_overrides`; the connector never changes.
 */
const API = 'https://items.example.com';

class Items {
  static describe() {
    return {
      name: 'items',
      version: '0.1.0',
      entities: ['items'],
      hosts: [API],
      auth: auth.bearer('items_token'),
      capabilities: ['read', 'incremental'],
      rate: { perSecond: 5, burst: 5 },
      // `updated_since` takes the RFC 3339 time of the newest change.
      checkpoint: 'timestamp',
    };
  }

  static configure(_settings) {
    return new Items();
  }

  // The entities are fixed: without an `entities()` method, the exported
  // `entities` lists the descriptor's. A platform whose entities depend on the
  // connection (one table each, say) lists them from its API as `entityInfo(..)`s.
  //
  // This API is read-only. A connector that writes adds `write(entity, ops)`
  // returning one outcome per op: `written(..)`, a ConnectorError, or
  // `unknown(why)` when it cannot know whether the op landed (a timeout after
  // sending), which the host reconciles by reading.

  schema(entity) {
    known(entity);
    return {
      entity,
      fields: [
        fieldSchema('name', 'text'),
        fieldSchema('done', 'boolean'),
        fieldSchema('updated_at', 'datetime', { readOnly: true }),
      ],
    };
  }

  read(req) {
    known(req.entity);
    const limit = Math.min(Math.max(req.pageSize, 1), 100);
    let url = `${API}/v1/items?limit=${limit}`;
    if (req.cursor !== undefined) url += `&after=${http.encode(req.cursor)}`;
    if (req.since !== undefined) url += `&updated_since=${http.encode(req.since)}`;
    const body = http.get(url).sendJson();
    if (!Array.isArray(body.items)) throw errors.badBody('GET /v1/items', 'no `items` array');
    const records = body.items.map(toRecord);
    const next = typeof body.next === 'string' ? body.next : undefined;
    // The checkpoint: the newest change seen on this page, or the old one.
    // RFC 3339 times in one offset compare as strings.
    const newest = records
      .map((r) => r.updatedAt)
      .filter((t) => t !== undefined)
      .reduce((a, b) => (a === undefined || b > a ? b : a), undefined);
    return {
      records,
      nextCursor: next,
      checkpoint: next === undefined ? newest ?? req.since : undefined,
    };
  }
}

function known(entity) {
  if (entity !== 'items') throw errors.notFound(`no entity \`${entity}\`; this connector has \`items\``);
}

function toRecord(item) {
  if (typeof item.id !== 'string') throw errors.badBody('GET /v1/items', 'an item has no id');
  const updated = typeof item.updated_at === 'string' ? item.updated_at : undefined;
  return record(
    item.id,
    {
      name: value.text(item.name ?? ''),
      done: value.boolean(item.done === true),
      updated_at: value.orNull(updated, value.datetime),
    },
    { updatedAt: updated },
  );
}

export const api = exportConnector(Items);

// The Directus connector, in JavaScript: each entity of a job is one
// collection of a self-hosted (or Directus Cloud) instance, read and written
// through its REST API (https://docs.directus.io/reference/introduction.html).
// It behaves as the Rust one in connectors/directus does.
//
// - Settings: `url`, the instance's URL, which is also the origin the
//   connector declares (`{{setting:url}}`: the host allows exactly the origin
//   of the job's `url`); `collection.<entity>` per entity, else the
//   collection called like the entity.
// - Auth: a static token in the secret `directus_token`, sent by the host as
//   `Authorization: Bearer`.
// - Reads page by primary key; incremental reads filter on the
//   `date-created`/`date-updated` fields and report deletions, which are hard
//   deletes, from the activity log.
// - Entities: the collections the token can see (`GET /collections`), under
//   the entity name a `collection.<entity>` setting gives them.
// - Writes: batched creates (at most 100 ops a call: `maxBatch`), updates and
//   deletes, with the version check Directus does not do itself; one write
//   outcome per op.

import { auth, errors, exportConnector, http } from './synchost-sdk.js';
import { parseEntities, parseFields } from './schema.js';
import { allCollectionsUrl, collectionsUrl, fieldsUrl, isForbidden, itemsUrl, deletionsUrl, pageSize, sendJson } from './api.js';
import { deletionsPage, itemsPage, resume } from './read.js';
import { CREATE_BATCH, execute } from './write.js';

/** The job's connection settings: the instance's base URL and entity -> collection. */
export function parseConfig(settings) {
  const url = settings.require('url');
  const base = url.trim().replace(/\/+$/, '');
  const m = /^https?:\/\/([^/]*)/.exec(base);
  if (!m || m[1] === '') {
    throw errors.invalidInput(
      `setting \`url\` = \`${url}\` is not an http(s) URL of a Directus instance, e.g. \`https://cms.example.com\``,
    );
  }
  if (base.includes('?') || base.includes('#')) {
    throw errors.invalidInput(`setting \`url\` = \`${url}\` must not have a query or fragment`);
  }
  const collections = new Map();
  for (const [entity, collection] of settings.withPrefix('collection.')) {
    if (entity === '' || collection.trim() === '') {
      throw errors.invalidInput(
        `setting \`collection.${entity}\` = \`${collection}\`: both the entity and the collection must be named`,
      );
    }
    collections.set(entity, collection.trim());
  }
  return { base, collections };
}

class Directus {
  static describe() {
    return {
      name: 'directus-js',
      version: '0.1.0',
      entities: [],
      hosts: ['{{setting:url}}'],
      auth: auth.bearer('directus_token'),
      capabilities: ['read', 'write', 'incremental', 'deletes'],
      // Directus' default limiter allows 50 points per second per IP
      // (RATE_LIMITER_POINTS/DURATION,
      // https://docs.directus.io/self-hosted/config-options.html#rate-limiting),
      // and an instance is often configured lower: stay well under.
      rate: { perSecond: 10, burst: 5 },
      // One `POST /items/{collection}` takes a batch of creates.
      maxBatch: CREATE_BATCH,
      settings: [
        {
          name: 'url',
          description: "The Directus instance's URL, e.g. `https://cms.example.com`; the connector may reach this origin only.",
          required: true,
        },
        {
          name: 'collection.<entity>',
          description:
            'The collection that backs entity `<entity>`, e.g. `collection.tasks = project_tasks`. Default: the collection called like the entity.',
          required: false,
        },
      ],
    };
  }

  static configure(settings) {
    return new Directus(parseConfig(settings));
  }

  constructor(config) {
    this.config = config;
    /** collection -> its fields, fetched once per run */
    this.collections = new Map();
  }

  collectionName(entity) {
    return this.config.collections.get(entity) ?? entity;
  }

  /** The fields of `entity`'s collection, from the cache or `/fields`. */
  collection(entity) {
    const name = this.collectionName(entity);
    const cached = this.collections.get(name);
    if (cached) return cached;
    let body;
    try {
      [body] = sendJson(http.get(fieldsUrl(this.config.base, name)));
    } catch (e) {
      if (isForbidden(e)) throw this.explainForbidden(entity, name, e);
      throw e;
    }
    // An unknown collection is usually a 403, but some versions answer an empty list.
    if (body && Array.isArray(body.data) && body.data.length === 0) {
      throw this.explainForbidden(entity, name, errors.notFound(`collection \`${name}\` has no fields`));
    }
    let c;
    try {
      c = parseFields(name, body);
    } catch (what) {
      if (typeof what !== 'string') throw what;
      throw errors.badBody(`GET /fields/${name}`, what);
    }
    this.collections.set(name, c);
    return c;
  }

  /**
   * A 403 on a collection means it does not exist, or the token's role may
   * not read it (Directus does not say which, to admins either): the list of
   * collections the token can see tells them apart.
   */
  explainForbidden(entity, name, err) {
    let body;
    try {
      [body] = sendJson(http.get(collectionsUrl(this.config.base)));
    } catch {
      return err;
    }
    const visible = (body && Array.isArray(body.data) ? body.data : [])
      .map((c) => c.collection)
      .filter((c) => typeof c === 'string' && !c.startsWith('directus_'));
    if (visible.includes(name)) return err;
    return errors.notFound(
      `collection \`${name}\` (entity \`${entity}\`) does not exist on ${this.config.base} or this token cannot see it; ` +
        `collections it can see: ${visible.length === 0 ? 'none' : visible.join(', ')}`,
    );
  }

  /** The collections the token can see, as entities (see `parseEntities`). */
  entities() {
    const [body] = sendJson(http.get(allCollectionsUrl(this.config.base)));
    try {
      return parseEntities(body, this.config.collections);
    } catch (what) {
      if (typeof what !== 'string') throw what;
      throw errors.badBody('GET /collections', what);
    }
  }

  schema(entity) {
    return this.collection(entity).entitySchema(entity);
  }

  read(req) {
    const c = this.collection(req.entity);
    const state = resume(req.cursor, req.since);
    const limit = pageSize(req.pageSize);
    const base = this.config.base;
    if (state.phase === 'items') {
      const [body, response] = sendJson(http.get(itemsUrl(base, c, limit, state.after, state.since ?? undefined)));
      if (req.cursor === undefined) state.started = response.date() ?? null;
      return itemsPage(c, body, limit, state, true);
    }
    const [body] = sendJson(http.get(deletionsUrl(base, c.name, state.since ?? '', state.activityAfter, limit)));
    return deletionsPage(body, limit, state);
  }

  write(entity, ops) {
    const collection = this.collection(entity);
    return execute({ base: this.config.base, collection }, ops);
  }
}

export const api = exportConnector(Directus);

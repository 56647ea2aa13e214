// synchost SDK for JavaScript connectors: the same helpers the Rust SDK
// (sdk/src) gives, over the contract `synchost:connector@0.2.0`
// (wit/connector.wit) as componentize-js maps it to JavaScript:
//
// - records are objects with camelCase keys (`updated-at` -> `updatedAt`);
// - `option<T>` is the value or `undefined`;
// - a variant is `{ tag: 'case-name', val }` (tags keep their kebab-case);
// - flags are an object of booleans; an enum is its case name as a string;
// - `list<u8>` is a Uint8Array; `u64` is a BigInt (a number is accepted going out);
// - an exported `result<T, E>` returns T, and is `err` when the function
//   throws an object whose own `payload` property holds E (ConnectorError
//   below); an imported one returns T or throws an Error whose `payload` is E.
//
// Throwing anything else out of an export traps the instance, so
// `exportConnector` turns stray exceptions into `fatal` errors.

import { send } from 'synchost:connector/http@0.2.0';
import { log as hostLog } from 'synchost:connector/log@0.2.0';

/** The contract version this SDK builds connectors against. */
export const CONTRACT = '0.2.0';

/** The longest piece of a platform's error body kept in an error message. */
const BODY_EXCERPT = 300;

// ---------------------------------------------------------------- errors

/**
 * A typed connector error: `kind` is a case of the contract's
 * `connector-error` ('unauthorized', 'rate-limited', 'not-found', 'conflict',
 * 'invalid-input', 'transient', 'fatal'); `detail` its payload.
 */
export class ConnectorError extends Error {
  constructor(kind, detail) {
    super(`${kind}: ${typeof detail === 'string' ? detail : detail.message}`);
    this.name = 'ConnectorError';
    this.kind = kind;
    // componentize-js reads the `err` value of an exported result from an own `payload`.
    Object.defineProperty(this, 'payload', { value: { tag: kind, val: detail } });
  }
}

export const errors = {
  unauthorized: (message) => new ConnectorError('unauthorized', message),
  notFound: (message) => new ConnectorError('not-found', message),
  invalidInput: (message) => new ConnectorError('invalid-input', message),
  transient: (message) => new ConnectorError('transient', message),
  fatal: (message) => new ConnectorError('fatal', message),
  rateLimited: (retryAfterMs, message) =>
    new ConnectorError('rate-limited', { retryAfterMs: BigInt(Math.max(0, Math.ceil(retryAfterMs))), message }),
  conflict: (id, currentVersion, message) =>
    new ConnectorError('conflict', { id, currentVersion: currentVersion ?? undefined, message }),

  /** What a default method returns for a capability not implemented. */
  unsupported: (what) => new ConnectorError('fatal', `this connector does not support ${what}`),

  /** A response body that is not what the platform documents. */
  // A body that is not what the platform documents proves nothing about what
  // it did: transient, so the host keeps a write pending and reconciles by reading.
  badBody: (context, what) => new ConnectorError('transient', `unexpected response body from ${context}: ${what} (the outcome is unknown)`),

  /**
   * The typed error for a non-2xx response; `undefined` for a success.
   * 401/403 unauthorized, 404/410 not-found, 409/412 conflict, 429
   * rate-limited (Retry-After in seconds, default 1 s), 400/422
   * invalid-input, 408/5xx transient, anything else fatal.
   */
  fromStatus(response) {
    const status = response.status;
    if (status >= 200 && status < 300) return undefined;
    const message = `HTTP ${status}: ${excerpt(response.body)}`;
    switch (status) {
      case 401: case 403: return errors.unauthorized(message);
      case 404: case 410: return errors.notFound(message);
      case 409: case 412: return errors.conflict('', undefined, message);
      case 429: return errors.rateLimited(retryAfterMs(response) ?? 1000, message);
      case 400: case 422: return errors.invalidInput(message);
      default:
        if (status === 408 || (status >= 500 && status <= 599)) return errors.transient(message);
        return errors.fatal(message);
    }
  },
};

/**
 * `Retry-After` in milliseconds: delta-seconds (fractions allowed); an
 * HTTP-date counts as one second. `undefined` when the header is absent.
 */
export function retryAfterMs(response) {
  const value = response.header('retry-after');
  if (value === undefined) return undefined;
  const secs = Number(value.trim());
  return value.trim() !== '' && Number.isFinite(secs) && secs >= 0 ? Math.ceil(secs * 1000) : 1000;
}

function excerpt(body) {
  const text = decodeText(body);
  return text.length > BODY_EXCERPT ? `${text.slice(0, BODY_EXCERPT)}…` : text;
}

// ---------------------------------------------------------------- http

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function decodeText(bytes) {
  return decoder.decode(bytes ?? new Uint8Array());
}

/** A response as the host received it. */
export class Response {
  constructor(status, headers, body) {
    this.status = status;
    /** `[name, value]` pairs, as sent */
    this.headers = headers;
    /** Uint8Array */
    this.body = body;
  }

  /** The first header called `name`, compared case-insensitively. */
  header(name) {
    const lower = name.toLowerCase();
    const found = this.headers.find(([k]) => k.toLowerCase() === lower);
    return found ? found[1] : undefined;
  }

  /** The platform's time when it answered (the `Date` header), as RFC 3339. */
  date() {
    const date = this.header('date');
    return date === undefined ? undefined : httpDateToRfc3339(date);
  }

  text() {
    return decodeText(this.body);
  }

  /** The body parsed as JSON; a body that is not is a `fatal` error naming `context`. */
  json(context = 'the platform') {
    try {
      return JSON.parse(this.text());
    } catch (e) {
      throw errors.badBody(context, e.message);
    }
  }
}

/** A request being built: `http.get(url).header(k, v).sendJson()`. */
export class Request {
  constructor(method, url) {
    this.method = method;
    this.url = url;
    this.headers = [];
    this.body = undefined;
  }

  /** Adds a header; the value may hold a `secret(name)` placeholder. */
  header(name, value) {
    this.headers.push([name, String(value)]);
    return this;
  }

  /** A JSON body, with `Content-Type: application/json`. */
  json(value) {
    this.body = encoder.encode(JSON.stringify(value));
    return this.header('Content-Type', 'application/json');
  }

  /** A raw body: a string (sent as UTF-8) or a Uint8Array. */
  bytes(body) {
    this.body = typeof body === 'string' ? encoder.encode(body) : body;
    return this;
  }

  /** Sends the request; any status comes back as a Response. */
  sendRaw() {
    let resp;
    try {
      resp = send({ method: this.method, url: this.url, headers: this.headers, body: this.body });
    } catch (e) {
      throw fromHttpError(this.url, e);
    }
    return new Response(resp.status, resp.headers, resp.body);
  }

  /** Sends the request; a non-2xx status becomes the matching typed error. */
  send() {
    const resp = this.sendRaw();
    const err = errors.fromStatus(resp);
    if (err) throw err;
    return resp;
  }

  /** Sends the request and parses a 2xx body as JSON. */
  sendJson() {
    return this.send().json(`${this.method} ${stripQuery(this.url)}`);
  }
}

export const http = {
  get: (url) => new Request('GET', url),
  post: (url) => new Request('POST', url),
  patch: (url) => new Request('PATCH', url),
  put: (url) => new Request('PUT', url),
  delete: (url) => new Request('DELETE', url),
  /** Percent-encodes all but RFC 3986's unreserved characters, for a query value or a path segment. */
  encode: (value) =>
    encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`),
};

function stripQuery(url) {
  return url.split('?')[0];
}

function fromHttpError(url, e) {
  const err = e && e.payload;
  if (!err || typeof err.tag !== 'string') throw e;
  const where = stripQuery(url);
  switch (err.tag) {
    case 'denied': return errors.fatal(`request to ${where} denied: ${err.val}`);
    case 'timeout': return errors.transient(`request to ${where} timed out`);
    case 'too-large': return errors.fatal(`response from ${where} is larger than ${err.val} bytes`);
    case 'network': return errors.transient(`network error on ${where}: ${err.val}`);
    default: return errors.fatal(`request to ${where} failed: ${err.tag}`);
  }
}

/** The placeholder the host replaces with secret `name`; the connector never sees the value. */
export function secret(name) {
  return `{{secret:${name}}}`;
}

// ---------------------------------------------------------------- log

export const log = {
  trace: (message) => hostLog('trace', String(message)),
  debug: (message) => hostLog('debug', String(message)),
  info: (message) => hostLog('info', String(message)),
  warn: (message) => hostLog('warn', String(message)),
  error: (message) => hostLog('error', String(message)),
};

// ---------------------------------------------------------------- settings

/** The job's connection settings: names and values, never secret values. */
export class Settings {
  constructor(pairs) {
    this.pairs = pairs;
  }

  get(name) {
    const found = this.pairs.find(([k]) => k === name);
    return found ? found[1] : undefined;
  }

  /** The setting, or an `invalid-input` error that names it. */
  require(name) {
    const value = this.get(name);
    if (value === undefined) throw errors.invalidInput(`missing setting \`${name}\``);
    return value;
  }

  getOr(name, fallback) {
    return this.get(name) ?? fallback;
  }

  /** `[rest, value]` for every setting named `prefix` + rest. */
  withPrefix(prefix) {
    return this.pairs.filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]);
  }
}

// ---------------------------------------------------------------- values

/** Field values, as the contract's `field-value` variant. */
export const value = {
  null: () => ({ tag: 'null' }),
  text: (s) => ({ tag: 'text', val: String(s) }),
  number: (n) => ({ tag: 'number', val: Number(n) }),
  boolean: (b) => ({ tag: 'boolean', val: Boolean(b) }),
  date: (s) => ({ tag: 'date', val: s }),
  datetime: (s) => ({ tag: 'datetime', val: s }),
  select: (s) => ({ tag: 'select', val: s }),
  multiSelect: (list) => ({ tag: 'multi-select', val: list.map(String) }),
  reference: (ids) => ({ tag: 'reference', val: ids.map(String) }),
  json: (v) => ({ tag: 'json', val: JSON.stringify(v) }),
  /** `undefined`/`null` become null, anything else `make(v)`. */
  orNull: (v, make) => (v === undefined || v === null ? { tag: 'null' } : make(v)),
};

/** A field value as a plain JS value: json is parsed, null is null. */
export function plain(fieldValue) {
  switch (fieldValue.tag) {
    case 'null': return null;
    case 'json':
      try {
        return JSON.parse(fieldValue.val);
      } catch (e) {
        throw errors.invalidInput(`a json field value is not JSON: ${e.message}`);
      }
    default: return fieldValue.val;
  }
}

/** `[{name, value}]` as `{name: plain value}`. */
export function fieldsToObject(fields) {
  const out = {};
  for (const f of fields) out[f.name] = plain(f.value);
  return out;
}

/** A record: `fields` is `{name: fieldValue}` or `[{name, value}]`. */
export function record(id, fields, { version, updatedAt, deleted = false } = {}) {
  const list = Array.isArray(fields) ? fields : Object.entries(fields).map(([name, v]) => ({ name, value: v }));
  return { id: String(id), version: version ?? undefined, updatedAt: updatedAt ?? undefined, deleted, fields: list };
}

/** A field of a schema; `kind` is a `field-type` case ('text', 'number', ...). */
export function fieldSchema(name, kind, { readOnly = false, options = [] } = {}) {
  return { name, kind, readOnly, options };
}

/** What the platform confirmed for one write op. */
export function written(id, { version, updatedAt } = {}) {
  return { id: String(id), version: version ?? undefined, updatedAt: updatedAt ?? undefined };
}

/** The outcome of a write op that may or may not have landed; see `unknown`. */
export class Unknown {
  constructor(message) {
    this.message = String(message);
  }
}

/**
 * The outcome of an op whose fate the connector cannot know (a timeout after
 * the request was sent, an answer cut short): the host reads the platform
 * before it decides, never re-sending it blindly. A connector's `write` puts
 * it in its list of outcomes, beside `written(..)`s and ConnectorErrors.
 */
export function unknown(message) {
  return new Unknown(message);
}

const OUTCOME_TAGS = ['written', 'failed', 'unknown'];

/**
 * The contract's `write-outcome` of one op's result: a `written(..)` is
 * `written`, a ConnectorError `failed`, an `unknown(..)` `unknown`; an
 * outcome already in the contract's shape is kept.
 */
export function outcome(result) {
  if (result instanceof ConnectorError) return { tag: 'failed', val: result.payload };
  if (result instanceof Unknown) return { tag: 'unknown', val: result.message };
  if (result && OUTCOME_TAGS.includes(result.tag)) return result;
  if (!result || typeof result.id !== 'string') {
    throw errors.fatal(`a write outcome is neither written(..), a ConnectorError nor unknown(..): ${JSON.stringify(result)}`);
  }
  return { tag: 'written', val: result };
}

/** One `write-outcome` per op result (see `outcome`). */
export function outcomes(results) {
  return results.map(outcome);
}

/** One entity the connection reaches, as `entities()` lists them. */
export function entityInfo(name, description = '') {
  return { name: String(name), description: description ?? '' };
}

/** The contract's auth schemes. */
export const auth = {
  none: () => ({ tag: 'none' }),
  bearer: (secretName) => ({ tag: 'bearer', val: secretName }),
  header: (headerName, secretName) => ({ tag: 'header', val: [headerName, secretName] }),
  /** HTTP Basic from two secrets: the host sends `Authorization: Basic base64(user:password)`. */
  basic: (userSecret, passwordSecret) => ({ tag: 'basic', val: { userSecret, passwordSecret } }),
  /**
   * OAuth 2.0 client credentials: the host trades the client id and secret
   * for an access token at `tokenUrl` (one of the declared hosts) and sends
   * it as a bearer token.
   */
  clientCredentials: (tokenUrl, clientIdSecret, clientSecretSecret, scopes = []) => ({
    tag: 'client-credentials',
    val: { tokenUrl, clientIdSecret, clientSecretSecret, scopes: [...scopes] },
  }),
};

// ---------------------------------------------------------------- cursors and time

/** Packs any JSON-able state into one opaque cursor string (base64url of JSON). */
export function encodeCursor(state) {
  const bytes = encoder.encode(JSON.stringify(state));
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The state in a cursor made by `encodeCursor`; anything else is `invalid-input`. */
export function decodeCursor(cursor) {
  try {
    const binary = atob(cursor.replace(/-/g, '+').replace(/_/g, '/'));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    return JSON.parse(decoder.decode(bytes));
  } catch (e) {
    throw errors.invalidInput(`malformed cursor: ${e.message}`);
  }
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7) as RFC
 * 3339 (`1994-11-06T08:49:37Z`); `undefined` for anything else.
 */
export function httpDateToRfc3339(date) {
  const m = /^[A-Z][a-z]{2}, (\d{2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/.exec(date.trim());
  if (!m) return undefined;
  const month = MONTHS.indexOf(m[2]) + 1;
  const [day, h, min, s] = [Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6])];
  if (month === 0 || day < 1 || day > 31 || h > 23 || min > 59 || s > 60) return undefined;
  const pad = (n) => String(n).padStart(2, '0');
  return `${m[3]}-${pad(month)}-${pad(day)}T${pad(h)}:${pad(min)}:${pad(s)}Z`;
}

// ---------------------------------------------------------------- export

/**
 * The component's `api` export for a connector class: `static describe()`,
 * `static configure(settings)` returning the instance for the run, and the
 * instance methods `schema(entity)`, `read(req)`, optionally `entities()`
 * (by default the descriptor's entities; a list of `entityInfo(..)`),
 * `write(entity, ops)` (one outcome per op: a `written(...)`, a
 * ConnectorError, or `unknown(why)`; `eachOp` helps) and `webhook(req)`.
 */
export function exportConnector(Connector) {
  let instance;
  const configured = () => {
    if (!instance) throw errors.invalidInput('configure must be called before any other method');
    return instance;
  };
  return {
    describe: () => guard(() => describeWire(Connector.describe())),
    configure: (pairs) =>
      guard(() => {
        instance = Connector.configure(new Settings(pairs));
      }),
    entities: () =>
      guard(() => {
        const c = configured();
        if (typeof c.entities === 'function') return c.entities().map((e) => entityInfo(e.name, e.description));
        return (Connector.describe().entities ?? []).map((name) => entityInfo(name));
      }),
    schema: (entity) => guard(() => configured().schema(entity)),
    read: (req) => guard(() => configured().read(req)),
    write: (entity, ops) =>
      guard(() => {
        const c = configured();
        if (typeof c.write !== 'function') throw errors.unsupported('write');
        return outcomes(c.write(entity, ops));
      }),
    webhook: (req) =>
      guard(() => {
        const c = configured();
        if (typeof c.webhook !== 'function') throw errors.unsupported('webhook');
        return c.webhook(req);
      }),
  };
}

/** Runs `fn` on each op in order: its result, or the ConnectorError it threw (an `unknown(..)` it returns is kept). */
export function eachOp(ops, fn) {
  return ops.map((op) => {
    try {
      return fn(op);
    } catch (e) {
      if (e instanceof ConnectorError) return e;
      throw e;
    }
  });
}

function guard(fn) {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ConnectorError) throw e;
    // A bug in the connector (a TypeError, say): never worth retrying.
    throw errors.fatal(`${e && e.name ? e.name : 'exception'}: ${e && e.message ? e.message : String(e)}`);
  }
}

const CAPABILITIES = ['read', 'write', 'incremental', 'deletes', 'webhooks'];
const CHECKPOINTS = ['opaque', 'timestamp'];

/**
 * A descriptor with its defaults filled and `capabilities` as the contract's
 * flags. `checkpoint` is 'timestamp' (the default: the host moves an RFC 3339
 * checkpoint back by its overlap window) or 'opaque' (given back exactly);
 * `maxBatch` the most ops one `write` call may carry (none lets the host choose).
 */
function describeWire(d) {
  const caps = {};
  for (const c of d.capabilities ?? []) {
    if (!CAPABILITIES.includes(c)) throw errors.fatal(`unknown capability \`${c}\`; there are ${CAPABILITIES.join(', ')}`);
    caps[c] = true;
  }
  const checkpoint = d.checkpoint ?? 'timestamp';
  if (!CHECKPOINTS.includes(checkpoint)) {
    throw errors.fatal(`unknown checkpoint kind \`${checkpoint}\`; there are ${CHECKPOINTS.join(', ')}`);
  }
  const maxBatch = d.maxBatch ?? undefined;
  if (maxBatch !== undefined && !(Number.isInteger(maxBatch) && maxBatch > 0 && maxBatch <= 0xffffffff)) {
    throw errors.fatal(`maxBatch must be a positive whole number of ops, not \`${maxBatch}\``);
  }
  return {
    name: d.name,
    version: d.version,
    contract: d.contract ?? CONTRACT,
    entities: d.entities ?? [],
    capabilities: caps,
    hosts: d.hosts ?? [],
    auth: d.auth ?? auth.none(),
    rate: d.rate
      ? {
          perSecond: d.rate.perSecond,
          burst: d.rate.burst ?? 1,
          dailyBudget: d.rate.dailyBudget === undefined ? undefined : BigInt(d.rate.dailyBudget),
        }
      : undefined,
    settings: (d.settings ?? []).map((s) => ({ name: s.name, description: s.description ?? '', required: Boolean(s.required) })),
    checkpoint,
    maxBatch,
  };
}

// Item values <-> typed field values.
//
// Directus returns items as plain JSON objects keyed by field
// (https://docs.directus.io/reference/items.html#the-item-object); a few
// types come back as strings to keep their precision (`bigInteger` and
// `decimal`), `dateTime` has no offset, and `csv` is an array of strings.

import { errors, record, value } from './synchost-sdk.js';

/** A key value as the record id: numbers without quotes, strings as they are. */
export function idText(v) {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/**
 * A `dateTime` (`2024-01-02T03:04:05`, no offset, stored as written) as
 * RFC 3339: Directus keeps no zone for it, so it is read as UTC.
 */
export function withOffset(s) {
  const hasOffset = s.endsWith('Z') || (s.length > 19 && /[+-]/.test(s.slice(19)));
  return hasOffset || !s.includes('T') ? s : `${s}Z`;
}

function number(v) {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v.trim());
    return Number.isNaN(n) ? undefined : n;
  }
  return undefined;
}

/** The typed value of `v` in field `f`; a value that does not fit is kept as JSON. */
export function toFieldValue(f, v) {
  if (v === null || v === undefined) return value.null();
  const json = () => value.json(v);
  switch (f.kind) {
    case 'text':
      if (typeof v === 'string') return value.text(v);
      return typeof v === 'number' ? value.text(String(v)) : json();
    case 'select':
      return typeof v === 'string' ? value.select(v) : json();
    case 'number': {
      const n = number(v);
      return n === undefined ? json() : value.number(n);
    }
    case 'boolean':
      if (typeof v === 'boolean') return value.boolean(v);
      // SQLite has no boolean column: some drivers hand back 0/1.
      return typeof v === 'number' ? value.boolean(v !== 0) : json();
    case 'date':
      return typeof v === 'string' ? value.date(v.slice(0, 10)) : json();
    case 'datetime':
      return typeof v === 'string' ? value.datetime(withOffset(v)) : json();
    case 'multi-select':
      if (Array.isArray(v)) return value.multiSelect(v.map((i) => (typeof i === 'string' ? i : JSON.stringify(i))));
      if (typeof v === 'string' && f.directusType === 'csv') return value.multiSelect(v.split(',').filter((p) => p !== ''));
      return json();
    case 'reference': {
      // A many-to-one holds the related item's key, or the item itself when expanded.
      const id = v !== null && typeof v === 'object' ? idText(v.id) : idText(v);
      return id === undefined ? json() : value.reference([id]);
    }
    default:
      return json();
  }
}

/** The item's version: its `date_updated`, else its `date_created`. */
export function versionOf(c, item) {
  for (const f of c.versionFields()) {
    if (typeof item[f] === 'string') return withOffset(item[f]);
  }
  return undefined;
}

/** The record of one item; `undefined` when the item has no key. */
export function toRecord(c, item) {
  const id = idText(item[c.pk]);
  if (id === undefined) return undefined;
  const version = versionOf(c, item);
  const fields = c.fields
    .filter((f) => Object.prototype.hasOwnProperty.call(item, f.name))
    .map((f) => ({ name: f.name, value: toFieldValue(f, item[f.name]) }));
  return record(id, fields, { version, updatedAt: version });
}

function numberJson(f, n) {
  return Number.isFinite(n) ? n : null;
}

function trimNumber(n) {
  return Number.isInteger(n) ? n.toFixed(0) : String(n);
}

/** `fv` as the JSON Directus expects in field `f`; throws a message when it does not fit. */
export function toJson(f, fv) {
  const wrong = (what) => `field \`${f.name}\` is a Directus \`${f.directusType}\` field: ${what} does not fit it`;
  const v = fv.val;
  switch (fv.tag) {
    case 'null': return null;
    case 'text': case 'select':
      switch (f.kind) {
        case 'number': {
          const n = number(v);
          if (n === undefined) throw wrong(`text \`${v}\``);
          return numberJson(f, n);
        }
        case 'boolean': {
          const t = v.trim().toLowerCase();
          if (['true', 'yes', '1'].includes(t)) return true;
          if (['false', 'no', '0', ''].includes(t)) return false;
          throw wrong(`text \`${v}\``);
        }
        case 'multi-select': return [v];
        case 'json':
          try {
            return JSON.parse(v);
          } catch {
            return v;
          }
        default: return v;
      }
    case 'number':
      switch (f.kind) {
        case 'number': case 'json': return numberJson(f, v);
        case 'boolean': return v !== 0;
        case 'text': case 'select': return trimNumber(v);
        default: throw wrong('a number');
      }
    case 'boolean':
      switch (f.kind) {
        case 'boolean': case 'json': return v;
        case 'text': case 'select': return String(v);
        default: throw wrong('a boolean');
      }
    case 'date':
      if (['date', 'text', 'datetime'].includes(f.kind)) return v;
      throw wrong('a date');
    case 'datetime':
      // A `date` keeps the calendar day of a datetime.
      if (f.kind === 'date') return v.slice(0, 10);
      if (f.kind === 'datetime' || f.kind === 'text') return v;
      throw wrong('a datetime');
    case 'multi-select':
      if (f.kind === 'multi-select' || f.kind === 'json') return [...v];
      if (f.kind === 'text' || f.kind === 'select') return v.join(', ');
      throw wrong('a multi-select');
    case 'reference':
      if (f.kind === 'reference') {
        if (v.length === 0) return null;
        if (v.length === 1) return v[0];
        throw wrong('more than one reference (a many-to-one holds one)');
      }
      if (f.kind === 'json') return [...v];
      throw wrong('a reference');
    case 'json':
      try {
        return JSON.parse(v);
      } catch (e) {
        throw `field \`${f.name}\`: invalid JSON: ${e.message}`;
      }
    default:
      throw `field \`${f.name}\`: unknown value type \`${fv.tag}\``;
  }
}

/**
 * The JSON object of an item to create or update. Unknown and read-only
 * fields are `invalid-input` naming the field: a silent drop would look
 * like a successful write.
 */
export function toBody(c, fields) {
  const body = {};
  for (const field of fields) {
    const meta = c.field(field.name);
    if (!meta) {
      throw errors.invalidInput(
        `collection \`${c.name}\` has no field \`${field.name}\`; its fields are: ${c.fields.map((f) => f.name).join(', ')}`,
      );
    }
    if (meta.readOnly) {
      throw errors.invalidInput(`field \`${field.name}\` of collection \`${c.name}\` is filled by Directus and cannot be written`);
    }
    try {
      body[field.name] = toJson(meta, field.value);
    } catch (message) {
      if (typeof message !== 'string') throw message;
      throw errors.invalidInput(message);
    }
  }
  return body;
}

// A collection's fields and their types, from `GET /fields/{collection}`
// (https://docs.directus.io/reference/system/fields.html): each field has
// `type` (Directus' abstract type), `schema` (the database column, null for
// alias fields such as one-to-many) and `meta` (interface, `special` flags
// like `date-created`, select `choices`).

const NUMERIC = ['integer', 'bigInteger', 'float', 'decimal'];

/**
 * Where a new item's primary key comes from: what tells which item of a
 * batch create's answer is which op's (Directus answers the items sorted
 * like any read, by the collection's sort field, else the key: not in the
 * order they were sent).
 */
export const KeyKind = Object.freeze({
  /** an integer the database assigns (`has_auto_increment`), ascending in the order the items of one batch are inserted */
  AUTO_INCREMENT: 'auto-increment',
  /** a UUID (`type: uuid`, or `special: uuid`): the connector generates it when the op does not carry one, so it knows every key it sends */
  UUID: 'uuid',
  /** any other key: entered by the client, so the op carries it */
  MANUAL: 'manual',
});

export function isNumeric(directusType) {
  return NUMERIC.includes(directusType);
}

/** The contract's field type for a Directus field. */
export function kindOf(directusType, iface, hasChoices, m2o) {
  if (m2o) return 'reference';
  switch (directusType) {
    case 'string': case 'text': case 'uuid': case 'hash': case 'time':
      return hasChoices && (iface === 'select-dropdown' || iface === 'select-radio') ? 'select' : 'text';
    case 'csv': return 'multi-select';
    case 'boolean': return 'boolean';
    case 'date': return 'date';
    case 'dateTime': case 'timestamp': return 'datetime';
    case 'json':
      return ['select-multiple-dropdown', 'select-multiple-checkbox', 'tags'].includes(iface) ? 'multi-select' : 'json';
    default:
      return isNumeric(directusType) ? 'number' : 'json';
  }
}

function specials(meta) {
  const s = meta && meta.special;
  if (Array.isArray(s)) return s.filter((x) => typeof x === 'string');
  if (typeof s === 'string') return s.split(',').map((x) => x.trim());
  return [];
}

function scalarText(v) {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/**
 * The collection described by a `/fields` answer; throws a string naming
 * what is wrong with the body.
 */
export function parseFields(collection, body) {
  if (!body || !Array.isArray(body.data)) throw 'no `data` array';
  let pk;
  let created;
  let updated;
  const fields = [];
  for (const item of body.data) {
    if (typeof item.field !== 'string') throw 'a field without a name';
    const name = item.field;
    const directusType = typeof item.type === 'string' ? item.type : 'unknown';
    if (directusType === 'alias' || item.schema === null || item.schema === undefined) continue;
    const schema = item.schema;
    const meta = item.meta ?? {};
    const special = specials(meta);
    const isPk = schema.is_primary_key === true;
    const auto = schema.has_auto_increment === true;
    if (isPk) {
      let kind = KeyKind.MANUAL;
      if (auto && (directusType === 'integer' || directusType === 'bigInteger')) kind = KeyKind.AUTO_INCREMENT;
      else if (directusType === 'uuid' || special.includes('uuid')) kind = KeyKind.UUID;
      pk = { name, numeric: isNumeric(directusType), kind };
    }
    if (special.includes('date-created')) created = name;
    if (special.includes('date-updated')) updated = name;
    const iface = typeof meta.interface === 'string' ? meta.interface : '';
    const choices = meta.options && Array.isArray(meta.options.choices) ? meta.options.choices : [];
    const options = choices
      .map((c) => (c !== null && typeof c === 'object' ? (c.value === undefined ? undefined : scalarText(c.value)) : scalarText(c)))
      .filter((c) => c !== undefined);
    const m2o = typeof schema.foreign_key_table === 'string' && !isPk;
    const kind = kindOf(directusType, iface, options.length > 0, m2o);
    const systemFilled = special.some((s) => ['date-created', 'date-updated', 'user-created', 'user-updated'].includes(s));
    fields.push({
      name,
      directusType,
      kind,
      readOnly: (isPk && auto) || systemFilled,
      options: kind === 'select' || kind === 'multi-select' ? options : [],
    });
  }
  if (!pk) throw `collection \`${collection}\` has no primary key field`;
  return new Collection(collection, pk.name, pk.numeric, pk.kind, created, updated, fields);
}

/**
 * The entities in a `GET /collections` answer: every collection with a table
 * (a folder's `schema` is null) that is not one of Directus' own
 * `directus_*`, named by the entity a `collection.<entity>` setting maps to
 * it (`collections`: entity -> collection), else by itself; described by its
 * note. Throws a string naming what is wrong with the body.
 */
export function parseEntities(body, collections) {
  if (!body || !Array.isArray(body.data)) throw 'no `data` array';
  const out = [];
  for (const c of body.data) {
    const name = c && typeof c.collection === 'string' ? c.collection : undefined;
    if (name === undefined || name.startsWith('directus_') || c.schema === null || c.schema === undefined) continue;
    const note = c.meta && typeof c.meta.note === 'string' ? c.meta.note : '';
    const mapped = [...collections].filter(([, col]) => col === name).map(([entity]) => entity);
    for (const entity of mapped.length > 0 ? mapped : [name]) out.push({ name: entity, description: note });
  }
  return out;
}

export class Collection {
  /**
   * `pkNumeric`: whether the primary key is a number (its values are sent
   * unquoted); `pkKind`: where a new item's key comes from (a `KeyKind`).
   */
  constructor(name, pk, pkNumeric, pkKind, created, updated, fields) {
    Object.assign(this, { name, pk, pkNumeric, pkKind, created, updated, fields });
  }

  field(name) {
    return this.fields.find((f) => f.name === name);
  }

  /** The fields that version an item: `date_updated`, then `date_created`. */
  versionFields() {
    return [this.updated, this.created].filter((f) => f !== undefined);
  }

  entitySchema(entity) {
    return {
      entity,
      fields: this.fields.map((f) => ({ name: f.name, kind: f.kind, readOnly: f.readOnly, options: f.options })),
    };
  }
}

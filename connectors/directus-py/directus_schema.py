"""A collection's fields, from `GET /fields/{collection}`
(https://docs.directus.io/reference/system/fields.html), and item values as
the contract's typed values and back.

Directus types (https://docs.directus.io/user-guide/overview/glossary.html#types):
`string`, `text`, `uuid`, `hash`, `csv`, `integer`, `bigInteger`, `float`,
`decimal`, `boolean`, `date`, `dateTime`, `time`, `timestamp`, `json`,
`geometry*`, `binary`, and `alias` (no column: relational o2m/m2m/m2a and
presentation fields), which the connector leaves out. Items come back as
plain JSON objects (https://docs.directus.io/reference/items.html#the-item-object);
`bigInteger` and `decimal` as strings to keep their precision, `dateTime`
without an offset, `csv` as an array of strings.
"""

import json

import synchost_sdk as sdk
from synchost_sdk import errors
from wit_world.imports import types as t

K = t.FieldType
NUMERIC = ("integer", "bigInteger", "float", "decimal")


class FieldMeta:
    def __init__(self, name, directus_type, kind, read_only, options):
        self.name = name
        self.directus_type = directus_type
        self.kind = kind
        self.read_only = read_only
        self.options = options


# Where a new item's primary key comes from: what tells which item of a
# batch create's answer is which op's (Directus answers the items sorted like
# any read, by the collection's sort field, else the key: not in the order
# they were sent).

#: an integer the database assigns (`has_auto_increment`), ascending in the
#: order the items of one batch are inserted
AUTO_INCREMENT = "auto-increment"
#: a UUID (`type: uuid`, or `special: uuid`): the connector generates it when
#: the op does not carry one, so it knows every key it sends
UUID = "uuid"
#: any other key: entered by the client, so the op carries it
MANUAL = "manual"


class Collection:
    def __init__(self, name, pk, pk_numeric, pk_kind, created, updated, fields):
        self.name = name
        self.pk = pk
        #: whether the primary key is a number (its values are sent unquoted)
        self.pk_numeric = pk_numeric
        #: where a new item's key comes from: AUTO_INCREMENT, UUID or MANUAL
        self.pk_kind = pk_kind
        self.created = created
        self.updated = updated
        self.fields = fields

    def field(self, name):
        return next((f for f in self.fields if f.name == name), None)

    def version_fields(self):
        """The fields that give a record its version, newest first."""
        return [f for f in (self.updated, self.created) if f is not None]

    def entity_schema(self, entity):
        return t.EntitySchema(entity, [
            sdk.field_schema(f.name, f.kind, f.read_only, f.options) for f in self.fields
        ])


def kind_of(directus_type, interface, has_choices, m2o):
    if m2o:
        return K.REFERENCE
    if directus_type in ("string", "text", "uuid", "hash", "time"):
        if has_choices and interface in ("select-dropdown", "select-radio"):
            return K.SELECT
        return K.TEXT
    if directus_type == "csv":
        # A `csv` column holds a list of strings (the `tags` interface).
        return K.MULTI_SELECT
    if directus_type in NUMERIC:
        return K.NUMBER
    if directus_type == "boolean":
        return K.BOOLEAN
    if directus_type == "date":
        return K.DATE
    if directus_type in ("dateTime", "timestamp"):
        return K.DATETIME
    if directus_type == "json" and interface in (
            "select-multiple-dropdown", "select-multiple-checkbox", "tags"):
        return K.MULTI_SELECT
    return K.JSON


def _special(meta):
    s = meta.get("special") if isinstance(meta, dict) else None
    if isinstance(s, list):
        return [x for x in s if isinstance(x, str)]
    if isinstance(s, str):
        # Older instances send `special` as a comma-separated string.
        return [x.strip() for x in s.split(",")]
    return []


def _scalar_text(v):
    return v if isinstance(v, str) else json.dumps(v)


def parse_fields(collection, body):
    """The Collection in the body of `GET /fields/{collection}`; a ValueError
    says what is missing."""
    items = body.get("data") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise ValueError("no `data` array")
    pk = created = updated = None
    fields = []
    for item in items:
        name = item.get("field")
        if not isinstance(name, str):
            raise ValueError("a field without a name")
        directus_type = item.get("type") or "unknown"
        schema = item.get("schema")
        # Alias fields have no column: nothing to read or write directly.
        if directus_type == "alias" or schema is None:
            continue
        meta = item.get("meta") or {}
        specials = _special(meta)
        is_pk = schema.get("is_primary_key") is True
        auto = schema.get("has_auto_increment") is True
        if is_pk:
            if auto and directus_type in ("integer", "bigInteger"):
                key_kind = AUTO_INCREMENT
            elif directus_type == "uuid" or "uuid" in specials:
                key_kind = UUID
            else:
                key_kind = MANUAL
            pk = (name, directus_type in NUMERIC, key_kind)
        if "date-created" in specials:
            created = name
        if "date-updated" in specials:
            updated = name
        interface = meta.get("interface") or ""
        choices = (meta.get("options") or {}).get("choices") if isinstance(meta.get("options"), dict) else None
        options = []
        for c in choices if isinstance(choices, list) else []:
            if isinstance(c, dict):
                if "value" in c:
                    options.append(_scalar_text(c["value"]))
            else:
                options.append(_scalar_text(c))
        m2o = isinstance(schema.get("foreign_key_table"), str) and not is_pk
        kind = kind_of(directus_type, interface, bool(options), m2o)
        # Fields Directus fills itself: writing them is refused or ignored.
        system_filled = any(s in ("date-created", "date-updated", "user-created", "user-updated")
                            for s in specials)
        if kind not in (K.SELECT, K.MULTI_SELECT):
            options = []
        fields.append(FieldMeta(name, directus_type, kind, (is_pk and auto) or system_filled, options))
    if pk is None:
        raise ValueError(f"collection `{collection}` has no primary key field")
    return Collection(collection, pk[0], pk[1], pk[2], created, updated, fields)


def entities(body, collections):
    """The entities in the body of `GET /collections`: every collection with
    a table (a folder's `schema` is null) that is not one of Directus' own
    `directus_*`, named by the entity a `collection.<entity>` setting maps
    to it (`collections`: entity -> collection), else by itself; described
    by its note."""
    items = body.get("data") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise ValueError("no `data` array")
    out = []
    for c in items:
        name = c.get("collection") if isinstance(c, dict) else None
        if not isinstance(name, str) or name.startswith("directus_") or c.get("schema") is None:
            continue
        meta = c.get("meta")
        note = meta.get("note") if isinstance(meta, dict) else None
        description = note if isinstance(note, str) else ""
        names = [e for e, col in collections.items() if col == name] or [name]
        out.extend(sdk.entity_info(e, description) for e in names)
    return out


# ---------------------------------------------------------------- values


def id_text(v):
    """A key value as the record id: numbers without quotes, strings as they are."""
    if isinstance(v, bool):
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return str(v)
    return None


def with_offset(s):
    """A `dateTime` (`2024-01-02T03:04:05`, no offset, stored as written) as
    RFC 3339: Directus keeps no zone for it, so it is read as UTC."""
    has_offset = s.endswith("Z") or (len(s) > 19 and ("+" in s[19:] or "-" in s[19:]))
    if has_offset or "T" not in s:
        return s
    return s + "Z"


def _number(v):
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return None
    return None


def to_field_value(f, v):
    """The typed value of `v` in field `f`; a value that does not fit the
    field's type is kept as JSON rather than lost."""
    if v is None:
        return t.FieldValue_Null()
    as_json = t.FieldValue_Json(json.dumps(v))
    k = f.kind
    if k == K.TEXT:
        if isinstance(v, str):
            return t.FieldValue_Text(v)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return t.FieldValue_Text(str(v))
        return as_json
    if k == K.SELECT:
        return t.FieldValue_Select(v) if isinstance(v, str) else as_json
    if k == K.NUMBER:
        n = _number(v)
        return as_json if n is None else t.FieldValue_Number(n)
    if k == K.BOOLEAN:
        if isinstance(v, bool):
            return t.FieldValue_Boolean(v)
        if isinstance(v, (int, float)):
            # SQLite has no boolean column: some drivers hand back 0/1.
            return t.FieldValue_Boolean(v != 0)
        return as_json
    if k == K.DATE:
        return t.FieldValue_Date(v[:10]) if isinstance(v, str) else as_json
    if k == K.DATETIME:
        return t.FieldValue_Datetime(with_offset(v)) if isinstance(v, str) else as_json
    if k == K.MULTI_SELECT:
        if isinstance(v, list):
            return t.FieldValue_MultiSelect([i if isinstance(i, str) else json.dumps(i) for i in v])
        if isinstance(v, str) and f.directus_type == "csv":
            return t.FieldValue_MultiSelect([p for p in v.split(",") if p])
        return as_json
    if k == K.REFERENCE:
        # A many-to-one holds the related item's key, or the item itself
        # when the query expanded it.
        key = id_text(v.get("id")) if isinstance(v, dict) else id_text(v)
        return as_json if key is None else t.FieldValue_Reference([key])
    return as_json


def to_record(c, item):
    """The record of one item; None when the item has no key."""
    if not isinstance(item, dict):
        return None
    key = id_text(item.get(c.pk))
    if key is None:
        return None
    version = next((item[f] for f in c.version_fields() if isinstance(item.get(f), str)), None)
    if version is not None:
        version = with_offset(version)
    fields = [t.Field(f.name, to_field_value(f, item[f.name])) for f in c.fields if f.name in item]
    return t.Record(key, version, version, False, fields)


def _whole(n):
    return n == int(n) and abs(n) < 9.0e15


def _number_json(f, n):
    if _whole(n) and f.directus_type in ("integer", "bigInteger"):
        return int(n)
    return n if n == n and n not in (float("inf"), float("-inf")) else None


def _trim_number(n):
    return str(int(n)) if _whole(n) else repr(n)


def to_json(f, value):
    """`value` as the JSON Directus expects in field `f`; ValueError when it
    does not fit."""
    def wrong(what):
        return ValueError(f"field `{f.name}` is a Directus `{f.directus_type}` field: {what} does not fit it")

    k = f.kind
    if isinstance(value, t.FieldValue_Null):
        return None
    if isinstance(value, (t.FieldValue_Text, t.FieldValue_Select)):
        s = value.value
        if k == K.NUMBER:
            try:
                return _number_json(f, float(s.strip()))
            except ValueError:
                raise wrong(f"text `{s}`")
        if k == K.BOOLEAN:
            low = s.strip().lower()
            if low in ("true", "yes", "1"):
                return True
            if low in ("false", "no", "0", ""):
                return False
            raise wrong(f"text `{s}`")
        if k == K.MULTI_SELECT:
            return [s]
        if k == K.JSON:
            try:
                return json.loads(s)
            except ValueError:
                return s
        return s
    if isinstance(value, t.FieldValue_Number):
        n = value.value
        if k in (K.NUMBER, K.JSON):
            return _number_json(f, n)
        if k == K.BOOLEAN:
            return n != 0
        if k in (K.TEXT, K.SELECT):
            return _trim_number(n)
        raise wrong("a number")
    if isinstance(value, t.FieldValue_Boolean):
        if k in (K.BOOLEAN, K.JSON):
            return value.value
        if k in (K.TEXT, K.SELECT):
            return "true" if value.value else "false"
        raise wrong("a boolean")
    if isinstance(value, t.FieldValue_Date):
        if k in (K.DATE, K.TEXT, K.DATETIME):
            return value.value
        raise wrong("a date")
    if isinstance(value, t.FieldValue_Datetime):
        if k == K.DATE:
            # A `date` keeps the calendar day of a datetime.
            return value.value[:10]
        if k in (K.DATETIME, K.TEXT):
            return value.value
        raise wrong("a datetime")
    if isinstance(value, t.FieldValue_MultiSelect):
        if k in (K.MULTI_SELECT, K.JSON):
            return list(value.value)
        if k in (K.TEXT, K.SELECT):
            return ", ".join(value.value)
        raise wrong("a multi-select")
    if isinstance(value, t.FieldValue_Reference):
        ids = value.value
        if k == K.REFERENCE:
            if len(ids) > 1:
                raise wrong("more than one reference (a many-to-one holds one)")
            return ids[0] if ids else None
        if k == K.JSON:
            return list(ids)
        raise wrong("a reference")
    if isinstance(value, t.FieldValue_Json):
        try:
            return json.loads(value.value)
        except ValueError as e:
            raise ValueError(f"field `{f.name}`: invalid JSON: {e}")
    raise wrong(f"{type(value).__name__}")


def to_body(c, fields):
    """The JSON object of an item to create or update. Unknown and read-only
    fields are `invalid-input` naming the field: a silent drop would look like
    a successful write."""
    body = {}
    for field in fields:
        meta = c.field(field.name)
        if meta is None:
            names = ", ".join(f.name for f in c.fields)
            raise errors.invalid_input(
                f"collection `{c.name}` has no field `{field.name}`; its fields are: {names}")
        if meta.read_only:
            raise errors.invalid_input(
                f"field `{field.name}` of collection `{c.name}` is filled by Directus and cannot be written")
        try:
            body[field.name] = to_json(meta, field.value)
        except ValueError as e:
            raise errors.invalid_input(str(e))
    return body

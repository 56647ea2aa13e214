"""Pages and the cursor of a read.

A read lists the collection's items in primary key order, one page past the
last key seen (keyset pagination), so a cursor saved before a restart
resumes exactly where it stopped. An incremental read then lists the
collection's deletions from the activity log as tombstones. The checkpoint
is Directus' own clock (the `Date` of the read's first answer), never the
connector's: anything changed after that moment is at or after it, and the
host overlaps its next `since` to cover coarse timestamps.
"""

import synchost_sdk as sdk
from synchost_sdk import errors
from wit_world.imports import types as t

import directus_schema as schema

ITEMS = "items"
DELETIONS = "deletions"


def resume(cursor, since):
    """The state of a read from `cursor`, or of a new read with `since`."""
    if cursor is not None:
        state = sdk.cursor_decode(cursor)
        if not isinstance(state, dict) or state.get("phase") not in (ITEMS, DELETIONS):
            raise errors.invalid_input("malformed cursor: not one this connector made")
        return state
    return {"phase": ITEMS, "after": None, "since": since, "started": None,
            "activity_after": 0, "latest": None}


def _norm(s):
    """UTC RFC 3339 times as Directus writes them (`...Z`) compare as text
    once their fractions are aligned."""
    s = s.rstrip("Z")
    whole, _, frac = s.partition(".")
    return f"{whole}.{frac:0<9}"


def later(a, b):
    return _norm(a) > _norm(b)


def _note_version(state, version):
    if version is not None and (state["latest"] is None or later(version, state["latest"])):
        state["latest"] = version


def checkpoint(state):
    """The checkpoint of the last page: Directus' time when the read started,
    else the newest version seen, else the `since` the read began with."""
    return state["started"] or state["latest"] or state["since"]


def items_page(c, body, limit, state, deletions=True):
    """The page of items in `body` (the answer to directus_api.items_url)."""
    items = body.get("data") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise errors.bad_body(f"GET /items/{c.name}", "no `data` array")
    records = []
    for item in items:
        record = schema.to_record(c, item)
        if record is None:
            raise errors.fatal(f"an item of `{c.name}` has no primary key `{c.pk}`")
        _note_version(state, record.version)
        records.append(record)
    if limit > 0 and len(items) >= limit:
        state["after"] = items[-1].get(c.pk)
        return sdk.page(records, sdk.cursor_encode(state))
    if deletions and state["since"] is not None:
        state["phase"] = DELETIONS
        return sdk.page(records, sdk.cursor_encode(state))
    return sdk.page(records, None, checkpoint(state))


def deletions_page(body, limit, state):
    """The page of tombstones in `body` (the answer to directus_api.deletions_url)."""
    entries = body.get("data") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise errors.bad_body("GET /activity", "no `data` array")
    records = []
    for entry in entries:
        activity = entry.get("id") if isinstance(entry, dict) else None
        if not isinstance(activity, int) or isinstance(activity, bool):
            raise errors.bad_body("GET /activity", "an entry without a numeric id")
        state["activity_after"] = max(state["activity_after"], activity)
        # A batch delete logs one entry per item; an entry without an item
        # names nothing to delete.
        key = schema.id_text(entry.get("item"))
        if key is None:
            continue
        at = entry.get("timestamp")
        records.append(t.Record(key, None, at if isinstance(at, str) else None, True, []))
    if limit > 0 and len(entries) >= limit:
        return sdk.page(records, sdk.cursor_encode(state))
    return sdk.page(records, None, checkpoint(state))

"""Applying write ops (https://docs.directus.io/reference/items.html):
creates in batches (`POST /items/{c}` with an array), updates one by one
(`PATCH /items/{c}/{id}`), deletes one by one (`DELETE /items/{c}/{id}`).

Directus has no conditional requests (no `If-Match`, no version
precondition), so an op with `expected-version` first reads the item's
`date_updated` (or `date_created`) and is a `conflict` when it differs. The
check and the write are two requests: a change in between is not seen.

`send(method, url, body)` makes one request and returns its JSON answer
(None for an empty one), raising typed errors: the planning here is plain
Python, testable without a host.
"""

from componentize_py_types import Err, Ok

import synchost_sdk as sdk
from synchost_sdk import errors
from wit_world.imports import types as t

import directus_api as api
import directus_schema as schema

#: Items created per request. Directus creates a batch in one transaction:
#: one invalid item fails the whole batch, which is then retried item by item
#: so that each op gets its own outcome.
CREATE_BATCH = 100


class Target:
    def __init__(self, base, collection, send):
        self.base = base
        self.c = collection
        self.send = send


def _written(c, item):
    record = schema.to_record(c, item)
    if record is None:
        raise errors.bad_body(f"a write to `{c.name}`", "an item without its key")
    return sdk.written(record.id, record.version, record.updated_at)


def _lookup(tg, id):
    """(exists, current version) of item `id`."""
    body = tg.send("GET", api.lookup_url(tg.base, tg.c, id), None)
    items = body.get("data") if isinstance(body, dict) else None
    if not items:
        return False, None
    record = schema.to_record(tg.c, items[0])
    return True, record.version if record else None


def _not_found(tg, id):
    return errors.not_found(f"item {id} does not exist in collection `{tg.c.name}`")


def _check_version(tg, id, expected):
    exists, current = _lookup(tg, id)
    if not exists:
        raise _not_found(tg, id)
    if current != expected:
        raise errors.conflict(
            id, current,
            f"item {id} of `{tg.c.name}` was changed at {current or 'an unknown time'} "
            f"since version {expected}")


def _explain_forbidden(tg, id, err):
    """Directus answers 403 for an item that does not exist as well as for
    one the token may not change: a lookup tells which."""
    if not api.is_forbidden(err):
        return err
    try:
        exists, _ = _lookup(tg, id)
    except Err:
        return err
    return err if exists else _not_found(tg, id)


def _update(tg, op):
    body = schema.to_body(tg.c, op.fields)
    if op.expected_version is not None:
        _check_version(tg, op.id, op.expected_version)
    try:
        answer = tg.send("PATCH", api.item_url(tg.base, tg.c.name, op.id), body)
    except Err as e:
        raise _explain_forbidden(tg, op.id, e)
    return _written(tg.c, (answer or {}).get("data"))


def _delete(tg, op):
    if op.expected_version is not None:
        _check_version(tg, op.id, op.expected_version)
    try:
        tg.send("DELETE", api.item_url(tg.base, tg.c.name, op.id), None)
    except Err as e:
        raise _explain_forbidden(tg, op.id, e)
    return sdk.written(op.id)


def _outcome(fn, *args):
    try:
        return Ok(fn(*args))
    except Err as e:
        return e


def _create_batch(tg, bodies):
    url = api.collection_url(tg.base, tg.c.name)
    n = len(bodies)
    try:
        answer = tg.send("POST", url, bodies)
    except Err as e:
        # Refused as invalid: nothing of the batch was written (Directus
        # validates a batch whole), so find which items are refused. Any
        # other failure may have written some: each op shares it, and an
        # unknown outcome (transient) is reconciled by the host, never re-sent.
        if not isinstance(e.value, t.ConnectorError_InvalidInput) or n == 1:
            return [e] * n
        return [_outcome(lambda b: _written(tg.c, (tg.send("POST", url, b) or {}).get("data")), b)
                for b in bodies]
    items = (answer or {}).get("data")
    if not isinstance(items, list) or len(items) != n:
        err = errors.bad_body(f"a create of {n} items in `{tg.c.name}`", f"an answer without {n} items")
        return [err] * n
    return [_outcome(_written, tg.c, item) for item in items]


def _creates(tg, runs):
    prepared = [_outcome(schema.to_body, tg.c, fields) for fields in runs]
    bodies = [p.value for p in prepared if isinstance(p, Ok)]
    sent = iter(_create_batch(tg, bodies) if bodies else [])
    return [next(sent) if isinstance(p, Ok) else p for p in prepared]


def execute(tg, ops):
    """Applies `ops` in order, one outcome each.

    A rate limit before anything was written fails the whole call, so the
    host retries the call as it is; after a write it becomes the outcome of
    that op and of every later one, which are not tried."""
    total = len(ops)
    results = []
    i = 0
    while i < total:
        op = ops[i]
        if isinstance(op, t.WriteOp_Create):
            run = [op.value]
            i += 1
            while i < total and len(run) < CREATE_BATCH and isinstance(ops[i], t.WriteOp_Create):
                run.append(ops[i].value)
                i += 1
            outcomes = _creates(tg, run)
        elif isinstance(op, t.WriteOp_Update):
            outcomes = [_outcome(_update, tg, op.value)]
            i += 1
        else:
            outcomes = [_outcome(_delete, tg, op.value)]
            i += 1
        for outcome in outcomes:
            if isinstance(outcome, Err) and isinstance(outcome.value, t.ConnectorError_RateLimited):
                if not any(isinstance(r, Ok) for r in results):
                    raise outcome
                results.append(outcome)
                skipped = errors.rate_limited(
                    outcome.value.value.retry_after_ms,
                    "not attempted: an earlier op of this batch was rate limited")
                results.extend([skipped] * (total - len(results)))
                return results
            results.append(outcome)
    return results

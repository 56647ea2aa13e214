"""Applying write ops (https://docs.directus.io/reference/items.html):
creates in batches (`POST /items/{c}` with an array), updates one by one
(`PATCH /items/{c}/{id}`), deletes one by one (`DELETE /items/{c}/{id}`).

A batch create's answer lists the items as Directus reads them back
(`readMany`, sorted by the collection's sort field, else its key), not in the
order sent: each item is paired with its op by identity, never by position. A
UUID key is generated here and sent, so the item is found by it; a key the op
carries likewise; auto-increment keys ascend in the order sent, so the answer
sorted by key is in that order. What cannot be paired for sure is unknown,
never another op's item.

Directus has no conditional requests (no `If-Match`, no version
precondition), so an op with `expected-version` first reads the item's
`date_updated` (or `date_created`) and is a `conflict` when it differs. The
check and the write are two requests: a change in between is not seen.

`send(method, url, body)` makes one request and returns its JSON answer
(None for an empty one), raising typed errors: the planning here is plain
Python, testable without a host.
"""

import math
import re
import uuid

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


def _unknown(c, n, why):
    """An outcome that cannot be proven from the answer: reported as unknown
    (`transient`), which the host reconciles by reading, never by re-sending,
    and never confirmed with an id that may be another op's item."""
    return errors.bad_body(f"a create of {n} items in `{c.name}`", why)


def _field(item, name):
    """`item[name]`, None when `item` is not an object."""
    return item.get(name) if isinstance(item, dict) else None


# A decimal number as Rust's `f64` parses it (no `_`, no hex): anything else,
# `inf` and `nan` included, is compared as the text it is.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# A whole number as a `bigInteger` key comes back in a string.
_WHOLE = re.compile(r"[+-]?[0-9]+")
_ASCII_UPPER = re.compile(r"[A-Z]+")


def _key_text(c, v):
    """A key as text to compare by: a UUID regardless of case (MSSQL answers
    them in upper case), a whole number without a fraction; None for none."""
    text = schema.id_text(v)
    if text is None:
        return None
    if c.pk_kind == schema.UUID:
        return _ASCII_UPPER.sub(lambda m: m.group().lower(), text)
    if c.pk_numeric:
        trimmed = text.strip()
        if _DECIMAL.fullmatch(trimmed):
            n = float(trimmed)
            if math.isfinite(n) and n == int(n) and abs(n) < 9.0e15:
                return str(int(n))
    return text


def _body_key(c, body):
    """The key a body to create carries, if any."""
    return _key_text(c, body.get(c.pk))


def _int_key(v):
    """A key of an auto-increment collection, whether the driver hands it back
    as a number or (a `bigInteger`) as a string; None when it is neither."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and _WHOLE.fullmatch(v.strip()):
        try:
            return int(v.strip())
        except ValueError:  # past CPython's limit on the digits of an int
            return None
    return None


def _new_uuid():
    """A random (version 4) UUID, from WASI's random source (`os.urandom`,
    which wasi-libc's `getentropy` serves with `wasi:random`); None if it
    fails."""
    try:
        return str(uuid.uuid4())
    except Exception:
        return None


def _with_key(c, body):
    """A body to create with its key, where the connector can choose it: a
    UUID key the op does not set is generated here and sent (Directus keeps a
    UUID it is given, and generates one only when none is), so that the item
    in the answer is found by its key."""
    if c.pk_kind == schema.UUID and body.get(c.pk) in (None, ""):
        key = _new_uuid()
        if key is not None:
            body[c.pk] = key
    return body


def _pair_by_key(c, bodies, items):
    """Pairs the answer with the bodies sent, each by its own key: an op whose
    key is not in the answer exactly once (or was sent twice) is unknown."""
    n = len(bodies)
    answered = {}
    for item in items:
        k = _key_text(c, _field(item, c.pk))
        if k is not None:
            answered.setdefault(k, []).append(item)
    keys = [_body_key(c, b) for b in bodies]
    sent = {}
    for k in keys:
        if k is not None:
            sent[k] = sent.get(k, 0) + 1
    out = []
    for k in keys:
        if k is None:
            out.append(_unknown(c, n, "an item was sent without its key"))
        elif k not in answered:
            out.append(_unknown(c, n, f"the answer does not list the item with key {k}"))
        elif len(answered[k]) == 1 and sent[k] == 1:
            out.append(_outcome(_written, c, answered[k][0]))
        else:
            out.append(_unknown(c, n, f"key {k} was sent or answered more than once"))
    return out


def _pair_by_order_of_keys(c, n, items):
    """Pairs the answer of an auto-increment collection with the bodies sent.
    Directus inserts a batch's items one after the other in one transaction
    (`ItemsService.createMany`), so their keys ascend in the order sent,
    whatever order the answer lists them in: sorted by key, the answer is in
    the order sent. Anything that does not add up makes every op unknown."""
    def all_unknown(why):
        return [_unknown(c, n, why) for _ in range(n)]

    if len(items) != n:
        return all_unknown(f"{len(items)} items answered for {n} sent")
    keyed = [(_int_key(_field(item, c.pk)), item) for item in items]
    if any(k is None for k, _ in keyed):
        return all_unknown("an item without a whole-number key")
    keyed.sort(key=lambda ki: ki[0])
    if any(a[0] == b[0] for a, b in zip(keyed, keyed[1:])):
        return all_unknown("the same key answered twice")
    return [_outcome(_written, c, item) for _, item in keyed]


def _create_one(tg, body):
    """Creates one body in a request of its own (`POST /items/{c}` with an
    object, answered with that item: it is the op's by construction)."""
    c = tg.c
    key = _body_key(c, body)
    answer = tg.send("POST", api.collection_url(tg.base, c.name), body)
    item = _field(answer, "data")
    if key is not None and _key_text(c, _field(item, c.pk)) != key:
        raise _unknown(c, 1, f"an item other than {key} answered")
    return _written(c, item)


def _not_attempted(retry_after_ms):
    return errors.rate_limited(
        retry_after_ms, "not attempted: an earlier op of this batch was rate limited")


def _is_rate_limited(outcome):
    return isinstance(outcome, Err) and isinstance(outcome.value, t.ConnectorError_RateLimited)


def _create_singly(tg, bodies):
    """Creates each body in a request of its own. A rate limit stops it: the
    rest are not tried."""
    n = len(bodies)
    out = []
    for body in bodies:
        outcome = _outcome(_create_one, tg, body)
        out.append(outcome)
        if _is_rate_limited(outcome):
            retry_after_ms = outcome.value.value.retry_after_ms
            out.extend(_not_attempted(retry_after_ms) for _ in range(n - len(out)))
            break
    return out


def _create_batch(tg, bodies):
    """Creates `bodies` in one request; one outcome per body, each paired with
    its body by identity, never by position (see `schema.AUTO_INCREMENT`,
    `UUID`, `MANUAL`): by the key it was sent with, or, for an auto-increment
    key, by the order of keys. Bodies that have neither are sent one by one."""
    c = tg.c
    n = len(bodies)
    keyed = all(_body_key(c, b) is not None for b in bodies)
    if not keyed and c.pk_kind != schema.AUTO_INCREMENT:
        return _create_singly(tg, bodies)
    try:
        answer = tg.send("POST", api.collection_url(tg.base, c.name), bodies)
    except Err as e:
        # Refused as invalid: nothing of the batch was written (Directus
        # validates a batch whole), so find which items are refused. Any
        # other failure may have written some: each op shares it, and an
        # unknown outcome (transient) is reconciled by the host, never re-sent.
        if isinstance(e.value, t.ConnectorError_InvalidInput) and n > 1:
            return _create_singly(tg, bodies)
        return [e] * n
    items = _field(answer, "data")
    if not isinstance(items, list):
        return [_unknown(c, n, "an answer without its items") for _ in range(n)]
    if keyed:
        return _pair_by_key(c, bodies, items)
    return _pair_by_order_of_keys(c, n, items)


def _may_have_landed(outcome):
    """Whether an op that failed so may have been written all the same."""
    return isinstance(outcome, Ok) or isinstance(
        outcome.value, (t.ConnectorError_Transient, t.ConnectorError_RateLimited))


def _creates(tg, runs):
    prepared = [_outcome(lambda f: _with_key(tg.c, schema.to_body(tg.c, f)), fields)
                for fields in runs]
    bodies = [p.value for p in prepared if isinstance(p, Ok)]
    sent = iter(_create_batch(tg, bodies) if bodies else [])
    return [next(sent) if isinstance(p, Ok) else p for p in prepared]


def execute(tg, ops):
    """Applies `ops` in order, one outcome each.

    A rate limit before anything may have been written fails the whole call,
    so the host retries the call as it is; after a write (or an op whose
    outcome is unknown) it becomes the outcome of that op and of every later
    one, which are not tried."""
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
            if _is_rate_limited(outcome):
                # The host re-sends a rate-limited call whole: only when
                # nothing before may have been written (a create whose
                # outcome is unknown must never be sent again).
                if not any(_may_have_landed(r) for r in results):
                    raise outcome
                results.append(outcome)
                # The rest of this op's batch and every later op: not tried.
                skipped = _not_attempted(outcome.value.value.retry_after_ms)
                results.extend([skipped] * (total - len(results)))
                return results
            results.append(outcome)
    return results

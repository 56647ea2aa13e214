"""Requests to the Directus REST API: URLs, and Directus' answers as the
contract's typed errors.

Directus answers an error with `{"errors":[{"message":..,"extensions":
{"code":..}}]}` (https://docs.directus.io/reference/introduction.html#errors).
Statuses map as the SDK maps them, with Directus' codes on top:
`INVALID_CREDENTIALS`/`INVALID_TOKEN`/`TOKEN_EXPIRED` (401) are unauthorized;
`FORBIDDEN` (403) is also what Directus answers for a collection or item that
does not exist, even to an admin, so callers that can tell the two apart look
further; `REQUESTS_EXCEEDED` (429) is rate-limited with `Retry-After`;
`SERVICE_UNAVAILABLE` (503, the pressure limiter) and other 5xx are transient.

Query parameters follow the global query reference
(https://docs.directus.io/reference/query.html): `filter` is one JSON
document, `sort`, `limit` and `fields` plain values.
"""

import json

import synchost_sdk as sdk
from synchost_sdk import errors
from wit_world.imports import types as t

#: Items per page when the host asks for 0: Directus' own default `limit`.
DEFAULT_PAGE = 100
#: Directus' QUERY_LIMIT_MAX is unlimited by default, but a page must stay
#: well under the host's response size limit.
MAX_PAGE = 500


def page_size(requested):
    return DEFAULT_PAGE if requested == 0 else min(requested, MAX_PAGE)


def parse_error_body(body):
    """The first error of a Directus error body: (code, message), or None."""
    try:
        first = json.loads(body)["errors"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    if not isinstance(first, dict):
        return None
    ext = first.get("extensions")
    code = ext.get("code") if isinstance(ext, dict) else None
    message = first.get("message")
    return (code if isinstance(code, str) else "UNKNOWN",
            message if isinstance(message, str) else "")


def map_error(resp):
    """The typed error (a raisable Err) for a Directus response; None for a 2xx."""
    generic = sdk.from_status(resp)
    if generic is None:
        return None
    parsed = parse_error_body(resp.body)
    if parsed is None:
        detail = sdk.excerpt(resp.body)
    elif parsed[1] == "":
        detail = parsed[0]
    else:
        detail = f"{parsed[0]}: {parsed[1]}"
    message = f"Directus HTTP {resp.status}: {detail}"
    e = generic.value
    if isinstance(e, t.ConnectorError_RateLimited):
        return errors.rate_limited(e.value.retry_after_ms, message)
    if isinstance(e, t.ConnectorError_Conflict):
        return errors.conflict(e.value.id, e.value.current_version, message)
    if isinstance(e, t.ConnectorError_Fatal) and resp.status in (413, 415):
        # CONTENT_TOO_LARGE and an unsupported media type are about what was sent.
        return errors.invalid_input(message)
    return sdk.Err(type(e)(message))


def is_forbidden(err):
    """Whether `err` is Directus' 403: "forbidden, or does not exist"."""
    return isinstance(err.value, t.ConnectorError_Unauthorized) and "HTTP 403" in err.value.value


def send(method, url, body=None):
    """Sends a request (a JSON body when given); the parsed JSON answer (None
    for an empty one, as a 204) and the Response. Errors are raised typed."""
    headers = []
    raw = None
    if body is not None:
        raw = json.dumps(body, separators=(",", ":")).encode()
        headers.append(("Content-Type", "application/json"))
    resp = sdk.send_raw(method, url, headers, raw)
    err = map_error(resp)
    if err is not None:
        raise err
    return (resp.json() if resp.body else None), resp


def _filter_param(value):
    return sdk.encode(json.dumps(value, separators=(",", ":")))


def key_json(collection, key):
    """A key value as it goes into a filter: numbers unquoted."""
    if collection.pk_numeric:
        for parse in (int, float):
            try:
                return parse(key)
            except ValueError:
                pass
    return key


def items_filter(collection, after, since):
    """The filter of one items page: past the last key seen (keyset
    pagination: stable while items are added or removed, unlike `offset`)
    and, on an incremental read, created or updated at or after `since`."""
    parts = []
    if after is not None:
        parts.append({collection.pk: {"_gt": after}})
    if since is not None:
        changed = [{f: {"_gte": since}} for f in collection.version_fields()]
        # Without timestamps a collection cannot be read incrementally: the
        # read is a full scan, which is still correct.
        if changed:
            parts.append({"_or": changed})
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"_and": parts}


def items_url(base, collection, limit, after, since):
    """`GET /items/{collection}` for one page, sorted by the primary key
    (https://docs.directus.io/reference/items.html#get-items)."""
    url = (f"{base}/items/{sdk.encode(collection.name)}?limit={limit}"
           f"&sort={sdk.encode(collection.pk)}&fields=*")
    f = items_filter(collection, after, since)
    if f is not None:
        url += "&filter=" + _filter_param(f)
    return url


def deletions_url(base, collection, since, after, limit):
    """`GET /activity` for the deletions of `collection` at or after `since`,
    past activity id `after` (https://docs.directus.io/reference/system/activity.html).
    Deletes are hard deletes: the activity log is the only trace they leave."""
    f = {"_and": [
        {"collection": {"_eq": collection}},
        {"action": {"_eq": "delete"}},
        {"timestamp": {"_gte": since}},
        {"id": {"_gt": after}},
    ]}
    return (f"{base}/activity?limit={limit}&sort=id&fields=id,item,timestamp"
            f"&filter={_filter_param(f)}")


def item_url(base, collection, id):
    return f"{base}/items/{sdk.encode(collection)}/{sdk.encode(id)}"


def collection_url(base, collection):
    return f"{base}/items/{sdk.encode(collection)}"


def lookup_url(base, collection, id):
    """The key and version fields of the item with key `id`; an empty `data`
    means it does not exist."""
    fields = ",".join([collection.pk, *collection.version_fields()])
    f = {collection.pk: {"_eq": key_json(collection, id)}}
    return (f"{base}/items/{sdk.encode(collection.name)}?limit=1"
            f"&fields={sdk.encode(fields)}&filter={_filter_param(f)}")


def fields_url(base, collection):
    """https://docs.directus.io/reference/system/fields.html"""
    return f"{base}/fields/{sdk.encode(collection)}"


def collections_url(base):
    return f"{base}/collections?fields=collection"


def all_collections_url(base):
    """Every collection the token can see, with its `meta` (note) and its
    `schema` (null for a folder, which has no table)
    (https://docs.directus.io/reference/system/collections.html#list-collections)."""
    return f"{base}/collections"

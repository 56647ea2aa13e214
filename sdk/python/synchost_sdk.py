"""Helpers for synchost connectors written in Python.

The Python counterpart of the Rust SDK (sdk/src): HTTP through the host's
`http` import, the mapping of HTTP statuses to the contract's typed errors,
settings, opaque cursors, the platform's `Date` header as a checkpoint, and
builders for the contract's records, over the contract
`synchost:connector@0.2.0` (wit/since_v0.2.0). A connector copies this file
beside its `app.py`; componentize-py bundles both into one component.

Every failure a connector reports is a `componentize_py_types.Err` holding a
`connector-error`: raise one (``raise errors.not_found("...")``) from any
exported function and componentize-py turns it into the `result`'s error.
"""

import base64
import json
import urllib.parse

# `Ok` and `Err` are the `result` of the contract, re-exported so that a
# connector writes `sdk.Ok(written)` without knowing componentize-py's module.
from componentize_py_types import Err, Ok  # noqa: F401
from wit_world.imports import http as _http
from wit_world.imports import log as _log
from wit_world.imports import types as t

#: The contract version this module and the WIT beside it implement.
CONTRACT = "0.2.0"

#: The longest piece of a platform's error body kept in an error message.
BODY_EXCERPT = 300


# ---------------------------------------------------------------- errors


class errors:
    """Constructors of raisable typed errors (`Err(connector-error)`)."""

    @staticmethod
    def unauthorized(message):
        return Err(t.ConnectorError_Unauthorized(message))

    @staticmethod
    def rate_limited(retry_after_ms, message):
        return Err(t.ConnectorError_RateLimited(t.RateLimitedInfo(int(retry_after_ms), message)))

    @staticmethod
    def not_found(message):
        return Err(t.ConnectorError_NotFound(message))

    @staticmethod
    def conflict(id, current_version, message):
        return Err(t.ConnectorError_Conflict(t.ConflictInfo(id, current_version, message)))

    @staticmethod
    def invalid_input(message):
        return Err(t.ConnectorError_InvalidInput(message))

    @staticmethod
    def transient(message):
        return Err(t.ConnectorError_Transient(message))

    @staticmethod
    def fatal(message):
        return Err(t.ConnectorError_Fatal(message))

    @staticmethod
    def bad_body(context, why):
        """A response body that is not what the platform documents (cut short,
        not JSON, the wrong shape). It proves nothing about what the platform
        did, so it is `transient`: the host keeps a write pending and
        reconciles by reading, never re-sending it blindly."""
        return errors.transient(
            f"unexpected response body from {context}: {why} (the outcome is unknown)"
        )

    @staticmethod
    def unsupported(what):
        return errors.fatal(f"this connector does not support {what}")


def excerpt(body):
    text = body.decode("utf-8", errors="replace") if isinstance(body, (bytes, bytearray)) else str(body)
    return text if len(text) <= BODY_EXCERPT else text[:BODY_EXCERPT] + "…"


def from_status(resp):
    """The typed error for a non-2xx response, or None for a success.

    Same table as the Rust SDK (sdk/src/errors.rs): 401/403 unauthorized,
    404/410 not-found, 409/412 conflict, 429 rate-limited (Retry-After,
    default 1 s), 400/422 invalid-input, 408/5xx transient, else fatal.
    """
    status = resp.status
    if 200 <= status < 300:
        return None
    message = f"HTTP {status}: {excerpt(resp.body)}"
    if status in (401, 403):
        return errors.unauthorized(message)
    if status in (404, 410):
        return errors.not_found(message)
    if status in (409, 412):
        return errors.conflict("", None, message)
    if status == 429:
        return errors.rate_limited(retry_after_ms(resp), message)
    if status in (400, 422):
        return errors.invalid_input(message)
    if status == 408 or 500 <= status <= 599:
        return errors.transient(message)
    return errors.fatal(message)


def retry_after_ms(resp):
    """`Retry-After` in milliseconds: delta-seconds (fractions allowed); an
    HTTP-date or a missing header counts as one second (RFC 9110 §10.2.3),
    since the guest has no clock worth trusting."""
    value = resp.header("retry-after")
    if value is None:
        return 1000
    try:
        secs = float(value.strip())
    except ValueError:
        return 1000
    if secs < 0 or secs != secs:
        return 1000
    return int(-(-secs * 1000 // 1))


# ---------------------------------------------------------------- http


class Response:
    """A response as the host received it."""

    def __init__(self, status, headers, body, context=""):
        self.status = status
        self.headers = list(headers)
        self.body = bytes(body)
        self.context = context

    def header(self, name):
        """The first header called `name`, compared case-insensitively."""
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def date(self):
        """The platform's time when it answered (the `Date` header), RFC 3339."""
        value = self.header("date")
        return http_date_to_rfc3339(value) if value else None

    def json(self):
        """The body parsed as JSON; a body that is not is a `fatal` error."""
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise errors.bad_body(self.context, e)


def _strip_query(url):
    return url.split("?", 1)[0]


def _from_http_error(url, err):
    url = _strip_query(url)
    if isinstance(err, _http.HttpError_Denied):
        return errors.fatal(f"request to {url} denied: {err.value}")
    if isinstance(err, _http.HttpError_Timeout):
        return errors.transient(f"request to {url} timed out")
    if isinstance(err, _http.HttpError_TooLarge):
        return errors.fatal(f"response from {url} is larger than {err.value} bytes")
    if isinstance(err, _http.HttpError_Network):
        return errors.transient(f"network error on {url}: {err.value}")
    return errors.fatal(f"request to {url} failed: {err!r}")


def send_raw(method, url, headers=(), body=None):
    """Sends a request through the host; any status comes back as a Response.
    A header value may hold `{{secret:NAME}}`: the host substitutes it."""
    request = _http.Request(method, url, [(k, v) for k, v in headers], body)
    try:
        resp = _http.send(request)
    except Err as e:
        raise _from_http_error(url, e.value)
    return Response(resp.status, resp.headers, resp.body, f"{method} {_strip_query(url)}")


def send(method, url, headers=(), body=None, json_body=None):
    """Sends a request; a non-2xx status is raised as the matching typed error.
    `json_body` is serialized, with `Content-Type: application/json`."""
    headers = list(headers)
    if json_body is not None:
        body = json.dumps(json_body).encode()
        headers.append(("Content-Type", "application/json"))
    resp = send_raw(method, url, headers, body)
    err = from_status(resp)
    if err is not None:
        raise err
    return resp


def get(url, headers=()):
    return send("GET", url, headers)


def get_json(url, headers=()):
    return get(url, headers).json()


def post(url, json_body=None, headers=()):
    return send("POST", url, headers, json_body=json_body)


def put(url, json_body=None, headers=()):
    return send("PUT", url, headers, json_body=json_body)


def patch(url, json_body=None, headers=()):
    return send("PATCH", url, headers, json_body=json_body)


def delete(url, headers=()):
    return send("DELETE", url, headers)


def encode(value):
    """Percent-encodes everything but RFC 3986's unreserved characters: for a
    value placed in a query string or a path segment."""
    return urllib.parse.quote(str(value), safe="-_.~")


def secret(name):
    """The placeholder the host replaces with secret `name` in a header value."""
    return "{{secret:" + name + "}}"


# ---------------------------------------------------------------- settings


class Settings:
    """The job's connection settings. Secret values are never here."""

    def __init__(self, pairs):
        self.pairs = list(pairs)

    def get(self, name, default=None):
        for key, value in self.pairs:
            if key == name:
                return value
        return default

    def require(self, name):
        value = self.get(name)
        if value is None:
            raise errors.invalid_input(f"missing setting `{name}`")
        return value

    def with_prefix(self, prefix):
        """`entity.tasks=abc` under `entity.` gives ("tasks", "abc")."""
        return [(k[len(prefix):], v) for k, v in self.pairs if k.startswith(prefix)]


# ---------------------------------------------------------------- cursors


def cursor_encode(state):
    """Packs any JSON-serializable state into one opaque cursor string."""
    raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_decode(cursor):
    """Unpacks a cursor made by cursor_encode; anything else is invalid-input."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return json.loads(raw)
    except (ValueError, TypeError) as e:
        raise errors.invalid_input(f"malformed cursor: {e}")


# ---------------------------------------------------------------- time

_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def http_date_to_rfc3339(date):
    """An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7) as
    RFC 3339 (`1994-11-06T08:49:37Z`); None for anything else."""
    parts = date.split()
    if len(parts) != 6 or parts[5] != "GMT" or parts[2] not in _MONTHS:
        return None
    try:
        day, year = int(parts[1]), int(parts[3])
        h, m, s = (int(p) for p in parts[4].split(":"))
    except ValueError:
        return None
    if not (1 <= day <= 31 and 0 <= h <= 23 and 0 <= m <= 59 and 0 <= s <= 60):
        return None
    month = _MONTHS.index(parts[2]) + 1
    return f"{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z"


# ---------------------------------------------------------------- builders


def descriptor(name, version, entities, hosts, auth=None, capabilities=None,
               rate=None, settings=(), checkpoint=None, max_batch=None):
    """A descriptor for this contract. `auth` from bearer()/header_auth()/
    basic_auth()/client_credentials(); `rate` from rate(); `settings` as
    (name, description, required) tuples; `checkpoint` a `t.CheckpointKind`
    (default TIMESTAMP: the host moves an RFC 3339 checkpoint back by its
    overlap window; OPAQUE is given back exactly); `max_batch` the most ops
    one `write` call may carry (None lets the host choose)."""
    return t.Descriptor(
        name=name,
        version=version,
        contract=CONTRACT,
        entities=list(entities),
        capabilities=capabilities if capabilities is not None else t.Capabilities.READ,
        hosts=list(hosts),
        auth=auth if auth is not None else t.AuthScheme_None_(),
        rate=rate,
        settings=[t.SettingSpec(n, d, r) for n, d, r in settings],
        checkpoint=checkpoint if checkpoint is not None else t.CheckpointKind.TIMESTAMP,
        max_batch=None if max_batch is None else int(max_batch),
    )


def bearer(secret_name):
    return t.AuthScheme_Bearer(secret_name)


def header_auth(header, secret_name):
    return t.AuthScheme_Header((header, secret_name))


def basic_auth(user_secret, password_secret):
    """HTTP Basic from two secrets: the host sends
    `Authorization: Basic base64(user:password)`."""
    return t.AuthScheme_Basic(t.BasicAuth(user_secret, password_secret))


def client_credentials(token_url, client_id_secret, client_secret_secret, scopes=()):
    """OAuth 2.0 client credentials: the host trades the client id and secret
    for an access token at `token_url` (one of the declared hosts) and sends
    it as a bearer token."""
    return t.AuthScheme_ClientCredentials(t.ClientCredentials(
        token_url, client_id_secret, client_secret_secret, list(scopes)))


def rate(per_second, burst, daily_budget=None):
    return t.RateHint(float(per_second), int(burst), daily_budget)


def field_schema(name, kind, read_only=False, options=()):
    return t.FieldSchema(name, kind, read_only, list(options))


def record(id, fields, updated_at=None, version=None, deleted=False):
    """A record; `fields` maps names to FieldValues (see the value helpers)."""
    return t.Record(str(id), version, updated_at, deleted,
                    [t.Field(k, v) for k, v in fields.items()])


def page(records, next_cursor=None, checkpoint=None):
    return t.Page(list(records), next_cursor, checkpoint)


def written(id, version=None, updated_at=None):
    return t.Written(str(id), version, updated_at)


def entity_info(name, description=""):
    return t.EntityInfo(name, description)


def entities_of(descriptor):
    """The `entities` answer of a connector whose entities are fixed: the
    descriptor's list (`def entities(self): return sdk.entities_of(self.describe())`)."""
    return [t.EntityInfo(name, "") for name in descriptor.entities]


def outcome(result):
    """The write outcome of one op's result: `Ok(written)` is written,
    `Err(connector-error)` failed; a write outcome is kept as it is."""
    if isinstance(result, Ok):
        return t.WriteOutcome_Written(result.value)
    if isinstance(result, Err):
        return t.WriteOutcome_Failed(result.value)
    if isinstance(result, (t.WriteOutcome_Written, t.WriteOutcome_Failed, t.WriteOutcome_Unknown)):
        return result
    raise TypeError(f"not an op result: {result!r}")


def outcomes(results):
    """What `write` returns: one write outcome per op, from the `Ok(written)`
    / `Err(connector-error)` results (and `unknown(...)` outcomes) it built."""
    return [outcome(r) for r in results]


def unknown(message):
    """The outcome of an op that may or may not have landed (a timeout after
    sending, an answer cut short): the host reads the platform before it
    decides, never re-sending it blindly."""
    return t.WriteOutcome_Unknown(str(message))


def null():
    return t.FieldValue_Null()


def text(v):
    return t.FieldValue_Null() if v is None else t.FieldValue_Text(str(v))


def number(v):
    return t.FieldValue_Null() if v is None else t.FieldValue_Number(float(v))


def boolean(v):
    return t.FieldValue_Null() if v is None else t.FieldValue_Boolean(bool(v))


def date(v):
    return t.FieldValue_Null() if v is None else t.FieldValue_Date(str(v))


def datetime(v):
    return t.FieldValue_Null() if v is None else t.FieldValue_Datetime(str(v))


def json_value(v):
    return t.FieldValue_Null() if v is None else t.FieldValue_Json(json.dumps(v))


def to_json(value):
    """A FieldValue as the plain JSON value a REST API expects."""
    if isinstance(value, t.FieldValue_Null):
        return None
    if isinstance(value, t.FieldValue_Json):
        try:
            return json.loads(value.value)
        except ValueError as e:
            raise errors.invalid_input(f"a json field value is not JSON: {e}")
    return value.value


# ---------------------------------------------------------------- log


def log(level, message):
    """level: "trace", "debug", "info", "warn" or "error"."""
    _log.log(_log.Level[level.upper()], message)

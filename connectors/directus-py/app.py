"""The Directus connector, in Python: each entity of a job is one collection
of a self-hosted (or Directus Cloud) instance, read and written through its
REST API (https://docs.directus.io/reference/introduction.html). It behaves
as the Rust connector in connectors/directus does.

- Settings: `url`, the instance's URL, which is also the origin the
  connector declares (`{{setting:url}}`: the host allows exactly the origin
  of the job's `url`); `collection.<entity>` per entity, else the collection
  called like the entity.
- Auth: a static token in the secret `directus_token`, sent by the host as
  `Authorization: Bearer`.
- Reads page by primary key; incremental reads filter on the
  date-created/date-updated fields and report deletions, which are hard
  deletes, from the activity log.
- Entities: the collections the token can see (`GET /collections`), under
  the entity name a `collection.<entity>` setting gives them.
- Writes: batched creates (at most 100 ops a call: `max_batch`), updates and
  deletes, with the version check Directus does not do itself; one write
  outcome per op.

Modules: directus_api (URLs, errors), directus_schema (fields, values),
directus_read (pages, cursor), directus_write (ops); synchost_sdk is the
SDK's helper module (sdk/python).
"""

from componentize_py_types import Err

import synchost_sdk as sdk
from synchost_sdk import errors
from wit_world import exports
from wit_world.imports import types as t

import directus_api as api
import directus_read as read
import directus_schema as schema
import directus_write as write

NAME = "directus-py"
VERSION = "0.1.0"


def parse_config(settings):
    """(base URL without a trailing slash, {entity: collection})."""
    url = settings.require("url")
    base = url.strip().rstrip("/")
    scheme_ok = base.startswith("http://") or base.startswith("https://")
    host = base.split("://", 1)[1] if "://" in base else ""
    if not scheme_ok or not host or host.startswith("/"):
        raise errors.invalid_input(
            f"setting `url` = `{url}` is not an http(s) URL of a Directus instance, "
            "e.g. `https://cms.example.com`")
    if "?" in base or "#" in base:
        raise errors.invalid_input(f"setting `url` = `{url}` must not have a query or fragment")
    collections = {}
    for entity, collection in settings.with_prefix("collection."):
        collection = collection.strip()
        if not entity or not collection:
            raise errors.invalid_input(
                f"setting `collection.{entity}` = `{collection}`: both the entity and the "
                "collection must be named")
        collections[entity] = collection
    return base, collections


class Run:
    """The state of one run, from `configure` on. Module level, because
    componentize-py makes a new `Api` object for every exported call."""

    base = None
    # entity -> collection, from `collection.<entity>` settings
    collections = {}
    # collection name -> schema.Collection, fetched once per run
    cache = {}


class Api(exports.Api):
    def describe(self):
        return sdk.descriptor(
            NAME,
            VERSION,
            entities=[],
            hosts=["{{setting:url}}"],
            auth=sdk.bearer("directus_token"),
            capabilities=(t.Capabilities.READ | t.Capabilities.WRITE
                          | t.Capabilities.INCREMENTAL | t.Capabilities.DELETES),
            # Directus' default limiter allows 50 points per second per IP
            # (RATE_LIMITER_POINTS/DURATION,
            # https://docs.directus.io/self-hosted/config-options.html#rate-limiting),
            # and an instance is often configured lower: stay well under.
            rate=sdk.rate(10.0, 5),
            # One `POST /items/{collection}` takes a batch of creates.
            max_batch=write.CREATE_BATCH,
            settings=[
                ("url", "The Directus instance's URL, e.g. `https://cms.example.com`; the "
                        "connector may reach this origin only.", True),
                ("collection.<entity>", "The collection that backs entity `<entity>`, e.g. "
                                        "`collection.tasks = project_tasks`. Default: the "
                                        "collection called like the entity.", False),
            ],
        )

    def configure(self, settings):
        Run.base, Run.collections = parse_config(sdk.Settings(settings))
        Run.cache = {}

    def _configured(self):
        if Run.base is None:
            raise errors.fatal("the connector was not configured")
        return Run.base

    def _collection(self, entity):
        base = self._configured()
        name = Run.collections.get(entity, entity)
        if name in Run.cache:
            return Run.cache[name]
        try:
            body, _ = api.send("GET", api.fields_url(base, name))
        except Err as e:
            if api.is_forbidden(e):
                raise self._explain_forbidden(entity, name, e)
            raise
        # An unknown collection is usually a 403, but some versions answer
        # an empty list.
        if isinstance(body, dict) and body.get("data") == []:
            raise self._explain_forbidden(
                entity, name, errors.not_found(f"collection `{name}` has no fields"))
        try:
            c = schema.parse_fields(name, body)
        except (ValueError, AttributeError, TypeError) as e:
            raise errors.bad_body(f"GET /fields/{name}", e)
        Run.cache[name] = c
        return c

    def _explain_forbidden(self, entity, name, err):
        """A 403 on a collection means it does not exist, or the token's role
        may not read it (Directus does not say which, to admins either): the
        list of collections the token can see tells them apart."""
        try:
            body, _ = api.send("GET", api.collections_url(Run.base))
        except Err:
            return err
        data = body.get("data") if isinstance(body, dict) else None
        visible = [c.get("collection") for c in data or [] if isinstance(c, dict)
                   and isinstance(c.get("collection"), str)
                   and not c["collection"].startswith("directus_")]
        if name in visible:
            return err
        return errors.not_found(
            f"collection `{name}` (entity `{entity}`) does not exist on {Run.base} or this "
            f"token cannot see it; collections it can see: {', '.join(visible) or 'none'}")

    def entities(self):
        body, _ = api.send("GET", api.all_collections_url(self._configured()))
        try:
            return schema.entities(body, Run.collections)
        except (ValueError, AttributeError, TypeError) as e:
            raise errors.bad_body("GET /collections", e)

    def schema(self, entity):
        return self._collection(entity).entity_schema(entity)

    def read(self, req):
        c = self._collection(req.entity)
        state = read.resume(req.cursor, req.since)
        limit = api.page_size(req.page_size)
        if state["phase"] == read.ITEMS:
            url = api.items_url(Run.base, c, limit, state["after"], state["since"])
            body, resp = api.send("GET", url)
            if req.cursor is None:
                state["started"] = resp.date()
            return read.items_page(c, body, limit, state)
        url = api.deletions_url(Run.base, c.name, state["since"] or "",
                                state["activity_after"], limit)
        body, _ = api.send("GET", url)
        return read.deletions_page(body, limit, state)

    def write(self, entity, ops):
        c = self._collection(entity)
        target = write.Target(Run.base, c, lambda m, u, b: api.send(m, u, b)[0])
        return sdk.outcomes(write.execute(target, ops))

    def webhook(self, req):
        raise errors.unsupported("webhooks")

"""A synchost connector for the "items" API (see synchost_sim::items): the
starting point `synchost connector new --lang python` copies. Replace the
URLs, the entity and the JSON mapping with your platform's.

componentize-py wraps this module: the class `Api` implements the contract's
exported interface `api` (wit/connector.wit, contract 0.2.0); a raised
`Err(connector-error)` becomes the call's typed error.
"""

import synchost_sdk as sdk
from synchost_sdk import errors
from wit_world import exports
from wit_world.imports import types as t

NAME = "items"
VERSION = "0.1.0"

# The real origin of the platform. Tests and the demo redirect it to a
# simulator with the job's `endpoint_overrides`; the connector never changes.
API = "https://items.example.com"
ENTITY = "items"


class Api(exports.Api):
    def describe(self):
        return sdk.descriptor(
            NAME,
            VERSION,
            entities=[ENTITY],
            hosts=[API],
            auth=sdk.bearer("items_token"),
            capabilities=t.Capabilities.READ | t.Capabilities.INCREMENTAL,
            rate=sdk.rate(5.0, 5),
            # `updated_since` takes the RFC 3339 time of the newest change.
            checkpoint=t.CheckpointKind.TIMESTAMP,
        )

    def configure(self, settings):
        # This API needs no settings. A connector that does keeps them at
        # module level (componentize-py makes a new Api object for every
        # call), e.g. `SETTINGS.update(settings)` with `SETTINGS = {}` above.
        pass

    def entities(self):
        # Fixed entities: the descriptor's. A platform whose entities depend
        # on the connection (one table each, say) lists them from its API.
        return sdk.entities_of(self.describe())

    def schema(self, entity):
        known(entity)
        return t.EntitySchema(entity, [
            sdk.field_schema("name", t.FieldType.TEXT),
            sdk.field_schema("done", t.FieldType.BOOLEAN),
            sdk.field_schema("updated_at", t.FieldType.DATETIME, read_only=True),
        ])

    def read(self, req):
        known(req.entity)
        limit = min(max(req.page_size, 1), 100)
        url = f"{API}/v1/items?limit={limit}"
        if req.cursor is not None:
            url += "&after=" + sdk.encode(req.cursor)
        if req.since is not None:
            url += "&updated_since=" + sdk.encode(req.since)
        body = sdk.get_json(url)
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise errors.bad_body("GET /v1/items", "no `items` array")
        records = [to_record(item) for item in items]
        following = body.get("next")
        # The checkpoint: the newest change seen on the last page, or the old one.
        checkpoint = None
        if following is None:
            stamps = [r.updated_at for r in records if r.updated_at is not None]
            checkpoint = max(stamps) if stamps else req.since
        return sdk.page(records, following, checkpoint)

    def write(self, entity, ops):
        # A connector that writes builds one `sdk.Ok(sdk.written(...))` or
        # `sdk.Err(...)` per op and returns `sdk.outcomes(results)`; an op
        # whose fate it cannot know (a timeout after sending) is
        # `sdk.unknown("why")`, which the host reconciles by reading.
        raise errors.unsupported("writes")

    def webhook(self, req):
        raise errors.unsupported("webhooks")


def known(entity):
    if entity != ENTITY:
        raise errors.not_found(f"no entity `{entity}`; this connector has `{ENTITY}`")


def to_record(item):
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        raise errors.bad_body("GET /v1/items", "an item has no id")
    updated = item.get("updated_at")
    return sdk.record(
        item["id"],
        {
            "name": sdk.text(item.get("name") or ""),
            "done": sdk.boolean(item.get("done") is True),
            "updated_at": sdk.datetime(updated),
        },
        updated_at=updated,
    )

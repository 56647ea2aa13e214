"""Unit tests of the pure parts of the Python Directus connector, run natively
with CPython against the generated bindings (tests/e2e/tests/python.rs runs
them); the same cases as the Rust connector's unit tests."""

import copy
import json
import re
import unittest
import urllib.parse

import synchost_sdk as sdk
from componentize_py_types import Err, Ok
from wit_world.imports import types as t

import app
import directus_api as api
import directus_read as read
import directus_schema as schema
import directus_write as write

K = t.FieldType


def tasks_body():
    return {"data": [
        {"field": "id", "type": "integer", "schema": {"is_primary_key": True, "has_auto_increment": True, "foreign_key_table": None}, "meta": {"special": None, "interface": "input", "readonly": True}},
        {"field": "name", "type": "string", "schema": {"is_primary_key": False}, "meta": {"interface": "input"}},
        {"field": "status", "type": "string", "schema": {}, "meta": {"interface": "select-dropdown", "options": {"choices": [{"text": "To do", "value": "todo"}, {"text": "Done", "value": "done"}]}}},
        {"field": "tags", "type": "csv", "schema": {}, "meta": {"interface": "tags", "special": ["cast-csv"]}},
        {"field": "points", "type": "float", "schema": {}, "meta": None},
        {"field": "owner", "type": "uuid", "schema": {"foreign_key_table": "directus_users"}, "meta": {"special": ["user-created"]}},
        {"field": "project", "type": "integer", "schema": {"foreign_key_table": "projects"}, "meta": {"interface": "select-dropdown-m2o", "special": ["m2o"]}},
        {"field": "subtasks", "type": "alias", "schema": None, "meta": {"special": ["o2m"]}},
        {"field": "due", "type": "date", "schema": {}, "meta": None},
        {"field": "extra", "type": "json", "schema": {}, "meta": None},
        {"field": "date_created", "type": "timestamp", "schema": {}, "meta": {"special": ["date-created"], "readonly": True}},
        {"field": "date_updated", "type": "timestamp", "schema": {}, "meta": {"special": ["date-updated"], "readonly": True}},
    ]}


def tasks():
    return schema.parse_fields("tasks", tasks_body())


def filter_of(url):
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    return json.loads(query["filter"][0])


def kind(err):
    return type(err.value).__name__.split("_", 1)[1]


class Schema(unittest.TestCase):
    def test_maps_types_and_finds_the_key_and_timestamps(self):
        c = tasks()
        self.assertEqual((c.pk, c.pk_numeric), ("id", True))
        self.assertEqual(c.pk_kind, schema.AUTO_INCREMENT)
        self.assertEqual(c.version_fields(), ["date_updated", "date_created"])
        self.assertEqual([(f.name, f.kind, f.read_only) for f in c.fields], [
            ("id", K.NUMBER, True), ("name", K.TEXT, False), ("status", K.SELECT, False),
            ("tags", K.MULTI_SELECT, False), ("points", K.NUMBER, False),
            ("owner", K.REFERENCE, True), ("project", K.REFERENCE, False),
            ("due", K.DATE, False), ("extra", K.JSON, False),
            ("date_created", K.DATETIME, True), ("date_updated", K.DATETIME, True)])
        self.assertEqual(c.field("status").options, ["todo", "done"])

    def test_a_uuid_key_is_one_the_connector_may_generate(self):
        for directus_type, special in [("uuid", ["uuid"]), ("uuid", None), ("string", "uuid")]:
            c = schema.parse_fields("docs", {"data": [
                {"field": "id", "type": directus_type, "schema": {"is_primary_key": True, "has_auto_increment": False},
                 "meta": {"special": special}}]})
            self.assertEqual((c.pk_kind, c.pk_numeric), (schema.UUID, False), (directus_type, special))
        # An integer key without auto-increment is entered by the client, and
        # so is a string key.
        c = schema.parse_fields("n", {"data": [
            {"field": "n", "type": "integer", "schema": {"is_primary_key": True, "has_auto_increment": False}, "meta": None}]})
        self.assertEqual(c.pk_kind, schema.MANUAL)
        c = schema.parse_fields("codes", {"data": [
            {"field": "code", "type": "string", "schema": {"is_primary_key": True, "has_auto_increment": False}, "meta": None}]})
        self.assertEqual((c.pk, c.pk_numeric, c.pk_kind), ("code", False, schema.MANUAL))

    def test_a_collection_without_a_key_is_an_error(self):
        with self.assertRaisesRegex(ValueError, "primary key"):
            schema.parse_fields("x", {"data": [{"field": "name", "type": "string", "schema": {}, "meta": None}]})

    def test_values_both_ways(self):
        c = tasks()
        r = schema.to_record(c, {"id": 3, "name": "A", "status": "todo", "tags": "a,b",
                                 "points": "2.5", "project": {"id": 9}, "extra": {"k": 1},
                                 "date_created": "2024-01-01T00:00:00.000Z", "date_updated": None})
        self.assertEqual((r.id, r.version, r.updated_at), ("3", "2024-01-01T00:00:00.000Z", "2024-01-01T00:00:00.000Z"))
        values = {f.name: f.value for f in r.fields}
        self.assertEqual(values["tags"], t.FieldValue_MultiSelect(["a", "b"]))
        self.assertEqual(values["points"], t.FieldValue_Number(2.5))
        self.assertEqual(values["project"], t.FieldValue_Reference(["9"]))
        self.assertEqual(values["extra"], t.FieldValue_Json('{"k": 1}'))
        self.assertEqual(values["date_updated"], t.FieldValue_Null())
        self.assertEqual(schema.with_offset("2024-01-02T03:04:05"), "2024-01-02T03:04:05Z")
        body = schema.to_body(c, [t.Field("name", t.FieldValue_Text("B")),
                                  t.Field("points", t.FieldValue_Text("4")),
                                  t.Field("project", t.FieldValue_Reference(["7"]))])
        self.assertEqual(body, {"name": "B", "points": 4.0, "project": "7"})

    def test_unknown_and_read_only_fields_are_refused_by_name(self):
        c = tasks()
        for name in ("nope", "date_created"):
            with self.assertRaises(Err) as caught:
                schema.to_body(c, [t.Field(name, t.FieldValue_Text("x"))])
            self.assertEqual(kind(caught.exception), "InvalidInput")
            self.assertIn(name, caught.exception.value.value)


class Queries(unittest.TestCase):
    def test_first_full_page_has_no_filter(self):
        self.assertEqual(api.items_url("http://h", tasks(), 40, None, None),
                         "http://h/items/tasks?limit=40&sort=id&fields=*")

    def test_later_incremental_pages_filter_on_key_and_time(self):
        url = api.items_url("http://h", tasks(), 40, 17, "2024-01-01T00:00:00Z")
        self.assertEqual(filter_of(url), {"_and": [
            {"id": {"_gt": 17}},
            {"_or": [{"date_updated": {"_gte": "2024-01-01T00:00:00Z"}},
                     {"date_created": {"_gte": "2024-01-01T00:00:00Z"}}]}]})

    def test_deletions_come_from_the_activity_log(self):
        url = api.deletions_url("http://h", "tasks", "2024-01-01T00:00:00Z", 5, 100)
        self.assertEqual(filter_of(url), {"_and": [
            {"collection": {"_eq": "tasks"}}, {"action": {"_eq": "delete"}},
            {"timestamp": {"_gte": "2024-01-01T00:00:00Z"}}, {"id": {"_gt": 5}}]})

    def test_keys_are_typed_and_paths_encoded(self):
        self.assertEqual(api.key_json(tasks(), "12"), 12)
        self.assertEqual(api.item_url("http://h", "my tasks", "a/b"), "http://h/items/my%20tasks/a%2Fb")
        self.assertEqual((api.page_size(0), api.page_size(5000)), (100, 500))
        self.assertEqual(filter_of(api.lookup_url("http://h", tasks(), "3")), {"id": {"_eq": 3}})


class Errors(unittest.TestCase):
    def test_directus_codes_are_kept(self):
        e = api.map_error(sdk.Response(401, [], b'{"errors":[{"message":"Invalid user credentials.","extensions":{"code":"INVALID_CREDENTIALS"}}]}'))
        self.assertEqual(e.value, t.ConnectorError_Unauthorized(
            "Directus HTTP 401: INVALID_CREDENTIALS: Invalid user credentials."))
        forbidden = api.map_error(sdk.Response(403, [], b'{"errors":[{"message":"x","extensions":{"code":"FORBIDDEN"}}]}'))
        self.assertTrue(api.is_forbidden(forbidden))
        self.assertFalse(api.is_forbidden(e))

    def test_rate_limit_keeps_retry_after(self):
        e = api.map_error(sdk.Response(429, [("Retry-After", "2")], b'{"errors":[{"message":"Too many requests","extensions":{"code":"REQUESTS_EXCEEDED"}}]}'))
        self.assertEqual(kind(e), "RateLimited")
        self.assertEqual(e.value.value.retry_after_ms, 2000)
        self.assertIn("REQUESTS_EXCEEDED", e.value.value.message)

    def test_statuses(self):
        self.assertIsNone(api.map_error(sdk.Response(204, [], b"")))
        for status, expected in [(400, "InvalidInput"), (404, "NotFound"), (413, "InvalidInput"),
                                 (500, "Transient"), (503, "Transient"), (418, "Fatal")]:
            self.assertEqual(kind(api.map_error(sdk.Response(status, [], b""))), expected, status)
        self.assertEqual(api.map_error(sdk.Response(502, [], b"<html>bad gateway</html>")).value.value,
                         "Directus HTTP 502: <html>bad gateway</html>")

    def test_configuration_needs_an_http_url(self):
        for bad in ([], [("url", "cms.example.com")], [("url", "https://")],
                    [("url", "https://x"), ("collection.tasks", " ")]):
            with self.assertRaises(Err) as caught:
                app.parse_config(sdk.Settings(bad))
            self.assertEqual(kind(caught.exception), "InvalidInput", bad)
        base, collections = app.parse_config(sdk.Settings(
            [("url", "https://example.com/cms/"), ("collection.tasks", "project_tasks")]))
        self.assertEqual((base, collections), ("https://example.com/cms", {"tasks": "project_tasks"}))


class Describe(unittest.TestCase):
    def test_the_descriptor_declares_the_create_batch_and_timestamp_checkpoints(self):
        d = app.Api().describe()
        self.assertEqual(d.contract, "0.2.0")
        self.assertEqual(d.max_batch, write.CREATE_BATCH)
        self.assertEqual(d.max_batch, 100)
        self.assertEqual(d.checkpoint, t.CheckpointKind.TIMESTAMP)
        self.assertEqual(d.hosts, ["{{setting:url}}"])

    def test_entities_are_the_collections_with_a_table_under_their_entity_names(self):
        body = {"data": [
            {"collection": "directus_users", "meta": {"note": "$t:directus_collection.directus_users"},
             "schema": {"name": "directus_users"}},
            {"collection": "project_tasks", "meta": {"note": "Tasks of projects"},
             "schema": {"name": "project_tasks"}},
            {"collection": "archive", "meta": {"note": None}, "schema": None},
            {"collection": "notes", "meta": None, "schema": {"name": "notes"}},
        ]}
        self.assertEqual(schema.entities(body, {"tasks": "project_tasks"}), [
            t.EntityInfo("tasks", "Tasks of projects"),
            t.EntityInfo("notes", ""),
        ])
        self.assertEqual([e.name for e in schema.entities(body, {})], ["project_tasks", "notes"])
        with self.assertRaises(ValueError):
            schema.entities({"errors": []}, {})


def items(ids):
    return {"data": [{"id": i, "name": f"T{i}", "date_created": f"2024-01-01T00:00:{i % 60:02}.000Z",
                      "date_updated": None} for i in ids]}


class Pages(unittest.TestCase):
    def test_a_full_page_continues_after_its_last_key(self):
        state = read.resume(None, None)
        state["started"] = "2024-02-01T00:00:00Z"
        page = read.items_page(tasks(), items(range(1, 4)), 3, state)
        self.assertIsNone(page.checkpoint)
        nxt = sdk.cursor_decode(page.next_cursor)
        self.assertEqual((nxt["after"], nxt["phase"], nxt["latest"]), (3, "items", "2024-01-01T00:00:03.000Z"))
        last = read.items_page(tasks(), items([4]), 3, read.resume(page.next_cursor, None))
        self.assertIsNone(last.next_cursor, "a full scan reads no deletions")
        self.assertEqual(last.checkpoint, "2024-02-01T00:00:00Z")

    def test_an_incremental_read_goes_on_to_deletions(self):
        state = read.resume(None, "2024-01-01T00:00:00Z")
        state["started"] = "2024-02-01T00:00:00Z"
        page = read.items_page(tasks(), items([1]), 3, state)
        state = read.resume(page.next_cursor, None)
        self.assertEqual(state["phase"], "deletions")
        page = read.deletions_page({"data": [
            {"id": 10, "item": "5", "timestamp": "2024-01-05T00:00:00.000Z"},
            {"id": 11, "item": "6", "timestamp": "2024-01-06T00:00:00.000Z"}]}, 2, state)
        self.assertTrue(all(r.deleted for r in page.records))
        state = read.resume(page.next_cursor, None)
        self.assertEqual(state["activity_after"], 11)
        last = read.deletions_page({"data": []}, 2, state)
        self.assertEqual((last.next_cursor, last.checkpoint), (None, "2024-02-01T00:00:00Z"))

    def test_without_a_date_the_checkpoint_is_the_newest_version(self):
        page = read.items_page(tasks(), items([1, 2]), 5, read.resume(None, None))
        self.assertEqual(page.checkpoint, "2024-01-01T00:00:02.000Z")
        self.assertTrue(read.later("2024-01-01T00:00:02.5Z", "2024-01-01T00:00:02.100Z"))
        self.assertFalse(read.later("2024-01-01T00:00:02Z", "2024-01-01T00:00:02.000Z"))

    def test_a_bad_cursor_is_invalid_input(self):
        for bad in ("%%%", sdk.cursor_encode({"phase": "elsewhere"})):
            with self.assertRaises(Err) as caught:
                read.resume(bad, None)
            self.assertEqual(kind(caught.exception), "InvalidInput")


class FakeDirectus:
    """Answers write calls as Directus would; records them."""

    def __init__(self, refuse_name=None, rate_limit_after=None):
        self.calls = []
        self.next_id = 100
        self.refuse_name = refuse_name
        self.rate_limit_after = rate_limit_after

    def __call__(self, method, url, body):
        self.calls.append((method, url, body))
        if self.rate_limit_after is not None and len(self.calls) > self.rate_limit_after:
            raise sdk.errors.rate_limited(1000, "Directus HTTP 429")
        if method == "POST":
            batch = body if isinstance(body, list) else [body]
            if any(b.get("name") == self.refuse_name for b in batch):
                raise sdk.errors.invalid_input("Directus HTTP 400: FAILED_VALIDATION")
            created = []
            for b in batch:
                self.next_id += 1
                created.append({"id": self.next_id, **b, "date_created": "2024-01-01T00:00:00.000Z"})
            return {"data": created if isinstance(body, list) else created[0]}
        if method == "PATCH":
            return {"data": {"id": int(url.rsplit("/", 1)[1]), **body,
                             "date_updated": "2024-01-02T00:00:00.000Z"}}
        if method == "GET":
            return {"data": [{"id": 5, "date_updated": "2024-01-03T00:00:00.000Z"}]}
        return None


def create(name):
    return t.WriteOp_Create([t.Field("name", t.FieldValue_Text(name))])


class Writes(unittest.TestCase):
    def test_creates_are_batched_and_a_refused_item_fails_alone(self):
        fake = FakeDirectus(refuse_name="bad")
        out = write.execute(write.Target("http://h", tasks(), fake), [create("a"), create("bad"), create("c")])
        self.assertEqual([type(o).__name__ for o in out], ["Ok", "Err", "Ok"])
        self.assertEqual(kind(out[1]), "InvalidInput")
        self.assertEqual([type(o).__name__ for o in sdk.outcomes(out)],
                         ["WriteOutcome_Written", "WriteOutcome_Failed", "WriteOutcome_Written"])
        self.assertEqual([c[0] for c in fake.calls], ["POST"] * 4, "one batch, then one by one")

    def test_update_and_delete_with_a_stale_version_conflict(self):
        fake = FakeDirectus()
        tg = write.Target("http://h", tasks(), fake)
        out = write.execute(tg, [
            t.WriteOp_Update(t.UpdateOp("5", None, [t.Field("name", t.FieldValue_Text("x"))])),
            t.WriteOp_Delete(t.DeleteOp("5", "2024-01-01T00:00:00.000Z")),
        ])
        self.assertEqual(out[0], Ok(sdk.written("5", "2024-01-02T00:00:00.000Z", "2024-01-02T00:00:00.000Z")))
        self.assertEqual(kind(out[1]), "Conflict")
        self.assertEqual(out[1].value.value.current_version, "2024-01-03T00:00:00.000Z")
        self.assertNotIn("DELETE", [c[0] for c in fake.calls])

    def test_a_rate_limit_fails_the_call_before_any_write_and_skips_the_rest_after(self):
        with self.assertRaises(Err) as caught:
            write.execute(write.Target("http://h", tasks(), FakeDirectus(rate_limit_after=0)), [create("a")])
        self.assertEqual(kind(caught.exception), "RateLimited")
        ops = [t.WriteOp_Delete(t.DeleteOp("1", None)), t.WriteOp_Delete(t.DeleteOp("2", None)),
               t.WriteOp_Delete(t.DeleteOp("3", None))]
        out = write.execute(write.Target("http://h", tasks(), FakeDirectus(rate_limit_after=1)), ops)
        self.assertEqual([type(o).__name__ for o in out], ["Ok", "Err", "Err"])
        self.assertIn("not attempted", out[2].value.value.message)


# Directus answers a batch create with its items read back by `readMany`
# (api/src/controllers/items.ts), sorted as any read is: by the collection's
# sort field, else its key; not in the order sent. Each item must be paired
# with its op by identity.


def run_on(c, ops, answer):
    """Runs `ops` against `c`, answering each call with `answer(method, url,
    body)`; (calls, outcomes)."""
    calls = []

    def send(method, url, body):
        calls.append((method, url, copy.deepcopy(body)))
        return answer(method, url, copy.deepcopy(body))

    return calls, write.execute(write.Target("http://d", c, send), ops)


def collection(name, key):
    return schema.parse_fields(name, {"data": [
        key,
        {"field": "name", "type": "string", "schema": {}, "meta": None},
        {"field": "sort", "type": "integer", "schema": {}, "meta": None},
        {"field": "date_created", "type": "timestamp", "schema": {}, "meta": {"special": ["date-created"]}},
    ]})


def uuid_docs():
    """A collection keyed by a UUID Directus generates (`special: uuid`)."""
    return collection("docs", {"field": "id", "type": "uuid",
                               "schema": {"is_primary_key": True, "has_auto_increment": False},
                               "meta": {"special": ["uuid"], "readonly": True}})


def is_uuid_v4(s):
    return re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", s) is not None


def read_back(body, by, extra=lambda i, item: None):
    """The items of a batch create as `readMany` answers them: sorted by `by`."""
    items = copy.deepcopy(body)
    for i, item in enumerate(items):
        item["date_created"] = "2024-01-02T00:00:00.000Z"
        extra(i, item)
    items.sort(key=lambda item: json.dumps(item.get(by)))
    return {"data": items}


def unknown(r):
    return (isinstance(r, Err) and isinstance(r.value, t.ConnectorError_Transient)
            and "outcome is unknown" in r.value.value)


def names(ns):
    return [create(n) for n in ns]


def wr_item(id, updated):
    return {"id": id, "name": "x", "date_created": "2024-01-01T00:00:00.000Z", "date_updated": updated}


class Pairing(unittest.TestCase):
    def test_creates_into_a_uuid_collection_send_their_key_and_are_paired_by_it(self):
        c = uuid_docs()
        mine = "0F8FAD5B-D9CB-469F-A165-70867728950E"
        ops = names(["a", "b", "c", "d"]) + [t.WriteOp_Create([
            t.Field("id", t.FieldValue_Text(mine)), t.Field("name", t.FieldValue_Text("own key"))])]

        def answer(method, url, body):
            # Sorted by key (random UUIDs), and MSSQL hands UUIDs back upper case.
            a = read_back(body, "id")
            for item in a["data"]:
                item["id"] = item["id"].upper()
            a["data"].reverse()
            return a

        calls, out = run_on(c, ops, answer)
        self.assertEqual(len(calls), 1, "one request")
        keys = [b["id"] for b in calls[0][2]]
        self.assertTrue(all(is_uuid_v4(k) for k in keys[:4]), keys)
        self.assertEqual(len(set(keys)), 5)
        self.assertEqual(keys[4], mine, "a key the op carries is sent as it is")
        for i, r in enumerate(out):
            self.assertIsInstance(r, Ok, (i, r))
            self.assertEqual(r.value.id.lower(), keys[i].lower(), f"op {i}")
            self.assertEqual(r.value.version, "2024-01-02T00:00:00.000Z")

    def test_a_uuid_missing_from_the_answer_leaves_only_its_op_unknown(self):
        c = uuid_docs()

        def without_b(method, url, body):
            a = read_back(body, "id")
            a["data"] = [i for i in a["data"] if i["id"] != body[1]["id"]]
            return a

        calls, out = run_on(c, names(["a", "b", "c"]), without_b)
        sent = calls[0][2]
        self.assertEqual(out[0].value.id, sent[0]["id"])
        self.assertTrue(unknown(out[1]), out[1])
        self.assertEqual(out[2].value.id, sent[2]["id"])

        # Answered twice: which one is the op's cannot be told.
        def twice(method, url, body):
            a = read_back(body, "id")
            a["data"].append(copy.deepcopy(a["data"][0]))
            return a

        _, out = run_on(c, names(["a", "b"]), twice)
        self.assertEqual(sum(1 for r in out if unknown(r)), 1, out)
        self.assertEqual(sum(1 for r in out if isinstance(r, Ok)), 1, out)

    def test_creates_into_an_auto_increment_collection_with_a_sort_field_are_paired_by_key_order(self):
        c = collection("ranked", {"field": "id", "type": "integer",
                                  "schema": {"is_primary_key": True, "has_auto_increment": True}, "meta": None})

        def ranked(n, sort):
            return t.WriteOp_Create([t.Field("name", t.FieldValue_Text(n)),
                                     t.Field("sort", t.FieldValue_Number(sort))])

        # Keys 11, 12, 13 in the order sent; the answer sorted by `sort`
        # (3, 2, 1): the reverse.
        calls, out = run_on(c, [ranked("a", 3.0), ranked("b", 2.0), ranked("c", 1.0)],
                            lambda m, u, body: read_back(body, "sort", lambda i, item: item.update(id=11 + i)))
        self.assertEqual(len(calls), 1)
        self.assertNotIn("id", calls[0][2][0])
        self.assertEqual([r.value.id for r in out], ["11", "12", "13"])

        # A bigInteger key comes back as a string: sorted as a number (9 < 10).
        _, out = run_on(c, names(["a", "b", "c"]),
                        lambda m, u, body: read_back(body, "id", lambda i, item: item.update(id=str(9 + i))))
        self.assertEqual([r.value.id for r in out], ["9", "10", "11"])

    def test_an_answer_that_does_not_add_up_leaves_every_create_unknown(self):
        # tasks: an auto-increment key.
        answers = [
            # one item short
            {"data": [wr_item(2, "x"), wr_item(1, "x")]},
            # one too many
            {"data": [wr_item(2, "x"), wr_item(1, "x"), wr_item(3, "x"), wr_item(4, "x")]},
            # the same key twice
            {"data": [wr_item(2, "x"), wr_item(1, "x"), wr_item(1, "x")]},
            # a key that is not a whole number
            {"data": [wr_item(2, "x"), wr_item(1, "x"), {"id": None, "name": "x"}]},
            # no items at all (Directus answers 204 when the token may not read them)
            None,
        ]
        for a in answers:
            _, out = run_on(tasks(), names(["a", "b", "c"]), lambda m, u, body, a=a: a)
            self.assertEqual(len(out), 3)
            self.assertTrue(all(unknown(r) for r in out), (a, out))

    def test_creates_with_a_key_the_op_carries_are_paired_by_it(self):
        c = collection("codes", {"field": "code", "type": "string",
                                 "schema": {"is_primary_key": True, "has_auto_increment": False}, "meta": None})

        def code(k):
            return t.WriteOp_Create([t.Field("code", t.FieldValue_Text(k))])

        calls, out = run_on(c, [code("zz"), code("aa"), code("mm")],
                            lambda m, u, body: read_back(body, "code"))
        self.assertEqual(len(calls), 1)
        self.assertEqual([r.value.id for r in out], ["zz", "aa", "mm"])

        # Without its key, an item cannot be told from the others in a batch
        # (a database default may fill it): each is created on its own, and
        # the one item answered is that op's.
        n = [0]

        def one(method, url, body):
            n[0] += 1
            return {"data": {**body, "code": f"k{n[0]}"}}

        calls, out = run_on(c, names(["a", "b"]), one)
        self.assertEqual(len(calls), 2)
        self.assertEqual(calls[0][2], {"name": "a"})
        self.assertEqual([r.value.id for r in out], ["k1", "k2"])

    def test_a_create_of_unknown_outcome_is_never_sent_again_by_a_later_rate_limit(self):
        # The create's answer proves nothing; the update is then rate limited.
        # Failing the whole call would make the host send the create again.
        script = [{"data": []}, sdk.errors.rate_limited(2000, "Directus HTTP 429")]

        def answer(method, url, body):
            a = script.pop(0)
            if isinstance(a, Err):
                raise a
            return a

        _, out = run_on(tasks(), [
            create("a"),
            t.WriteOp_Update(t.UpdateOp("3", None, [t.Field("name", t.FieldValue_Text("x"))])),
        ], answer)
        self.assertTrue(unknown(out[0]), out)
        self.assertEqual(kind(out[1]), "RateLimited")

    def test_creates_one_by_one_stop_at_a_rate_limit(self):
        # No key of either kind: one request each; a 429 after the first
        # write leaves the rest not attempted, never sent.
        c = collection("codes", {"field": "code", "type": "string",
                                 "schema": {"is_primary_key": True, "has_auto_increment": False}, "meta": None})
        script = [{"data": {"code": "k1", "name": "a"}}, sdk.errors.rate_limited(2000, "Directus HTTP 429")]

        def answer(method, url, body):
            a = script.pop(0)
            if isinstance(a, Err):
                raise a
            return a

        calls, out = run_on(c, names(["a", "b", "c"]), answer)
        self.assertEqual(len(calls), 2)
        self.assertEqual(out[0].value.id, "k1")
        self.assertEqual([kind(r) for r in out[1:]], ["RateLimited", "RateLimited"])
        self.assertIn("not attempted", out[2].value.value.message)

        # A refused batch is sent again item by item, and an item answered
        # that is not the one sent is not that op's.
        script = [sdk.errors.invalid_input("Directus HTTP 400: FAILED_VALIDATION"),
                  {"data": {"code": "x1"}}, {"data": {"code": "x3"}}]
        calls, out = run_on(c, [t.WriteOp_Create([t.Field("code", t.FieldValue_Text(k))]) for k in ("x1", "x2")],
                            answer)
        self.assertEqual([type(b).__name__ for _, _, b in calls], ["list", "dict", "dict"])
        self.assertEqual(out[0].value.id, "x1")
        self.assertTrue(unknown(out[1]), out)


if __name__ == "__main__":
    unittest.main()

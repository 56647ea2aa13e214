"""Unit tests of synchost_sdk, run natively with CPython against the
bindings `componentize-py bindings` generates (their imports are stubs, so
only the pure parts run here; tests/e2e/tests/python.rs runs this file)."""

import unittest

import synchost_sdk as sdk
from componentize_py_types import Err
from wit_world.imports import types as t


def resp(status, headers=(), body=b""):
    return sdk.Response(status, list(headers), body, "GET /x")


class Errors(unittest.TestCase):
    def kind(self, status, headers=()):
        e = sdk.from_status(resp(status, headers, b"nope"))
        return None if e is None else type(e.value).__name__.split("_", 1)[1]

    def test_statuses_map_as_the_rust_sdk_maps_them(self):
        table = {200: None, 204: None, 400: "InvalidInput", 401: "Unauthorized",
                 403: "Unauthorized", 404: "NotFound", 408: "Transient", 409: "Conflict",
                 410: "NotFound", 412: "Conflict", 418: "Fatal", 422: "InvalidInput",
                 429: "RateLimited", 500: "Transient", 503: "Transient"}
        for status, kind in table.items():
            self.assertEqual(self.kind(status), kind, status)

    def test_retry_after_in_seconds_or_a_date(self):
        e = sdk.from_status(resp(429, [("Retry-After", "2.5")]))
        self.assertEqual(e.value.value.retry_after_ms, 2500)
        e = sdk.from_status(resp(429, [("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]))
        self.assertEqual(e.value.value.retry_after_ms, 1000)
        self.assertEqual(sdk.from_status(resp(429)).value.value.retry_after_ms, 1000)

    def test_errors_are_raisable_typed_results(self):
        with self.assertRaises(Err) as caught:
            raise sdk.errors.not_found("no such thing")
        self.assertEqual(caught.exception.value, t.ConnectorError_NotFound("no such thing"))

    def test_a_long_body_is_cut(self):
        e = sdk.from_status(resp(500, body=b"x" * 1000))
        self.assertTrue(e.value.value.endswith("…"))
        self.assertLess(len(e.value.value), 320)

    def test_a_body_that_is_not_json_is_an_unknown_outcome(self):
        with self.assertRaises(Err) as caught:
            resp(200, body=b"<html>").json()
        self.assertIsInstance(caught.exception.value, t.ConnectorError_Transient)
        self.assertIn("outcome is unknown", caught.exception.value.value)
        self.assertIn("GET /x", caught.exception.value.value)


class Helpers(unittest.TestCase):
    def test_ok_err_and_put_are_the_sdks(self):
        from componentize_py_types import Ok
        self.assertIs(sdk.Ok, Ok)
        self.assertIs(sdk.Err, Err)
        self.assertTrue(callable(sdk.put))

    def test_encode_keeps_only_unreserved(self):
        self.assertEqual(sdk.encode("a b/c+d~é"), "a%20b%2Fc%2Bd~%C3%A9")

    def test_cursors_round_trip_and_refuse_garbage(self):
        state = {"after": 17, "since": "2024-01-01T00:00:00+00:00"}
        self.assertEqual(sdk.cursor_decode(sdk.cursor_encode(state)), state)
        with self.assertRaises(Err) as caught:
            sdk.cursor_decode("%%%")
        self.assertIsInstance(caught.exception.value, t.ConnectorError_InvalidInput)

    def test_http_dates(self):
        self.assertEqual(sdk.http_date_to_rfc3339("Sun, 06 Nov 1994 08:49:37 GMT"),
                         "1994-11-06T08:49:37Z")
        self.assertIsNone(sdk.http_date_to_rfc3339("Sunday, 06-Nov-94 08:49:37 GMT"))
        self.assertIsNone(sdk.http_date_to_rfc3339("yesterday"))
        self.assertEqual(resp(200, [("Date", "Thu, 26 Nov 2026 13:38:05 GMT")]).date(),
                         "2026-11-26T13:38:05Z")

    def test_settings(self):
        s = sdk.Settings([("url", "https://x"), ("collection.tasks", "t1")])
        self.assertEqual(s.require("url"), "https://x")
        self.assertEqual(s.with_prefix("collection."), [("tasks", "t1")])
        with self.assertRaises(Err):
            s.require("token")

    def test_descriptor_defaults(self):
        d = sdk.descriptor("x", "0.1.0", ["e"], ["https://x"])
        self.assertEqual(d.contract, sdk.CONTRACT)
        self.assertEqual(sdk.CONTRACT, "0.2.0")
        self.assertEqual(d.capabilities, t.Capabilities.READ)
        self.assertIsInstance(d.auth, t.AuthScheme_None_)
        self.assertEqual(d.checkpoint, t.CheckpointKind.TIMESTAMP)
        self.assertIsNone(d.max_batch)
        d = sdk.descriptor("x", "0.1.0", [], [], checkpoint=t.CheckpointKind.OPAQUE, max_batch=100)
        self.assertEqual((d.checkpoint, d.max_batch), (t.CheckpointKind.OPAQUE, 100))

    def test_auth_schemes(self):
        self.assertEqual(sdk.basic_auth("user", "pass"),
                         t.AuthScheme_Basic(t.BasicAuth("user", "pass")))
        self.assertEqual(
            sdk.client_credentials("https://x/token", "id", "secret", ("a", "b")),
            t.AuthScheme_ClientCredentials(
                t.ClientCredentials("https://x/token", "id", "secret", ["a", "b"])))
        self.assertEqual(sdk.client_credentials("https://x/token", "id", "secret").value.scopes, [])

    def test_entities_of_a_descriptor(self):
        d = sdk.descriptor("x", "0.1.0", ["a", "b"], [])
        self.assertEqual(sdk.entities_of(d), [t.EntityInfo("a", ""), t.EntityInfo("b", "")])

    def test_write_outcomes_from_op_results(self):
        w = sdk.written("1")
        err = sdk.errors.not_found("gone")
        self.assertEqual(sdk.outcomes([sdk.Ok(w), err, sdk.unknown("timed out")]), [
            t.WriteOutcome_Written(w),
            t.WriteOutcome_Failed(t.ConnectorError_NotFound("gone")),
            t.WriteOutcome_Unknown("timed out"),
        ])
        with self.assertRaises(TypeError):
            sdk.outcome(w)

    def test_field_values(self):
        self.assertEqual(sdk.text(None), t.FieldValue_Null())
        self.assertEqual(sdk.number(3), t.FieldValue_Number(3.0))
        self.assertEqual(sdk.to_json(sdk.json_value({"a": [1]})), {"a": [1]})
        self.assertIsNone(sdk.to_json(sdk.null()))


if __name__ == "__main__":
    unittest.main()

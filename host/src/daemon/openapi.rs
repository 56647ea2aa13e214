//! `/openapi.json`: the API described as OpenAPI 3.1. The job's schema is the
//! one generated from the Rust types, so the document cannot drift from the
//! job parser; the routes are listed here beside the router in `api.rs`, and
//! a test checks that every route of the router is documented.

use serde_json::{json, Value};

/// (method, path, summary, success status) of every route.
pub const ROUTES: &[(&str, &str, &str, &str)] = &[
    ("get", "/healthz", "Liveness, with the jobs running and queued (no token)", "200"),
    ("get", "/openapi.json", "This document (no token)", "200"),
    ("post", "/hooks/{sync_id}", "A platform's webhook delivery, verified by the connector (the platform's signature, no token); bounded: 1 MiB, 10 a second per job, replays refused", "202"),
    ("post", "/jobs", "Create or replace a job (the job JSON)", "201"),
    ("get", "/jobs", "List jobs with their schedule state", "200"),
    ("get", "/jobs/{sync_id}", "One job", "200"),
    ("delete", "/jobs/{sync_id}", "Delete a job (its sync state stays)", "204"),
    ("post", "/jobs/{sync_id}/trigger", "Queue a run now (`?full=true` for a full read)", "202"),
    ("post", "/jobs/{sync_id}/plan", "Preview the next run: every write it would make and how each conflict would be decided; writes nothing (`?full=true` for a full read, `?limit=N` items listed per kind, default 1000)", "200"),
    ("get", "/jobs/{sync_id}/plan", "The plan a first run waits on (`\"first_sync\": \"plan\"`)", "200"),
    ("post", "/jobs/{sync_id}/plan/accept", "Accept it: the first run is queued", "202"),
    ("get", "/runs", "Past runs, newest first (`?job=`, `?limit=`)", "200"),
    ("get", "/runs/{id}", "One run and its report", "200"),
    ("get", "/conflicts", "Conflicts parked for a person", "200"),
    ("post", "/conflicts/{id}/resolve", "Decide a conflict: {\"take\": \"source\"|\"target\"} or {\"merge\": {...}}", "200"),
    ("get", "/connectors", "Loaded connectors: name, version, contract, hash, loaded at", "200"),
    ("put", "/connectors/{name}", "Upload a connector (.wasm body; admin token only); checked, then swapped in", "200"),
    ("get", "/audit", "Audit entries since `?since=` (RFC 3339)", "200"),
    ("get", "/metrics", "Prometheus metrics (text; admin token only)", "200"),
];

pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for (method, path, summary, ok) in ROUTES {
        let open = matches!(*path, "/healthz" | "/openapi.json" | "/hooks/{sync_id}");
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut op = json!({
            "summary": summary,
            "parameters": params,
            "responses": {
                *ok: {"description": "success", "content": {"application/json": {}}},
                "400": {"description": "bad input", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "401": {"description": "no or wrong token (or, for webhooks, a bad signature)"},
                "403": {"description": "a project-scoped token asked for what only the admin token may do"},
                "404": {"description": "not found (or not the project's of a project-scoped token)"}
            }
        });
        if *path == "/hooks/{sync_id}" {
            let responses = &mut op["responses"];
            responses["200"] = json!({"description": "verified, but the delivery names no change: nothing queued"});
            responses["409"] = json!({"description": "a replay of a delivery accepted before"});
            responses["413"] =
                json!({"description": "the body is larger than --webhook-max-bytes"});
            responses["429"] =
                json!({"description": "too many deliveries for this job; see Retry-After"});
        }
        if open {
            op["security"] = json!([]);
        }
        if *path == "/jobs" && *method == "post" {
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}});
        }
        if path.starts_with("/runs") {
            op["responses"][*ok]["content"]["application/json"] =
                json!({"schema": {"$ref": "#/components/schemas/Run"}});
        }
        paths.entry(path.to_string()).or_insert_with(|| json!({}))[*method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "synchost daemon", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Job": crate::job::json_schema(),
                "Error": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]},
                "Report": {
                    "type": "object",
                    "properties": {
                        "status": {"enum": ["success", "partial", "failed", "queued"]},
                        "synced_items": {"type": "integer"},
                        "conflicts_detected": {"type": "integer"},
                        "conflict_resolution": {"type": "string"},
                        "last_sync": {"type": "string", "format": "date-time"},
                        "details": {"type": "object"}
                    },
                    "required": ["status", "synced_items", "conflicts_detected", "conflict_resolution", "last_sync"]
                },
                "Run": {"type": "object", "properties": {"id": {"type": "integer"}, "job": {"type": "string"}, "started_at": {"type": "string"}, "report": {"$ref": "#/components/schemas/Report"}}}
            }
        }
    })
}

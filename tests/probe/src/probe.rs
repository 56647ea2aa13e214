// The body of the probe connectors (this crate and tests/probe-cc): one
// connector per auth scheme, since a descriptor declares one. Its platform,
// the test server of tests/e2e/src/probe.rs, answers:
//   GET  /entities                          {"entities": [{"name", "description"}]}
//   GET  /records/{entity}?after=&since=    {"records": [...], "next", "checkpoint"}
//   POST /records/{entity}                  {"ops": [...]} -> {"results": [{"id"} | {"error"}]}
// A 504 to a POST means the ops were sent and may have landed: each op's
// outcome is `unknown`.

// A native build (cargo test --workspace) compiles this crate without the
// wasm exports, which leaves the connector type unused there.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
const API: &str = "https://probe.example.com";

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Probe;

impl Connector for Probe {
    fn describe() -> Descriptor {
        Descriptor::new(NAME, env!("CARGO_PKG_VERSION"))
            .hosts([API])
            .auth(auth())
            .capabilities(Capabilities::READ | Capabilities::WRITE | Capabilities::INCREMENTAL)
            // The server's checkpoints read as date-times but are tokens of
            // its own: the host must give them back exactly.
            .checkpoint(CheckpointKind::Opaque)
            .max_batch(3)
    }

    fn configure(_settings: Settings) -> Result<Self, ConnectorError> {
        Ok(Probe)
    }

    fn entities(&self) -> Result<Vec<EntityInfo>, ConnectorError> {
        let body: serde_json::Value = http::get(&format!("{API}/entities")).send_json()?;
        let listed = body["entities"]
            .as_array()
            .ok_or_else(|| errors::bad_body("GET /entities", "no `entities` array"))?;
        Ok(listed
            .iter()
            .map(|e| EntityInfo {
                name: e["name"].as_str().unwrap_or_default().into(),
                description: e["description"].as_str().unwrap_or_default().into(),
            })
            .collect())
    }

    fn schema(&self, entity: &str) -> Result<EntitySchema, ConnectorError> {
        Ok(EntitySchema::new(entity)
            .field("title", FieldType::Text)
            .field("email", FieldType::Text))
    }

    fn read(&self, req: ReadRequest) -> Result<Page, ConnectorError> {
        let mut url = format!("{API}/records/{}?limit={}", req.entity, req.page_size.clamp(1, 100));
        if let Some(after) = &req.cursor {
            url.push_str(&format!("&after={}", http::encode(after)));
        }
        if let Some(since) = &req.since {
            url.push_str(&format!("&since={}", http::encode(since)));
        }
        let body: serde_json::Value = http::get(&url).send_json()?;
        let records = body["records"]
            .as_array()
            .ok_or_else(|| errors::bad_body("GET /records", "no `records` array"))?
            .iter()
            .map(|r| {
                Record::new(r["id"].as_str().unwrap_or_default())
                    .field("title", text(&r["title"]))
                    .field("email", text(&r["email"]))
                    .updated_at(r["updated_at"].as_str().map(String::from))
            })
            .collect();
        Ok(Page::new(records)
            .next(body["next"].as_str().map(String::from))
            .checkpoint(body["checkpoint"].as_str().map(String::from)))
    }

    fn write_outcomes(
        &self,
        entity: &str,
        ops: Vec<WriteOp>,
    ) -> Result<Vec<WriteOutcome>, ConnectorError> {
        let wire: Vec<serde_json::Value> = ops.iter().map(op_json).collect();
        let resp = http::post(&format!("{API}/records/{entity}"))
            .json(&serde_json::json!({ "ops": wire }))
            .send_raw()?;
        if resp.status == 504 {
            let why = "the platform answered 504 after the ops were sent";
            return Ok(ops.iter().map(|_| WriteOutcome::Unknown(why.into())).collect());
        }
        if let Some(err) = errors::from_status(&resp) {
            return Err(err);
        }
        let body: serde_json::Value = resp.json("POST /records")?;
        let results = body["results"]
            .as_array()
            .ok_or_else(|| errors::bad_body("POST /records", "no `results` array"))?;
        Ok(results
            .iter()
            .map(|r| match r["id"].as_str() {
                Some(id) => WriteOutcome::Written(Written {
                    id: id.into(),
                    version: None,
                    updated_at: r["updated_at"].as_str().map(String::from),
                }),
                None => WriteOutcome::Failed(ConnectorError::InvalidInput(
                    r["error"].as_str().unwrap_or("refused").into(),
                )),
            })
            .collect())
    }
}

fn text(v: &serde_json::Value) -> FieldValue {
    v.as_str()
        .map_or(FieldValue::Null, |s| FieldValue::Text(s.into()))
}

fn fields_json(fields: &[Field]) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for f in fields {
        let v = match &f.value {
            FieldValue::Text(s) => serde_json::Value::String(s.clone()),
            _ => serde_json::Value::Null,
        };
        out.insert(f.name.clone(), v);
    }
    serde_json::Value::Object(out)
}

fn op_json(op: &WriteOp) -> serde_json::Value {
    match op {
        WriteOp::Create(fields) => serde_json::json!({"op": "create", "fields": fields_json(fields)}),
        WriteOp::Update(u) => {
            serde_json::json!({"op": "update", "id": u.id, "fields": fields_json(&u.fields)})
        }
        WriteOp::Delete(d) => serde_json::json!({"op": "delete", "id": d.id}),
    }
}

synchost_sdk::export_connector!(Probe);

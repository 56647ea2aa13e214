//! Telling which created record is which create op's when HubSpot's answer
//! does not say. Pure functions.
//!
//! `batch/create` answers its results in no particular order, and the echo of
//! an input's `objectWriteTraceId` is not promised: HubSpot's reference lists
//! it among a result's optional fields, its Python SDK models a result
//! without it, and the multi-status example of "API error handling"
//! (https://developers.hubspot.com/docs/api-reference/error-handling) shows a
//! created record without it. A result that does not echo is matched by what
//! was written: a unique property the op set (a contact's email: "HubSpot
//! uses email addresses to deduplicate contacts"), else every property the op
//! set. A pairing is made only when it cannot be another: the op has no other
//! candidate and the record fits no other op, or, once every other op is
//! accounted for, one op and one record are left. An op that cannot be told
//! apart is left unmatched, for the caller to report as an unknown outcome:
//! a wrong pairing would link a record to the wrong op, and a refusal would
//! make the host create again a record that landed.

use serde_json::{Map, Value};
use std::collections::HashMap;

use crate::schema::{Kind, ObjectSchema};
use crate::time;

/// What the matcher knows of an object type's properties.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    kinds: HashMap<String, Kind>,
    /// properties no two records share a value of
    unique: Vec<String>,
}

impl Matcher {
    pub fn new(schema: &ObjectSchema) -> Matcher {
        Matcher {
            kinds: schema
                .properties
                .iter()
                .map(|p| (p.name.clone(), p.kind))
                .collect(),
            unique: schema
                .properties
                .iter()
                .filter(|p| p.unique)
                .map(|p| p.name.clone())
                .collect(),
        }
    }

    /// Whether a value sent and one read back are the same value, as HubSpot
    /// may normalise it (case of text, number format, date as milliseconds,
    /// order of checkbox values). A property the record does not show is no
    /// evidence either way.
    fn same(&self, name: &str, sent: &Value, got: Option<&Value>) -> bool {
        let text = |v: &Value| match v {
            Value::Null => String::new(),
            Value::String(s) => s.trim().to_string(),
            other => other.to_string(),
        };
        let Some(got) = got else { return true };
        let (a, b) = (text(sent), text(got));
        if a.is_empty() || b.is_empty() {
            return a.is_empty() && b.is_empty();
        }
        match self.kinds.get(name) {
            Some(Kind::Number) => match (a.parse::<f64>(), b.parse::<f64>()) {
                (Ok(x), Ok(y)) => x == y,
                _ => a == b,
            },
            Some(Kind::Date | Kind::Datetime) => match (time::to_millis(&a), time::to_millis(&b)) {
                (Some(x), Some(y)) => x == y,
                _ => a == b,
            },
            Some(Kind::MultiSelect) => {
                let set = |s: &str| {
                    let mut v: Vec<String> = s
                        .split(';')
                        .filter(|x| !x.is_empty())
                        .map(str::to_lowercase)
                        .collect();
                    v.sort();
                    v
                };
                set(&a) == set(&b)
            }
            _ => a.to_lowercase() == b.to_lowercase(),
        }
    }

    /// Whether `record` (a result of `batch/create`) may be the record `sent`
    /// created. With a unique property set, that alone decides.
    pub fn fits(&self, sent: &Map<String, Value>, record: &Value) -> bool {
        let got = &record["properties"];
        let unique = self
            .unique
            .iter()
            .find(|name| sent.get(*name).is_some_and(|v| v.as_str() != Some("")));
        if let Some(name) = unique {
            return got.get(name).is_some() && self.same(name, &sent[name], got.get(name));
        }
        sent.iter()
            .all(|(name, v)| self.same(name, v, got.get(name)))
    }

    /// For each op (its `properties`), the position in `records` of the
    /// record it created, where that can be told; `None` where it cannot.
    /// Every record is one op's: `records` hold only what these ops created.
    pub fn pair(&self, ops: &[&Map<String, Value>], records: &[&Value]) -> Vec<Option<usize>> {
        let mut candidates: Vec<Vec<usize>> = ops
            .iter()
            .map(|sent| {
                (0..records.len())
                    .filter(|&r| self.fits(sent, records[r]))
                    .collect()
            })
            .collect();
        let mut out: Vec<Option<usize>> = vec![None; ops.len()];
        let mut taken = vec![false; records.len()];
        loop {
            let open: Vec<usize> = (0..ops.len()).filter(|&o| out[o].is_none()).collect();
            let free: Vec<usize> = (0..records.len()).filter(|&r| !taken[r]).collect();
            // The last op and the last record belong together, whatever the
            // properties say (HubSpot may have normalised a value).
            // When every open op created a record (as many records as ops),
            // an op that fits one record only has that one; otherwise the
            // record must also fit no other op.
            let all_landed = open.len() == free.len();
            let sole = |r: usize| open.iter().filter(|&&p| candidates[p].contains(&r)).count() == 1;
            let pick = if open.len() == 1 && free.len() == 1 {
                Some((open[0], free[0]))
            } else {
                open.iter().find_map(|&o| match candidates[o].as_slice() {
                    [r] if all_landed || sole(*r) => Some((o, *r)),
                    _ => None,
                })
            };
            let Some((o, r)) = pick else { break };
            out[o] = Some(r);
            taken[r] = true;
            for c in candidates.iter_mut() {
                c.retain(|&x| x != r);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Property;
    use serde_json::json;

    fn matcher() -> Matcher {
        let prop = |name: &str, kind: Kind, unique: bool| Property {
            name: name.into(),
            kind,
            read_only: false,
            unique,
            options: Vec::new(),
        };
        Matcher::new(&ObjectSchema {
            entity: "people".into(),
            properties: vec![
                prop("email", Kind::Text, true),
                prop("firstname", Kind::Text, false),
                prop("amount", Kind::Number, false),
                prop("closedate", Kind::Datetime, false),
                prop("roles", Kind::MultiSelect, false),
            ],
        })
    }

    fn sent(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn record(props: Value) -> Value {
        json!({"id": "1", "properties": props})
    }

    #[test]
    fn values_compare_as_hubspot_normalises_them() {
        let m = matcher();
        let op = sent(
            json!({"firstname": "Ann", "amount": "10", "closedate": "2024-05-01T12:00:00.000Z", "roles": "A;B"}),
        );
        let back = record(
            json!({"firstname": "ann ", "amount": "10.0", "closedate": "1714564800000", "roles": "B;A", "createdate": "x"}),
        );
        assert!(m.fits(&op, &back));
        assert!(!m.fits(&op, &record(json!({"firstname": "Bob"}))));
        // A cleared value reads back as null.
        assert!(m.fits(
            &sent(json!({"firstname": ""})),
            &record(json!({"firstname": null}))
        ));
    }

    #[test]
    fn a_unique_property_decides_alone() {
        let m = matcher();
        let op = sent(json!({"email": "a@x.co", "firstname": "Ann"}));
        assert!(m.fits(
            &op,
            &record(json!({"email": "A@x.co", "firstname": "Changed"}))
        ));
        assert!(!m.fits(&op, &record(json!({"email": "b@x.co", "firstname": "Ann"}))));
    }

    #[test]
    fn pairs_are_made_only_where_no_other_is_possible() {
        let m = matcher();
        let ann = sent(json!({"firstname": "Ann"}));
        let ann_b = sent(json!({"firstname": "Ann", "amount": "2"}));
        let bob = sent(json!({"firstname": "Bob"}));
        let r_ann_b = record(json!({"firstname": "Ann", "amount": "2"}));
        let r_bob = record(json!({"firstname": "Bob", "amount": null}));
        let r_ann = record(json!({"firstname": "Ann", "amount": null}));
        // `ann` fits both Ann records; `ann_b` only one of them, which
        // leaves the other to `ann`.
        let got = m.pair(&[&ann, &ann_b, &bob], &[&r_ann_b, &r_bob, &r_ann]);
        assert_eq!(got, [Some(2), Some(0), Some(1)]);
        // Two ops that wrote the same cannot be told apart.
        let got = m.pair(
            &[&ann, &ann.clone(), &bob],
            &[&r_ann, &r_ann.clone(), &r_bob],
        );
        assert_eq!(got, [None, None, Some(2)]);
        // One op left and one record left: theirs, whatever the values say.
        let odd = record(json!({"firstname": "ANNE"}));
        assert_eq!(m.pair(&[&ann], &[&odd]), [Some(0)]);
        // An op whose record is missing takes no other op's record.
        assert_eq!(m.pair(&[&ann, &bob], &[&r_bob]), [None, Some(0)]);
    }
}

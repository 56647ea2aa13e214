//! The sObjects of the Salesforce simulator, their fields as
//! `GET /services/data/vXX.X/sobjects/{sObject}/describe` reports them, record
//! ids, timestamps, and the error bodies of the REST API.
//!
//! References: "sObject Describe" and "Status Codes and Error Responses" in
//! the REST API Developer Guide; "Field Types" and "Primitive Data Types" in
//! the SOAP API Developer Guide (the REST API uses the same types); "Working
//! with Record IDs" in the Salesforce Help.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::{json, Value};

/// An error of the REST API: the HTTP status and the body, a JSON array of
/// `{"message", "errorCode", "fields"?}` ("Status Codes and Error Responses":
/// the body "contains the message and errorCode").
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub fields: Vec<String>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    /// 404: "The requested resource couldn't be found. Check the URI for errors".
    pub fn not_found() -> Self {
        Self::new(404, "NOT_FOUND", "The requested resource does not exist")
    }

    pub fn body(&self) -> Value {
        let mut e = json!({ "message": self.message, "errorCode": self.code });
        if !self.fields.is_empty() {
            e["fields"] = json!(self.fields);
        }
        json!([e])
    }
}

/// The failure of one record of an sObject Collections request: the same
/// information under `statusCode` ("Create Records Using sObject
/// Collections", example response with errors).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ItemError {
    pub code: &'static str,
    pub message: String,
    pub fields: Vec<String>,
}

impl ItemError {
    pub fn new(code: &'static str, message: impl Into<String>, fields: &[&str]) -> Self {
        ItemError {
            code,
            message: message.into(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
        }
    }

    pub fn json(&self) -> Value {
        json!({ "statusCode": self.code, "message": self.message, "fields": self.fields })
    }
}

/// Field types of the describe result ("Field Types", SOAP API Developer Guide).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Id,
    Str,
    Email,
    Phone,
    Url,
    Textarea,
    Double,
    Int,
    Currency,
    Boolean,
    Date,
    Datetime,
    Picklist,
    Multipicklist,
    Reference,
}

impl Kind {
    /// The `type` of a describe field.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Id => "id",
            Kind::Str => "string",
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Url => "url",
            Kind::Textarea => "textarea",
            Kind::Double => "double",
            Kind::Int => "int",
            Kind::Currency => "currency",
            Kind::Boolean => "boolean",
            Kind::Date => "date",
            Kind::Datetime => "datetime",
            Kind::Picklist => "picklist",
            Kind::Multipicklist => "multipicklist",
            Kind::Reference => "reference",
        }
    }

    /// The `soapType` of a describe field.
    fn soap_type(self) -> &'static str {
        match self {
            Kind::Id | Kind::Reference => "tns:ID",
            Kind::Double | Kind::Currency => "xsd:double",
            Kind::Int => "xsd:int",
            Kind::Boolean => "xsd:boolean",
            Kind::Date => "xsd:date",
            Kind::Datetime => "xsd:dateTime",
            _ => "xsd:string",
        }
    }

    /// Kinds whose values are JSON strings.
    pub fn is_text(self) -> bool {
        !matches!(
            self,
            Kind::Double | Kind::Int | Kind::Currency | Kind::Boolean
        )
    }
}

/// One field of an sObject.
#[derive(Debug, Clone)]
pub(crate) struct FieldDef {
    pub name: &'static str,
    pub label: &'static str,
    pub kind: Kind,
    /// maximum length of a text value; 0 when not text
    pub length: usize,
    pub createable: bool,
    pub updateable: bool,
    /// false for required fields ("nillable: Indicates whether the field is nillable")
    pub nillable: bool,
    pub picklist: &'static [&'static str],
    pub restricted: bool,
    pub reference_to: &'static [&'static str],
    pub custom: bool,
}

impl FieldDef {
    /// An ordinary writable, optional field.
    pub(crate) const fn rw(
        name: &'static str,
        label: &'static str,
        kind: Kind,
        length: usize,
    ) -> Self {
        FieldDef {
            name,
            label,
            kind,
            length,
            createable: true,
            updateable: true,
            nillable: true,
            picklist: &[],
            restricted: false,
            reference_to: &[],
            custom: false,
        }
    }

    /// A field the system maintains: neither createable nor updateable.
    const fn system(name: &'static str, label: &'static str, kind: Kind) -> Self {
        let mut f = Self::rw(name, label, kind, 0);
        f.createable = false;
        f.updateable = false;
        f.nillable = false;
        if matches!(kind, Kind::Id) {
            f.length = 18;
        }
        f
    }

    const fn required(mut self) -> Self {
        self.nillable = false;
        self
    }

    pub(crate) const fn picklist(
        mut self,
        values: &'static [&'static str],
        restricted: bool,
    ) -> Self {
        self.picklist = values;
        self.restricted = restricted;
        self
    }

    pub(crate) const fn custom(mut self) -> Self {
        self.custom = true;
        self
    }

    const fn to(mut self, objects: &'static [&'static str]) -> Self {
        self.reference_to = objects;
        self
    }

    /// The field as the describe result lists it.
    pub fn describe(&self) -> Value {
        let (precision, scale, digits) = match self.kind {
            Kind::Double => (18, 2, 0),
            Kind::Currency => (18, 2, 0),
            Kind::Int => (0, 0, 9),
            _ => (0, 0, 0),
        };
        let values: Vec<Value> = self
            .picklist
            .iter()
            .map(|v| json!({ "active": true, "defaultValue": false, "label": v, "validFor": null, "value": v }))
            .collect();
        json!({
            "name": self.name,
            "label": self.label,
            "type": self.kind.name(),
            "soapType": self.kind.soap_type(),
            "length": self.length,
            "precision": precision,
            "scale": scale,
            "digits": digits,
            "nillable": self.nillable,
            "createable": self.createable,
            "updateable": self.updateable,
            "filterable": true,
            "sortable": !matches!(self.kind, Kind::Textarea | Kind::Multipicklist),
            "custom": self.custom,
            "calculated": false,
            "defaultedOnCreate": matches!(self.kind, Kind::Boolean) || !self.createable && self.name != "Name",
            "externalId": false,
            "unique": false,
            "restrictedPicklist": self.restricted,
            "picklistValues": values,
            "referenceTo": self.reference_to,
            "relationshipName": relationship_name(self),
        })
    }
}

fn relationship_name(f: &FieldDef) -> Value {
    match (f.kind, f.name.strip_suffix("Id")) {
        (Kind::Reference, Some(base)) => json!(base),
        _ => Value::Null,
    }
}

/// An sObject type.
#[derive(Debug, Clone)]
pub(crate) struct ObjectDef {
    pub name: &'static str,
    pub label: &'static str,
    pub plural: &'static str,
    /// the first three characters of its record ids ("Standard Field Record ID
    /// Prefix Decoder": 001 Account, 003 Contact)
    pub prefix: &'static str,
    pub fields: Vec<FieldDef>,
}

impl ObjectDef {
    /// Field names are case-insensitive in SOQL and in request bodies.
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// `GET /services/data/vXX.X/sobjects/{sObject}/describe`.
    pub fn describe(&self, version: &str) -> Value {
        let base = format!("/services/data/{version}/sobjects/{}", self.name);
        json!({
            "name": self.name,
            "label": self.label,
            "labelPlural": self.plural,
            "keyPrefix": self.prefix,
            "custom": self.name.ends_with("__c"),
            "createable": true,
            "updateable": true,
            "deletable": true,
            "queryable": true,
            "replicateable": true,
            "retrieveable": true,
            "searchable": true,
            "undeletable": true,
            "urls": {
                "sobject": base,
                "describe": format!("{base}/describe"),
                "rowTemplate": format!("{base}/{{ID}}"),
            },
            "fields": self.fields.iter().map(FieldDef::describe).collect::<Vec<_>>(),
        })
    }
}

use Kind::*;

const SALUTATIONS: &[&str] = &["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."];
const LEAD_SOURCES: &[&str] = &[
    "Web",
    "Phone Inquiry",
    "Partner Referral",
    "Purchased List",
    "Other",
];

/// Fields every object has: "System Fields" (Object Reference: Id, IsDeleted,
/// CreatedDate, LastModifiedDate, SystemModstamp).
pub(crate) fn system_fields() -> Vec<FieldDef> {
    vec![
        FieldDef::system("Id", "Record ID", Id),
        FieldDef::system("IsDeleted", "Deleted", Boolean),
        FieldDef::system("CreatedDate", "Created Date", Datetime),
        FieldDef::system("LastModifiedDate", "Last Modified Date", Datetime),
        FieldDef::system("SystemModstamp", "System Modstamp", Datetime),
    ]
}

/// Account and Contact, with the standard fields a sync uses most and the
/// custom fields a Developer Edition org ships with on Contact (`Level__c`,
/// `Languages__c`), plus one numeric custom field; and `Survey__c`, a
/// custom object of a few hundred fields (`wide.rs`).
pub(crate) fn standard_objects() -> Vec<ObjectDef> {
    let mut account = system_fields();
    account.extend([
        FieldDef::rw("Name", "Account Name", Str, 255).required(),
        FieldDef::rw("Type", "Account Type", Picklist, 255).picklist(
            &[
                "Prospect",
                "Customer - Direct",
                "Customer - Channel",
                "Partner",
                "Other",
            ],
            false,
        ),
        FieldDef::rw("Industry", "Industry", Picklist, 255).picklist(
            &[
                "Agriculture",
                "Banking",
                "Education",
                "Retail",
                "Technology",
                "Other",
            ],
            false,
        ),
        FieldDef::rw("AnnualRevenue", "Annual Revenue", Currency, 0),
        FieldDef::rw("NumberOfEmployees", "Employees", Int, 0),
        FieldDef::rw("Website", "Website", Url, 255),
        FieldDef::rw("Phone", "Account Phone", Phone, 40),
        FieldDef::rw("Description", "Account Description", Textarea, 32000),
    ]);
    let mut contact = system_fields();
    let mut name = FieldDef::system("Name", "Full Name", Str);
    name.length = 121;
    contact.extend([
        FieldDef::rw("AccountId", "Account ID", Reference, 18).to(&["Account"]),
        FieldDef::rw("Salutation", "Salutation", Picklist, 40).picklist(SALUTATIONS, false),
        FieldDef::rw("FirstName", "First Name", Str, 40),
        FieldDef::rw("LastName", "Last Name", Str, 80).required(),
        name,
        FieldDef::rw("Title", "Title", Str, 128),
        FieldDef::rw("Department", "Department", Str, 80),
        FieldDef::rw("Email", "Email", Email, 80),
        FieldDef::rw("Phone", "Business Phone", Phone, 40),
        FieldDef::rw("MobilePhone", "Mobile Phone", Phone, 40),
        FieldDef::rw("Birthdate", "Birthdate", Date, 0),
        FieldDef::rw("LeadSource", "Lead Source", Picklist, 255).picklist(LEAD_SOURCES, false),
        FieldDef::rw("HasOptedOutOfEmail", "Email Opt Out", Boolean, 0),
        FieldDef::rw("Description", "Contact Description", Textarea, 32000),
        FieldDef::rw("Level__c", "Level", Picklist, 255)
            .picklist(&["Primary", "Secondary", "Tertiary"], true)
            .custom(),
        FieldDef::rw("Languages__c", "Languages", Multipicklist, 4099)
            .picklist(
                &["English", "French", "German", "Spanish", "Japanese"],
                false,
            )
            .custom(),
        FieldDef::rw("Score__c", "Score", Double, 0).custom(),
    ]);
    vec![
        ObjectDef {
            name: "Account",
            label: "Account",
            plural: "Accounts",
            prefix: "001",
            fields: account,
        },
        ObjectDef {
            name: "Contact",
            label: "Contact",
            plural: "Contacts",
            prefix: "003",
            fields: contact,
        },
        super::wide::survey(),
    ]
}

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const SUFFIX: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// The 15-character, case-sensitive id of record number `n` of an object
/// with key prefix `prefix`, made case-insensitive with its 3-character
/// checksum suffix ("What are Salesforce IDs composed of?": key prefix, pod,
/// reserved, numeric identifier; the 18-character form adds the suffix).
pub(crate) fn new_id(prefix: &str, n: u64) -> String {
    let mut digits = [b'0'; 7];
    let mut rest = n;
    for d in digits.iter_mut().rev() {
        *d = BASE62[(rest % 62) as usize];
        rest /= 62;
    }
    let id15 = format!(
        "{prefix}5g000{}",
        std::str::from_utf8(&digits).expect("ascii")
    );
    format!("{id15}{}", checksum(&id15))
}

/// The suffix of an 18-character id: for each 5-character chunk, a bit per
/// upper-case letter, as an index into `A..Z0..5`.
fn checksum(id15: &str) -> String {
    id15.as_bytes()
        .chunks(5)
        .map(|chunk| {
            let bits = chunk
                .iter()
                .enumerate()
                .filter(|(_, c)| c.is_ascii_uppercase())
                .fold(0usize, |acc, (i, _)| acc | (1 << i));
            SUFFIX[bits] as char
        })
        .collect()
}

/// The canonical 18-character form of an id given with 15 (case-sensitive)
/// or 18 characters (whose suffix restores the case of the first 15); `None`
/// for anything else ("MALFORMED_ID").
pub(crate) fn normalize_id(raw: &str) -> Option<String> {
    if !raw.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    match raw.len() {
        15 => Some(format!("{raw}{}", checksum(raw))),
        18 => {
            let (head, tail) = raw.split_at(15);
            let mut fixed: Vec<u8> = head.as_bytes().to_vec();
            for (i, s) in tail.bytes().enumerate() {
                let bits = SUFFIX.iter().position(|c| *c == s.to_ascii_uppercase())?;
                for j in 0..5 {
                    let c = &mut fixed[i * 5 + j];
                    if bits & (1 << j) != 0 {
                        if !c.is_ascii_alphabetic() {
                            return None;
                        }
                        *c = c.to_ascii_uppercase();
                    } else {
                        *c = c.to_ascii_lowercase();
                    }
                }
            }
            let id15 = String::from_utf8(fixed).ok()?;
            Some(format!("{id15}{}", checksum(&id15)))
        }
        _ => None,
    }
}

/// A dateTime as the REST API writes it: `2013-05-07T22:07:19.000+0000`
/// (sObject Get Deleted, example response).
pub(crate) fn sf_datetime(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// Parses a dateTime the API wrote, or an ISO 8601 value a client sent.
pub(crate) fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Salesforce keeps dateTime values to the millisecond.
pub(crate) fn millis(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::milliseconds(1)).unwrap_or(t)
}

/// "The API ignores the seconds portion of the specified dateTime value"
/// (sObject Get Deleted, parameters `start` and `end`).
pub(crate) fn minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::minutes(1)).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_a_prefix_and_a_case_checksum() {
        let id = new_id("003", 1);
        assert_eq!(id.len(), 18);
        assert!(id.starts_with("0035g0000000001"));
        assert_eq!(normalize_id(&id).as_deref(), Some(id.as_str()));
        assert_eq!(normalize_id(&id[..15]).as_deref(), Some(id.as_str()));
        // The suffix restores the case of an id whose case was lost.
        let mixed = new_id("003", 62 * 62 * 11 + 36);
        assert_ne!(mixed.to_lowercase(), mixed);
        assert_eq!(
            normalize_id(&mixed.to_lowercase()).as_deref(),
            Some(mixed.as_str())
        );
        assert_eq!(normalize_id("003-not-an-id"), None);
        assert_eq!(normalize_id("0035g"), None);
    }

    #[test]
    fn datetimes_are_written_with_millis_and_a_numeric_offset() {
        let t = parse_datetime("2013-05-07T22:07:19.123Z").unwrap();
        assert_eq!(sf_datetime(t), "2013-05-07T22:07:19.123+0000");
        assert_eq!(parse_datetime("2013-05-07T22:07:19.123+0000"), Some(t));
        assert_eq!(sf_datetime(minute(t)), "2013-05-07T22:07:00.000+0000");
    }
}

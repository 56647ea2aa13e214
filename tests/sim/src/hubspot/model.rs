//! Object types and property definitions of the HubSpot
//! simulator, the error body, and how definitions read back (`GET /crm/v3/properties/{type}`).
//!
//! References: "CRM API | Properties" (https://developers.hubspot.com/docs/api/crm/properties,
//! "Property type and fieldType values") and "CRM API | Contacts / Companies /
//! Deals" (default properties, unique email).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::values::iso;

/// An error as the API reports it: `{"status":"error","message","correlationId",
/// "category"}` ("API error handling": every error body carries a category and a
/// correlation id).
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: u16,
    pub category: &'static str,
    pub message: String,
    /// extra keys of the body (`errors`, `context`)
    pub extra: Option<Value>,
}

impl ApiError {
    pub fn new(status: u16, category: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            category,
            message: message.into(),
            extra: None,
        }
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(400, "VALIDATION_ERROR", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "OBJECT_NOT_FOUND", message)
    }
    pub fn body(&self) -> Value {
        let mut body = json!({
            "status": "error",
            "message": self.message,
            "correlationId": correlation_id(),
            "category": self.category,
        });
        if let Some(Value::Object(extra)) = &self.extra {
            for (k, v) in extra {
                body[k] = v.clone();
            }
        }
        body
    }
}

/// A UUID as HubSpot puts in `correlationId` ("include the correlationId when
/// you contact support").
pub(crate) fn correlation_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The CRM objects simulated. The path accepts the plural name or the object
/// type id ("Object type IDs": contacts `0-1`, companies `0-2`, deals `0-3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectType {
    Contacts,
    Companies,
    Deals,
}

impl ObjectType {
    pub fn parse(s: &str) -> Option<ObjectType> {
        match s.to_ascii_lowercase().as_str() {
            "contacts" | "contact" | "0-1" => Some(ObjectType::Contacts),
            "companies" | "company" | "0-2" => Some(ObjectType::Companies),
            "deals" | "deal" | "0-3" => Some(ObjectType::Deals),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ObjectType::Contacts => "contacts",
            ObjectType::Companies => "companies",
            ObjectType::Deals => "deals",
        }
    }

    /// The name in error messages ("Could not get some CONTACT objects ...").
    pub fn upper(self) -> &'static str {
        match self {
            ObjectType::Contacts => "CONTACT",
            ObjectType::Companies => "COMPANY",
            ObjectType::Deals => "DEAL",
        }
    }

    /// The last-modified property: `lastmodifieddate` on contacts,
    /// `hs_lastmodifieddate` on companies and deals (Search: "Searchable CRM
    /// objects" lists these as returned by default).
    pub fn modified_property(self) -> &'static str {
        match self {
            ObjectType::Contacts => "lastmodifieddate",
            _ => "hs_lastmodifieddate",
        }
    }

    /// Properties returned when a request names none (Search: "For contacts, a
    /// search will return createdate, email, firstname, hs_object_id,
    /// lastmodifieddate, and lastname"; the same defaults apply to reads).
    pub fn default_properties(self) -> &'static [&'static str] {
        match self {
            ObjectType::Contacts => &[
                "createdate",
                "email",
                "firstname",
                "hs_object_id",
                "lastmodifieddate",
                "lastname",
            ],
            ObjectType::Companies => &[
                "createdate",
                "domain",
                "hs_lastmodifieddate",
                "hs_object_id",
                "name",
            ],
            ObjectType::Deals => &[
                "amount",
                "closedate",
                "createdate",
                "dealname",
                "dealstage",
                "hs_lastmodifieddate",
                "hs_object_id",
                "pipeline",
            ],
        }
    }

    /// Properties whose value HubSpot sets itself: `hs_object_id`, `createdate`
    /// and the last-modified date.
    pub fn is_system(self, name: &str) -> bool {
        name == "hs_object_id" || name == "createdate" || name == self.modified_property()
    }
}

/// Property `type` values (Properties: "type" — string, number, date,
/// datetime, enumeration, bool; phone_number is a string with phone formatting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropType {
    String,
    Number,
    Date,
    Datetime,
    Enumeration,
    Bool,
    PhoneNumber,
}

impl PropType {
    pub fn parse(s: &str) -> Option<PropType> {
        Some(match s {
            "string" => PropType::String,
            "number" => PropType::Number,
            "date" => PropType::Date,
            "datetime" => PropType::Datetime,
            "enumeration" => PropType::Enumeration,
            "bool" => PropType::Bool,
            "phone_number" => PropType::PhoneNumber,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            PropType::String => "string",
            PropType::Number => "number",
            PropType::Date => "date",
            PropType::Datetime => "datetime",
            PropType::Enumeration => "enumeration",
            PropType::Bool => "bool",
            PropType::PhoneNumber => "phone_number",
        }
    }
}

/// One property definition of an object type.
#[derive(Debug, Clone)]
pub(crate) struct PropertyDef {
    pub name: String,
    pub label: String,
    pub kind: PropType,
    /// `text`, `textarea`, `number`, `date`, `select`, `radio`, `checkbox`
    /// (an enumeration with several values), `booleancheckbox`, `phonenumber`
    pub field_type: String,
    /// option values (labels are derived)
    pub options: Vec<String>,
    /// `modificationMetadata.readOnlyValue`
    pub read_only: bool,
    pub calculated: bool,
    pub hubspot_defined: bool,
    pub group: String,
    pub created: DateTime<Utc>,
}

impl PropertyDef {
    pub fn new(name: &str, kind: PropType, field_type: &str, created: DateTime<Utc>) -> Self {
        PropertyDef {
            name: name.into(),
            label: label_of(name),
            kind,
            field_type: field_type.into(),
            options: Vec::new(),
            read_only: false,
            calculated: false,
            hubspot_defined: false,
            group: "simulated".into(),
            created,
        }
    }

    /// The property object of `GET /crm/v3/properties/{objectType}` (Properties:
    /// "Retrieve all properties").
    pub fn to_json(&self) -> Value {
        let options: Vec<Value> = self
            .options
            .iter()
            .enumerate()
            .map(|(i, v)| {
                json!({"label": label_of(v), "value": v, "displayOrder": i, "hidden": false})
            })
            .collect();
        let at = iso(self.created);
        json!({
            "name": self.name,
            "label": self.label,
            "type": self.kind.name(),
            "fieldType": self.field_type,
            "description": "",
            "groupName": self.group,
            "options": options,
            "displayOrder": -1,
            "calculated": self.calculated,
            "externalOptions": false,
            "hasUniqueValue": false,
            "hidden": false,
            "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {
                "archivable": !self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
            "formField": !self.read_only,
            "createdAt": at,
            "updatedAt": at,
            "archived": false,
        })
    }
}

fn label_of(name: &str) -> String {
    let mut out = String::new();
    for (i, word) in name.split(['_', ' ']).filter(|w| !w.is_empty()).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let mut chars = word.chars();
        if let Some(c) = chars.next() {
            out.extend(c.to_uppercase());
            out.push_str(&chars.as_str().to_lowercase());
        }
    }
    out
}

/// The standard properties of `ty`, a small but representative subset of a
/// new portal's: the system ones (read-only), text, numbers, booleans,
/// dates, single- and multi-valued enumerations.
pub(crate) fn standard_properties(ty: ObjectType, at: DateTime<Utc>) -> Vec<PropertyDef> {
    let sys = |name: &str, kind: PropType, field: &str| {
        let mut p = PropertyDef::new(name, kind, field, at);
        p.read_only = true;
        p.hubspot_defined = true;
        p.group = format!("{}information", &ty.upper().to_lowercase());
        p
    };
    let std = |name: &str, kind: PropType, field: &str, options: &[&str]| {
        let mut p = PropertyDef::new(name, kind, field, at);
        p.hubspot_defined = true;
        p.group = format!("{}information", &ty.upper().to_lowercase());
        p.options = options.iter().map(|o| o.to_string()).collect();
        p
    };
    // "Merged [record] IDs" (`merge.rs`): set by HubSpot, `;`-separated.
    let mut merged = sys("hs_merged_object_ids", PropType::Enumeration, "checkbox");
    merged.calculated = true;
    let mut out = vec![
        sys("hs_object_id", PropType::Number, "number"),
        sys("createdate", PropType::Datetime, "date"),
        sys(ty.modified_property(), PropType::Datetime, "date"),
        merged,
    ];
    match ty {
        ObjectType::Contacts => out.extend([
            std("email", PropType::String, "text", &[]),
            std("firstname", PropType::String, "text", &[]),
            std("lastname", PropType::String, "text", &[]),
            std("phone", PropType::PhoneNumber, "phonenumber", &[]),
            std("company", PropType::String, "text", &[]),
            std("website", PropType::String, "text", &[]),
            std(
                "lifecyclestage",
                PropType::Enumeration,
                "radio",
                &[
                    "subscriber",
                    "lead",
                    "marketingqualifiedlead",
                    "salesqualifiedlead",
                    "opportunity",
                    "customer",
                    "evangelist",
                    "other",
                ],
            ),
            std(
                "hs_lead_status",
                PropType::Enumeration,
                "select",
                &[
                    "NEW",
                    "OPEN",
                    "IN_PROGRESS",
                    "OPEN_DEAL",
                    "UNQUALIFIED",
                    "ATTEMPTED_TO_CONTACT",
                    "CONNECTED",
                    "BAD_TIMING",
                ],
            ),
            std(
                "hs_buying_role",
                PropType::Enumeration,
                "checkbox",
                &[
                    "BUDGET_HOLDER",
                    "CHAMPION",
                    "DECISION_MAKER",
                    "END_USER",
                    "EXECUTIVE_SPONSOR",
                    "INFLUENCER",
                ],
            ),
        ]),
        ObjectType::Companies => out.extend([
            std("name", PropType::String, "text", &[]),
            std("domain", PropType::String, "text", &[]),
            std("phone", PropType::PhoneNumber, "phonenumber", &[]),
            std("city", PropType::String, "text", &[]),
            std("country", PropType::String, "text", &[]),
            std(
                "industry",
                PropType::Enumeration,
                "select",
                &[
                    "COMPUTER_SOFTWARE",
                    "FINANCIAL_SERVICES",
                    "HOSPITAL_HEALTH_CARE",
                    "RETAIL",
                    "EDUCATION_MANAGEMENT",
                ],
            ),
            std("numberofemployees", PropType::Number, "number", &[]),
            std("annualrevenue", PropType::Number, "number", &[]),
            std(
                "is_public",
                PropType::Bool,
                "booleancheckbox",
                &["true", "false"],
            ),
            std("description", PropType::String, "textarea", &[]),
        ]),
        ObjectType::Deals => out.extend([
            std("dealname", PropType::String, "text", &[]),
            std("amount", PropType::Number, "number", &[]),
            std(
                "dealstage",
                PropType::Enumeration,
                "radio",
                &[
                    "appointmentscheduled",
                    "qualifiedtobuy",
                    "presentationscheduled",
                    "decisionmakerboughtin",
                    "contractsent",
                    "closedwon",
                    "closedlost",
                ],
            ),
            std("pipeline", PropType::Enumeration, "select", &["default"]),
            std("closedate", PropType::Datetime, "date", &[]),
            std(
                "dealtype",
                PropType::Enumeration,
                "radio",
                &["newbusiness", "existingbusiness"],
            ),
            std("description", PropType::String, "textarea", &[]),
        ]),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_types_by_name_or_id() {
        assert_eq!(ObjectType::parse("0-1"), Some(ObjectType::Contacts));
        assert_eq!(ObjectType::parse("Deals"), Some(ObjectType::Deals));
        assert_eq!(ObjectType::parse("tickets"), None);
        assert_eq!(ObjectType::Contacts.modified_property(), "lastmodifieddate");
        assert_eq!(
            ObjectType::Companies.modified_property(),
            "hs_lastmodifieddate"
        );
    }
}

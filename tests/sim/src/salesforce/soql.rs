//! A small SOQL: `SELECT field, ... FROM sObject [WHERE cond AND ...]
//! [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]`,
//! where a condition compares a field with a literal (`=`, `!=`, `<>`, `<`,
//! `<=`, `>`, `>=`). Keywords, field and object names are case-insensitive.
//! What is outside this subset (OR, IN, LIKE, functions, relationships) is
//! refused as MALFORMED_QUERY rather than answered wrongly.
//!
//! References: "SOQL SELECT Syntax", "Comparison Operators", "Date Formats
//! and Date Literals in WHERE" (the dateTime formats `YYYY-MM-DDThh:mm:ssZ`
//! and `YYYY-MM-DDThh:mm:ss±hh:mm`, not quoted), "ORDER BY" ("The default is
//! ascending order"; "NULLS FIRST … is the default" for ascending order) in
//! the SOQL and SOSL Reference.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

use super::model::{ApiError, FieldDef, Kind, ObjectDef};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Num(String),
    Str(String),
    Op(&'static str),
    Comma,
    LParen,
    RParen,
}

/// A literal of a condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Null,
    Bool(bool),
    Number(f64),
    Text(String),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cond {
    pub field: &'static str,
    pub op: &'static str,
    pub value: Literal,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OrderBy {
    pub field: &'static str,
    pub desc: bool,
    pub nulls_last: bool,
}

/// A parsed query, its names resolved against the object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Query {
    pub object: &'static str,
    pub fields: Vec<&'static str>,
    pub conds: Vec<Cond>,
    pub order: Vec<OrderBy>,
    pub limit: Option<usize>,
    pub offset: usize,
}

/// Parses `soql` against the objects the org has.
pub(crate) fn parse(soql: &str, objects: &[ObjectDef]) -> Result<Query, ApiError> {
    let toks = tokenize(soql)?;
    Parser {
        soql,
        toks,
        pos: 0,
        objects,
    }
    .query()
}

struct Parser<'a> {
    soql: &'a str,
    toks: Vec<(Tok, usize)>,
    pos: usize,
    objects: &'a [ObjectDef],
}

/// The API's message for a query error: the query, a caret under the
/// offending token, its position, and the reason (as MALFORMED_QUERY and
/// INVALID_FIELD responses show it).
fn located(soql: &str, at: usize, code: &'static str, why: &str) -> ApiError {
    let col = soql[..at.min(soql.len())].chars().count();
    let caret = format!("{}^", " ".repeat(col));
    ApiError::bad(
        code,
        format!(
            "\n{soql}\n{caret}\nERROR at Row:1:Column:{}\n{why}",
            col + 1
        ),
    )
}

fn tokenize(soql: &str) -> Result<Vec<(Tok, usize)>, ApiError> {
    let b = soql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let tok = match c {
            b',' => {
                i += 1;
                Tok::Comma
            }
            b'(' => {
                i += 1;
                Tok::LParen
            }
            b')' => {
                i += 1;
                Tok::RParen
            }
            b'=' => {
                i += 1;
                Tok::Op("=")
            }
            b'!' | b'<' | b'>' => {
                let two = soql.get(i..i + 2).unwrap_or("");
                let op = match two {
                    "!=" => "!=",
                    "<>" => "!=",
                    "<=" => "<=",
                    ">=" => ">=",
                    _ if c == b'<' => "<",
                    _ if c == b'>' => ">",
                    _ => return Err(located(soql, i, "MALFORMED_QUERY", "unexpected token: '!'")),
                };
                i += if op.len() == 2 || two == "<>" { 2 } else { 1 };
                Tok::Op(op)
            }
            // String literals are single-quoted; a backslash escapes.
            b'\'' => {
                i += 1;
                let mut s = String::new();
                loop {
                    match b.get(i) {
                        None => {
                            return Err(located(
                                soql,
                                start,
                                "MALFORMED_QUERY",
                                "unterminated string literal",
                            ))
                        }
                        Some(b'\\') if i + 1 < b.len() => {
                            s.push(b[i + 1] as char);
                            i += 2;
                        }
                        Some(b'\'') => {
                            i += 1;
                            break;
                        }
                        Some(_) => {
                            let ch = soql[i..].chars().next().expect("in bounds");
                            s.push(ch);
                            i += ch.len_utf8();
                        }
                    }
                }
                Tok::Str(s)
            }
            // Numbers and unquoted date and dateTime literals.
            b'0'..=b'9' | b'-' => {
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b":.+-".contains(&b[i])) {
                    i += 1;
                }
                Tok::Num(soql[start..i].to_string())
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.')
                {
                    i += 1;
                }
                Tok::Word(soql[start..i].to_string())
            }
            _ => {
                let ch = soql[i..].chars().next().expect("in bounds");
                return Err(located(
                    soql,
                    i,
                    "MALFORMED_QUERY",
                    &format!("unexpected token: '{ch}'"),
                ));
            }
        };
        out.push((tok, start));
    }
    Ok(out)
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }

    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(self.soql.len(), |(_, p)| *p)
    }

    fn unexpected(&self) -> ApiError {
        let what = match self.toks.get(self.pos) {
            None => "<EOF>".to_string(),
            Some((_, p)) => {
                let rest = &self.soql[*p..];
                rest.split_whitespace()
                    .next()
                    .unwrap_or(rest)
                    .trim_end_matches(',')
                    .to_string()
            }
        };
        located(
            self.soql,
            self.at(),
            "MALFORMED_QUERY",
            &format!("unexpected token: {what}"),
        )
    }

    fn keyword(&mut self, kw: &str) -> bool {
        match self.peek() {
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    fn expect(&mut self, kw: &str) -> Result<(), ApiError> {
        if self.keyword(kw) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn word(&mut self) -> Result<(String, usize), ApiError> {
        match self.toks.get(self.pos) {
            Some((Tok::Word(w), p)) if !is_reserved(w) => {
                self.pos += 1;
                Ok((w.clone(), *p))
            }
            _ => Err(self.unexpected()),
        }
    }

    fn query(mut self) -> Result<Query, ApiError> {
        self.expect("SELECT")?;
        let mut names = vec![self.word()?];
        while self.peek() == Some(&Tok::Comma) {
            self.pos += 1;
            names.push(self.word()?);
        }
        self.expect("FROM")?;
        let (object_name, object_at) = self.word()?;
        let obj = self
            .objects
            .iter()
            .find(|o| o.name.eq_ignore_ascii_case(&object_name))
            .ok_or_else(|| {
                located(
                    self.soql,
                    object_at,
                    "INVALID_TYPE",
                    &format!("sObject type '{object_name}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names."),
                )
            })?;
        let mut fields = Vec::new();
        for (name, at) in &names {
            let f = self.field(obj, name, *at)?;
            if fields.contains(&f.name) {
                return Err(located(
                    self.soql,
                    *at,
                    "MALFORMED_QUERY",
                    &format!("duplicate field selected: {}", f.name),
                ));
            }
            fields.push(f.name);
        }
        let mut q = Query {
            object: obj.name,
            fields,
            conds: Vec::new(),
            order: Vec::new(),
            limit: None,
            offset: 0,
        };
        if self.keyword("WHERE") {
            q.conds.push(self.cond(obj)?);
            while self.keyword("AND") {
                q.conds.push(self.cond(obj)?);
            }
        }
        if self.keyword("ORDER") {
            self.expect("BY")?;
            loop {
                let (name, at) = self.word()?;
                let field = self.field(obj, &name, at)?.name;
                let desc = if self.keyword("DESC") {
                    true
                } else {
                    self.keyword("ASC");
                    false
                };
                // Nulls come first in ascending order and last in descending order.
                let mut nulls_last = desc;
                if self.keyword("NULLS") {
                    nulls_last = if self.keyword("LAST") {
                        true
                    } else {
                        self.expect("FIRST")?;
                        false
                    };
                }
                q.order.push(OrderBy {
                    field,
                    desc,
                    nulls_last,
                });
                if self.peek() != Some(&Tok::Comma) {
                    break;
                }
                self.pos += 1;
            }
        }
        if self.keyword("LIMIT") {
            q.limit = Some(self.count()?);
        }
        if self.keyword("OFFSET") {
            q.offset = self.count()?;
        }
        if self.pos < self.toks.len() {
            return Err(self.unexpected());
        }
        Ok(q)
    }

    fn count(&mut self) -> Result<usize, ApiError> {
        match self.peek() {
            Some(Tok::Num(n)) => {
                let v = n.parse().map_err(|_| self.unexpected())?;
                self.pos += 1;
                Ok(v)
            }
            _ => Err(self.unexpected()),
        }
    }

    fn field(&self, obj: &'a ObjectDef, name: &str, at: usize) -> Result<&'a FieldDef, ApiError> {
        obj.field(name).ok_or_else(|| {
            located(
                self.soql,
                at,
                "INVALID_FIELD",
                &format!("No such column '{name}' on entity '{}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", obj.name),
            )
        })
    }

    fn cond(&mut self, obj: &'a ObjectDef) -> Result<Cond, ApiError> {
        let (name, at) = self.word()?;
        let field = self.field(obj, &name, at)?;
        let op = match self.peek() {
            Some(Tok::Op(op)) => *op,
            _ => return Err(self.unexpected()),
        };
        self.pos += 1;
        let value_at = self.at();
        let value = match self.toks.get(self.pos).map(|(t, _)| t.clone()) {
            Some(Tok::Str(s)) => Literal::Text(s),
            Some(Tok::Num(n)) => literal_number(&n).ok_or_else(|| self.unexpected())?,
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("null") => Literal::Null,
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
            _ => return Err(self.unexpected()),
        };
        self.pos += 1;
        if let Some(expected) = mismatch(field, &value) {
            return Err(located(
                self.soql,
                value_at,
                "INVALID_FIELD",
                &format!("value of filter criterion for field '{}' must be of type {expected} and should not be enclosed in quotes", field.name),
            ));
        }
        let ordered = !matches!(op, "=" | "!=");
        if ordered && matches!(value, Literal::Null | Literal::Bool(_)) {
            return Err(located(
                self.soql,
                value_at,
                "MALFORMED_QUERY",
                &format!("invalid operator on {}", field.name),
            ));
        }
        Ok(Cond {
            field: field.name,
            op,
            value,
        })
    }
}

fn is_reserved(w: &str) -> bool {
    [
        "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "ORDER", "BY", "LIMIT", "OFFSET", "NULLS",
        "ASC", "DESC",
    ]
    .iter()
    .any(|k| k.eq_ignore_ascii_case(w))
}

/// A number, a date (`YYYY-MM-DD`) or a dateTime in one of the three formats
/// the reference lists; a dateTime with fractional seconds is not one of them.
fn literal_number(s: &str) -> Option<Literal> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if s.len() == 10 {
            return Some(Literal::Date(d));
        }
    }
    if s.len() == 20 && s.ends_with('Z') || s.len() == 25 {
        let with_zone = if s.ends_with('Z') {
            format!("{}+00:00", &s[..19])
        } else {
            s.to_string()
        };
        if let Ok(t) = DateTime::<FixedOffset>::parse_from_str(&with_zone, "%Y-%m-%dT%H:%M:%S%:z") {
            return Some(Literal::DateTime(t.with_timezone(&Utc)));
        }
    }
    s.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .map(Literal::Number)
}

/// The type a field's literal must have, when `value` is not of it.
fn mismatch(f: &FieldDef, value: &Literal) -> Option<&'static str> {
    let ok = match (f.kind, value) {
        (_, Literal::Null) => true,
        (Kind::Datetime, Literal::DateTime(_)) => true,
        (Kind::Date, Literal::Date(_)) => true,
        (Kind::Boolean, Literal::Bool(_)) => true,
        (Kind::Double | Kind::Int | Kind::Currency, Literal::Number(_)) => true,
        (
            Kind::Datetime | Kind::Date | Kind::Boolean | Kind::Double | Kind::Int | Kind::Currency,
            _,
        ) => false,
        (_, Literal::Text(_)) => true,
        _ => false,
    };
    if ok {
        return None;
    }
    Some(match f.kind {
        Kind::Datetime => "dateTime",
        Kind::Date => "date",
        Kind::Boolean => "boolean",
        Kind::Double | Kind::Int | Kind::Currency => "number",
        _ => "string",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salesforce::model::standard_objects;

    fn q(s: &str) -> Result<Query, ApiError> {
        parse(s, &standard_objects())
    }

    #[test]
    fn parses_the_incremental_query() {
        let query = q("select id, LASTNAME, SystemModstamp from contact where SystemModstamp >= 2024-01-01T00:00:00Z and Score__c > 1.5 order by SystemModstamp, Id desc limit 10 offset 5").unwrap();
        assert_eq!(query.object, "Contact");
        assert_eq!(query.fields, ["Id", "LastName", "SystemModstamp"]);
        assert_eq!(query.conds.len(), 2);
        assert_eq!(query.conds[0].op, ">=");
        assert_eq!(
            query.conds[0].value,
            Literal::DateTime("2024-01-01T00:00:00Z".parse().unwrap())
        );
        assert_eq!(query.order.len(), 2);
        assert!(!query.order[0].desc && query.order[1].desc);
        assert_eq!((query.limit, query.offset), (Some(10), 5));
        let offset =
            q("SELECT Id FROM Contact WHERE SystemModstamp < 2024-01-01T01:00:00+01:00").unwrap();
        assert_eq!(
            offset.conds[0].value,
            Literal::DateTime("2024-01-01T00:00:00Z".parse().unwrap())
        );
    }

    #[test]
    fn errors_name_the_code_and_point_at_the_token() {
        let e = q("SELECT Id FROM Contact WHERE").unwrap_err();
        assert_eq!((e.status, e.code), (400, "MALFORMED_QUERY"));
        assert!(
            e.message
                .ends_with("ERROR at Row:1:Column:29\nunexpected token: <EOF>"),
            "{}",
            e.message
        );
        let e = q("SELECT Id, Foo FROM Contact").unwrap_err();
        assert_eq!(e.code, "INVALID_FIELD");
        assert!(e
            .message
            .contains("No such column 'Foo' on entity 'Contact'"));
        assert!(e.message.contains("Column:12"));
        assert_eq!(q("SELECT Id FROM Nope").unwrap_err().code, "INVALID_TYPE");
        // Quoted, fractional or offset-less dateTimes are not dateTime literals.
        for bad in [
            "'2024-01-01T00:00:00Z'",
            "2024-01-01T00:00:00.000Z",
            "2024-01-01T00:00:00",
        ] {
            let e = q(&format!(
                "SELECT Id FROM Contact WHERE SystemModstamp > {bad}"
            ))
            .unwrap_err();
            assert!(
                matches!(e.code, "INVALID_FIELD" | "MALFORMED_QUERY"),
                "{bad}: {}",
                e.message
            );
        }
        assert_eq!(
            q("SELECT Id FROM Contact WHERE LastName = 'a' OR LastName = 'b'")
                .unwrap_err()
                .code,
            "MALFORMED_QUERY"
        );
        assert_eq!(
            q("SELECT Id, id FROM Contact").unwrap_err().code,
            "MALFORMED_QUERY"
        );
    }
}

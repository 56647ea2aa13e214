//! `filterByFormula`: a small evaluator of Airtable's formula language.
//!
//! List records (https://airtable.com/developers/web/api/list-records),
//! filterByFormula: "The formula will be evaluated for each record, and if the
//! result is not 0, false, "", NaN, [], or #Error! the record will be included".
//! Functions follow the "Formula field reference"
//! (https://support.airtable.com/docs/formula-field-reference): logical
//! (AND, OR, NOT, IF, TRUE, FALSE, BLANK), date (IS_AFTER, IS_BEFORE, IS_SAME,
//! DATETIME_PARSE, LAST_MODIFIED_TIME, CREATED_TIME), record (RECORD_ID), text
//! (LEN, LOWER, UPPER) and the operators = != < > <= >= & + - * /.

use super::store::{parse_datetime, ApiError, Record, Table};
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use std::cmp::Ordering;

#[derive(Debug)]
pub(crate) enum Expr {
    Num(f64),
    /// A text literal, with its date reading computed once.
    Str(String, Option<DateTime<Utc>>),
    Field(usize),
    Call(Func, Vec<Expr>),
    Bin(Op, Box<Expr>, Box<Expr>),
    Neg(Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Cat,
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Func {
    And,
    Or,
    Not,
    True,
    False,
    If,
    Blank,
    LastModifiedTime,
    CreatedTime,
    RecordId,
    IsAfter,
    IsBefore,
    IsSame,
    DatetimeParse,
    Len,
    Lower,
    Upper,
}

/// (function, min args, max args)
fn lookup(name: &str) -> Option<(Func, usize, usize)> {
    use Func::*;
    Some(match name.to_ascii_uppercase().as_str() {
        "AND" => (And, 1, usize::MAX),
        "OR" => (Or, 1, usize::MAX),
        "NOT" => (Not, 1, 1),
        "TRUE" => (True, 0, 0),
        "FALSE" => (False, 0, 0),
        "IF" => (If, 2, 3),
        "BLANK" => (Blank, 0, 0),
        "LAST_MODIFIED_TIME" => (LastModifiedTime, 0, usize::MAX),
        "CREATED_TIME" => (CreatedTime, 0, 0),
        "RECORD_ID" => (RecordId, 0, 0),
        "IS_AFTER" => (IsAfter, 2, 2),
        "IS_BEFORE" => (IsBefore, 2, 2),
        "IS_SAME" => (IsSame, 2, 3),
        "DATETIME_PARSE" => (DatetimeParse, 1, 3),
        "LEN" => (Len, 1, 1),
        "LOWER" => (Lower, 1, 1),
        "UPPER" => (Upper, 1, 1),
        _ => return None,
    })
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    Field(String),
    Ident(String),
    LParen,
    RParen,
    Comma,
    Op(Op),
}

/// "The formula for filtering records is invalid: ..." (INVALID_FILTER_BY_FORMULA).
fn invalid(detail: &str) -> ApiError {
    let msg = format!("The formula for filtering records is invalid: {detail}");
    ApiError::new(422, "INVALID_FILTER_BY_FORMULA", msg)
}

fn syntax() -> ApiError {
    invalid("Invalid formula. Please check your formula text.")
}

fn lex(src: &str) -> Result<Vec<Tok>, ApiError> {
    let cs: Vec<char> = src.chars().collect();
    let (mut i, mut out) = (0, vec![]);
    while i < cs.len() {
        let c = cs[i];
        i += 1;
        let tok = match c {
            c if c.is_whitespace() => continue,
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            ',' => Tok::Comma,
            '{' => {
                let start = i;
                while i < cs.len() && cs[i] != '}' {
                    i += 1;
                }
                if i == cs.len() {
                    return Err(syntax());
                }
                i += 1;
                Tok::Field(cs[start..i - 1].iter().collect())
            }
            '\'' | '"' => {
                let mut s = String::new();
                loop {
                    let Some(&d) = cs.get(i) else {
                        return Err(syntax());
                    };
                    i += 1;
                    match d {
                        '\\' => {
                            let e = *cs.get(i).ok_or_else(syntax)?;
                            i += 1;
                            s.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                e => e,
                            });
                        }
                        d if d == c => break,
                        d => s.push(d),
                    }
                }
                Tok::Str(s)
            }
            c if c.is_ascii_digit()
                || (c == '.' && cs.get(i).is_some_and(|d| d.is_ascii_digit())) =>
            {
                let start = i - 1;
                while i < cs.len() && (cs[i].is_ascii_digit() || cs[i] == '.') {
                    i += 1;
                }
                let s: String = cs[start..i].iter().collect();
                Tok::Num(s.parse().map_err(|_| syntax())?)
            }
            '=' => Tok::Op(Op::Eq),
            '!' if cs.get(i) == Some(&'=') => {
                i += 1;
                Tok::Op(Op::Ne)
            }
            '<' | '>' => {
                let next = cs.get(i).copied();
                let op = match (c, next) {
                    ('<', Some('=')) => Op::Le,
                    ('>', Some('=')) => Op::Ge,
                    ('<', Some('>')) => Op::Ne,
                    ('<', _) => Op::Lt,
                    _ => Op::Gt,
                };
                if matches!(op, Op::Le | Op::Ge | Op::Ne) {
                    i += 1;
                }
                Tok::Op(op)
            }
            '&' => Tok::Op(Op::Cat),
            '+' => Tok::Op(Op::Add),
            '-' => Tok::Op(Op::Sub),
            '*' => Tok::Op(Op::Mul),
            '/' => Tok::Op(Op::Div),
            c if c.is_alphabetic() || c == '_' => {
                let start = i - 1;
                while i < cs.len() && (cs[i].is_alphanumeric() || cs[i] == '_') {
                    i += 1;
                }
                Tok::Ident(cs[start..i].iter().collect())
            }
            _ => return Err(syntax()),
        };
        out.push(tok);
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    table: &'a Table,
    unknown_fields: Vec<String>,
    unknown_funcs: Vec<String>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        self.pos += 1;
        self.toks.get(self.pos - 1).cloned()
    }
    fn binary(&mut self, level: usize) -> Result<Expr, ApiError> {
        const LEVELS: &[&[Op]] = &[
            &[Op::Eq, Op::Ne, Op::Lt, Op::Gt, Op::Le, Op::Ge],
            &[Op::Cat],
            &[Op::Add, Op::Sub],
            &[Op::Mul, Op::Div],
        ];
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut lhs = self.binary(level + 1)?;
        while let Some(Tok::Op(op)) = self.peek().cloned() {
            if !LEVELS[level].contains(&op) {
                break;
            }
            self.pos += 1;
            let rhs = self.binary(level + 1)?;
            lhs = Expr::Bin(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }
    fn unary(&mut self) -> Result<Expr, ApiError> {
        if self.peek() == Some(&Tok::Op(Op::Sub)) {
            self.pos += 1;
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        self.primary()
    }
    fn field(&mut self, name: String) -> Expr {
        match self.table.field_index(&name) {
            Some(i) => Expr::Field(i),
            None => {
                self.unknown_fields.push(name);
                Expr::Num(0.0)
            }
        }
    }
    fn primary(&mut self) -> Result<Expr, ApiError> {
        match self.next().ok_or_else(syntax)? {
            Tok::Num(n) => Ok(Expr::Num(n)),
            Tok::Str(s) => {
                let d = parse_datetime(&s);
                Ok(Expr::Str(s, d))
            }
            Tok::Field(name) => Ok(self.field(name)),
            Tok::LParen => {
                let e = self.binary(0)?;
                match self.next() {
                    Some(Tok::RParen) => Ok(e),
                    _ => Err(syntax()),
                }
            }
            Tok::Ident(name) if self.peek() == Some(&Tok::LParen) => {
                self.pos += 1;
                let mut args = vec![];
                if self.peek() == Some(&Tok::RParen) {
                    self.pos += 1;
                } else {
                    loop {
                        args.push(self.binary(0)?);
                        match self.next() {
                            Some(Tok::Comma) => continue,
                            Some(Tok::RParen) => break,
                            _ => return Err(syntax()),
                        }
                    }
                }
                match lookup(&name) {
                    Some((f, min, max)) if (min..=max).contains(&args.len()) => {
                        Ok(Expr::Call(f, args))
                    }
                    Some(_) => Err(syntax()),
                    None => {
                        self.unknown_funcs.push(name);
                        Ok(Expr::Num(0.0))
                    }
                }
            }
            // A bare word is a field name without braces.
            Tok::Ident(name) => Ok(self.field(name)),
            _ => Err(syntax()),
        }
    }
}

/// Parses `src` against the table's fields.
pub(crate) fn compile(src: &str, table: &Table) -> Result<Expr, ApiError> {
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        table,
        unknown_fields: vec![],
        unknown_funcs: vec![],
    };
    let e = p.binary(0)?;
    if p.pos != p.toks.len() {
        return Err(syntax());
    }
    if !p.unknown_fields.is_empty() {
        return Err(invalid(&format!(
            "Unknown field names: {}",
            p.unknown_fields.join(", ")
        )));
    }
    if !p.unknown_funcs.is_empty() {
        return Err(invalid(&format!(
            "Unknown function names: {}",
            p.unknown_funcs.join(", ")
        )));
    }
    Ok(e)
}

#[derive(Debug, Clone)]
pub(crate) enum V {
    Blank,
    Num(f64),
    Str(String),
    Bool(bool),
    Date(DateTime<Utc>),
    Err,
}

pub(crate) fn truthy(v: &V) -> bool {
    match v {
        V::Blank | V::Err => false,
        V::Num(n) => *n != 0.0 && !n.is_nan(),
        V::Str(s) => !s.is_empty(),
        V::Bool(b) => *b,
        V::Date(_) => true,
    }
}

fn to_date(v: &V) -> Option<DateTime<Utc>> {
    match v {
        V::Date(d) => Some(*d),
        V::Str(s) => parse_datetime(s),
        _ => None,
    }
}

fn to_num(v: &V) -> Option<f64> {
    match v {
        V::Blank => Some(0.0),
        V::Num(n) => Some(*n),
        V::Bool(b) => Some(*b as u8 as f64),
        V::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn to_text(v: &V) -> String {
    match v {
        V::Blank | V::Err => String::new(),
        V::Num(n) => n.to_string(),
        V::Str(s) => s.clone(),
        V::Bool(b) => (*b as u8).to_string(),
        V::Date(d) => super::store::fmt_ts(*d),
    }
}

fn compare(a: &V, b: &V) -> Option<Ordering> {
    match (a, b) {
        (V::Err, _) | (_, V::Err) => None,
        (V::Date(x), y) | (y, V::Date(x)) if !matches!(y, V::Date(_)) => {
            // Text that is not a date compares as text (e.g. `{Due} != ''`).
            let Some(y) = to_date(y) else {
                return Some(to_text(a).cmp(&to_text(b)));
            };
            let o = x.cmp(&y);
            Some(if matches!(a, V::Date(_)) {
                o
            } else {
                o.reverse()
            })
        }
        (V::Date(x), V::Date(y)) => Some(x.cmp(y)),
        (V::Str(x), V::Str(y)) => Some(x.cmp(y)),
        (V::Blank, V::Str(s)) => Some("".cmp(s.as_str())),
        (V::Str(s), V::Blank) => Some(s.as_str().cmp("")),
        _ => match (to_num(a), to_num(b)) {
            (Some(x), Some(y)) => x.partial_cmp(&y),
            _ => Some(to_text(a).cmp(&to_text(b))),
        },
    }
}

/// Truncates a date to `unit` for IS_SAME (units of the formula reference).
fn trunc(d: DateTime<Utc>, unit: &str) -> Option<DateTime<Utc>> {
    let n = d.naive_utc();
    let day = |n: chrono::NaiveDate| n.and_hms_opt(0, 0, 0);
    let r = match unit.to_ascii_lowercase().trim_end_matches('s') {
        "millisecond" | "m" => n.with_nanosecond(n.nanosecond() / 1_000_000 * 1_000_000)?,
        "second" => n.with_nanosecond(0)?,
        "minute" => n.with_nanosecond(0)?.with_second(0)?,
        "hour" => n.with_nanosecond(0)?.with_second(0)?.with_minute(0)?,
        "day" => day(n.date())?,
        "week" => day(n.date() - Duration::days(n.weekday().num_days_from_sunday() as i64))?,
        "month" => day(n.date().with_day(1)?)?,
        "quarter" => day(n
            .date()
            .with_day(1)?
            .with_month((n.month() - 1) / 3 * 3 + 1)?)?,
        "year" => day(n.date().with_ordinal(1)?)?,
        _ => return None,
    };
    Some(r.and_utc())
}

fn field_value(table: &Table, rec: &Record, i: usize) -> V {
    let f = &table.fields[i];
    match f.typ.as_str() {
        "lastModifiedTime" => return V::Date(rec.modified),
        "createdTime" => return V::Date(rec.created),
        "checkbox" => return V::Bool(rec.values.contains_key(&f.id)),
        _ => {}
    }
    let Some(v) = rec.values.get(&f.id) else {
        return V::Blank;
    };
    match (f.typ.as_str(), v) {
        ("number", v) => V::Num(v.as_f64().unwrap_or(0.0)),
        ("date" | "dateTime", serde_json::Value::String(s)) => {
            parse_datetime(s).map(V::Date).unwrap_or(V::Err)
        }
        (_, serde_json::Value::String(s)) => V::Str(s.clone()),
        (_, serde_json::Value::Array(a)) => V::Str(
            a.iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        _ => V::Err,
    }
}

pub(crate) fn eval(e: &Expr, table: &Table, rec: &Record) -> V {
    let ev = |e: &Expr| eval(e, table, rec);
    match e {
        Expr::Num(n) => V::Num(*n),
        Expr::Str(s, _) => V::Str(s.clone()),
        Expr::Field(i) => field_value(table, rec, *i),
        Expr::Neg(x) => to_num(&ev(x)).map(|n| V::Num(-n)).unwrap_or(V::Err),
        Expr::Bin(op, ea, eb) => {
            let (mut a, mut b) = (ev(ea), ev(eb));
            // A text literal compared with a date reads as a date (parsed once, at compile time).
            if let (V::Date(_), Expr::Str(_, Some(d))) = (&a, &**eb) {
                b = V::Date(*d);
            }
            if let (Expr::Str(_, Some(d)), V::Date(_)) = (&**ea, &b) {
                a = V::Date(*d);
            }
            let cmp = || compare(&a, &b);
            let arith = |f: fn(f64, f64) -> f64| match (to_num(&a), to_num(&b)) {
                (Some(x), Some(y)) => V::Num(f(x, y)),
                _ => V::Err,
            };
            match op {
                Op::Eq => cmp()
                    .map(|o| V::Bool(o == Ordering::Equal))
                    .unwrap_or(V::Err),
                Op::Ne => cmp()
                    .map(|o| V::Bool(o != Ordering::Equal))
                    .unwrap_or(V::Err),
                Op::Lt => cmp()
                    .map(|o| V::Bool(o == Ordering::Less))
                    .unwrap_or(V::Err),
                Op::Gt => cmp()
                    .map(|o| V::Bool(o == Ordering::Greater))
                    .unwrap_or(V::Err),
                Op::Le => cmp()
                    .map(|o| V::Bool(o != Ordering::Greater))
                    .unwrap_or(V::Err),
                Op::Ge => cmp()
                    .map(|o| V::Bool(o != Ordering::Less))
                    .unwrap_or(V::Err),
                Op::Cat => V::Str(to_text(&a) + &to_text(&b)),
                Op::Add => arith(|x, y| x + y),
                Op::Sub => arith(|x, y| x - y),
                Op::Mul => arith(|x, y| x * y),
                Op::Div => arith(|x, y| x / y),
            }
        }
        Expr::Call(f, args) => call(*f, args, table, rec),
    }
}

fn call(f: Func, args: &[Expr], table: &Table, rec: &Record) -> V {
    let ev = |i: usize| eval(&args[i], table, rec);
    let lit_date = |i: usize| match &args[i] {
        Expr::Str(_, Some(d)) => Some(*d),
        _ => to_date(&ev(i)),
    };
    let dates = || Some((lit_date(0)?, lit_date(1)?));
    match f {
        Func::And => V::Bool(args.iter().all(|a| truthy(&eval(a, table, rec)))),
        Func::Or => V::Bool(args.iter().any(|a| truthy(&eval(a, table, rec)))),
        Func::Not => V::Bool(!truthy(&ev(0))),
        Func::True => V::Bool(true),
        Func::False => V::Bool(false),
        Func::Blank => V::Blank,
        Func::If => match (truthy(&ev(0)), args.len()) {
            (true, _) => ev(1),
            (false, 3) => ev(2),
            (false, _) => V::Blank,
        },
        // LAST_MODIFIED_TIME([{field1}, ...]): the record's (or those fields') last change.
        Func::LastModifiedTime if args.is_empty() => V::Date(rec.modified),
        Func::LastModifiedTime => {
            let ids = args.iter().filter_map(|a| match a {
                Expr::Field(i) => Some(&table.fields[*i].id),
                _ => None,
            });
            ids.filter_map(|id| rec.field_modified.get(id))
                .max()
                .map(|d| V::Date(*d))
                .unwrap_or(V::Blank)
        }
        Func::CreatedTime => V::Date(rec.created),
        Func::RecordId => V::Str(rec.id.clone()),
        Func::IsAfter => dates().map(|(a, b)| V::Bool(a > b)).unwrap_or(V::Err),
        Func::IsBefore => dates().map(|(a, b)| V::Bool(a < b)).unwrap_or(V::Err),
        Func::IsSame => {
            let unit = if args.len() == 3 {
                to_text(&ev(2))
            } else {
                "millisecond".into()
            };
            dates()
                .and_then(|(a, b)| Some(V::Bool(trunc(a, &unit)? == trunc(b, &unit)?)))
                .unwrap_or(V::Err)
        }
        Func::DatetimeParse => lit_date(0).map(V::Date).unwrap_or(V::Err),
        Func::Len => V::Num(to_text(&ev(0)).chars().count() as f64),
        Func::Lower => V::Str(to_text(&ev(0)).to_lowercase()),
        Func::Upper => V::Str(to_text(&ev(0)).to_uppercase()),
    }
}

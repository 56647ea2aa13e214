//! What is wrong with a job: each error names the field (a JSON path such as
//! `source.connection.settings`), the value found and what was expected.

use serde_json::Value;

/// A job that cannot be used. The CLI exits with code 2 on any of these, and
/// nothing has been read or written when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    #[error("cannot read job file {path}: {reason}")]
    Read { path: String, reason: String },

    #[error("job is not valid JSON: {reason} at line {line}, column {column}")]
    Syntax {
        line: usize,
        column: usize,
        reason: String,
    },

    /// `value` is the offending JSON, as text and truncated.
    #[error("job field `{field}`: got {value}, expected {expected}")]
    Invalid {
        field: String,
        value: String,
        expected: String,
    },

    /// A field the job format does not have; `expected` lists the ones it has.
    #[error("job field `{field}`: unknown field, expected {expected}")]
    Unknown { field: String, expected: String },

    /// `expected` says what to add, with an example.
    #[error("job field `{field}`: missing — {expected}")]
    Missing { field: String, expected: String },

    /// More than one of the above, in the order of the job's fields.
    #[error("{} problems with the job:\n{}", .0.len(), list(.0))]
    Several(Vec<JobError>),
}

fn list(errors: &[JobError]) -> String {
    errors
        .iter()
        .map(|e| format!("  - {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl JobError {
    /// The JSON path of the field at fault; `None` for unreadable or
    /// malformed input and for [`JobError::Several`].
    pub fn field(&self) -> Option<&str> {
        match self {
            JobError::Invalid { field, .. }
            | JobError::Unknown { field, .. }
            | JobError::Missing { field, .. } => Some(field),
            _ => None,
        }
    }

    /// Every single error, `Several` flattened.
    pub fn errors(&self) -> Vec<&JobError> {
        match self {
            JobError::Several(all) => all.iter().flat_map(|e| e.errors()).collect(),
            one => vec![one],
        }
    }

    /// One error as itself, more than one as `Several`; `None` for none.
    pub(crate) fn from_list(mut errors: Vec<JobError>) -> Option<JobError> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(JobError::Several(errors)),
        }
    }

    pub(crate) fn invalid(field: &str, value: &Value, expected: impl Into<String>) -> JobError {
        JobError::Invalid {
            field: field.to_string(),
            value: show(value),
            expected: expected.into(),
        }
    }

    pub(crate) fn missing(field: &str, expected: impl Into<String>) -> JobError {
        JobError::Missing {
            field: field.to_string(),
            expected: expected.into(),
        }
    }

    /// An unknown field, with the closest known name when there is one.
    pub(crate) fn unknown(field: &str, name: &str, known: &[String]) -> JobError {
        let names = known
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let expected = match closest(name, known) {
            Some(k) => format!("one of {names} (did you mean `{k}`?)"),
            None => format!("one of {names}"),
        };
        JobError::Unknown {
            field: field.to_string(),
            expected,
        }
    }
}

const SHOWN: usize = 80;

/// A value as compact JSON, cut at [`SHOWN`] characters.
pub(crate) fn show(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= SHOWN {
        return text;
    }
    let cut: String = text.chars().take(SHOWN).collect();
    format!("{cut}…")
}

/// The known name nearest to `name` (edit distance at most 2, or a case
/// difference), if any.
fn closest<'a>(name: &str, known: &'a [String]) -> Option<&'a str> {
    let name = name.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (distance(&name, &k.to_ascii_lowercase()), k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.as_str())
}

/// Edit distance counting a swap of two neighbours as one edit.
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for j in 0..=b.len() {
        d[0][j] = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_field_value_and_expectation() {
        let e = JobError::invalid(
            "mode",
            &Value::from("sideways"),
            "one of pull, push, bidirectional",
        );
        assert_eq!(
            e.to_string(),
            "job field `mode`: got \"sideways\", expected one of pull, push, bidirectional"
        );
        assert_eq!(e.field(), Some("mode"));
    }

    #[test]
    fn long_values_are_cut() {
        let e = JobError::invalid("sync_id", &Value::from("x".repeat(500)), "short");
        let JobError::Invalid { value, .. } = &e else {
            unreachable!()
        };
        assert!(value.chars().count() <= SHOWN + 1 && value.ends_with('…'));
    }

    #[test]
    fn unknown_suggests_the_nearest_name() {
        let known = vec!["schedule".to_string(), "source".to_string()];
        let e = JobError::unknown("sheduel", "sheduel", &known);
        assert!(e.to_string().contains("did you mean `schedule`?"), "{e}");
        let e = JobError::unknown("frequency", "frequency", &known);
        assert!(!e.to_string().contains("did you mean"), "{e}");
    }
}

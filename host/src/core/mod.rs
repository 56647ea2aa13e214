//! # The sync core
//!
//! Plain functions over plain data: values and records, delta detection,
//! schema mapping, conflict resolution and the plan of writes. No I/O here —
//! no wasmtime, no sled, no network — so every rule is testable with table
//! tests and property tests beside the code. `crate::sync` runs it.

pub mod mapping;
pub mod merge;
pub mod value;

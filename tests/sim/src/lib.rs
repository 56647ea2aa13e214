//! Simulators of the platforms synchost talks to, served on loopback.
//!
//! Each simulator behaves as the platform's public API documents it
//! (pagination, incremental filters, rate limits, tombstones, error bodies);
//! every behaviour cites the section of the documentation it follows. They
//! are a library, not test-only code, because `synchost demo` and
//! `synchost connector test --simulator` run them too.

pub mod airtable;
pub mod clock;
pub mod directus;
pub mod fault;
pub mod hubspot;
pub mod items;
pub mod notion;
mod parse;
pub mod salesforce;
pub mod server;

//! Host bindings, one module per released contract version.
//!
//! Each version's WIT is frozen under `wit/since_vX/`; a new version gets a
//! module of its own here and is converted to the newest at the boundary
//! (`adapt.rs`), so a connector built against an old contract keeps loading.

pub mod v0_1_0 {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.1.0",
        world: "synchost:connector/connector@0.1.0",
        imports: { default: async | trappable },
        exports: { default: async },
        additional_derives: [PartialEq],
    });
}

pub mod v0_2_0 {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.2.0",
        world: "synchost:connector/connector@0.2.0",
        imports: { default: async | trappable },
        exports: { default: async },
        additional_derives: [PartialEq],
    });
}

/// The contract versions this host can load, newest first.
pub const SUPPORTED_CONTRACTS: &[&str] = &["0.2.0", "0.1.0"];

/// The newest contract: the one the host's own types are, and the SDKs target.
pub const NEWEST: &str = "0.2.0";

/// The WIT package a connector's exports are named in.
pub const PACKAGE: &str = "synchost:connector";

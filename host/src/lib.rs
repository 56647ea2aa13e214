pub mod core;
pub mod cli;
pub mod dev;
pub mod runtime;

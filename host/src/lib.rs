pub mod cli;
pub mod core;
pub mod daemon;
pub mod dev;
pub mod job;
pub mod runtime;
pub mod state;
pub mod sync;

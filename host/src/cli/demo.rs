//! `synchost demo`: the platforms, the connectors and the sandbox, with no
//! account and nothing to install.

use std::process::ExitCode;

use clap::Args;

use crate::runtime::Runtime;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Records to seed on each platform
    #[arg(long, default_value_t = 250)]
    pub records: usize,
}

pub async fn run(_args: DemoArgs, _runtime: &Runtime) -> anyhow::Result<ExitCode> {
    anyhow::bail!("the demo is not built yet")
}

//! The `handoff` binary.

use clap::Parser;
use handoff_protocol::limits::DASHBOARD_TOKEN_TTL_SECS;
use handoff_server::config::{Cli, Command, Config};
use tracing_subscriber::EnvFilter;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(config) => {
            // Built by hand rather than by `#[tokio::main]`: the worker count is a setting.
            let mut runtime = tokio::runtime::Builder::new_multi_thread();
            if let Some(workers) = config.workers {
                runtime.worker_threads(workers.get());
            }
            runtime.enable_all().build()?.block_on(serve(config))
        }
        Command::Check(config) => handoff_server::cli::check::run(config),
        Command::Backup(args) => handoff_server::cli::backup::run(args),
        Command::Restore(args) => handoff_server::cli::restore::run(args),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let running = handoff_server::app::start(config).await?;
    println!("handoff is listening on {}", running.public_url);
    // The dashboard link grants what the API key grants. An operator who set a key signs in with it;
    // only development mode, whose key nobody chose, prints a link (and the key) to the terminal.
    if running.api_key_generated {
        let days = DASHBOARD_TOKEN_TTL_SECS / (24 * 3600);
        println!("  Dashboard:  {} (valid for {days} days)", running.dashboard_link);
        println!("  development API key: {}", running.api_key);
    } else {
        println!("  Dashboard:  {}/ (sign in with the API key)", running.public_url);
    }
    println!("  API:        {}/api/v1", running.public_url);
    println!("  WebSocket:  {}", running.state.urls.ws);
    running.stopped().await?;
    Ok(())
}

//! The `handoff` binary.

use clap::Parser;
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
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let running = handoff_server::app::start(config).await?;
    println!("handoff is listening on {}", running.public_url);
    println!("  Dashboard:  {}", running.dashboard_link);
    println!("  API:        {}/api/v1", running.public_url);
    println!("  WebSocket:  {}", running.state.urls.ws);
    if running.api_key_generated {
        println!("  development API key: {}", running.api_key);
    }
    running.stopped().await?;
    Ok(())
}

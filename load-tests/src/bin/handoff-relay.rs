//! `handoff-relay`: the no-CRDT WebSocket relay the benchmark compares handoff with (see `relay.rs`).

use clap::Parser;

#[derive(Parser)]
#[command(name = "handoff-relay", version, about = "No-CRDT WebSocket relay: the benchmark's baseline")]
struct Cli {
    /// Address to listen on (loopback only by default).
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: std::net::SocketAddr,
    /// How frames reach the other clients: `direct` (into a free socket by the reading connection) or
    /// `tasks` (every frame through the client's writer task).
    #[arg(long, value_enum, default_value = "direct")]
    writes: handoff_load::relay::Writes,
    /// Who hands frames to the other clients: `none` (the connection that read them) or `room` (a task
    /// per room that the connection sends them to, as handoff's room actor; measures the hop's cost).
    #[arg(long, value_enum, default_value = "none")]
    hop: handoff_load::relay::Hop,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    println!("handoff-relay listening on ws://{}", listener.local_addr()?);
    handoff_load::relay::serve(listener, cli.writes, cli.hop).await?;
    Ok(())
}

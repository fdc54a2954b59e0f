//! Which node each client of a `--nodes` run joins (`--layout`), and its room URL on that node.

use anyhow::{Context, ensure};

/// How a room's clients are placed on the nodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Room `r`'s typist on node `r mod N`, its watcher `k` on node `(r + k) mod N`: with N − 1 watchers
    /// every key crosses to every other node, and every node holds every room (a cluster's worst case).
    #[default]
    Spread,
    /// Every client of room `r` on node `r mod N`, as a deployment routing by room id does (the deploy
    /// kit's nginx hashes the room id): each node holds its own rooms, and no key crosses nodes.
    Affinity,
}

impl Layout {
    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Spread => "spread",
            Layout::Affinity => "affinity",
        }
    }

    /// The node client `client` of room `room` connects to (client 0 is the typist).
    pub fn node_of(self, room: usize, client: usize, nodes: usize) -> usize {
        let shift = match self {
            Layout::Spread => client,
            Layout::Affinity => 0,
        };
        (room + shift) % nodes.max(1)
    }
}

/// `url` (a room's WebSocket URL as a node published it) pointed at the node at `base` instead: its
/// scheme and authority replaced, the path and query kept.
pub fn on_node(url: &str, base: &str) -> anyhow::Result<String> {
    let (_, rest) = url.split_once("://").with_context(|| format!("{url} has no scheme"))?;
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    let (scheme, authority) = base.split_once("://").with_context(|| format!("node {base} has no scheme"))?;
    let ws = match scheme {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        other => anyhow::bail!("node {base}: scheme {other} is neither http nor https"),
    };
    let authority = authority.split('/').next().unwrap_or_default();
    ensure!(!authority.is_empty(), "node {base} names no host");
    Ok(format!("{ws}://{authority}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed(layout: Layout, rooms: usize, clients: usize, nodes: usize) -> Vec<Vec<usize>> {
        (0..rooms).map(|r| (0..clients).map(|c| layout.node_of(r, c, nodes)).collect()).collect()
    }

    #[test]
    fn spread_puts_typists_round_robin_and_watchers_on_the_next_nodes() {
        assert_eq!(placed(Layout::Spread, 3, 3, 3), vec![vec![0, 1, 2], vec![1, 2, 0], vec![2, 0, 1]]);
        assert_eq!(Layout::Spread.node_of(5, 3, 2), 0, "more watchers than nodes wrap around");
        assert_eq!(Layout::Spread.node_of(7, 1, 1), 0, "one node holds everyone");
    }

    #[test]
    fn affinity_puts_a_whole_room_on_one_node_and_the_rooms_round_robin() {
        assert_eq!(
            placed(Layout::Affinity, 4, 3, 3),
            vec![vec![0, 0, 0], vec![1, 1, 1], vec![2, 2, 2], vec![0, 0, 0]]
        );
        // Every node gets a third of the rooms.
        let mut per_node = [0; 3];
        for r in 0..300 {
            per_node[Layout::Affinity.node_of(r, 0, 3)] += 1;
        }
        assert_eq!(per_node, [100, 100, 100]);
        assert_eq!(Layout::Affinity.node_of(7, 2, 1), 0, "one node holds everyone");
        assert_eq!(Layout::default(), Layout::Spread);
    }

    #[test]
    fn room_urls_move_to_their_node() {
        let url = "ws://10.0.0.1:8080/ws/r1?token=a.b.c";
        assert_eq!(on_node(url, "http://127.0.0.1:8081").unwrap(), "ws://127.0.0.1:8081/ws/r1?token=a.b.c");
        assert_eq!(on_node(url, "https://n2.example/").unwrap(), "wss://n2.example/ws/r1?token=a.b.c");
        assert!(on_node(url, "127.0.0.1:8081").is_err());
        assert!(on_node(url, "ftp://x").is_err());
    }
}

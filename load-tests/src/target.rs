//! What a run is pointed at: handoff (rooms minted through its REST API, documents preloaded by the
//! server) or a peer — any y-websocket server, Hocuspocus, or the no-CRDT relay — whose rooms are plain
//! names and whose documents start empty.
//!
//! A peer has no submission to preload, so every client of a peer room starts from the same seed update
//! (the submission's files written by a fixed Yjs client id): identical bytes give identical items, so the
//! peers see exactly the document a handoff room would hold, without a seeding round trip and even on the
//! relay, which keeps no document at all.

use std::sync::Arc;

use anyhow::{Context, bail};
use clap::ValueEnum;
use handoff_protocol::api::PromoteResponse;
use serde::Serialize;
use yrs::updates::encoder::Encode;
use yrs::{Doc, Options, ReadTxn, StateVector, Transact};

use crate::failover::Failover;
use crate::mint::{Api, Submission, ws_url};

/// Kinds of server the tool can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// handoff: rooms minted with submit + promote, tokens in the URL.
    Handoff,
    /// The no-CRDT relay in this crate (`handoff-relay`): the limit of the WebSocket stack.
    Relay,
    /// A y-websocket server (`ws://host:port/<room>`).
    YWebsocket,
    /// Hocuspocus: one socket per document here, every message prefixed with the document name, and the
    /// auth message a Hocuspocus provider sends first.
    Hocuspocus,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Handoff => "handoff",
            Kind::Relay => "relay",
            Kind::YWebsocket => "y-websocket",
            Kind::Hocuspocus => "hocuspocus",
        }
    }

    /// Whether the server keeps the document (a joiner can be synced by the server alone).
    pub fn keeps_documents(self) -> bool {
        self != Kind::Relay
    }
}

/// How a client talks to the server: plain y-sync frames, or Hocuspocus's document-name prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialect {
    YSync,
    Hocuspocus { document: String },
}

/// One room of a run: where each client connects and what it starts from.
#[derive(Debug, Clone)]
pub struct Room {
    pub id: String,
    /// URL of client `i` (handoff: the candidate's token for 0, then interviewer and observer).
    urls: Vec<String>,
    pub dialect: Dialect,
    /// Update every client applies before connecting (peers); `None` when the server preloads (handoff).
    pub seed: Option<Arc<Vec<u8>>>,
    /// Where its clients go when their connection drops (a `--kill-node-after` run); `None`: a drop
    /// fails the client.
    pub failover: Option<Arc<Failover>>,
}

impl Room {
    /// The URL client `i` joins with.
    pub fn url(&self, i: usize) -> &str {
        &self.urls[i % self.urls.len()]
    }

    /// This room with client `i` joining at `urls[i]` (cycled) instead: the same room reached through
    /// other nodes of a cluster.
    pub fn with_urls(&self, urls: Vec<String>) -> Room {
        Room { urls, ..self.clone() }
    }

    /// This room with its clients rejoining as `failover` says when their connection drops.
    pub fn with_failover(&self, failover: Failover) -> Room {
        Room { failover: Some(Arc::new(failover)), ..self.clone() }
    }
}

/// A server to drive.
#[derive(Debug, Clone)]
pub struct Target {
    pub kind: Kind,
    /// handoff: its base URL (`http://…`); peers: their WebSocket base URL (`ws://…`).
    pub url: String,
    /// handoff's integrator API key.
    pub api_key: Option<String>,
}

/// The Yjs client id that writes every seed. Random client ids are 53-bit, so it never meets one.
const SEED_CLIENT_ID: u64 = 1;

/// The submission's files as a Yjs update, written by [`SEED_CLIENT_ID`] in the handoff document schema.
pub fn seed_update(sub: &Submission) -> Vec<u8> {
    let doc =
        Doc::with_options(Options { client_id: yrs::ClientID::new(SEED_CLIENT_ID), ..Options::default() });
    handoff_protocol::schema::preload(&doc, &sub.files);
    doc.transact().encode_state_as_update_v1(&StateVector::default())
}

impl Target {
    /// Opens `rooms` rooms holding `sub`. `run` keeps room names of different runs apart on peers that
    /// keep documents.
    pub async fn open_rooms(&self, rooms: usize, sub: &Submission, run: &str) -> anyhow::Result<Vec<Room>> {
        match self.kind {
            Kind::Handoff => {
                let key = self.api_key.as_deref().context("--api-key is required for handoff")?;
                let api = Api::new(&self.url, key)?;
                let minted = api.mint_rooms(rooms, sub).await?;
                Ok(minted.iter().map(handoff_room).collect())
            }
            _ => {
                if !self.url.starts_with("ws://") && !self.url.starts_with("wss://") {
                    bail!("a {} target needs a ws:// URL, got {}", self.kind.name(), self.url);
                }
                let seed = Arc::new(seed_update(sub));
                Ok((0..rooms).map(|n| self.peer_room(&format!("load-{run}-{n}"), seed.clone())).collect())
            }
        }
    }

    /// Opens `rooms` handoff rooms with voice on, recording it when `record_voice`.
    pub async fn open_voice_rooms(
        &self,
        rooms: usize,
        sub: &Submission,
        record_voice: bool,
    ) -> anyhow::Result<Vec<Room>> {
        if self.kind != Kind::Handoff {
            bail!("voice needs a handoff target");
        }
        let key = self.api_key.as_deref().context("--api-key is required for handoff")?;
        let api = Api::new(&self.url, key)?;
        let minted =
            api.mint_rooms_promoted(rooms, sub, &crate::mint::promote_body(true, record_voice)).await?;
        Ok(minted.iter().map(handoff_room).collect())
    }

    fn peer_room(&self, name: &str, seed: Arc<Vec<u8>>) -> Room {
        let base = self.url.trim_end_matches('/');
        let (url, dialect) = match self.kind {
            // Hocuspocus routes by the prefix of every message, not by the URL path.
            Kind::Hocuspocus => (base.to_owned(), Dialect::Hocuspocus { document: name.to_owned() }),
            _ => (format!("{base}/{name}"), Dialect::YSync),
        };
        Room { id: name.to_owned(), urls: vec![url], dialect, seed: Some(seed), failover: None }
    }
}

fn handoff_room(p: &PromoteResponse) -> Room {
    let t = &p.tokens;
    Room {
        id: p.room.id.clone(),
        urls: vec![ws_url(p, &t.candidate), ws_url(p, &t.interviewer), ws_url(p, &t.observer)],
        dialect: Dialect::YSync,
        seed: None,
        failover: None,
    }
}

/// Encodes a state vector for the seed's sanity checks.
pub fn encoded_state_vector(doc: &Doc) -> Vec<u8> {
    doc.transact().state_vector().encode_v1()
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::Update;
    use yrs::updates::decoder::Decode;

    #[test]
    fn every_seed_of_a_submission_is_the_same_document() {
        let sub = Submission::typing();
        let (a, b) = (seed_update(&sub), seed_update(&sub));
        assert_eq!(a, b, "identical bytes, so identical items on every client");
        let doc = Doc::new();
        doc.transact_mut().apply_update(Update::decode_v1(&a).unwrap()).unwrap();
        let files = handoff_protocol::schema::read_files(&doc);
        assert_eq!(files.len(), sub.files.len());
        for f in &sub.files {
            assert_eq!(files.get(&f.path), Some(&f.content));
        }
        // Applying the seed twice adds nothing.
        let before = encoded_state_vector(&doc);
        doc.transact_mut().apply_update(Update::decode_v1(&b).unwrap()).unwrap();
        assert_eq!(encoded_state_vector(&doc), before);
    }
}

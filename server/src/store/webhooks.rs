//! The webhook outbox: room-ended deliveries kept until they are delivered or given up, across restarts.

use async_trait::async_trait;
use handoff_protocol::api::WebhookStatus;

use super::StoreResult;

/// A webhook delivery waiting for its next attempt.
#[derive(Debug, Clone)]
pub struct WebhookDelivery {
    pub id: i64,
    pub room_id: String,
    pub url: String,
    pub body: String,
    /// Attempts made so far.
    pub attempts: u32,
}

/// What one webhook attempt came to.
#[derive(Debug, Clone)]
pub enum WebhookOutcome {
    Delivered { at_ms: u64 },
    Retry { next_at_ms: u64, error: String },
    Failed { error: String },
}

#[async_trait]
pub trait WebhookOutbox: Send + Sync + 'static {
    /// Queues the room-ended webhook for delivery, due at once. Fails with `NotFound(Room)` for an
    /// unknown room.
    async fn enqueue_webhook(&self, room_id: &str, url: &str, body: String, now_ms: u64) -> StoreResult<()>;
    /// Pending deliveries whose next attempt is due, soonest first (at most `limit`).
    async fn due_webhooks(&self, now_ms: u64, limit: usize) -> StoreResult<Vec<WebhookDelivery>>;
    /// Records an attempt's outcome; a delivery id that is not stored is ignored.
    async fn record_webhook_attempt(&self, id: i64, outcome: WebhookOutcome) -> StoreResult<()>;
    /// The newest delivery of a room's webhook.
    async fn webhook_status(&self, room_id: &str) -> StoreResult<Option<WebhookStatus>>;
}

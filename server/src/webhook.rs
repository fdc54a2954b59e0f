//! The room-ended webhook: a signed POST of the export summary to the operator's URL. Deliveries live in
//! the store, so a failing receiver is retried with exponential backoff across restarts; each delivery
//! succeeds at most once (its state is written right after the receiver's 2xx). Receivers verify
//! `X-Handoff-Signature: sha256=<hex HMAC-SHA256 of the body>` and may dedupe on `X-Handoff-Delivery`.

use std::sync::Arc;
use std::time::Duration;

use handoff_protocol::limits::{WEBHOOK_MAX_ATTEMPTS, WEBHOOK_RETRY_MAX_MS, WEBHOOK_TIMEOUT_SECS};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::Notify;

use crate::clock::now_ms;
use crate::metrics::METRICS;
use crate::shutdown::Trigger;
use crate::store::{Store, StoreResult, WebhookDelivery, WebhookOutcome};

/// Doublings of the retry delay counted at most, so the shift cannot overflow; the delay is capped at
/// `WEBHOOK_RETRY_MAX_MS` long before.
const MAX_BACKOFF_DOUBLINGS: u32 = 20;

/// How often the worker looks for due retries when nothing wakes it.
const POLL: Duration = Duration::from_millis(200);
/// Deliveries attempted per pass.
const BATCH: usize = 16;
/// Characters of a receiver's error kept as `last_error`.
const MAX_ERROR_CHARS: usize = 300;

pub struct Webhooks {
    store: Arc<dyn Store>,
    url: Option<String>,
    secret: Vec<u8>,
    retry_base: Duration,
    client: reqwest::Client,
    wake: Notify,
}

/// `sha256=<hex HMAC-SHA256 of body>`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes a key of any length; this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("hmac accepts any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Webhooks {
    pub fn new(
        store: Arc<dyn Store>,
        url: Option<String>,
        secret: Vec<u8>,
        retry_base: Duration,
    ) -> Webhooks {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(WEBHOOK_TIMEOUT_SECS))
            .build()
            .unwrap_or_default();
        Webhooks {
            store,
            url: url.filter(|u| !u.is_empty()),
            secret,
            retry_base,
            client,
            wake: Notify::new(),
        }
    }

    /// Queues the room-ended event (when a webhook URL is configured) and wakes the worker.
    pub async fn room_ended(&self, room_id: &str, body: String) -> StoreResult<()> {
        let Some(url) = &self.url else { return Ok(()) };
        self.store.enqueue_webhook(room_id, url, body, now_ms()).await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Delivers due webhooks until `stop` fires.
    pub async fn run(self: Arc<Self>, stop: Trigger) {
        if self.url.is_none() {
            return;
        }
        loop {
            match self.store.due_webhooks(now_ms(), BATCH).await {
                Ok(due) => {
                    for d in due {
                        self.attempt(d).await;
                    }
                }
                Err(e) => tracing::error!(error = %e, "reading due webhooks failed"),
            }
            METRICS.webhook_polls.inc();
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = self.wake.notified() => {}
                _ = stop.fired() => break,
            }
        }
    }

    async fn attempt(&self, d: WebhookDelivery) {
        let result = self
            .client
            .post(&d.url)
            .header("content-type", "application/json")
            .header("x-handoff-signature", signature(&self.secret, d.body.as_bytes()))
            .header("x-handoff-delivery", d.id.to_string())
            .body(d.body.clone())
            .send()
            .await;
        let error = match result {
            Ok(resp) if resp.status().is_success() => None,
            Ok(resp) => Some(format!("receiver answered {}", resp.status())),
            // Without the URL: a receiver's URL may carry a token, and this text is logged and shown.
            Err(e) => Some(format!("request failed: {}", e.without_url())),
        };
        let attempts = d.attempts + 1;
        let outcome = match error {
            None => WebhookOutcome::Delivered { at_ms: now_ms() },
            Some(error) if attempts >= WEBHOOK_MAX_ATTEMPTS => WebhookOutcome::Failed { error: clip(error) },
            Some(error) => {
                let delay = (self.retry_base.as_millis() as u64)
                    .saturating_mul(1 << (attempts - 1).min(MAX_BACKOFF_DOUBLINGS))
                    .min(WEBHOOK_RETRY_MAX_MS);
                WebhookOutcome::Retry { next_at_ms: now_ms() + delay, error: clip(error) }
            }
        };
        let label = match &outcome {
            WebhookOutcome::Delivered { .. } => "delivered",
            WebhookOutcome::Retry { .. } => "retry",
            WebhookOutcome::Failed { .. } => "failed",
        };
        METRICS.webhook_attempts.with_label_values(&[label]).inc();
        match &outcome {
            WebhookOutcome::Delivered { .. } => {
                tracing::info!(room = %d.room_id, attempts, "webhook delivered")
            }
            WebhookOutcome::Retry { error, .. } => {
                tracing::warn!(room = %d.room_id, attempts, %error, "webhook will retry")
            }
            WebhookOutcome::Failed { error } => {
                tracing::error!(room = %d.room_id, attempts, %error, "webhook gave up")
            }
        }
        if let Err(e) = self.store.record_webhook_attempt(d.id, outcome).await {
            tracing::error!(error = %e, "recording a webhook attempt failed");
        }
    }
}

fn clip(s: String) -> String {
    s.chars().take(MAX_ERROR_CHARS).collect()
}

impl std::fmt::Debug for Webhooks {
    /// Opaque: an HTTP client, the store and the signing secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_matches_a_known_hmac() {
        // RFC 4231 test case 2.
        let sig = super::signature(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}

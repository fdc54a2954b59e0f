//! The webhook outbox in SQLite: one row per delivery, its id from `AUTOINCREMENT` (never reused).

use async_trait::async_trait;
use handoff_protocol::api::{DeliveryState, WebhookStatus};
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::store::{StoreResult, WebhookDelivery, WebhookOutbox, WebhookOutcome};

#[async_trait]
impl WebhookOutbox for SqliteStore {
    async fn enqueue_webhook(&self, room_id: &str, url: &str, body: String, now_ms: u64) -> StoreResult<()> {
        let (id, url) = (room_id.to_owned(), url.to_owned());
        self.exec(move |c| {
            c.execute(
                "INSERT INTO webhook_deliveries
                   (room_id, url, body, status, attempts, next_attempt_ms, created_at_ms)
                 VALUES (?1, ?2, ?3, 'pending', 0, ?4, ?4)",
                params![id, url, body, now_ms as i64],
            )?;
            Ok(())
        })
        .await
    }

    async fn due_webhooks(&self, now_ms: u64, limit: usize) -> StoreResult<Vec<WebhookDelivery>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, room_id, url, body, attempts FROM webhook_deliveries
                 WHERE status = 'pending' AND next_attempt_ms <= ?1 ORDER BY next_attempt_ms LIMIT ?2",
            )?;
            stmt.query_map(params![now_ms as i64, limit as i64], |r| {
                Ok(WebhookDelivery {
                    id: r.get(0)?,
                    room_id: r.get(1)?,
                    url: r.get(2)?,
                    body: r.get(3)?,
                    attempts: r.get::<_, i64>(4)? as u32,
                })
            })?
            .collect()
        })
        .await
    }

    async fn record_webhook_attempt(&self, id: i64, outcome: WebhookOutcome) -> StoreResult<()> {
        self.exec(move |c| {
            match outcome {
                WebhookOutcome::Delivered { at_ms } => c.execute(
                    "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1,
                             delivered_at_ms = ?2, last_error = NULL WHERE id = ?1",
                    params![id, at_ms as i64],
                )?,
                WebhookOutcome::Retry { next_at_ms, error } => c.execute(
                    "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_ms = ?2,
                             last_error = ?3 WHERE id = ?1",
                    params![id, next_at_ms as i64, error],
                )?,
                WebhookOutcome::Failed { error } => c.execute(
                    "UPDATE webhook_deliveries SET status = 'failed', attempts = attempts + 1,
                             last_error = ?2 WHERE id = ?1",
                    params![id, error],
                )?,
            };
            Ok(())
        })
        .await
    }

    async fn webhook_status(&self, room_id: &str) -> StoreResult<Option<WebhookStatus>> {
        let id = room_id.to_owned();
        self.read(move |c| {
            c.query_row(
                "SELECT status, attempts, last_error, delivered_at_ms FROM webhook_deliveries
                 WHERE room_id = ?1 ORDER BY id DESC LIMIT 1",
                [&id],
                |r| {
                    Ok(WebhookStatus {
                        status: delivery_state(r.get_ref(0)?.as_str()?)?,
                        attempts: r.get::<_, i64>(1)? as u32,
                        last_error: r.get(2)?,
                        delivered_at_ms: r.get::<_, Option<i64>>(3)?.map(|v| v as u64),
                    })
                },
            )
            .optional()
        })
        .await
    }
}

/// A stored delivery state; the store writes only the three it knows.
fn delivery_state(name: &str) -> rusqlite::Result<DeliveryState> {
    DeliveryState::parse(name).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("delivery state {name:?}").into(),
        )
    })
}

//! The webhook outbox in PostgreSQL: one row per delivery, its id from a sequence (never reused). Taking
//! the due rows claims them (`FOR UPDATE SKIP LOCKED`, then pushed past the claim), so of several nodes
//! polling one store exactly one attempts each delivery.

use async_trait::async_trait;
use handoff_protocol::api::{DeliveryState, WebhookStatus};

use super::{PgStore, db_err};
use crate::store::{StoreError, StoreResult, WebhookDelivery, WebhookOutbox, WebhookOutcome};

/// How long a node's claim on a due delivery lasts: nodes sharing the store poll the same outbox, and a
/// claimed row is due again only when its attempt is recorded (or, if the node died, after this). Far
/// longer than an attempt (`WEBHOOK_TIMEOUT_SECS`), so each attempt is made by exactly one node.
const CLAIM_MS: u64 = 120_000;

#[async_trait]
impl WebhookOutbox for PgStore {
    async fn enqueue_webhook(&self, room_id: &str, url: &str, body: String, now_ms: u64) -> StoreResult<()> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO webhook_deliveries
               (room_id, url, body, status, attempts, next_attempt_ms, created_at_ms)
             VALUES ($1, $2, $3, 'pending', 0, $4, $4)",
            &[&room_id, &url, &body, &(now_ms as i64)],
        )
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn due_webhooks(&self, now_ms: u64, limit: usize) -> StoreResult<Vec<WebhookDelivery>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "UPDATE webhook_deliveries SET next_attempt_ms = $1 + $3
                 WHERE id IN (SELECT id FROM webhook_deliveries
                              WHERE status = 'pending' AND next_attempt_ms <= $1
                              ORDER BY next_attempt_ms, id LIMIT $2 FOR UPDATE SKIP LOCKED)
                 RETURNING id, room_id, url, body, attempts",
                &[&(now_ms as i64), &(limit as i64), &(CLAIM_MS as i64)],
            )
            .await
            .map_err(db_err)?;
        let mut due = rows
            .iter()
            .map(|r| {
                Ok(WebhookDelivery {
                    id: r.try_get(0).map_err(db_err)?,
                    room_id: r.try_get(1).map_err(db_err)?,
                    url: r.try_get(2).map_err(db_err)?,
                    body: r.try_get(3).map_err(db_err)?,
                    attempts: r.try_get::<_, i64>(4).map_err(db_err)? as u32,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        due.sort_by_key(|d| d.id);
        Ok(due)
    }

    async fn record_webhook_attempt(&self, id: i64, outcome: WebhookOutcome) -> StoreResult<()> {
        let c = self.client().await?;
        let written = match outcome {
            WebhookOutcome::Delivered { at_ms } => {
                c.execute(
                    "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1,
                             delivered_at_ms = $2, last_error = NULL WHERE id = $1",
                    &[&id, &(at_ms as i64)],
                )
                .await
            }
            WebhookOutcome::Retry { next_at_ms, error } => {
                c.execute(
                    "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_ms = $2,
                             last_error = $3 WHERE id = $1",
                    &[&id, &(next_at_ms as i64), &error],
                )
                .await
            }
            WebhookOutcome::Failed { error } => {
                c.execute(
                    "UPDATE webhook_deliveries SET status = 'failed', attempts = attempts + 1,
                             last_error = $2 WHERE id = $1",
                    &[&id, &error],
                )
                .await
            }
        };
        written.map_err(db_err)?;
        Ok(())
    }

    async fn webhook_status(&self, room_id: &str) -> StoreResult<Option<WebhookStatus>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT status, attempts, last_error, delivered_at_ms FROM webhook_deliveries
                 WHERE room_id = $1 ORDER BY id DESC LIMIT 1",
                &[&room_id],
            )
            .await
            .map_err(db_err)?;
        let Some(r) = row else { return Ok(None) };
        let state: &str = r.try_get(0).map_err(db_err)?;
        Ok(Some(WebhookStatus {
            status: DeliveryState::parse(state)
                .ok_or_else(|| StoreError::Corrupt(format!("delivery state {state:?}")))?,
            attempts: r.try_get::<_, i64>(1).map_err(db_err)? as u32,
            last_error: r.try_get(2).map_err(db_err)?,
            delivered_at_ms: r.try_get::<_, Option<i64>>(3).map_err(db_err)?.map(|v| v as u64),
        }))
    }
}

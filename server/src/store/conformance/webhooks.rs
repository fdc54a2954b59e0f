//! The webhook outbox: pending, retried, then delivered or failed; the newest delivery is the status.

use handoff_protocol::api::DeliveryState;

use super::{each_backend, promoted};
use crate::store::WebhookOutcome;

#[tokio::test]
async fn webhook_deliveries_go_pending_retry_then_delivered_or_failed() {
    each_backend(async |store, name| {
        let s = &*store;
        promoted(s, "sub", "room", 10).await;
        s.enqueue_webhook("room", "http://hook", "first".into(), 100).await.unwrap();
        let due = s.due_webhooks(100, 10).await.unwrap();
        assert_eq!(due.len(), 1, "{name}");
        let first = due[0].id;
        assert_eq!((due[0].body.as_str(), due[0].attempts), ("first", 0), "{name}");
        assert!(s.due_webhooks(99, 10).await.unwrap().is_empty(), "{name}: not due before its time");

        let retry = WebhookOutcome::Retry { next_at_ms: 200, error: "503".into() };
        s.record_webhook_attempt(first, retry).await.unwrap();
        let status = s.webhook_status("room").await.unwrap().unwrap();
        assert_eq!((status.status, status.attempts), (DeliveryState::Pending, 1), "{name}");
        assert_eq!(status.last_error.as_deref(), Some("503"), "{name}");
        assert!(s.due_webhooks(150, 10).await.unwrap().is_empty(), "{name}: waits for the retry time");
        assert_eq!(s.due_webhooks(200, 10).await.unwrap()[0].attempts, 1, "{name}");

        s.record_webhook_attempt(first, WebhookOutcome::Delivered { at_ms: 210 }).await.unwrap();
        let status = s.webhook_status("room").await.unwrap().unwrap();
        assert_eq!((status.status, status.attempts), (DeliveryState::Delivered, 2), "{name}");
        assert_eq!((status.last_error, status.delivered_at_ms), (None, Some(210)), "{name}");
        assert!(s.due_webhooks(1000, 10).await.unwrap().is_empty(), "{name}");

        s.enqueue_webhook("room", "http://hook", "second".into(), 300).await.unwrap();
        let second = s.due_webhooks(300, 10).await.unwrap()[0].id;
        assert!(second > first, "{name}: ids grow");
        s.record_webhook_attempt(second, WebhookOutcome::Failed { error: "gone".into() }).await.unwrap();
        let status = s.webhook_status("room").await.unwrap().unwrap();
        assert_eq!((status.status, status.attempts), (DeliveryState::Failed, 1), "{name}: the newest shows");
        let unknown = WebhookOutcome::Failed { error: "x".into() };
        s.record_webhook_attempt(i64::MAX, unknown).await.unwrap();
    })
    .await;
}

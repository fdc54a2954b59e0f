//! The bundled sample submission. In development mode (no API key configured) an empty store gets it, so
//! the dashboard started by the README's command has something to promote.

use handoff_protocol::api::SubmissionRequest;
use handoff_protocol::validate;

use crate::clock::now_ms;
use crate::ids::new_id;
use crate::store::{Store, SubmissionRecord};

const SAMPLE: &str = include_str!("sample_submission.json");

/// The sample as a request body (also what the dashboard's JSON import accepts).
pub(crate) fn submission() -> SubmissionRequest {
    serde_json::from_str(SAMPLE).expect("the bundled sample is valid JSON")
}

/// Stores the sample unless `store` holds a submission already.
pub(crate) async fn seed_if_empty(store: &dyn Store) -> anyhow::Result<()> {
    if !store.list_submissions(1).await?.is_empty() {
        return Ok(());
    }
    let body = submission();
    validate::submission(&body).map_err(|e| anyhow::anyhow!("bundled sample is invalid: {e}"))?;
    let id = new_id("sub_sample");
    store.insert_submission(SubmissionRecord { id: id.clone(), created_at_ms: now_ms(), body }).await?;
    tracing::info!(submission = %id, "seeded the sample submission");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sample_is_a_valid_submission_with_flags() {
        let s = super::submission();
        assert_eq!(handoff_protocol::validate::submission(&s), Ok(()));
        let summary = handoff_protocol::integrity::summarize(&s.events);
        assert_eq!(summary.pastes.count, 1, "the sample shows a large paste");
        assert_eq!(summary.focus.losses, 1, "and a focus loss");
    }
}

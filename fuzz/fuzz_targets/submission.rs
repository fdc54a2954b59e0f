//! The submission JSON an integrator posts: parsing and validation never panic, and whatever validation
//! accepts is safe to store and summarise (paths pass the path rule; the integrity summary and the async
//! replay run to completion on it).
#![no_main]

use handoff_protocol::api::SubmissionRequest;
use handoff_protocol::{async_replay, integrity, validate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: handoff_fuzz::contain_panics(), |data: &[u8]| {
    let Ok(req) = serde_json::from_slice::<SubmissionRequest>(data) else { return };
    if validate::submission(&req).is_err() {
        return;
    }
    for file in &req.files {
        assert!(validate::check_path(&file.path).is_ok(), "accepted path {:?}", file.path);
    }
    let _ = integrity::summarize_submission(&req.events, &req.files);
    let _ = async_replay::replay(&req.events, None);
    let _ = async_replay::check(&req.events, &req.files);
});

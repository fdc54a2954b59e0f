//! The voice recordings in the report: a section listing each speaker's file, and the links a cited
//! moment gets to the audio heard then (`url#t=SECONDS`, a media fragment every browser's player
//! seeks to). The files need the interviewer's token (`?token=`) or the API key, which the page never
//! holds: the reader adds theirs.

use std::fmt::Write;

use handoff_protocol::export::Export;
use handoff_protocol::recording::{RecordingEntry, offset_ms};

use super::html::{duration, esc, offset};

/// The section, when the room recorded voice (or recordings exist).
pub(super) fn recordings(out: &mut String, x: &Export) {
    if !x.record_voice && x.recordings.is_empty() {
        return;
    }
    out.push_str("<section><h2>Voice recordings</h2>");
    if x.recordings.is_empty() {
        out.push_str("<p class=\"quiet\">Voice was recorded in this room, but nobody spoke.</p></section>");
        return;
    }
    out.push_str(
        "<p class=\"quiet\">Ogg/Opus, one file per speaker, timed on the room's clock. Open a link with the \
         interviewer's token (<code>?token=…</code>) or the API key.</p>",
    );
    out.push_str(
        "<table><thead><tr><th>Speaker</th><th>Role</th><th>From</th><th>Length</th><th>File</th></tr>\
         </thead><tbody>",
    );
    for r in &x.recordings {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><a href=\"{}\">listen</a></td></tr>",
            esc(&r.participant),
            esc(r.role.as_str()),
            esc(&offset(r.started_at_ms.saturating_sub(x.started_at_ms))),
            esc(&duration(r.duration_ms)),
            esc(&r.url)
        );
    }
    out.push_str("</tbody></table></section>");
}

/// Links to what each recording holds at the room-clock moment `at_ms` (none when nobody was being
/// recorded then).
pub(super) fn links_at(x: &Export, at_ms: u64) -> String {
    let mut out = String::new();
    for r in &x.recordings {
        if let Some(url) = fragment(r, at_ms) {
            let _ =
                write!(out, " <a class=\"audio\" href=\"{}\">hear {}</a>", esc(&url), esc(&r.participant));
        }
    }
    out
}

/// The recording's URL seeking to `at_ms`, when the recording covers that moment.
fn fragment(r: &RecordingEntry, at_ms: u64) -> Option<String> {
    let into = offset_ms(&r.anchors, at_ms).filter(|&ms| ms <= r.duration_ms)?;
    Some(format!("{}#t={}.{:03}", r.url, into / 1000, into % 1000))
}

#[cfg(test)]
mod tests {
    use handoff_protocol::Role;
    use handoff_protocol::recording::Anchor;

    use super::*;

    #[test]
    fn a_moment_links_the_audio_heard_then() {
        let r = RecordingEntry {
            id: "rec_1".into(),
            participant: "Cam".into(),
            role: Role::Candidate,
            started_at_ms: 10_000,
            duration_ms: 60_000,
            url: "http://h/api/v1/rooms/r/recordings/rec_1".into(),
            anchors: vec![Anchor { at_ms: 10_000, sample: 0 }],
        };
        assert_eq!(fragment(&r, 9_999), None, "before it started");
        assert_eq!(fragment(&r, 12_345).as_deref(), Some("http://h/api/v1/rooms/r/recordings/rec_1#t=2.345"));
        assert_eq!(fragment(&r, 70_001), None, "after it ended");
    }
}

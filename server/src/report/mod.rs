//! The interview report: the session record as one printable HTML page a hiring committee reads
//! (`GET /api/v1/rooms/{id}/report`). Self-contained: inline CSS, no scripts, nothing fetched, so it
//! works under the server's Content-Security-Policy and saved to disk alike; every value is escaped.

mod authors;
mod colors;
mod html;
mod moments;
mod sections;
mod voice;

use handoff_protocol::export::Export;

use self::authors::Authors;
use handoff_protocol::integrity::{self, IntegritySummary};

use crate::export::{self, ExportError};
use crate::room::Registry;
use crate::store::{RoomRecord, Store, SubmissionRecord};

/// The page's stylesheet, inlined.
const STYLE: &str = include_str!("report.css");

/// Builds the room's report from its export and the submission's integrity summary.
pub(crate) async fn build(
    store: &dyn Store,
    rooms: &Registry,
    room: RoomRecord,
    sub: SubmissionRecord,
    public_url: &str,
) -> Result<String, ExportError> {
    let summary = integrity::summarize_submission(&sub.body.events, &sub.body.files);
    let export = export::build(store, rooms, room, sub, public_url).await?;
    Ok(render(&export, &summary))
}

/// The page for an export.
pub(crate) fn render(x: &Export, summary: &IntegritySummary) -> String {
    let authors = Authors::of(x);
    let mut out = String::new();
    out.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    out.push_str(&format!(
        "<title>Interview report: {} — {}</title><style>{STYLE}{}</style></head><body>",
        html::esc(&x.candidate.name),
        html::esc(&x.exercise.title),
        authors.css()
    ));
    sections::header(&mut out, x);
    sections::participants(&mut out, x);
    voice::recordings(&mut out, x);
    sections::files(&mut out, x, &authors);
    sections::notes(&mut out, x);
    sections::scores(&mut out, x, summary);
    sections::async_context(&mut out, summary, &x.integrity_notes);
    sections::timeline(&mut out, x);
    out.push_str("</body></html>\n");
    out
}

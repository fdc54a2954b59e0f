//! Who wrote the changed lines, each person in their own colour (the colour of their cursor and text in
//! the room), named in the legend with their role.

use std::fmt::Write;

use handoff_protocol::attribution::Source;
use handoff_protocol::export::{Export, FileChangeKind};

use super::colors::{name_color, tint};
use super::html::esc;

/// The people whose lines the report's diffs show, in the order they first appear.
#[derive(Debug, Default)]
pub(super) struct Authors {
    people: Vec<(String, Source)>,
}

impl Authors {
    pub(super) fn of(x: &Export) -> Authors {
        let mut authors = Authors::default();
        let changed = x.files.iter().filter(|f| f.change != FileChangeKind::Unchanged);
        for a in changed.flat_map(|f| &f.authorship).filter(|a| a.source != Source::Submission) {
            if !authors.people.iter().any(|(name, _)| *name == a.author) {
                authors.people.push((a.author.clone(), a.source));
            }
        }
        authors
    }

    /// One class per person: their colour on the left edge, its tint behind their lines. Classes are
    /// numbered, so no name reaches the stylesheet.
    pub(super) fn css(&self) -> String {
        let mut css = String::new();
        for (i, (name, _)) in self.people.iter().enumerate() {
            let color = name_color(name);
            let _ =
                write!(css, ".by-p{i} {{ background: {}; box-shadow: inset 4px 0 {color}; }}", tint(&color));
        }
        css
    }

    /// The class of `author`'s lines.
    pub(super) fn class_of(&self, author: &str) -> String {
        match self.people.iter().position(|(name, _)| name == author) {
            Some(i) => format!("by-p{i}"),
            None => "by-submission".to_owned(),
        }
    }

    /// "Added lines by Ada (candidate), Grace (interviewer), or the submission; removed lines."
    pub(super) fn legend(&self) -> String {
        let mut out = String::from("<p class=\"legend\">Added lines by ");
        for (i, (name, source)) in self.people.iter().enumerate() {
            let role = match source {
                Source::Interviewer => "interviewer",
                _ => "candidate",
            };
            let _ = write!(out, "<span class=\"by-p{i}\">{} ({role})</span>, ", esc(name));
        }
        if !self.people.is_empty() {
            out.push_str("or ");
        }
        out.push_str(
            "<span class=\"by-submission\">the submission</span>; <span class=\"del\">removed lines</span>.</p>",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export(authors: &[(&str, &str)]) -> Export {
        let authorship: Vec<_> = authors
            .iter()
            .map(|(name, source)| serde_json::json!({"start": 0, "end": 1, "lines": [1, 1], "source": source, "author": name}))
            .collect();
        serde_json::from_value(serde_json::json!({
            "room": {"id": "r", "status": "ended"}, "submission_id": "s",
            "candidate": {"name": "Cand"}, "exercise": {"title": "LRU"}, "interviewer": "Grace",
            "started_at_ms": 0,
            "files": [{"path": "a.py", "content": "x", "change": "modified", "diff": "", "authorship": authorship}],
            "timeline": [], "notes": "", "live_scores": []
        }))
        .unwrap()
    }

    #[test]
    fn two_people_of_one_role_get_two_colours() {
        let x = export(&[
            ("Grace", "interviewer"),
            ("Alan", "interviewer"),
            ("Grace", "interviewer"),
            ("Sub", "submission"),
        ]);
        let authors = Authors::of(&x);
        assert_eq!(
            (authors.class_of("Grace").as_str(), authors.class_of("Alan").as_str()),
            ("by-p0", "by-p1")
        );
        assert_eq!(authors.class_of("nobody"), "by-submission");
        let css = authors.css();
        assert!(css.contains(&name_color("Grace")) && css.contains(&name_color("Alan")), "{css}");
        let legend = authors.legend();
        assert!(legend.contains("Grace (interviewer)") && legend.contains("Alan (interviewer)"), "{legend}");
    }

    #[test]
    fn names_are_escaped_in_the_legend_and_never_reach_the_stylesheet() {
        let x = export(&[("<b>}x{", "candidate")]);
        let authors = Authors::of(&x);
        assert!(authors.legend().contains("&lt;b&gt;}x{ (candidate)"));
        assert!(!authors.css().contains("<b>"));
    }
}

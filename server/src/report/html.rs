//! The report's HTML primitives: escaping every value, and times in words a reader needs no tool for
//! (UTC dates, offsets from the room's start, durations).

/// Escapes text for element content and quoted attribute values alike.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes `s` and sets its `backticked` spans (the words' way of naming code) as `<code>`; an odd
/// backtick leaves the text as it is.
pub(super) fn esc_code(s: &str) -> String {
    let escaped = esc(s);
    if !escaped.matches('`').count().is_multiple_of(2) {
        return escaped;
    }
    escaped.split('`').enumerate().fold(String::new(), |mut out, (i, part)| {
        if i % 2 == 1 {
            out.push_str("<code>");
            out.push_str(part);
            out.push_str("</code>");
        } else {
            out.push_str(part);
        }
        out
    })
}

const MS_PER_S: u64 = 1000;
const S_PER_MIN: u64 = 60;
const S_PER_HOUR: u64 = 3600;
const S_PER_DAY: u64 = 86_400;

/// `YYYY-MM-DD HH:MM UTC` of a Unix time in ms.
pub(super) fn utc(ms: u64) -> String {
    let secs = ms / MS_PER_S;
    let (days, rest) = (secs / S_PER_DAY, secs % S_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", rest / S_PER_HOUR, (rest % S_PER_HOUR) / S_PER_MIN)
}

/// Year, month and day of a count of days since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Time from the room's start as a clock: `m:ss`, or `h:mm:ss` past the hour.
pub(super) fn offset(ms: u64) -> String {
    let secs = ms / MS_PER_S;
    let (h, m, s) = (secs / S_PER_HOUR, (secs % S_PER_HOUR) / S_PER_MIN, secs % S_PER_MIN);
    if h > 0 { format!("{h}:{m:02}:{s:02}") } else { format!("{m}:{s:02}") }
}

/// A duration in words: `42 s`, `12 min 5 s`, `1 h 3 min`.
pub(super) fn duration(ms: u64) -> String {
    let secs = ms / MS_PER_S;
    let (h, m, s) = (secs / S_PER_HOUR, (secs % S_PER_HOUR) / S_PER_MIN, secs % S_PER_MIN);
    match (h, m) {
        (0, 0) => format!("{s} s"),
        (0, m) => format!("{m} min {s} s"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// `lines 3–7`, or `line 3` for one.
pub(super) fn lines(span: [u32; 2]) -> String {
    if span[0] == span[1] { format!("line {}", span[0]) } else { format!("lines {}–{}", span[0], span[1]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(esc(r#"<b a="1">'x' & y</b>"#), "&lt;b a=&quot;1&quot;&gt;&#39;x&#39; &amp; y&lt;/b&gt;");
    }

    #[test]
    fn backticked_names_become_code() {
        assert_eq!(esc_code("rewrote `put()` in <a>"), "rewrote <code>put()</code> in &lt;a&gt;");
        assert_eq!(esc_code("one ` tick"), "one ` tick");
    }

    #[test]
    fn times_read_as_people_write_them() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        // 2026-12-03 23:18:38 UTC.
        assert_eq!(utc(1_796_339_918_000), "2026-12-03 23:18 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(offset(750_000), "12:30");
        assert_eq!(offset(3_723_000), "1:02:03");
        assert_eq!(duration(42_000), "42 s");
        assert_eq!(duration(725_000), "12 min 5 s");
        assert_eq!(duration(3_780_000), "1 h 3 min");
        assert_eq!(lines([19, 23]), "lines 19–23");
        assert_eq!(lines([4, 4]), "line 4");
    }
}

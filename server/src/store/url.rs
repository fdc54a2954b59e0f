//! Store URLs as they may be shown: a `postgres://` URL may carry a password, in its user info or as a
//! `password=` parameter, and no log line, error or `Debug` output may repeat it.

/// What stands in for a hidden password.
const HIDDEN: &str = "***";

/// The URL with any password replaced by `***`; everything else (user, host, database) stays readable.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let query_at = rest.find(['?', '#']).unwrap_or(rest.len());
    let (before_query, query) = rest.split_at(query_at);
    // The user info ends at the last `@` before the query: a password may itself hold `@` or `/`.
    let authority = match before_query.rsplit_once('@') {
        Some((userinfo, after)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:{HIDDEN}@{after}"),
            None => before_query.to_owned(),
        },
        None => before_query.to_owned(),
    };
    format!("{scheme}://{authority}{}", redact_query(query))
}

/// `?a=1&password=x` → `?a=1&password=***`.
fn redact_query(query: &str) -> String {
    let Some(params) = query.strip_prefix('?') else { return query.to_owned() };
    let shown: Vec<String> = params
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}={HIDDEN}"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("?{}", shown.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_wherever_the_url_holds_them() {
        assert_eq!(redact("postgres://app:s3cret@db:5432/handoff"), "postgres://app:***@db:5432/handoff");
        assert_eq!(redact("postgres://app:p@ss/w0rd@db/handoff"), "postgres://app:***@db/handoff");
        assert_eq!(
            redact("postgresql://app@db/handoff?sslmode=disable&password=s3cret"),
            "postgresql://app@db/handoff?sslmode=disable&password=***"
        );
        assert_eq!(
            redact("postgres://app@db/handoff"),
            "postgres://app@db/handoff",
            "no password, unchanged"
        );
        assert_eq!(redact("sqlite:///var/lib/handoff/handoff.db"), "sqlite:///var/lib/handoff/handoff.db");
        assert_eq!(redact("memory://"), "memory://");
        assert_eq!(redact("not a url"), "not a url");
    }
}

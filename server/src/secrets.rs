//! Secrets the server generates for itself when the operator gives none: the room-token signing secret
//! and a development API key. Each is created once, written to the data dir readable only by its owner,
//! and reused on every later start so links and keys survive a restart.

use std::io::Write;
use std::path::Path;

use rand::RngCore;

/// The file of the generated development API key.
pub(crate) const API_KEY_FILE: &str = "dev-api-key";
/// The file of the generated room-token signing secret.
pub(crate) const TOKEN_SECRET_FILE: &str = "token-secret";
/// The file of the generated webhook signing secret.
pub(crate) const WEBHOOK_SECRET_FILE: &str = "webhook-secret";
/// Every secret file the server may keep in its data dir (what a backup carries).
pub(crate) const FILES: [&str; 3] = [API_KEY_FILE, TOKEN_SECRET_FILE, WEBHOOK_SECRET_FILE];

/// Random bytes in a generated secret (256 bits).
const SECRET_BYTES: usize = 32;

/// Returns the configured value, or the one stored in `data_dir/file`, or a new one stored there.
pub(crate) fn load_or_create(
    configured: Option<&str>,
    data_dir: &Path,
    file: &str,
) -> std::io::Result<(String, bool)> {
    if let Some(v) = configured.filter(|v| !v.is_empty()) {
        return Ok((v.to_owned(), false));
    }
    let path = data_dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(v) if !v.trim().is_empty() => {
            crate::private_fs::tighten_file(&path)?;
            return Ok((v.trim().to_owned(), true));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    crate::private_fs::create_dirs(data_dir)?;
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    let value = hex::encode(bytes);
    crate::private_fs::private_file_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)?
        .write_all(value.as_bytes())?;
    Ok((value, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_reused_and_config_wins() {
        let dir = tempfile::tempdir().unwrap();
        let (a, generated) = load_or_create(None, dir.path(), "s").unwrap();
        assert!(generated);
        assert_eq!(a.len(), SECRET_BYTES * 2);
        let (b, _) = load_or_create(None, dir.path(), "s").unwrap();
        assert_eq!(a, b, "a restart must reuse the stored secret");
        let (c, generated) = load_or_create(Some("given"), dir.path(), "s").unwrap();
        assert_eq!((c.as_str(), generated), ("given", false));
    }
}

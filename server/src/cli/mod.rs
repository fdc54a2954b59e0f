//! The operator commands beside `serve`, one module each: [`check`] a configuration before going live,
//! [`backup`] and [`restore`] the SQLite store with the data dir's secrets. `main.rs` hands each its
//! parsed arguments. Each prints what it did for a person to read, and fails with what to do.

pub mod backup;
pub mod check;
pub mod restore;

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::store::{MEMORY_URL, StoreError, redact_url};

/// The SQLite database file a store URL names, or why `backup` and `restore` have none to copy.
fn sqlite_path(url: &str) -> anyhow::Result<PathBuf> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        return Ok(PathBuf::from(path));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        anyhow::bail!(
            "the store is PostgreSQL ({}): back it up with `pg_dump --format=custom` and restore it with \
             `pg_restore` (README, \"Backups\"); `handoff backup` and `restore` copy the SQLite store only",
            redact_url(url)
        );
    }
    if url == MEMORY_URL {
        anyhow::bail!("the store is memory://: it keeps nothing on disk to back up or restore");
    }
    Err(StoreError::UnsupportedUrl(redact_url(url)).into())
}

/// A file written whole beside its destination, then renamed onto it (a rename within one directory
/// replaces the destination at once: a reader sees the old file or the new one, never half of one).
/// Removed when dropped before [`TempFile::commit`].
#[derive(Debug)]
struct TempFile {
    path: PathBuf,
    committed: bool,
}

impl TempFile {
    /// Creates an empty 0600 file beside `dest`.
    fn beside(dest: &Path) -> io::Result<TempFile> {
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let path = dest.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
        crate::private_fs::private_file_options().write(true).create_new(true).open(&path)?;
        Ok(TempFile { path, committed: false })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// Syncs the file, renames it onto `dest` and syncs the directory, so the new name survives a crash.
    fn commit(mut self, dest: &Path) -> io::Result<()> {
        File::open(&self.path)?.sync_all()?;
        std::fs::rename(&self.path, dest)?;
        self.committed = true;
        let dir = dest.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        File::open(dir)?.sync_all()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

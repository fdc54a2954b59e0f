//! The data dir and the database files are readable by the server's user only, whatever the umask:
//! they hold candidates' details, interviewers' notes and scores, and the secrets. Modes are set
//! explicitly (the umask can only take bits away, and the usual 022 leaves files world-readable), and
//! loose modes an earlier run left are tightened, with a warning naming the path.

use std::fs;
use std::io;
use std::path::Path;

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

/// Mode of the data dir and of any directory the store creates.
pub(crate) const DIR_MODE: u32 = 0o700;
/// Mode of every file the server writes: the database, its WAL and shared-memory files, the secrets.
pub(crate) const FILE_MODE: u32 = 0o600;

/// Name of the file that keeps the data dir out of version control.
pub(crate) const DATA_DIR_GITIGNORE: &str = ".gitignore";
/// Its content: everything in the data dir, itself included. The data dir holds the API key and the
/// token secret; inside a checkout, one `git add .` would otherwise commit them.
pub(crate) const DATA_DIR_GITIGNORE_TEXT: &str =
    "# The handoff server's data: secrets and candidates' data. Never commit it.\n*\n";

/// Creates the data dir (and missing parents) 0700, or tightens an existing one to 0700. A dir that
/// cannot be tightened (owned by someone else) is logged and left: the files in it are 0600 anyway.
/// A data dir without a `.gitignore` gets one ignoring everything in it; one already there is kept.
pub(crate) fn prepare_data_dir(dir: &Path) -> io::Result<()> {
    create_dirs(dir)?;
    let ignore = dir.join(DATA_DIR_GITIGNORE);
    if !ignore.exists() {
        use std::io::Write as _;
        private_file_options()
            .write(true)
            .create_new(true)
            .open(&ignore)?
            .write_all(DATA_DIR_GITIGNORE_TEXT.as_bytes())?;
    }
    #[cfg(unix)]
    {
        let mode = fs::metadata(dir)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            match fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE)) {
                Ok(()) => tracing::warn!(
                    dir = %dir.display(), was = format!("{mode:o}"),
                    "data dir was readable by other users; tightened to 700"
                ),
                Err(error) => tracing::warn!(
                    dir = %dir.display(), was = format!("{mode:o}"), %error,
                    "data dir is readable by other users and cannot be tightened"
                ),
            }
        }
    }
    Ok(())
}

/// Creates `dir` and its missing parents with mode 0700. Existing directories are left as they are:
/// this is also the parent of a `--store sqlite://PATH`, which may be a shared directory.
pub(crate) fn create_dirs(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(DIR_MODE);
    builder.create(dir)
}

/// Options that create a file 0600 (on Unix); the caller adds read/write/truncate.
pub(crate) fn private_file_options() -> fs::OpenOptions {
    let mut opts = fs::OpenOptions::new();
    #[cfg(unix)]
    opts.mode(FILE_MODE);
    opts
}

/// Creates `path` empty with mode 0600 if it does not exist, else tightens it to 0600. SQLite gives
/// the WAL and shared-memory files the mode of the database file, so creating the database this way
/// covers them too.
pub(crate) fn create_private_file(path: &Path) -> io::Result<()> {
    private_file_options().write(true).create(true).truncate(false).open(path)?;
    tighten_file(path)
}

/// Tightens an existing file to 0600 (a missing one is fine: there is nothing to protect yet).
pub(crate) fn tighten_file(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let mode = match fs::metadata(path) {
            Ok(meta) => meta.permissions().mode() & 0o777,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if mode & 0o077 != 0 {
            fs::set_permissions(path, fs::Permissions::from_mode(FILE_MODE))?;
            tracing::warn!(
                file = %path.display(), was = format!("{mode:o}"),
                "file was readable by other users; tightened to 600"
            );
        }
    }
    Ok(())
}

/// Files SQLite keeps next to the database: the WAL, its shared-memory index and a rollback journal.
pub(crate) const SQLITE_SIDE_FILES: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Creates the database's directory (0700) and the database file itself 0600 before SQLite opens it,
/// and tightens the files an earlier run left: SQLite creates a new database 0644 minus the umask, and
/// its side files with the database's mode, so a private database file keeps them private too.
pub(crate) fn prepare_sqlite(path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_dirs(dir)?;
    }
    create_private_file(path)?;
    for suffix in SQLITE_SIDE_FILES {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        tighten_file(Path::new(&side))?;
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn loose_dirs_and_files_are_tightened_and_missing_files_created_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        prepare_data_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let ignore = dir.join(DATA_DIR_GITIGNORE);
        assert_eq!(fs::read_to_string(&ignore).unwrap(), DATA_DIR_GITIGNORE_TEXT);
        assert_eq!(mode(&ignore), 0o600);
        fs::write(&ignore, "mine\n").unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        prepare_data_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(fs::read_to_string(&ignore).unwrap(), "mine\n", "an operator's own .gitignore is kept");

        let db = dir.join("handoff.db");
        create_private_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        fs::set_permissions(&db, fs::Permissions::from_mode(0o644)).unwrap();
        create_private_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        tighten_file(&dir.join("missing")).unwrap();
    }
}

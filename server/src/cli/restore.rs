//! `handoff restore --from FILE`: puts a backup written by `handoff backup` back into a data dir. It
//! refuses while a server runs on the data dir (it takes the data dir's lock alone, see `dir_lock.rs`),
//! refuses to replace a store that holds anything (or secrets that differ) without `--force`, and
//! refuses a file that is not a handoff store or whose schema is newer than this build knows. The store
//! is written beside the old one and renamed over it; a store at an older schema version is migrated
//! when the server next starts.

use std::fs::File;
use std::path::Path;

use anyhow::{Context as _, anyhow};

use super::{TempFile, sqlite_path};
use crate::config::RestoreArgs;
use crate::dir_lock::{self, Hold};
use crate::private_fs::{self, SQLITE_SIDE_FILES};
use crate::recording::RECORDINGS_DIR;
use crate::secrets;
use crate::store::sqlite_backup;

pub fn run(args: RestoreArgs) -> anyhow::Result<()> {
    let config = &args.config;
    let db = sqlite_path(&config.store_url())?;
    if !args.from.is_file() {
        anyhow::bail!("there is no file at {}", args.from.display());
    }
    let backup = sqlite_backup::inspect(&args.from)
        .with_context(|| format!("cannot restore {}", args.from.display()))?;
    let data_dir = &config.data_dir;
    private_fs::prepare_data_dir(data_dir)
        .with_context(|| format!("cannot prepare {}", data_dir.display()))?;
    let _alone = dir_lock::try_lock(data_dir, Hold::Exclusive)?.ok_or_else(|| {
        anyhow!(
            "a handoff server is running on {}: stop it first (restore replaces its store)",
            data_dir.display()
        )
    })?;
    if db.exists() && !args.force {
        match sqlite_backup::inspect(&db) {
            Ok(present) if present.is_empty() => {}
            Ok(present) => anyhow::bail!(
                "{} already holds {} submissions and {} rooms; pass --force to replace them with the backup",
                db.display(),
                present.submissions,
                present.rooms
            ),
            Err(e) => anyhow::bail!(
                "{} exists but is not a store this build can read ({e}); pass --force to replace it",
                db.display()
            ),
        }
    }
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        private_fs::create_dirs(dir)?;
    }

    let copy = TempFile::beside(&db).with_context(|| format!("cannot write beside {}", db.display()))?;
    std::io::copy(
        &mut File::open(&args.from)?,
        &mut std::fs::OpenOptions::new().write(true).open(copy.path())?,
    )
    .with_context(|| format!("cannot copy {}", args.from.display()))?;
    let secrets = sqlite_backup::take_secrets(copy.path())?;
    let secrets: Vec<(String, String)> =
        secrets.into_iter().filter(|(name, _)| secrets::FILES.contains(&name.as_str())).collect();
    if !args.force {
        for (name, value) in &secrets {
            let path = data_dir.join(name);
            if std::fs::read_to_string(&path).is_ok_and(|present| present.trim() != value) {
                anyhow::bail!(
                    "{} holds another secret than the backup's; pass --force to replace it (what was signed \
                     with the one there stops verifying)",
                    path.display()
                );
            }
        }
    }

    // The old store's WAL belongs to the old file: left beside the new one, SQLite would replay it.
    for suffix in SQLITE_SIDE_FILES {
        let mut side = db.as_os_str().to_owned();
        side.push(suffix);
        match std::fs::remove_file(Path::new(&side)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    copy.commit(&db).with_context(|| format!("cannot write {}", db.display()))?;
    for (name, value) in &secrets {
        let path = data_dir.join(name);
        let file = TempFile::beside(&path)?;
        std::fs::write(file.path(), value)?;
        file.commit(&path).with_context(|| format!("cannot write {}", path.display()))?;
    }

    println!(
        "restored {} into {} (schema version {}: {} submissions, {} rooms)",
        args.from.display(),
        db.display(),
        backup.version,
        backup.submissions,
        backup.rooms
    );
    let names: Vec<&str> = secrets.iter().map(|(name, _)| name.as_str()).collect();
    if !names.is_empty() {
        println!("  secrets written to {}: {}", data_dir.display(), names.join(", "));
    }
    if backup.recordings > 0 {
        let dir = data_dir.join(RECORDINGS_DIR);
        println!(
            "  {} voice recordings are files the backup does not hold: copy them back into {dir} \
             (`rsync -a BACKUP/{RECORDINGS_DIR}/ {dir}/`) before starting the server",
            backup.recordings,
            dir = dir.display()
        );
    }
    Ok(())
}

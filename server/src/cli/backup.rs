//! `handoff backup --to FILE`: a consistent copy of the SQLite store, taken while the server runs, with
//! the secrets the server generated in its data dir. The file is 0600 (it holds candidates' data and
//! the secrets) and appears whole or not at all. Voice recordings are files beside the store and are
//! not in it: the command says how many there are and how to copy them.

use std::path::Path;

use anyhow::Context as _;

use super::{TempFile, sqlite_path};
use crate::config::BackupArgs;
use crate::recording::RECORDINGS_DIR;
use crate::secrets;
use crate::store::sqlite_backup;

pub fn run(args: BackupArgs) -> anyhow::Result<()> {
    let config = &args.config;
    let db = sqlite_path(&config.store_url())?;
    if !db.is_file() {
        anyhow::bail!("there is no store at {} (check --data-dir or --store)", db.display());
    }
    if args.to.exists() && !args.force {
        anyhow::bail!("{} exists; pass --force to replace it", args.to.display());
    }
    let secrets = read_secrets(&config.data_dir)?;
    let tmp =
        TempFile::beside(&args.to).with_context(|| format!("cannot write beside {}", args.to.display()))?;
    let contents = sqlite_backup::back_up(&db, tmp.path(), &secrets)
        .with_context(|| format!("cannot back up {}", db.display()))?;
    tmp.commit(&args.to).with_context(|| format!("cannot write {}", args.to.display()))?;

    println!(
        "backed up {} to {} (schema version {}: {} submissions, {} rooms)",
        db.display(),
        args.to.display(),
        contents.version,
        contents.submissions,
        contents.rooms
    );
    let names: Vec<&str> = secrets.iter().map(|(name, _)| name.as_str()).collect();
    if !names.is_empty() {
        println!("  with the data dir's secrets: {}", names.join(", "));
    }
    println!("  not in it: secrets given by flag or environment; keep them with the configuration");
    if contents.recordings > 0 {
        let dir = config.data_dir.join(RECORDINGS_DIR);
        println!(
            "  not in it: {} voice recordings, files under {dir}; copy them too: `rsync -a {dir}/ BACKUP/{RECORDINGS_DIR}/`",
            contents.recordings,
            dir = dir.display()
        );
    }
    Ok(())
}

/// The secret files the server generated in `data_dir` (name, content); those given by flag or
/// environment are not there.
fn read_secrets(data_dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut found = Vec::new();
    for name in secrets::FILES {
        let path = data_dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(value) if !value.trim().is_empty() => found.push((name.to_owned(), value.trim().to_owned())),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }
    Ok(found)
}

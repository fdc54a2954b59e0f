//! Who holds the data dir. Every running server holds a shared lock on [`LOCK_FILE`] in it, for as long
//! as it runs; `handoff restore` takes an exclusive one. So a restore refuses while any server runs on the
//! data dir, and a server refuses to start while a restore replaces the files under it. Servers share:
//! two on one data dir was never refused, and the lock does not start refusing it. The kernel drops a
//! lock with its process, so a killed server leaves nothing behind to clean up.

use std::fs::File;
use std::io;
use std::path::Path;

use rustix::fs::{FlockOperation, flock};

/// The lock file in the data dir (empty, 0600).
pub(crate) const LOCK_FILE: &str = "handoff.lock";

/// A held lock on a data dir; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

/// How the lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hold {
    /// A server: any number at once, but not beside a restore.
    Shared,
    /// A restore: alone.
    Exclusive,
}

/// Takes the data dir's lock without waiting: `None` when someone else holds it in a way that excludes
/// `hold`. The data dir must exist.
pub(crate) fn try_lock(data_dir: &Path, hold: Hold) -> io::Result<Option<DirLock>> {
    let file = crate::private_fs::private_file_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(data_dir.join(LOCK_FILE))?;
    let operation = match hold {
        Hold::Shared => FlockOperation::NonBlockingLockShared,
        Hold::Exclusive => FlockOperation::NonBlockingLockExclusive,
    };
    match flock(&file, operation) {
        Ok(()) => Ok(Some(DirLock { _file: file })),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_share_the_data_dir_and_a_restore_needs_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let server = try_lock(dir.path(), Hold::Shared).unwrap().expect("a first server");
        let second = try_lock(dir.path(), Hold::Shared).unwrap();
        assert!(second.is_some(), "a second server is not refused");
        assert!(try_lock(dir.path(), Hold::Exclusive).unwrap().is_none(), "no restore under servers");
        drop((server, second));
        let restore = try_lock(dir.path(), Hold::Exclusive).unwrap().expect("a restore alone");
        assert!(try_lock(dir.path(), Hold::Shared).unwrap().is_none(), "no server during a restore");
        drop(restore);
        assert!(try_lock(dir.path(), Hold::Shared).unwrap().is_some());
    }
}

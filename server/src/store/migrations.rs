//! Versioned schema migrations, the rule every backend keeps.
//!
//! A backend's schema is a list of numbered steps, step `n` bringing the database from version `n - 1`
//! to `n`. The database records the version it is at in a `schema_version` table; a database from
//! before versions were recorded has none and counts as version 0 (step 1 of each backend is written to
//! be harmless on the layout such a database already has). At start the store runs, in one transaction,
//! every step after the recorded version, then records the last. A step, once released, never changes:
//! a change to the schema is a new step at the end of the list.
//!
//! A database recorded at a version this build does not know was migrated by a newer build: its tables
//! may mean things this build would misread or overwrite, so the store refuses to open it
//! ([`StoreError::SchemaTooNew`]) rather than guess.

use std::ops::RangeInclusive;

use super::{StoreError, StoreResult};

/// A schema version: how many steps of a backend's list a database has run.
pub(crate) type SchemaVersion = u32;

/// The steps to run on a database at version `found` for a build that knows `known` steps (empty when
/// the database is current); fails with [`StoreError::SchemaTooNew`] for a database ahead of the build.
pub(crate) fn steps_after(
    found: SchemaVersion,
    known: SchemaVersion,
) -> StoreResult<RangeInclusive<SchemaVersion>> {
    if found > known {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    Ok(found + 1..=known)
}

/// A backend's step list as its version: the number of steps.
pub(crate) fn latest<T>(steps: &[T]) -> SchemaVersion {
    SchemaVersion::try_from(steps.len()).unwrap_or(SchemaVersion::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_runs_the_steps_it_has_not_run_and_one_ahead_is_refused() {
        assert_eq!(steps_after(0, 3).unwrap(), 1..=3, "a database without versions runs every step");
        assert_eq!(steps_after(1, 3).unwrap(), 2..=3);
        assert!(steps_after(3, 3).unwrap().is_empty(), "a current database runs nothing");
        let refused = steps_after(4, 3).unwrap_err();
        assert!(matches!(refused, StoreError::SchemaTooNew { found: 4, known: 3 }), "{refused:?}");
        let message = refused.to_string();
        assert!(message.contains("version 4") && message.contains("version 3"), "{message}");
        assert_eq!(latest(&["a", "b"]), 2);
    }
}

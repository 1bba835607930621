//! The `backup` relation interface.
//!
//! backup-integrator (and any charm with files to back up) requires it; a backup agent such as
//! the bacula-fd charm provides it. Only the requirer writes: its leader puts what to back up
//! and the scripts to run around backups and restores in its application bag.

pub mod v1;

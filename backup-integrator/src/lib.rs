//! The backup-integrator subordinate charm: requests backups of a principal's files on its
//! behalf, over the `backup` relation, from a backup agent such as bacula-fd.
//!
//! A drop-in replacement for the Python charm of the same name (canonical/backup-operators):
//! same `charmcraft.yaml` metadata and config, same relation data, same status messages, so
//! `juju refresh backup-integrator --path ./backup-integrator_*.charm` changes nothing else.
//!
//! # What a hook does
//! Every hook but `remove` runs one reconcile ([`BackupIntegrator`]), those the Python charm
//! observed (backup-relation-created/-changed, config-changed, leader-elected,
//! leader-settings-changed, upgrade-charm) and the others alike, as it is cheap and idempotent:
//! 1. read and validate the whole configuration ([`config`]); nothing is written before it is
//!    known to be valid;
//! 2. without a live `backup` relation, wait;
//! 3. on the leader only: bring the script files in line with the `run-*` options
//!    ([`scripts`]), then the `backup` application bag of every backup relation, with
//!    charm-core's `contract::publish_all` and proto's `BackupRequirerData` (only the keys that
//!    changed, stale keys deleted, no write when equal);
//! 4. report one status.
//!
//! `remove` deletes the unit's script directory.
//!
//! Statuses, highest priority first (as ops orders them):
//! - Blocked `missing fileset config`: `fileset` unset or blank;
//! - Blocked `invalid config: <what>`: e.g. `invalid config: fileset`,
//!   `invalid config: run-after-backup must start with #!` (several joined by `, `); the detail,
//!   with the offending value, is in `juju debug-log`;
//! - Waiting `waiting for backup relation`: no `backup` relation, or the last one is being
//!   broken (the Python charm stayed Active); the scripts stay until `remove`, for the next
//!   relation;
//! - Active.
//!
//! # Choices (beyond the Python charm)
//! - Every unit validates the configuration, not only the leader: config is application-wide,
//!   so every unit reports the same Blocked status. Only the leader writes files and the bag.
//! - Precedence: a configuration problem (Blocked) wins over a missing relation (Waiting),
//!   which is ops' status priority; the Python charm reported `missing fileset config` first
//!   too, but checked the relation before the other validations.
//! - Scripts are replaced atomically (temporary file and rename in the same directory), are
//!   not rewritten when unchanged, are deleted when their option is unset (and their key
//!   removed from the bag), and must start with `#!`.
//! - Fileset paths follow the Python library's rules (through `proto::backup::v1`) and, on
//!   top of them, may not contain control characters: a newline in a path would end up as a
//!   line of the backup agent's configuration file.
//! - Where scripts live is configurable for tests only ([`script_root`]).
//!
//! # Known limitation kept for compatibility
//! The bag is per application but the script paths name the leader unit's directory, as in
//! the Python charm: with several units, the scripts exist on the leader's machine only.

mod charm;
pub mod config;
pub mod script_root;
pub mod scripts;

pub use charm::BackupIntegrator;

/// The relation endpoint backups are requested on.
pub const BACKUP_ENDPOINT: &str = "backup";

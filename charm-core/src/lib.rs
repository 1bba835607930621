//! charm-core: the Rust equivalent of the Python `ops` framework for Juju charms.
//!
//! A charm is a type implementing [`Charm`]; its `main.rs` is one line:
//!
//! ```no_run
//! # #[derive(Default)] struct MyCharm;
//! # impl charm_core::Charm for MyCharm {}
//! fn main() -> std::process::ExitCode {
//!     charm_core::main::<MyCharm>()
//! }
//! ```
//!
//! For every hook Juju runs `dispatch`; [`main`] reads the environment into a [`Context`],
//! the metadata into [`Metadata`], parses the [`Event`], builds a [`Model`] over the
//! hook-tool [`Backend`], re-runs deferred events, runs the charm's handler and
//! `collect_status`, then commits: one `relation-set` per changed bag, one `status-set`
//! (skipped when unchanged), stored state, and the logs (DEBUG lines on stdout, which Juju
//! records at DEBUG, the others in one `juju-log` call per level). An error is logged with its
//! causes and the process exits 1, committing nothing.
//!
//! Compatibility target: ops 3.x against Juju 3 — the same hook-tool command lines, the same
//! permission rules for relation data, the same status priorities, the same key log lines
//! (`Emitting Juju event <name>.`, `Deferring <event>.`, `Re-emitting deferred event <event>
//! (i of n in queue).`).
//!
//! Choices worth knowing:
//! - Reads are lazy and cached for the hook; writes are buffered until the hook succeeds, so
//!   a failing hook changes nothing (Juju also discards relation data of failed hooks).
//! - Handlers are `async` on a current-thread tokio runtime owned by charm-core.
//! - The reconcile style is preferred over deferral: see [`state`].
//! - Every hook-tool call starts a process: reads happen at most once per hook, writes that
//!   change nothing are skipped (relation data, the unit status: see [`status`]), and a hook
//!   that only logs at DEBUG starts no `juju-log` at all (see [`log`]).
//! - Testing: `testing` (cargo feature `testing`) runs charms against in-memory states.

#![warn(missing_docs)]

pub mod backend;
pub mod charm;
pub mod context;
pub mod contract;
mod dispatch;
pub mod event;
pub mod hooktool;
pub mod log;
pub mod metadata;
pub mod model;
pub mod network;
pub mod pebble;
pub mod secret;
pub mod state;
pub mod status;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use backend::{Backend, BackendError};
pub use charm::{Charm, CharmError};
pub use context::{Context, JujuVersion};
pub use dispatch::{HookError, PEBBLE_SOCKET_BASE_VAR, main};
pub use event::{Event, RelationId};
pub use metadata::Metadata;
pub use model::{Bag, Config, ConfigError, Model, ModelError, Relation};
pub use network::Port;
pub use secret::{SecretGet, SecretSpec};
pub use state::StateLocation;
pub use status::Status;

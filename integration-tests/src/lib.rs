//! End-to-end tests without a Juju controller: the packed charm, unzipped, its `dispatch`
//! run as Juju runs it, with hook tools on `PATH` that behave like Juju 3.6's.
//!
//! # Parts
//! - [`tools`]: the hook-tool simulator, one multi-call executable (`juju-sim`) linked under
//!   every tool name (`relation-get`, `status-set`, `secret-get`, ...). It follows the command
//!   forms, flags, output formats, error wording and exit codes of Juju's `jujuc` (usage
//!   errors exit 2 with `ERROR option provided but not defined: --x`), and its permission
//!   rules (only the leader writes, or outside peer relations reads, its application bag;
//!   `relation-set --app` by a non-leader fails with `ERROR cannot write relation settings`).
//! - [`model`]: the driver tests use: deploy, relate, configure, upgrade, change leader, scale,
//!   remove, run actions. It queues the hooks Juju would run, in Juju's documented orders, and
//!   runs each as a real process.
//! - [`state`] and [`store`]: the model lives in one JSON file, read and written by the driver
//!   and every tool process under an exclusive `flock`.
//! - [`charm`]: metadata as Juju reads it from the unpacked charm; `.charm` unpacking.
//! - [`fixture`]: a shell-script charm for stand-in applications and driver tests.
//! - [`packed`]: the real charms packed for tests with `cargo xtask pack`'s code, around the
//!   `charm-*` binaries of this crate (built by `cargo test`, no separate build step).
//! - [`backup_agent`]: a Rust test charm on the provider side of the `backup` relation.
//! - [`image_backup`]: the image-backup charm's platform for these tests (its controller API at
//!   an address the test gives, since the fake Pebble runs no controller).
//! - [`resource`]: resources as `resource-get` hands them to a charm.
//!
//! End-to-end scenarios live in `tests/`, one file per charm: `backup_integrator.rs`,
//! `cloudcasa.rs`, `image_backup.rs` (with a fake controller serving the real gRPC API, a
//! script requirer, and cloudcasa related to it); a new charm adds its own file the same way. Helpers more than
//! one file needs (packing, deploying cloudcasa) are in `tests/common/`.
//!
//! # Choices
//! - **Transactions like Juju's.** Relation data, ports, charm state, secrets and storage
//!   requests go into the running hook's journal; the hook sees its own writes, others see
//!   them only once the hook exits 0, and a failing hook's journal is dropped. Status, logs,
//!   workload version and action results take effect at once, as they do in Juju.
//! - **The agent's context, not the environment.** Tools find the running hook by
//!   `JUJU_CONTEXT_ID` in the state file (named by `JUJU_SIM_STATE`), so a charm that edits
//!   `JUJU_RELATION_ID` gets what Juju would give it; a tool run after its hook ended fails.
//! - **One hook at a time, in any order Juju allows.** Juju runs units' hooks concurrently;
//!   the driver runs them one by one from a queue. [`Schedule::Repeated`] runs every hook
//!   twice; [`Schedule::Shuffled`] picks, from a seed, other orders Juju allows (units
//!   interleaved, floating hooks reordered, hooks repeated, spurious `config-changed` and
//!   `update-status`). Scenarios run under several schedules and must end the same
//!   ([`same_end_state`]). Tests that want one particular order turn auto-settle off, reorder
//!   the queue, and settle.
//! - **Pebble is a fake on a real socket.** Every workload container of a Kubernetes unit
//!   gets charm-core's `FakePebble` at `<unit>/containers/<name>/pebble.socket`, and hooks get
//!   `CHARM_CORE_PEBBLE_SOCKET_BASE` pointing there, so `*-pebble-ready` handlers talk to
//!   Pebble over HTTP as in a pod ([`Model::pebble`] shows its state).
//! - **Every unit has its own copy of the charm**, as on separate machines: files a charm
//!   writes in its directory survive upgrades (charm files are replaced, others kept).
//!
//! # Not simulated
//! Workloads (Pebble's services do not run: see `charm_core::pebble::fake`), time (no
//! `update-status` unless asked, no secret expiry or rotation, no `since` in `goal-state`),
//! `remove-application` (remove its units instead: the last unit's `goal-state` shows no
//! planned unit, as when an application goes), relation suspension, cross-model relations,
//! and the tools Juju 3 no longer has or charms
//! here do not use (`leader-get`/`leader-set`, `credential-get`, `juju-reboot`,
//! `add-metric`, `payload-*`): a charm calling those gets "command not found". YAML output
//! comes from serde_yaml, which quotes ambiguous strings with `'` where Go's yaml uses `"`.
//!
//! # Writing a scenario
//! ```no_run
//! use integration_tests::{Deploy, Model, fixture::ScriptCharm};
//!
//! // In this crate's tests, `juju_sim` is `env!("CARGO_BIN_EXE_juju-sim")`.
//! fn scenario(juju_sim: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let host = ScriptCharm::new("name: host\n")?;
//! let mut model = Model::new(juju_sim)?;
//! model.deploy("host", Deploy::new(host.path()).units(2))?;
//! model.deploy("my-sub", Deploy::new("dist/my-sub.charm").units(0))?;
//! let rel = model.relate("my-sub", "host")?;
//! model.config_set("my-sub", &[("fileset", "/srv")])?;
//! assert_eq!(model.unit_status("my-sub/0")?.status, "active");
//! # let _ = rel;
//! Ok(())
//! }
//! ```
//!
//! # Adding a charm's end-to-end tests
//! 1. A `[[bin]]` in this crate's `Cargo.toml`, `src/bin/charm-<name>.rs`, whose `main` is
//!    the charm crate's (`charm_core::main::<the_charm::TheCharm>()`);
//! 2. `tests/<name>.rs`: [`packed::pack`] with the charm crate's directory and
//!    `env!("CARGO_BIN_EXE_charm-<name>")`, then scenarios on a [`Model`], each run under
//!    [`Schedule::all`] with [`same_end_state`] (see `tests/backup_integrator.rs`).
//!
//! Test-only knobs a charm needs (a directory to write in, a socket base, a kubeconfig, the
//! address of a fake service) go in [`Deploy::env`]: the simulator starts hooks with a clean
//! environment. A charm that reaches a service through a trait (image-backup's `Platform`)
//! gets a test implementation here that reads such a variable, and its bin says that this is
//! its one difference from the production `main` (see [`image_backup`]).

pub mod backup_agent;
pub mod charm;
pub mod fixture;
pub mod image_backup;
pub mod model;
pub mod packed;
pub mod resource;
pub mod state;
pub mod store;
pub mod tools;

pub use model::{Deploy, Hook, HookCall, Model, ModelError, Schedule, same_end_state};

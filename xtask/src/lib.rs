//! Build tooling: `cargo xtask pack` builds the deployable `.charm` files into `dist/`;
//! `cargo xtask image` builds the image-backup controller's workload image ([`image`]);
//! `cargo xtask new-charm` starts a charm crate of its own from a template ([`new_charm`]).
//!
//! # xtask and charmcraft
//! Every charm's `charmcraft.yaml` also builds it with `charmcraft pack` (its `charm` part,
//! craft-parts' rust plugin): xtask is the quick local path to the same files. The
//! `charmcraft` test holds the two side by side with charmcraft's own code.
//!
//! # Which crates are charms
//! A crate is a charm when a `charmcraft.yaml` sits next to its `Cargo.toml`; every other
//! crate is skipped. The binary that becomes the charm's `dispatch` is named in the crate's
//! manifest:
//!
//! ```toml
//! [package.metadata.charm]
//! bin = "backup-integrator"
//! ```
//!
//! and may be left out when the crate has exactly one `[[bin]]`.
//!
//! # What a `.charm` holds
//! A zip, as charmcraft writes it: `dispatch` (the binary itself, mode 0755: Juju executes it
//! directly, no shell wrapper), `metadata.yaml`, `config.yaml` and `actions.yaml` (the latter
//! only when non-empty) split out of `charmcraft.yaml` the way charmcraft splits it,
//! `manifest.yaml` with the `bases` Juju 3 reads, and `icon.svg` when the crate has one:
//! what Juju reads, nothing more. One file per `bases` entry (or platform), named as charmcraft
//! names them: `backup-integrator_ubuntu-22.04-amd64_ubuntu-24.04-amd64.charm`.
//!
//! # Why musl
//! The charm must run on Ubuntu 22.04 and 24.04 machines whatever glibc they have, so the
//! shipped binary is built for `x86_64-unknown-linux-musl` and checked to be self-contained
//! (no program interpreter, no shared libraries) before it is packed. Only amd64 is built.
//!
//! # Reproducible
//! Archives have sorted entries, fixed timestamps and fixed compression: packing twice
//! without changes gives byte-identical files.
//!
//! # Quick builds for tests
//! [`pack::Build`] with `release: false` packs a debug build (still musl and static);
//! `host: true` skips musl for machines without the target (the binary is then dynamic and
//! the static check is skipped). End-to-end tests call this library with their own target
//! directory.

pub mod archive;
pub mod charmcraft;
pub mod elf;
pub mod image;
pub mod new_charm;
pub mod pack;

pub use pack::{Build, CharmCrate, Workspace, pack};

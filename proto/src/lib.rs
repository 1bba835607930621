//! Relation contracts and gRPC services, described in `.proto` files.
//!
//! | module | package | what |
//! | --- | --- | --- |
//! | [`backup::v1`] | `charms.backup.v1` | the `backup` interface (backup-integrator, bacula-fd), wire-compatible with the Python library |
//! | [`image_backup::v1`] | `charms.image_backup.v1` | the `image-backup` interface and the controller's `ImageBackupService` gRPC API |
//! | [`image_backup::requirer`] | | the `image-backup` requirer's side, for charms written with charm-core |
//!
//! The `.proto` files under `proto/` are the source of truth and carry the documentation; each
//! package is versioned (`...v1`) so that a `v2` can live beside it while peers migrate.
//!
//! # Relation bags
//! Protobuf describes the content of each side's data bag, but a Juju bag is a flat
//! `string -> string` map that existing (Python) charms read, so the bag encoding is not
//! protobuf's: each message implements [`charm_core::contract::BagCodec`] with the interface's
//! own key names, list separators and validation rules, documented in its module.
//!
//! # Generated code is committed
//! `src/gen/` holds the prost/tonic output, produced with the pure-Rust `protox` compiler (no
//! system `protoc`), and the test `tests/generated.rs` regenerates it into a temporary directory
//! and fails when the committed copy is stale (`UPDATE_GENERATED=1 cargo test -p proto --test
//! generated` refreshes it). Chosen over a `build.rs` because:
//! - every charm depends on this crate, and a build script would add protox, prost-build,
//!   tonic-build and their parsers (prost-reflect, pulldown-cmark, syn, prettyplease...) to every
//!   charm's build, and run them on every clean build (musl and release included), for output
//!   that changes only when a `.proto` file does;
//! - the generated API is reviewable in diffs and readable without building, which matters for a
//!   wire contract: a `.proto` change shows the Rust change it causes in the same commit;
//! - the cost, forgetting to regenerate, is caught by that test.
//!
//! The generated modules are included with `include!`, so `cargo fmt` leaves them byte-for-byte
//! as the generator wrote them.

pub mod backup;
pub mod image_backup;

//! backup-integrator's `dispatch`, built by this crate's `cargo test` (the same `main` as the
//! charm crate's) so the end-to-end tests need no separate musl build.
fn main() -> std::process::ExitCode {
    charm_core::main::<backup_integrator::BackupIntegrator>()
}

//! `dispatch` of the test provider charm (`charms/backup-agent`).
fn main() -> std::process::ExitCode {
    charm_core::main::<integration_tests::backup_agent::BackupAgent>()
}

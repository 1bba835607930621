//! `dispatch`: Juju runs this binary for every hook and action.

fn main() -> std::process::ExitCode {
    // kube's and tonic's rustls need a process-wide crypto provider before the first
    // connection; ring is the only one built in. An error only means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    charm_core::main::<image_backup_charm::ImageBackupCharm>()
}

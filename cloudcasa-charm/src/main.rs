//! `dispatch`: Juju runs this binary for every hook.

fn main() -> std::process::ExitCode {
    // kube's rustls needs a process-wide crypto provider before the first connection; ring is
    // the only one built in. An error only means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    charm_core::main::<cloudcasa_charm::CloudCasa>()
}

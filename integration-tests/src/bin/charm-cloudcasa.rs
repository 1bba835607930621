//! cloudcasa's `dispatch`, built by this crate's `cargo test` (the same `main` as the charm
//! crate's `src/main.rs`) so the end-to-end tests need no separate musl build.
fn main() -> std::process::ExitCode {
    // As the charm's own main: kube's rustls needs the ring provider before connecting.
    let _ = rustls::crypto::ring::default_provider().install_default();
    charm_core::main::<cloudcasa_charm::CloudCasa>()
}

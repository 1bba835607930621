//! The Pebble example charm's entry point: the whole `main.rs` of a charm.

mod charm;
#[cfg(test)]
mod tests;

fn main() -> std::process::ExitCode {
    charm_core::main::<charm::Greeter>()
}

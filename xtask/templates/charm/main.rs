//! Juju runs this binary as the charm's `dispatch` for every hook.

mod charm;
#[cfg(test)]
mod tests;

fn main() -> std::process::ExitCode {
    charm_core::main::<charm::{{Type}}>()
}

//! The hook-tool simulator: installed (as symlinks) under every hook tool's name.
fn main() {
    std::process::exit(integration_tests::tools::main(std::env::args_os()));
}

fn main() -> std::process::ExitCode {
    charm_core::main::<backup_integrator::BackupIntegrator>()
}

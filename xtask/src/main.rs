//! Build tooling: `cargo xtask pack` builds the deployable charms.
fn main() -> anyhow::Result<()> {
    anyhow::bail!("no xtask commands yet")
}

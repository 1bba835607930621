//! Writing the `backup` application bag: the requirer side of the interface.
//!
//! As the Python library's `BackupDynamicRequirer`: every relation on the endpoint gets the
//! same content, and a bag that already holds it is not written (no needless
//! `relation-changed` on the agent's side). Unlike it, a changed bag is not cleared and
//! rewritten: only the keys that changed are set and the stale ones deleted, in one
//! `relation-set`, which leaves the same bag.

use charm_core::contract::{self, BagChanges};
use charm_core::{Bag, Model, ModelError};

use crate::BACKUP_ENDPOINT;

/// Makes the application bag of every live `backup` relation hold exactly `desired`; returns
/// how many bags needed a write. Leader only (the model refuses otherwise).
pub(crate) fn request_backup(model: &Model, desired: &contract::Bag) -> Result<usize, ModelError> {
    let mut written = 0;
    for relation in model.relations(BACKUP_ENDPOINT)? {
        let current = relation.local_app_data()?;
        let changes = BagChanges::between(&current, desired);
        if changes.is_empty() {
            continue;
        }
        tracing::info!(
            "Requesting backup on {}:{} with {desired:?}.",
            relation.endpoint(),
            relation.id()
        );
        relation.update(&Bag::LocalApp, changes.to_settings())?;
        written += 1;
    }
    Ok(written)
}

//! The {{name}} charm, in the reconcile style: every event runs [`{{Type}}::reconcile`],
//! which derives everything from the model. It reads the config, checks it (bad input is a
//! Blocked status saying what to do), hands the greeting to every application related over
//! `greeting` (the leader writes this application's bag) and reports Active.
//!
//! A second run with nothing new changes nothing, whatever event triggers it: that is what
//! makes the charm correct under any order of events. Replace the option, the endpoint and
//! the body with your charm's; keep the shape: read, check, write what differs, report.

use charm_core::{Bag, Charm, CharmError, Model, Status};

/// The config option (`config.options` in charmcraft.yaml).
pub const GREETING: &str = "greeting";
/// The relation endpoint (`provides` in charmcraft.yaml).
pub const ENDPOINT: &str = "greeting";

#[derive(Default)]
pub struct {{Type}};

impl Charm for {{Type}} {
    async fn reconcile(&mut self, model: &Model) -> Result<(), CharmError> {
        let greeting = model.config()?.string(GREETING)?.unwrap_or_default();
        let greeting = greeting.trim();
        if greeting.is_empty() {
            model.add_status(Status::blocked(
                "empty greeting: set one with `juju config {{name}} greeting=hello`",
            ));
            return Ok(());
        }
        // Only the leader may write the application's bag.
        if model.is_leader()? {
            for relation in model.relations(ENDPOINT)? {
                let published = relation.local_app_data()?;
                if published.get(GREETING).map(String::as_str) != Some(greeting) {
                    // Buffered: sent as one `relation-set` when the hook succeeds.
                    relation.set(&Bag::LocalApp, GREETING, greeting)?;
                }
            }
        }
        model.add_status(Status::active(""));
        Ok(())
    }
}

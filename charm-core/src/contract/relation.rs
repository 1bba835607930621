//! Contracts applied to the model's relations: the requirer/provider helpers the Python charm
//! libraries offer (`BackupDynamicRequirer.require_backup`, `BackupProvider.get_backup_spec`).

use std::fmt;

use super::{BagChanges, BagCodec, ValidationErrors, decode_remote};
use crate::event::RelationId;
use crate::model::{Bag, Model, ModelError, Relation};
use crate::status::Status;

/// What [`publish`] did to one relation's application bag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// This unit is not the leader: only the leader writes the application bag.
    NotLeader,
    /// The bag already held the message: nothing written, so the other side sees no
    /// `relation-changed`.
    Unchanged,
    /// These changes were buffered (sent by `relation-set` when the hook succeeds).
    Written(BagChanges),
}

/// [`publish`] failed: nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The message is invalid; every bad field is listed with its bag key.
    #[error("invalid {endpoint} relation data: {errors}")]
    Invalid {
        /// The relation endpoint.
        endpoint: String,
        /// Every invalid field.
        errors: ValidationErrors,
    },
    /// Reading leadership or the bag failed.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// Makes this application's bag in `relation` hold exactly `message`: validated and encoded
/// first (an invalid message writes nothing), written only by the leader, not written when the
/// bag already holds it, keys no longer present deleted.
pub fn publish<T: BagCodec>(
    model: &Model,
    relation: &Relation<'_>,
    message: &T,
) -> Result<Published, PublishError> {
    let desired = message.to_bag().map_err(|errors| PublishError::Invalid {
        endpoint: relation.endpoint().to_owned(),
        errors,
    })?;
    if !model.is_leader()? {
        return Ok(Published::NotLeader);
    }
    let changes = BagChanges::between(&relation.local_app_data()?, &desired);
    if changes.is_empty() {
        return Ok(Published::Unchanged);
    }
    relation.update(&Bag::LocalApp, changes.to_settings())?;
    Ok(Published::Written(changes))
}

/// [`publish`] to every relation of `endpoint`, as the Python requirers do; the message is
/// validated once, before any relation is touched.
pub fn publish_all<T: BagCodec>(
    model: &Model,
    endpoint: &str,
    message: &T,
) -> Result<Vec<(RelationId, Published)>, PublishError> {
    message.to_bag().map_err(|errors| PublishError::Invalid {
        endpoint: endpoint.to_owned(),
        errors,
    })?;
    model
        .relations(endpoint)?
        .iter()
        .map(|relation| Ok((relation.id(), publish(model, relation, message)?)))
        .collect()
}

/// Why [`read_remote`] has no message for a relation.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The remote application has written nothing yet (or is not known yet).
    #[error("{endpoint} relation {relation}: waiting for the remote application's data")]
    NotReady {
        /// The relation endpoint.
        endpoint: String,
        /// The relation.
        relation: RelationId,
    },
    /// The remote application wrote an invalid bag; every bad field is listed with its key.
    #[error("{endpoint} relation {relation}: invalid remote data: {errors}")]
    Invalid {
        /// The relation endpoint.
        endpoint: String,
        /// The relation.
        relation: RelationId,
        /// Every invalid field.
        errors: ValidationErrors,
    },
    /// Reading the relation failed (e.g. it was removed meanwhile).
    #[error(transparent)]
    Model(#[from] ModelError),
}

impl RemoteError {
    /// The status a charm usually reports for this: Waiting while the other side has not
    /// written, Blocked naming the invalid keys. `None` for a model error, which should fail
    /// the hook (Juju retries it) rather than become a status.
    pub fn status(&self) -> Option<Status> {
        match self {
            RemoteError::NotReady { endpoint, .. } => Some(Status::waiting(format!(
                "waiting for {endpoint} relation data"
            ))),
            RemoteError::Invalid {
                endpoint, errors, ..
            } => Some(Status::blocked(format!(
                "invalid {endpoint} relation data: {}",
                KeyList(errors)
            ))),
            RemoteError::Model(_) => None,
        }
    }
}

/// `a, b, c`.
struct KeyList<'a>(&'a ValidationErrors);

impl fmt::Display for KeyList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, key) in self.0.keys().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(key)?;
        }
        Ok(())
    }
}

/// The remote application's message in `relation`, decoded and validated.
pub fn read_remote<T: BagCodec>(relation: &Relation<'_>) -> Result<T, RemoteError> {
    let not_ready = || RemoteError::NotReady {
        endpoint: relation.endpoint().to_owned(),
        relation: relation.id(),
    };
    if relation.remote_app()?.is_none() {
        return Err(not_ready());
    }
    match decode_remote(&relation.remote_app_data()?) {
        Ok(Some(message)) => Ok(message),
        Ok(None) => Err(not_ready()),
        Err(errors) => Err(RemoteError::Invalid {
            endpoint: relation.endpoint().to_owned(),
            relation: relation.id(),
            errors,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{Bag as DataBag, BagDecoder, BagEncoder};
    use crate::metadata::{ConfigValue, Metadata};
    use crate::testing::{Context, Relation as TestRelation, State};
    use crate::{Charm, CharmError, Event};

    /// A one-field contract: `greeting` must not contain `!`.
    #[derive(Debug, PartialEq)]
    struct Greeting(String);

    impl BagCodec for Greeting {
        fn to_bag(&self) -> Result<DataBag, ValidationErrors> {
            let mut bag = BagEncoder::new();
            if self.0.contains('!') {
                bag.error("greeting", "no shouting", Some(&self.0));
            }
            bag.required("greeting", &self.0);
            bag.finish()
        }

        fn from_bag(bag: &DataBag) -> Result<Self, ValidationErrors> {
            let mut fields = BagDecoder::new(bag);
            let greeting = fields.required_with("greeting", |v| {
                if v.contains('!') {
                    Err("no shouting".to_owned())
                } else {
                    Ok(v.to_owned())
                }
            });
            fields.finish()?;
            Ok(Greeting(greeting.unwrap_or_default()))
        }
    }

    /// Publishes its `greeting` config on `out`, reads the greeting of `in`, reports both.
    #[derive(Default)]
    struct Greeter;

    impl Charm for Greeter {
        async fn reconcile(&mut self, model: &Model) -> Result<(), CharmError> {
            let mut status = Status::active("");
            let greeting = model.config()?.string("greeting")?.unwrap_or_default();
            match publish_all(model, "out", &Greeting(greeting)) {
                Ok(published) => {
                    for (id, what) in published {
                        tracing::info!("published on {id}: {what:?}");
                    }
                }
                Err(PublishError::Invalid { errors, .. }) => {
                    let keys: Vec<&str> = errors.keys().collect();
                    status = Status::blocked(format!("invalid config: {}", keys.join(", ")));
                }
                Err(e) => return Err(e.into()),
            }
            if let Some(relation) = model.relation("in")? {
                status = match read_remote::<Greeting>(&relation) {
                    Ok(Greeting(remote)) => Status::active(remote),
                    Err(e) => e.status().ok_or(e)?,
                };
            }
            model.add_status(status);
            Ok(())
        }
    }

    fn context() -> Context<Greeter> {
        let meta = Metadata::from_packed(
            "name: greeter\nprovides:\n  out: greeting\nrequires:\n  in: greeting\n",
            Some("options:\n  greeting:\n    type: string\n"),
            None,
        )
        .unwrap();
        Context::new(meta)
    }

    fn state(leader: bool, greeting: &str, relations: Vec<TestRelation>) -> State {
        State {
            leader,
            config: [("greeting".to_owned(), ConfigValue::String(greeting.into()))].into(),
            relations,
            ..State::default()
        }
    }

    fn relation_sets(out: &State) -> Vec<&str> {
        out.tool_calls
            .iter()
            .map(String::as_str)
            .filter(|call| call.starts_with("relation-set"))
            .collect()
    }

    #[test]
    fn leader_writes_replaces_stale_keys_then_skips_equal_content() {
        let out_rel = TestRelation::new("out", "listener")
            .local_app_data([("greeting", "old"), ("stale", "x")]);
        let out = context()
            .run(Event::ConfigChanged, state(true, "hello", vec![out_rel]))
            .unwrap();
        let bag = &out.relation_on("out").unwrap().local_app_data;
        assert_eq!(bag, &DataBag::from([("greeting".into(), "hello".into())]));
        assert_eq!(relation_sets(&out).len(), 1, "{:?}", out.tool_calls);

        let again = context().run(Event::ConfigChanged, out.clone()).unwrap();
        assert!(relation_sets(&again).is_empty(), "{:?}", again.tool_calls);
        assert_eq!(again.relation_on("out").unwrap().local_app_data, *bag);
    }

    #[test]
    fn non_leader_writes_nothing() {
        let out_rel = TestRelation::new("out", "listener");
        let out = context()
            .run(Event::ConfigChanged, state(false, "hello", vec![out_rel]))
            .unwrap();
        assert!(out.relation_on("out").unwrap().local_app_data.is_empty());
        assert!(relation_sets(&out).is_empty());
    }

    #[test]
    fn invalid_message_writes_nothing_and_names_the_key() {
        let out_rel = TestRelation::new("out", "listener").local_app_data([("greeting", "hi")]);
        let out = context()
            .run(Event::ConfigChanged, state(true, "hello!", vec![out_rel]))
            .unwrap();
        assert_eq!(
            out.unit_status,
            Some(Status::blocked("invalid config: greeting"))
        );
        assert_eq!(
            out.relation_on("out").unwrap().local_app_data["greeting"],
            "hi"
        );
        assert!(relation_sets(&out).is_empty());
    }

    #[test]
    fn remote_side_waiting_invalid_and_ready() {
        let run = |remote: &[(&str, &str)]| {
            let in_rel = TestRelation::new("in", "speaker").remote_app_data(remote.iter().copied());
            context()
                .run(Event::ConfigChanged, state(false, "hello", vec![in_rel]))
                .unwrap()
                .unit_status
        };
        assert_eq!(
            run(&[]),
            Some(Status::waiting("waiting for in relation data"))
        );
        assert_eq!(
            run(&[("greeting", "hey!")]),
            Some(Status::blocked("invalid in relation data: greeting"))
        );
        assert_eq!(
            run(&[("greeting", "hey"), ("extra", "x")]),
            Some(Status::active("hey"))
        );
    }
}

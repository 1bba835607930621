//! Relations and their data bags, with ops' permission rules.
//!
//! - Every unit bag in a relation is readable; so is the remote application's bag.
//! - This application's bag is readable only by the leader, except on peer relations (where
//!   every unit shares it).
//! - A unit writes only its own unit bag; only the leader writes this application's bag; no one
//!   writes a remote bag.
//! - Keys are non-empty strings, values are strings; an empty value deletes the key.
//!
//! Writes are buffered and sent as one `relation-set` per changed bag when the hook succeeds;
//! reads see the buffered writes.

use std::collections::BTreeMap;

use super::{Model, ModelError};
use crate::backend::{BackendError, RelationRef};
use crate::event::{Event, RelationId};
use crate::metadata::{Endpoint, Role};

/// Which data bag of a relation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Bag {
    /// This application's bag.
    LocalApp,
    /// This unit's bag.
    LocalUnit,
    /// The remote application's bag.
    RemoteApp,
    /// The bag of a unit (remote, or a peer, or this unit).
    Unit(String),
}

/// A relation of this unit: a cheap handle; data is fetched through the model.
#[derive(Debug, Clone)]
pub struct Relation<'m> {
    model: &'m Model,
    endpoint: String,
    id: RelationId,
}

impl Model {
    fn endpoint_spec(&self, endpoint: &str) -> Result<&Endpoint, ModelError> {
        self.meta.endpoints.get(endpoint).ok_or_else(|| {
            let names = self.meta.endpoints.keys().map(String::as_str).collect();
            self.undeclared("an endpoint", endpoint, names)
        })
    }

    fn relation_ids(&self, endpoint: &str) -> Result<Vec<RelationId>, ModelError> {
        self.endpoint_spec(endpoint)?;
        if let Some(ids) = self.cache.borrow().relation_ids.get(endpoint) {
            return Ok(ids.clone());
        }
        let ids = self.with_backend(|b| b.relation_ids(endpoint))?;
        let mut cache = self.cache.borrow_mut();
        for id in &ids {
            cache.endpoints.insert(*id, endpoint.to_string());
        }
        cache.relation_ids.insert(endpoint.to_string(), ids.clone());
        Ok(ids)
    }

    /// The relation being broken by the current event, which ops hides from `relations()`.
    fn broken_relation(&self) -> Option<RelationId> {
        match &*self.event.borrow() {
            Some(Event::RelationBroken(r)) => Some(r.id),
            _ => None,
        }
    }

    /// The live relations on `endpoint` (`relation-ids`, once per hook). During
    /// `relation-broken` the broken relation is left out, as ops does.
    pub fn relations(&self, endpoint: &str) -> Result<Vec<Relation<'_>>, ModelError> {
        let broken = self.broken_relation();
        Ok(self
            .relation_ids(endpoint)?
            .into_iter()
            .filter(|id| Some(*id) != broken)
            .map(|id| Relation {
                model: self,
                endpoint: endpoint.to_string(),
                id,
            })
            .collect())
    }

    /// The one relation on `endpoint`, if any; an error if there are several.
    pub fn relation(&self, endpoint: &str) -> Result<Option<Relation<'_>>, ModelError> {
        let mut rels = self.relations(endpoint)?;
        match rels.len() {
            0 | 1 => Ok(rels.pop()),
            count => Err(ModelError::TooManyRelations {
                endpoint: endpoint.to_string(),
                count,
            }),
        }
    }

    /// The relation with this id (the event's relation, or one found with `relation-ids`).
    pub fn relation_by_id(&self, id: RelationId) -> Result<Relation<'_>, ModelError> {
        if let Some(r) = self.event.borrow().as_ref().and_then(Event::relation)
            && r.id == id
        {
            return Ok(Relation {
                model: self,
                endpoint: r.endpoint.clone(),
                id,
            });
        }
        if let Some(endpoint) = self.cache.borrow().endpoints.get(&id) {
            return Ok(Relation {
                model: self,
                endpoint: endpoint.clone(),
                id,
            });
        }
        let endpoints: Vec<String> = self.meta.endpoints.keys().cloned().collect();
        for endpoint in endpoints {
            if self.relation_ids(&endpoint)?.contains(&id) {
                return Ok(Relation {
                    model: self,
                    endpoint,
                    id,
                });
            }
        }
        Err(ModelError::RelationNotFound(id.to_string()))
    }

    /// The relation the current event is about (also during `relation-broken`).
    pub fn event_relation(&self) -> Option<Relation<'_>> {
        let event = self.event.borrow();
        let r = event.as_ref()?.relation()?;
        Some(Relation {
            model: self,
            endpoint: r.endpoint.clone(),
            id: r.id,
        })
    }

    /// Drops buffered writes that would not change the bag as last read.
    pub(super) fn effective_changes(
        &self,
        id: RelationId,
        app: bool,
        changes: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        let member = if app {
            self.ctx.app_name.clone()
        } else {
            self.ctx.unit_name.clone()
        };
        let cache = self.cache.borrow();
        let Some(current) = cache.bags.get(&(id, member, app)) else {
            return changes.clone();
        };
        changes
            .iter()
            .filter(|(k, v)| match current.get(*k) {
                Some(old) => old != *v,
                None => !v.is_empty(),
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

impl<'m> Relation<'m> {
    /// Juju's id of the relation, stable for its lifetime (store it to recognise the relation
    /// in later hooks).
    pub fn id(&self) -> RelationId {
        self.id
    }

    /// The endpoint name from `metadata.yaml`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The endpoint as declared in the metadata.
    pub fn spec(&self) -> Option<&'m Endpoint> {
        self.model.meta.endpoints.get(&self.endpoint)
    }

    /// Whether this is a peer relation (the application's units among themselves), where
    /// every unit may read the application bag.
    pub fn is_peer(&self) -> bool {
        self.spec().is_some_and(|e| e.role == Role::Peers)
    }

    fn reference(&self) -> RelationRef<'_> {
        RelationRef {
            endpoint: &self.endpoint,
            id: self.id,
        }
    }

    fn not_found(&self, e: BackendError) -> ModelError {
        match e {
            BackendError::RelationNotFound { .. } => {
                ModelError::RelationNotFound(self.reference().to_string())
            }
            other => ModelError::Backend(other),
        }
    }

    /// The event's relation info if the current event is about this relation.
    fn event_info(&self) -> Option<crate::event::RelationEvent> {
        self.model
            .event
            .borrow()
            .as_ref()
            .and_then(Event::relation)
            .filter(|r| r.id == self.id)
            .cloned()
    }

    /// The remote application: from the event when it is about this relation, else
    /// `relation-list --app` (once per hook). For peers, this application.
    pub fn remote_app(&self) -> Result<Option<String>, ModelError> {
        if self.is_peer() {
            return Ok(Some(self.model.ctx.app_name.clone()));
        }
        if let Some(r) = self.event_info() {
            return Ok(Some(r.remote_app));
        }
        if let Some(app) = self.model.cache.borrow().remote_app.get(&self.id) {
            return Ok(app.clone());
        }
        let app = self
            .model
            .with_backend(|b| b.relation_remote_app(self.reference()))
            .map_err(|e| self.not_found(e))?;
        self.model
            .cache
            .borrow_mut()
            .remote_app
            .insert(self.id, app.clone());
        Ok(app)
    }

    /// The remote units (`relation-list`, once per hook); for peers, the other units of this
    /// application. During departed/broken the departing remote unit is still listed, as ops
    /// does, so its data stays reachable.
    pub fn units(&self) -> Result<Vec<String>, ModelError> {
        let cached = self.model.cache.borrow().units.get(&self.id).cloned();
        let mut units = match cached {
            Some(u) => u,
            None => {
                let u = self
                    .model
                    .with_backend(|b| b.relation_list(self.reference()))
                    .map_err(|e| self.not_found(e))?;
                self.model
                    .cache
                    .borrow_mut()
                    .units
                    .insert(self.id, u.clone());
                u
            }
        };
        let event = self.model.event.borrow();
        if let Some(Event::RelationDeparted(r) | Event::RelationBroken(r)) = event.as_ref()
            && r.id == self.id
            && let Some(unit) = &r.remote_unit
            && !units.contains(unit)
        {
            units.push(unit.clone());
        }
        Ok(units)
    }

    /// Resolves a bag to (member name, is app, is local).
    fn member(&self, bag: &Bag) -> Result<(String, bool, bool), ModelError> {
        let ctx = &self.model.ctx;
        Ok(match bag {
            Bag::LocalApp => (ctx.app_name.clone(), true, true),
            Bag::LocalUnit => (ctx.unit_name.clone(), false, true),
            Bag::Unit(u) if *u == ctx.unit_name => (u.clone(), false, true),
            Bag::Unit(u) => (u.clone(), false, false),
            Bag::RemoteApp => match self.remote_app()? {
                Some(app) => (app, true, false),
                None => {
                    return Err(ModelError::RelationNotFound(format!(
                        "{} (no remote application)",
                        self.reference()
                    )));
                }
            },
        })
    }

    /// Reads a bag (`relation-get`, once per bag per hook), with this hook's writes applied.
    pub fn data(&self, bag: &Bag) -> Result<BTreeMap<String, String>, ModelError> {
        let (member, app, local) = self.member(bag)?;
        if app && local && !self.is_peer() && !self.model.is_leader()? {
            return Err(ModelError::PermissionDenied(format!(
                "only the leader can read the application data bag of {} in relation {} \
                 (other units can, on peer relations only)",
                member,
                self.reference()
            )));
        }
        let key = (self.id, member.clone(), app);
        let cached = self.model.cache.borrow().bags.get(&key).cloned();
        let mut data = match cached {
            Some(d) => d,
            None => {
                let d = self
                    .model
                    .with_backend(|b| b.relation_get(self.reference(), &member, app))
                    .map_err(|e| self.not_found(e))?;
                self.model.cache.borrow_mut().bags.insert(key, d.clone());
                d
            }
        };
        if local && let Some((_, changes)) = self.model.pending.borrow().bags.get(&(self.id, app)) {
            for (k, v) in changes {
                if v.is_empty() {
                    data.remove(k);
                } else {
                    data.insert(k.clone(), v.clone());
                }
            }
        }
        Ok(data)
    }

    /// One key of a bag.
    pub fn get(&self, bag: &Bag, key: &str) -> Result<Option<String>, ModelError> {
        Ok(self.data(bag)?.remove(key))
    }

    /// This application's bag (leader, or any unit on a peer relation).
    pub fn local_app_data(&self) -> Result<BTreeMap<String, String>, ModelError> {
        self.data(&Bag::LocalApp)
    }

    /// This unit's bag.
    pub fn local_unit_data(&self) -> Result<BTreeMap<String, String>, ModelError> {
        self.data(&Bag::LocalUnit)
    }

    /// The remote application's bag.
    pub fn remote_app_data(&self) -> Result<BTreeMap<String, String>, ModelError> {
        self.data(&Bag::RemoteApp)
    }

    /// A unit's bag.
    pub fn unit_data(&self, unit: &str) -> Result<BTreeMap<String, String>, ModelError> {
        self.data(&Bag::Unit(unit.to_string()))
    }

    /// Sets keys of a bag this unit may write (an empty value deletes the key). Buffered until
    /// the hook succeeds; checked now.
    pub fn update<K, V>(
        &self,
        bag: &Bag,
        values: impl IntoIterator<Item = (K, V)>,
    ) -> Result<(), ModelError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let (member, app, local) = self.member(bag)?;
        if !local {
            return Err(ModelError::PermissionDenied(format!(
                "cannot write the data bag of {member} in relation {}: a unit writes only its \
                 own bag and (as leader) its application's",
                self.reference()
            )));
        }
        if app {
            self.model.require_leader(&format!(
                "write the application data bag of relation {}",
                self.reference()
            ))?;
        }
        let values: Vec<(String, String)> = values
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        if let Some((k, _)) = values.iter().find(|(k, _)| k.is_empty()) {
            return Err(ModelError::InvalidData(format!(
                "empty key `{k}` for relation {}",
                self.reference()
            )));
        }
        if values.is_empty() {
            return Ok(());
        }
        let mut pending = self.model.pending.borrow_mut();
        let (_, changes) = pending
            .bags
            .entry((self.id, app))
            .or_insert_with(|| (self.endpoint.clone(), BTreeMap::new()));
        changes.extend(values);
        Ok(())
    }

    /// Sets one key (an empty value deletes it).
    pub fn set(
        &self,
        bag: &Bag,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), ModelError> {
        self.update(bag, [(key.into(), value.into())])
    }

    /// Makes a bag this unit may write hold exactly `values`: keys not in `values` are deleted
    /// (reads the bag first to know them).
    pub fn replace<K, V>(
        &self,
        bag: &Bag,
        values: impl IntoIterator<Item = (K, V)>,
    ) -> Result<(), ModelError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let values: BTreeMap<String, String> = values
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let current = self.data(bag)?;
        let deletions = current
            .keys()
            .filter(|k| !values.contains_key(*k))
            .map(|k| (k.clone(), String::new()))
            .collect::<Vec<_>>();
        self.update(bag, deletions.into_iter().chain(values))
    }
}

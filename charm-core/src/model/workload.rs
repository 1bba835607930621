//! Workload containers: the metadata's containers with their Pebble clients, and the details
//! behind Pebble events, fetched only when the charm asks (as ops' `LazyNotice` and
//! `LazyCheckInfo`): Juju's environment names the notice or check, Pebble has the rest.

use std::path::PathBuf;

use super::{Model, ModelError};
use crate::event::Event;
use crate::pebble::{CheckInfo, Container, Notice, NoticeId};

impl Model {
    /// Looks for workload containers' Pebble sockets under `base` instead of
    /// `/charm/containers` (tests and tools running a charm outside Juju).
    pub fn set_pebble_socket_base(&mut self, base: impl Into<PathBuf>) {
        self.pebble_base = base.into();
    }

    /// The workload container `name` declared in the metadata, with its Pebble client.
    pub fn container(&self, name: &str) -> Result<Container, ModelError> {
        if !self.meta.containers.contains_key(name) {
            let names = self.meta.containers.keys().map(String::as_str).collect();
            return Err(self.undeclared("a container", name, names));
        }
        Ok(Container::with_socket_base(name, &self.pebble_base)?)
    }

    /// The notice a `<container>-pebble-custom-notice` event is about, fetched from that
    /// container's Pebble (its data, occurrences and times are not in Juju's environment);
    /// `None` while another event is handled. The event itself already carries the notice's
    /// id, type and key.
    pub async fn event_notice(&self) -> Result<Option<Notice>, ModelError> {
        let Some(Event::PebbleCustomNotice { container, notice }) = self.event() else {
            return Ok(None);
        };
        let id = NoticeId::new(notice.id).map_err(crate::pebble::Error::from)?;
        let notice = self.container(&container)?.pebble().notice(&id).await?;
        Ok(Some(notice))
    }

    /// The check a `<container>-pebble-check-failed` or `-check-recovered` event is about, as
    /// that container's Pebble reports it now (status, failures, threshold). `None` while
    /// another event is handled, or when the check is no longer in the plan (a layer replaced
    /// it since Pebble reported the failure).
    pub async fn event_check_info(&self) -> Result<Option<CheckInfo>, ModelError> {
        let (container, check) = match self.event() {
            Some(
                Event::PebbleCheckFailed { container, check }
                | Event::PebbleCheckRecovered { container, check },
            ) => (container, check),
            _ => return Ok(None),
        };
        let infos = self
            .container(&container)?
            .pebble()
            .checks(None, &[check.as_str()])
            .await?;
        Ok(infos.into_iter().find(|info| info.name == check))
    }
}

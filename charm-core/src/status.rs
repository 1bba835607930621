//! Workload status of the unit and (leader only) the application.
//!
//! Like ops' collect-status, a charm may report several statuses during one hook (one per
//! concern: config, relation, workload); the highest priority wins, in ops' order
//! error > blocked > maintenance > waiting > active. charm-core sets the winner once, at the
//! end of a successful hook.
//!
//! # Skipping `status-set` when the status did not change
//! `juju status` shows the status set last, and a hook that sets none leaves it as it is, so a
//! `status-set` repeating what Juju already shows is a process started for nothing (most hooks
//! of a settled unit: update-status every five minutes, relation-changed...). Knowing what Juju
//! shows costs a `status-get`, one call to save one, unless the charm remembers: charm-core
//! records the unit status it set in the charm's state store (free for
//! [`crate::StateLocation::CharmDir`]; for [`crate::StateLocation::Juju`] it rides in the
//! `state-set` of hooks that change state anyway, one more call only when the status changes)
//! and skips `status-set` when the winner equals it. The memory is reliable because of who may
//! write a unit's workload status:
//! - only the unit itself, through `status-set`, and charm-core is the only caller in the
//!   charm: a status is remembered only after its `status-set` succeeded, and a failing hook
//!   saves no state, so the memory never claims a status Juju did not get;
//! - a hook error does not overwrite it: Juju keeps the error on the unit agent and shows
//!   `error` in place of the workload status until the hook is resolved, then the remembered
//!   status again;
//! - the unit agent itself, around three hooks: before `install` (maintenance, "installing
//!   charm software", only if the charm never set a status), before and after `stop`
//!   (maintenance) and around `remove` (maintenance, then terminated); and after `start` (unknown,
//!   only if the charm never set a status, which then also means there is no memory). So in
//!   install, stop and remove charm-core always sets the status, and after stop it forgets it:
//!   on Kubernetes `stop` also runs when the pod is merely restarted, and the next hook must
//!   replace Juju's maintenance status (no hook follows remove);
//! - if the memory is lost (a recreated Kubernetes pod with state in the charm directory, a
//!   charm refreshed from another framework), the status is simply set again.
//!
//! The application status is always set when reported: another unit may have set it while it
//! was leader, and a unit cannot know without `status-get --application`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A status a charm can set. (`error` and `unknown` are Juju's to set, see [`StatusName`].)
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "status", content = "message", rename_all = "lowercase")]
pub enum Status {
    /// The workload is doing its job; the message is usually empty.
    Active(String),
    /// The charm cannot proceed without the operator (bad config, a missing relation): the
    /// message says what to do.
    Blocked(String),
    /// The charm is working on the unit (installing, upgrading) and will get out of it itself.
    Maintenance(String),
    /// The charm waits for something outside the operator's hands (a remote application's
    /// data, the workload starting).
    Waiting(String),
}

impl Status {
    /// `active` with this message.
    pub fn active(message: impl Into<String>) -> Self {
        Status::Active(message.into())
    }
    /// `blocked` with this message; tell the operator what to do, e.g. "missing fileset config".
    pub fn blocked(message: impl Into<String>) -> Self {
        Status::Blocked(message.into())
    }
    /// `maintenance` with this message.
    pub fn maintenance(message: impl Into<String>) -> Self {
        Status::Maintenance(message.into())
    }
    /// `waiting` with this message.
    pub fn waiting(message: impl Into<String>) -> Self {
        Status::Waiting(message.into())
    }

    /// Which of the four it is.
    pub fn name(&self) -> StatusName {
        match self {
            Status::Active(_) => StatusName::Active,
            Status::Blocked(_) => StatusName::Blocked,
            Status::Maintenance(_) => StatusName::Maintenance,
            Status::Waiting(_) => StatusName::Waiting,
        }
    }

    /// The message `juju status` shows next to the name.
    pub fn message(&self) -> &str {
        match self {
            Status::Active(m)
            | Status::Blocked(m)
            | Status::Maintenance(m)
            | Status::Waiting(m) => m,
        }
    }

    /// Builds a status from `status-get` output; `None` for Juju-only names.
    pub fn from_name(name: StatusName, message: String) -> Option<Status> {
        Some(match name {
            StatusName::Active => Status::Active(message),
            StatusName::Blocked => Status::Blocked(message),
            StatusName::Maintenance => Status::Maintenance(message),
            StatusName::Waiting => Status::Waiting(message),
            StatusName::Error | StatusName::Unknown => return None,
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message().is_empty() {
            write!(f, "{}", self.name())
        } else {
            write!(f, "{}: {}", self.name(), self.message())
        }
    }
}

/// Every status name Juju reports, in priority order (highest first, as ops'
/// `StatusBase._priorities`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusName {
    /// A hook failed (Juju's to set).
    Error,
    /// See [`Status::Blocked`].
    Blocked,
    /// See [`Status::Maintenance`].
    Maintenance,
    /// See [`Status::Waiting`].
    Waiting,
    /// See [`Status::Active`].
    Active,
    /// No status set yet, or the agent lost contact (Juju's to set).
    Unknown,
}

impl StatusName {
    /// Higher wins.
    pub fn priority(self) -> u8 {
        match self {
            StatusName::Error => 5,
            StatusName::Blocked => 4,
            StatusName::Maintenance => 3,
            StatusName::Waiting => 2,
            StatusName::Active => 1,
            StatusName::Unknown => 0,
        }
    }

    /// The name as `status-set` and `status-get` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusName::Error => "error",
            StatusName::Blocked => "blocked",
            StatusName::Maintenance => "maintenance",
            StatusName::Waiting => "waiting",
            StatusName::Active => "active",
            StatusName::Unknown => "unknown",
        }
    }

    /// Reads a name as `status-get` prints it; `None` for one Juju does not have.
    pub fn parse(s: &str) -> Option<StatusName> {
        Some(match s {
            "error" => StatusName::Error,
            "blocked" => StatusName::Blocked,
            "maintenance" => StatusName::Maintenance,
            "waiting" => StatusName::Waiting,
            "active" => StatusName::Active,
            "unknown" => StatusName::Unknown,
            _ => return None,
        })
    }
}

impl fmt::Display for StatusName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The statuses reported for one target during a hook; the highest priority wins and, among
/// equals, the first reported (so the most important message is kept).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusCollector {
    winner: Option<Status>,
}

impl StatusCollector {
    /// Reports a status; it replaces the winner only if it has a higher priority.
    pub fn add(&mut self, status: Status) {
        let better = match &self.winner {
            None => true,
            Some(current) => status.name().priority() > current.name().priority(),
        };
        if better {
            self.winner = Some(status);
        }
    }

    /// The status to set, if any was reported.
    pub fn winner(&self) -> Option<&Status> {
        self.winner.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highest_priority_wins_first_among_equals() {
        let mut c = StatusCollector::default();
        assert_eq!(c.winner(), None);
        c.add(Status::active(""));
        c.add(Status::waiting("for relation"));
        c.add(Status::maintenance("installing"));
        c.add(Status::waiting("other"));
        assert_eq!(c.winner(), Some(&Status::maintenance("installing")));
        c.add(Status::blocked("missing fileset config"));
        c.add(Status::blocked("second"));
        c.add(Status::active("ok"));
        assert_eq!(c.winner(), Some(&Status::blocked("missing fileset config")));
    }

    #[test]
    fn priorities_follow_ops() {
        let order = [
            StatusName::Error,
            StatusName::Blocked,
            StatusName::Maintenance,
            StatusName::Waiting,
            StatusName::Active,
            StatusName::Unknown,
        ];
        for pair in order.windows(2) {
            assert!(pair[0].priority() > pair[1].priority());
            assert_eq!(StatusName::parse(pair[0].as_str()), Some(pair[0]));
        }
        assert_eq!(StatusName::parse("bogus"), None);
        assert_eq!(Status::from_name(StatusName::Error, "x".into()), None);
        assert_eq!(
            Status::from_name(StatusName::Waiting, "x".into()),
            Some(Status::waiting("x"))
        );
        assert_eq!(Status::blocked("no").to_string(), "blocked: no");
        assert_eq!(Status::active("").to_string(), "active");
    }
}

//! Workload status of the unit and (leader only) the application.
//!
//! Like ops' collect-status, a charm may report several statuses during one hook (one per
//! concern: config, relation, workload); the highest priority wins, in ops' order
//! error > blocked > maintenance > waiting > active. charm-core sets the winner once, at the
//! end of a successful hook, and skips `status-set` when the unit status is the one it set last
//! (remembered in the charm's state store, so knowing costs nothing). Only this unit sets its
//! unit status, so the memory is reliable; if it is lost (a recreated Kubernetes pod) the
//! status is simply set again. The application status is always set when reported: another
//! unit may have set it while it was leader.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A status a charm can set. (`error` and `unknown` are Juju's to set, see [`StatusName`].)
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "status", content = "message", rename_all = "lowercase")]
pub enum Status {
    Active(String),
    Blocked(String),
    Maintenance(String),
    Waiting(String),
}

impl Status {
    pub fn active(message: impl Into<String>) -> Self {
        Status::Active(message.into())
    }
    pub fn blocked(message: impl Into<String>) -> Self {
        Status::Blocked(message.into())
    }
    pub fn maintenance(message: impl Into<String>) -> Self {
        Status::Maintenance(message.into())
    }
    pub fn waiting(message: impl Into<String>) -> Self {
        Status::Waiting(message.into())
    }

    pub fn name(&self) -> StatusName {
        match self {
            Status::Active(_) => StatusName::Active,
            Status::Blocked(_) => StatusName::Blocked,
            Status::Maintenance(_) => StatusName::Maintenance,
            Status::Waiting(_) => StatusName::Waiting,
        }
    }

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
    Error,
    Blocked,
    Maintenance,
    Waiting,
    Active,
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
    pub fn add(&mut self, status: Status) {
        let better = match &self.winner {
            None => true,
            Some(current) => status.name().priority() > current.name().priority(),
        };
        if better {
            self.winner = Some(status);
        }
    }

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

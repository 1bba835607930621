//! The decision for one image of a pod: a pure function of the mode, what the controller knows
//! about the image's backup and, in failover mode only, whether the original is available.
//!
//! | mode     | backup                 | original              | decision                   |
//! |----------|------------------------|-----------------------|----------------------------|
//! | any      | none / not Done        | (not checked)         | keep                       |
//! | always   | Done                   | (not checked)         | rewrite to the pinned backup |
//! | failover | Done                   | available             | keep                       |
//! | failover | Done                   | any unavailability    | rewrite to the pinned backup |
//!
//! An image that already is a backup, or that does not parse, is kept without a look at its
//! backup (the planner in [`super::pod`] never asks).

use crate::crd::Phase;

/// What the webhook does with images that have a Done backup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Mode {
    /// No webhook.
    #[default]
    Off,
    /// Keep an image whose original is available; use the backup when it is not.
    Failover,
    /// Use the backup of every image that has one (air-gapped clusters).
    Always,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Failover => "failover",
            Mode::Always => "always",
        }
    }
}

/// Why an original image counts as unavailable: whatever would also keep the kubelet from
/// pulling it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unavailable {
    /// Connection refused or reset, DNS or TLS failure.
    Unreachable,
    /// No answer within the admission's budget: a registry that hangs for us hangs the
    /// kubelet's pull too, and the backup is the same content.
    TimedOut,
    /// The manifest is gone (404).
    NotFound,
    /// 401/403: the image moved behind authentication we do not have (a vendor closing its
    /// catalogue), or our credentials were revoked.
    Denied,
    /// 429.
    RateLimited,
    /// 5xx, or another answer a pull cannot use.
    RegistryError,
}

impl Unavailable {
    pub const ALL: [Unavailable; 6] = [
        Unavailable::Unreachable,
        Unavailable::TimedOut,
        Unavailable::NotFound,
        Unavailable::Denied,
        Unavailable::RateLimited,
        Unavailable::RegistryError,
    ];

    /// Metric label and the cause in decision reasons.
    pub fn as_str(self) -> &'static str {
        match self {
            Unavailable::Unreachable => "unreachable",
            Unavailable::TimedOut => "timeout",
            Unavailable::NotFound => "not_found",
            Unavailable::Denied => "denied",
            Unavailable::RateLimited => "rate_limited",
            Unavailable::RegistryError => "registry_error",
        }
    }
}

/// The outcome of an availability check of an original image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Availability {
    Available,
    Unavailable(Unavailable),
}

/// What the controller knows about the backup of one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backup {
    /// No `ImageBackup` for the image.
    None,
    /// An `ImageBackup` that cannot be used yet (or lacks a recorded digest).
    NotDone(Phase),
    /// Done: `<backup repository>@<digest recorded when the backup was made>`.
    Done { pinned: String },
}

/// Why an image is left as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Keep {
    /// The image has no backup.
    NoBackup,
    /// Its backup is not Done.
    NotDone,
    /// Failover mode and the original is available.
    Available,
    /// The image already is a backup.
    AlreadyBackup,
    /// The reference does not parse; the API server will say so.
    Invalid,
    /// Failover mode, but no availability was checked (never planned; kept to be safe).
    Unchecked,
}

/// Why an image is rewritten.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rewrite {
    Always,
    Failover(Unavailable),
}

impl Rewrite {
    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            Rewrite::Always => "always",
            Rewrite::Failover(cause) => cause.as_str(),
        }
    }

    /// `always` or `unavailable: <cause>`, as the gRPC API reports it.
    pub fn reason(self) -> String {
        match self {
            Rewrite::Always => "always".into(),
            Rewrite::Failover(cause) => format!("unavailable: {}", cause.as_str()),
        }
    }
}

/// The decision for one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Keep(Keep),
    Rewrite { to: String, reason: Rewrite },
}

/// Whether deciding for `backup` under `mode` needs the original's availability: only in
/// failover mode, only for an image with a Done backup. Nothing else is ever checked, so
/// images without backups cost no registry request.
pub fn needs_check(mode: Mode, backup: &Backup) -> bool {
    mode == Mode::Failover && matches!(backup, Backup::Done { .. })
}

/// The decision table. `availability` is the check's outcome when [`needs_check`] asked for
/// one, `None` otherwise.
pub fn decide(mode: Mode, backup: &Backup, availability: Option<Availability>) -> Decision {
    let pinned = match backup {
        Backup::None => return Decision::Keep(Keep::NoBackup),
        Backup::NotDone(_) => return Decision::Keep(Keep::NotDone),
        Backup::Done { pinned } => pinned,
    };
    let reason = match (mode, availability) {
        // Not served at all; a decision asked for anyway changes nothing.
        (Mode::Off, _) => return Decision::Keep(Keep::Unchecked),
        (Mode::Always, _) => Rewrite::Always,
        (Mode::Failover, None) => return Decision::Keep(Keep::Unchecked),
        (Mode::Failover, Some(Availability::Available)) => {
            return Decision::Keep(Keep::Available);
        }
        (Mode::Failover, Some(Availability::Unavailable(cause))) => Rewrite::Failover(cause),
    };
    Decision::Rewrite {
        to: pinned.clone(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED: &str = "backup.local/mirror/docker.io/library/nginx@sha256:abc";

    fn backups() -> Vec<Backup> {
        let mut all: Vec<Backup> = Phase::ALL
            .into_iter()
            .filter(|p| *p != Phase::Done)
            .map(Backup::NotDone)
            .collect();
        all.push(Backup::None);
        all.push(Backup::Done {
            pinned: PINNED.into(),
        });
        all
    }

    fn availabilities() -> Vec<Option<Availability>> {
        let mut all = vec![None, Some(Availability::Available)];
        all.extend(
            Unavailable::ALL
                .into_iter()
                .map(|c| Some(Availability::Unavailable(c))),
        );
        all
    }

    /// Every mode x backup state x availability outcome, against the table in the module docs.
    #[test]
    fn the_whole_table() {
        for mode in [Mode::Off, Mode::Failover, Mode::Always] {
            for backup in backups() {
                for availability in availabilities() {
                    let got = decide(mode, &backup, availability);
                    let want = match (&backup, mode, availability) {
                        (Backup::None, ..) => Decision::Keep(Keep::NoBackup),
                        (Backup::NotDone(_), ..) => Decision::Keep(Keep::NotDone),
                        (Backup::Done { .. }, Mode::Off, _) => Decision::Keep(Keep::Unchecked),
                        (Backup::Done { .. }, Mode::Always, _) => Decision::Rewrite {
                            to: PINNED.into(),
                            reason: Rewrite::Always,
                        },
                        (Backup::Done { .. }, Mode::Failover, None) => {
                            Decision::Keep(Keep::Unchecked)
                        }
                        (Backup::Done { .. }, Mode::Failover, Some(Availability::Available)) => {
                            Decision::Keep(Keep::Available)
                        }
                        (
                            Backup::Done { .. },
                            Mode::Failover,
                            Some(Availability::Unavailable(cause)),
                        ) => Decision::Rewrite {
                            to: PINNED.into(),
                            reason: Rewrite::Failover(cause),
                        },
                    };
                    assert_eq!(got, want, "{mode:?} {backup:?} {availability:?}");
                }
            }
        }
    }

    #[test]
    fn only_failover_with_a_done_backup_checks_the_registry() {
        for mode in [Mode::Off, Mode::Failover, Mode::Always] {
            for backup in backups() {
                let want = mode == Mode::Failover && matches!(backup, Backup::Done { .. });
                assert_eq!(needs_check(mode, &backup), want, "{mode:?} {backup:?}");
            }
        }
    }

    #[test]
    fn every_unavailability_rewrites_in_failover_with_a_readable_reason() {
        let done = Backup::Done {
            pinned: PINNED.into(),
        };
        let reasons: Vec<String> = Unavailable::ALL
            .into_iter()
            .map(|cause| {
                match decide(
                    Mode::Failover,
                    &done,
                    Some(Availability::Unavailable(cause)),
                ) {
                    Decision::Rewrite { to, reason } => {
                        assert_eq!(to, PINNED);
                        reason.reason()
                    }
                    other => panic!("{cause:?}: {other:?}"),
                }
            })
            .collect();
        assert_eq!(
            reasons,
            [
                "unavailable: unreachable",
                "unavailable: timeout",
                "unavailable: not_found",
                "unavailable: denied",
                "unavailable: rate_limited",
                "unavailable: registry_error"
            ]
        );
        assert_eq!(Rewrite::Always.reason(), "always");
    }
}

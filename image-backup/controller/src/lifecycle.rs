//! The life of one backup as pure functions: what to do next given its status and the time,
//! and the status after each step. The reconciler in [`crate::backup`] only carries these out.
//!
//! ```text
//!  (new) -> Pending --claim--> Running --ok--> Done --recheck finds it gone--> Running
//!              ^                  |  \--error, attempts < max--> Pending (after backoff)
//!              |                  \----error, attempts = max---> Failed
//!              \--- spec changed or retry annotation changed (from any phase) ---/
//! ```
//! A `Running` status is resumed at once, whoever its holder: only the holder of the leader
//! lease reconciles, so a `Running` status this process finds is either its own (the copy cannot
//! be in flight: the runtime never reconciles one object twice at once) or a previous leader's,
//! and a previous leader has stopped copying before the lease could pass to us (it steps down
//! and drops its copies within the renew deadline, shorter than the lease duration; see
//! [`crate::lease`]). Resuming continues the interrupted attempt: it does not count as another,
//! so `attempts` never exceeds `max_attempts`, and blobs the backup registry already has are
//! not sent again. The claim is a write conditional on the object's resourceVersion, so two
//! processes can never both win it.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use crate::copier::{CopyError, CopyErrorKind, CopyOutcome};
use crate::crd::{ImageBackup, ImageBackupStatus, Phase, READY, RETRY_ANNOTATION};

/// How hard and how often to try.
#[derive(Clone, Debug)]
pub struct Policy {
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub recheck_interval: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(600),
            recheck_interval: Duration::from_secs(3600),
        }
    }
}

impl Policy {
    /// Wait before attempt `attempts + 1`: doubling from the base, capped.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1));
        self.backoff_base
            .saturating_mul(factor)
            .min(self.backoff_max)
    }
}

/// How a claim counts attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The first of a new series (new backup, spec change, retry asked, backup gone).
    First,
    /// One more after a failure.
    Another,
    /// The interrupted attempt, continued.
    Resumed,
}

/// The next step for a backup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Claim and run a copy.
    Copy { attempt: Attempt, why: &'static str },
    /// Check that the backup is still in the registry.
    Recheck,
    /// Nothing to do before this much time has passed.
    Wait(Duration),
    /// Nothing to do until the object changes.
    Idle,
}

/// Decides the next step for `backup` as seen by the process `me` (the lease holder) at `now`.
pub fn next(backup: &ImageBackup, me: &str, now: Timestamp, policy: &Policy) -> Next {
    let Some(status) = &backup.status else {
        return Next::Copy {
            attempt: Attempt::First,
            why: "new backup",
        };
    };
    if let Some(token) = backup.annotations().get(RETRY_ANNOTATION)
        && status.retry_token.as_ref() != Some(token)
    {
        return Next::Copy {
            attempt: Attempt::First,
            why: "retry requested",
        };
    }
    if status.observed_generation.is_some()
        && status.observed_generation != backup.metadata.generation
    {
        return Next::Copy {
            attempt: Attempt::First,
            why: "spec changed",
        };
    }
    match status.phase {
        Phase::Pending => match until(status.next_attempt_at.as_ref(), now) {
            Some(wait) => Next::Wait(wait),
            None => Next::Copy {
                attempt: Attempt::Another,
                why: if status.attempts == 0 {
                    "new backup"
                } else {
                    "retrying"
                },
            },
        },
        Phase::Running => Next::Copy {
            attempt: Attempt::Resumed,
            why: if status.holder.as_deref() == Some(me) {
                "resuming an interrupted copy"
            } else {
                "resuming the copy of a previous leader"
            },
        },
        Phase::Done => {
            let due = status
                .last_checked_at
                .as_ref()
                .map(|t| Time(add(t.0, policy.recheck_interval)));
            match until(due.as_ref(), now) {
                Some(wait) => Next::Wait(wait),
                None => Next::Recheck,
            }
        }
        Phase::Failed => Next::Idle,
    }
}

/// The status that claims a copy for `me`.
pub fn claim(
    backup: &ImageBackup,
    me: &str,
    destination: &str,
    attempt: Attempt,
    now: Timestamp,
) -> ImageBackupStatus {
    let mut status = backup.status.clone().unwrap_or_default();
    status.attempts = match attempt {
        Attempt::First => 1,
        Attempt::Another => status.attempts + 1,
        // A status from before attempts were counted, or a hand-edited one: count this one.
        Attempt::Resumed => status.attempts.max(1),
    };
    status.phase = Phase::Running;
    status.holder = Some(me.to_string());
    status.backup_image = Some(destination.to_string());
    status.bytes_copied = 0;
    status.started_at = Some(Time(now));
    status.heartbeat_at = Some(Time(now));
    status.next_attempt_at = None;
    status.observed_generation = backup.metadata.generation;
    status.retry_token = backup.annotations().get(RETRY_ANNOTATION).cloned();
    let message = format!("copying to {destination} (attempt {})", status.attempts);
    set_ready(&mut status, false, "Copying", &message, now);
    status
}

/// The status after a successful copy.
pub fn succeeded(
    mut status: ImageBackupStatus,
    outcome: &CopyOutcome,
    now: Timestamp,
) -> ImageBackupStatus {
    status.phase = Phase::Done;
    status.holder = None;
    status.source_digest = Some(outcome.source_digest.clone());
    status.backup_digest = Some(outcome.backup_digest.clone());
    status.bytes_copied = outcome.bytes_copied;
    status.last_error = None;
    status.completed_at = Some(Time(now));
    status.last_checked_at = Some(Time(now));
    status.heartbeat_at = None;
    let message = format!(
        "backed up as {}",
        status.backup_image.as_deref().unwrap_or_default()
    );
    set_ready(&mut status, true, "Copied", &message, now);
    status
}

/// The status after a failed copy: retried after a backoff, or `Failed` once attempts are spent
/// or when retrying cannot help (bad input).
pub fn failed(
    mut status: ImageBackupStatus,
    error: &CopyError,
    now: Timestamp,
    policy: &Policy,
) -> ImageBackupStatus {
    status.holder = None;
    status.heartbeat_at = None;
    status.last_error = Some(error.message.clone());
    if status.attempts >= policy.max_attempts || error.kind == CopyErrorKind::BadInput {
        status.phase = Phase::Failed;
        status.next_attempt_at = None;
        let message = format!(
            "gave up after {} attempt(s): {}",
            status.attempts, error.message
        );
        set_ready(&mut status, false, "CopyFailed", &message, now);
    } else {
        status.phase = Phase::Pending;
        let wait = policy.backoff(status.attempts);
        status.next_attempt_at = Some(Time(add(now, wait)));
        let message = format!(
            "attempt {} failed, retrying in {}s: {}",
            status.attempts,
            wait.as_secs(),
            error.message
        );
        set_ready(&mut status, false, "Retrying", &message, now);
    }
    status
}

/// Sets the `Ready` condition, keeping its transition time when its status does not change.
fn set_ready(
    status: &mut ImageBackupStatus,
    ready: bool,
    reason: &str,
    message: &str,
    now: Timestamp,
) {
    let value = if ready { "True" } else { "False" };
    let transition = status
        .conditions
        .iter()
        .find(|c| c.type_ == READY && c.status == value)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    status.conditions.retain(|c| c.type_ != READY);
    status.conditions.push(Condition {
        type_: READY.to_string(),
        status: value.to_string(),
        reason: reason.to_string(),
        message: message.to_string(),
        last_transition_time: transition,
        observed_generation: status.observed_generation,
    });
}

fn add(t: Timestamp, d: Duration) -> Timestamp {
    let millis = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    Timestamp::from_millisecond(t.as_millisecond().saturating_add(millis)).unwrap_or(Timestamp::MAX)
}

/// Time left until `deadline`, or None when it has passed (or there is none).
fn until(deadline: Option<&Time>, now: Timestamp) -> Option<Duration> {
    let left = deadline?.0.as_millisecond() - now.as_millisecond();
    (left > 0).then(|| Duration::from_millis(left as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ImageBackupSpec;

    const ME: &str = "pod-a/1";

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn backup(status: Option<ImageBackupStatus>) -> ImageBackup {
        let mut b = ImageBackup::new(
            "nginx",
            ImageBackupSpec {
                image: "docker.io/library/nginx:latest".into(),
                pull_secrets: vec![],
            },
        );
        b.metadata.generation = Some(1);
        b.status = status;
        b
    }

    fn status(phase: Phase) -> ImageBackupStatus {
        ImageBackupStatus {
            phase,
            observed_generation: Some(1),
            ..Default::default()
        }
    }

    fn policy() -> Policy {
        Policy::default()
    }

    #[test]
    fn next_step_table() {
        let pending_later = ImageBackupStatus {
            attempts: 2,
            next_attempt_at: Some(Time(at(30))),
            ..status(Phase::Pending)
        };
        let running = |holder: &str, heartbeat: i64| ImageBackupStatus {
            holder: Some(holder.into()),
            heartbeat_at: Some(Time(at(heartbeat))),
            ..status(Phase::Running)
        };
        let done_checked = |secs| ImageBackupStatus {
            last_checked_at: Some(Time(at(secs))),
            ..status(Phase::Done)
        };
        let cases: Vec<(&str, ImageBackup, Next)> = vec![
            (
                "no status",
                backup(None),
                Next::Copy {
                    attempt: Attempt::First,
                    why: "new backup",
                },
            ),
            (
                "pending, first",
                backup(Some(status(Phase::Pending))),
                Next::Copy {
                    attempt: Attempt::Another,
                    why: "new backup",
                },
            ),
            (
                "pending, backoff not over",
                backup(Some(pending_later.clone())),
                Next::Wait(Duration::from_secs(30)),
            ),
            (
                "running, held by me",
                backup(Some(running(ME, 0))),
                Next::Copy {
                    attempt: Attempt::Resumed,
                    why: "resuming an interrupted copy",
                },
            ),
            (
                "running, held by a previous leader a second ago: resumed at once",
                backup(Some(running("pod-b", -1))),
                Next::Copy {
                    attempt: Attempt::Resumed,
                    why: "resuming the copy of a previous leader",
                },
            ),
            (
                "done, recheck not due",
                backup(Some(done_checked(-60))),
                Next::Wait(Duration::from_secs(3540)),
            ),
            (
                "done, recheck due",
                backup(Some(done_checked(-3600))),
                Next::Recheck,
            ),
            ("failed", backup(Some(status(Phase::Failed))), Next::Idle),
        ];
        for (what, b, want) in cases {
            assert_eq!(next(&b, ME, at(0), &policy()), want, "{what}");
        }
    }

    #[test]
    fn failed_backups_are_retried_on_spec_change_or_annotation() {
        let mut b = backup(Some(status(Phase::Failed)));
        b.metadata.generation = Some(2);
        assert_eq!(
            next(&b, ME, at(0), &policy()),
            Next::Copy {
                attempt: Attempt::First,
                why: "spec changed"
            }
        );

        let mut b = backup(Some(status(Phase::Failed)));
        b.metadata.annotations = Some([(RETRY_ANNOTATION.to_string(), "1".to_string())].into());
        assert_eq!(
            next(&b, ME, at(0), &policy()),
            Next::Copy {
                attempt: Attempt::First,
                why: "retry requested"
            }
        );
        // Once acted upon (the claim records the token), the same value does not retry again.
        let claimed = claim(&b, ME, "dst", Attempt::First, at(0));
        assert_eq!(claimed.retry_token.as_deref(), Some("1"));
        b.status = Some(failed(
            claimed,
            &CopyError::new(CopyErrorKind::BadInput, "x"),
            at(1),
            &policy(),
        ));
        assert_eq!(next(&b, ME, at(2), &policy()), Next::Idle);
    }

    #[test]
    fn attempts_back_off_then_fail_with_the_reason() {
        let policy = Policy {
            max_attempts: 3,
            ..policy()
        };
        let mut b = backup(None);
        let error = CopyError::new(CopyErrorKind::Transfer, "connection reset");
        let mut waits = Vec::new();
        for attempt in 1..=3 {
            let count = if attempt == 1 {
                Attempt::First
            } else {
                Attempt::Another
            };
            let claimed = claim(&b, ME, "backup/x:1", count, at(0));
            assert_eq!((claimed.phase, claimed.attempts), (Phase::Running, attempt));
            let after = failed(claimed, &error, at(0), &policy);
            waits.push(
                after
                    .next_attempt_at
                    .as_ref()
                    .map(|t| t.0.as_second() - at(0).as_second()),
            );
            b.status = Some(after);
        }
        assert_eq!(waits, [Some(10), Some(20), None]);
        let status = b.status.unwrap();
        assert_eq!(status.phase, Phase::Failed);
        assert_eq!(status.last_error.as_deref(), Some("connection reset"));
        let ready = &status.conditions[0];
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "CopyFailed")
        );
        assert!(
            ready.message.contains("3 attempt(s): connection reset"),
            "{}",
            ready.message
        );
    }

    #[test]
    fn resuming_never_counts_past_max_attempts() {
        let policy = policy();
        let mut b = backup(None);
        let error = CopyError::new(CopyErrorKind::Transfer, "connection refused");
        for attempt in 1..policy.max_attempts {
            let count = if attempt == 1 {
                Attempt::First
            } else {
                Attempt::Another
            };
            b.status = Some(failed(
                claim(&b, ME, "d", count, at(0)),
                &error,
                at(0),
                &policy,
            ));
        }
        // The last attempt is claimed, then its process dies, twice; each leader resumes it.
        b.status = Some(claim(&b, "old-leader", "d", Attempt::Another, at(0)));
        for leader in ["second", ME] {
            let Next::Copy { attempt, .. } = next(&b, leader, at(1), &policy) else {
                panic!("a Running backup is resumed");
            };
            b.status = Some(claim(&b, leader, "d", attempt, at(1)));
            assert_eq!(b.status.as_ref().unwrap().attempts, policy.max_attempts);
        }
        let after = failed(b.status.take().unwrap(), &error, at(2), &policy);
        assert_eq!(
            (after.phase, after.attempts),
            (Phase::Failed, policy.max_attempts)
        );
    }

    #[test]
    fn bad_input_fails_at_once() {
        let claimed = claim(&backup(None), ME, "d", Attempt::First, at(0));
        let after = failed(
            claimed,
            &CopyError::new(CopyErrorKind::BadInput, "bad ref"),
            at(0),
            &policy(),
        );
        assert_eq!(after.phase, Phase::Failed);
    }

    #[test]
    fn success_records_digests_and_readiness() {
        let claimed = claim(
            &backup(None),
            ME,
            "backup/nginx:latest",
            Attempt::First,
            at(0),
        );
        let outcome = CopyOutcome {
            source_digest: "sha256:a".into(),
            backup_digest: "sha256:a".into(),
            bytes_copied: 42,
        };
        let done = succeeded(claimed, &outcome, at(5));
        assert_eq!(done.phase, Phase::Done);
        assert_eq!(done.holder, None);
        assert_eq!(done.backup_image.as_deref(), Some("backup/nginx:latest"));
        assert_eq!((done.bytes_copied, done.attempts), (42, 1));
        assert_eq!(done.last_checked_at, Some(Time(at(5))));
        assert_eq!(done.conditions.len(), 1);
        assert_eq!(done.conditions[0].status, "True");
    }

    #[test]
    fn condition_keeps_transition_time_while_status_is_unchanged() {
        let mut s = ImageBackupStatus::default();
        set_ready(&mut s, false, "Copying", "a", at(0));
        set_ready(&mut s, false, "Retrying", "b", at(10));
        assert_eq!(s.conditions[0].last_transition_time, Time(at(0)));
        set_ready(&mut s, true, "Copied", "c", at(20));
        assert_eq!(s.conditions[0].last_transition_time, Time(at(20)));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = policy();
        let waits: Vec<u64> = (1..=8).map(|a| p.backoff(a).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 600, 600]);
        assert_eq!(p.backoff(u32::MAX), p.backoff_max);
    }
}

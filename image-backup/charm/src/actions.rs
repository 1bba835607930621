//! Actions: thin wrappers over the controller's gRPC API.
//!
//! A controller that cannot be reached or refuses fails the action with its message (the hook
//! itself succeeds, as with ops' `event.fail`).

use charm_core::{CharmError, Model};
use proto::image_backup::v1::{
    AdmissionDecision, Backup, ListAdmissionsResponse, RestoredWorkload, check_image,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{ApiError, ControllerApi, phase_name};

pub const LIST_BACKUPS: &str = "list-backups";
pub const BACKUP_NOW: &str = "backup-now";
pub const RESTORE_ORIGINALS: &str = "restore-originals";

/// How many of the latest admission decisions `list-backups` shows.
pub const RECENT_ADMISSIONS: u32 = 20;

#[derive(Deserialize)]
struct BackupNowParams {
    image: String,
    #[serde(default)]
    force: bool,
}

#[derive(Deserialize)]
struct RestoreParams {
    #[serde(default)]
    namespace: String,
}

/// Runs action `name` against the controller at `api_address`.
pub async fn run(name: &str, model: &Model, api_address: &str) -> Result<(), CharmError> {
    match name {
        LIST_BACKUPS => {
            let Some(mut api) = connect(model, api_address).await? else {
                return Ok(());
            };
            match api.list_backups().await {
                Ok(backups) => {
                    let admission = api.list_admissions(RECENT_ADMISSIONS).await;
                    model.set_action_results(json!({
                        "count": backups.len(),
                        "backups": backups_table(&backups),
                        "admission": admission_results(admission),
                    }))?
                }
                Err(e) => model.fail_action(e.to_string())?,
            }
        }
        BACKUP_NOW => {
            let params: BackupNowParams = model.action_params_as()?;
            let image = params.image.trim();
            if let Err(reason) = check_image(image) {
                model.fail_action(format!("image {image:?}: {reason}"))?;
                return Ok(());
            }
            let Some(mut api) = connect(model, api_address).await? else {
                return Ok(());
            };
            match api.backup_now(image, params.force).await {
                Ok(response) => {
                    let backup = response.backup.unwrap_or_default();
                    let mut results = json!({
                        "name": backup.name,
                        "source": backup.source,
                        "phase": phase_name(backup.phase),
                        "created": response.created,
                    });
                    if !backup.backup_reference.is_empty() {
                        results["backup-reference"] = json!(backup.backup_reference);
                    }
                    model.set_action_results(results)?;
                }
                Err(e) => model.fail_action(e.to_string())?,
            }
        }
        RESTORE_ORIGINALS => {
            let params: RestoreParams = model.action_params_as()?;
            let Some(mut api) = connect(model, api_address).await? else {
                return Ok(());
            };
            match api.restore_originals(params.namespace.trim()).await {
                Ok(workloads) => model.set_action_results(json!({
                    "restored": workloads.len(),
                    "workloads": workloads_table(&workloads),
                }))?,
                Err(e) => model.fail_action(e.to_string())?,
            }
        }
        other => return Err(format!("unknown action `{other}`").into()),
    }
    Ok(())
}

/// The client, or `None` after failing the action with the reason.
async fn connect(model: &Model, address: &str) -> Result<Option<ControllerApi>, CharmError> {
    match ControllerApi::connect(address).await {
        Ok(api) => Ok(Some(api)),
        Err(e) => {
            model.fail_action(format!(
                "{e} (is the controller running? see `juju status`)"
            ))?;
            Ok(None)
        }
    }
}

/// `SOURCE  BACKUP  DIGEST  PHASE`, one row per backup, columns aligned.
pub fn backups_table(backups: &[Backup]) -> String {
    let rows = backups.iter().map(|b| {
        vec![
            b.source.clone(),
            or_dash(&b.backup_reference),
            or_dash(&b.backup_digest),
            phase_name(b.phase).to_string(),
        ]
    });
    table(&["SOURCE", "BACKUP", "DIGEST", "PHASE"], rows)
}

/// `KIND  NAMESPACE  NAME  IMAGES`.
pub fn workloads_table(workloads: &[RestoredWorkload]) -> String {
    let rows = workloads.iter().map(|w| {
        vec![
            w.kind.clone(),
            w.namespace.clone(),
            w.name.clone(),
            w.images.join(","),
        ]
    });
    table(&["KIND", "NAMESPACE", "NAME", "IMAGES"], rows)
}

/// `admission.mode`, and unless it is off, `admission.pods-admitted`,
/// `admission.images-rewritten` and `admission.recent` (a table, newest first). A controller
/// that cannot say (an older one, or one that is not ready) does not fail the listing of
/// backups: `admission.error` says why.
pub fn admission_results(response: Result<ListAdmissionsResponse, ApiError>) -> Value {
    let r = match response {
        Ok(r) => r,
        Err(e) => return json!({ "error": e.to_string() }),
    };
    if r.mode == "off" && r.decisions.is_empty() {
        return json!({ "mode": "off" });
    }
    json!({
        "mode": r.mode,
        "pods-admitted": r.pods_admitted,
        "images-rewritten": r.images_rewritten,
        "recent": admissions_table(&r.decisions),
    })
}

/// `TIME  NAMESPACE  POD  CONTAINER  IMAGE  ADMITTED-AS  REASON`: `ADMITTED-AS` is the
/// backup the image was rewritten to, `-` when it was kept.
pub fn admissions_table(decisions: &[AdmissionDecision]) -> String {
    let rows = decisions.iter().map(|d| {
        vec![
            d.time.as_ref().map_or_else(
                || "-".into(),
                |t| {
                    // RFC 3339 to the second: the nanoseconds say nothing to a reader.
                    let time = t.to_string();
                    match time.split_once('.') {
                        Some((seconds, _)) => format!("{seconds}Z"),
                        None => time,
                    }
                },
            ),
            d.namespace.clone(),
            or_dash(&d.pod),
            or_dash(&d.container),
            d.original.clone(),
            if d.rewritten {
                d.image.clone()
            } else {
                "-".into()
            },
            or_dash(&d.reason),
        ]
    });
    table(
        &[
            "TIME",
            "NAMESPACE",
            "POD",
            "CONTAINER",
            "IMAGE",
            "ADMITTED-AS",
            "REASON",
        ],
        rows,
    )
}

fn or_dash(s: &str) -> String {
    if s.is_empty() { "-".into() } else { s.into() }
}

fn table(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut lines: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    lines.extend(rows);
    let mut widths = vec![0; header.len()];
    for line in &lines {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    lines
        .iter()
        .map(|line| {
            let cells: Vec<String> = line
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::image_backup::v1::BackupPhase;

    #[test]
    fn backups_are_an_aligned_table() {
        let backups = [
            Backup {
                source: "docker.io/library/nginx:1.27".into(),
                backup_reference: "reg/docker.io/library/nginx:1.27".into(),
                backup_digest: "sha256:ab".into(),
                phase: BackupPhase::Done.into(),
                ..Backup::default()
            },
            Backup {
                source: "ghcr.io/x/y:2".into(),
                phase: BackupPhase::Running.into(),
                ..Backup::default()
            },
        ];
        assert_eq!(
            backups_table(&backups),
            "SOURCE                        BACKUP                            DIGEST     PHASE\n\
             docker.io/library/nginx:1.27  reg/docker.io/library/nginx:1.27  sha256:ab  Done\n\
             ghcr.io/x/y:2                 -                                 -          Running"
        );
    }

    #[test]
    fn no_backups_is_just_the_header() {
        assert_eq!(backups_table(&[]), "SOURCE  BACKUP  DIGEST  PHASE");
    }

    fn decision(rewritten: bool) -> AdmissionDecision {
        let mut d = AdmissionDecision {
            time: None,
            namespace: "web".into(),
            pod: "shop-7d9c".into(),
            container: "nginx".into(),
            original: "nginx:1.27".into(),
            image: if rewritten {
                "reg/nginx@sha256:ab".into()
            } else {
                "nginx:1.27".into()
            },
            reason: if rewritten {
                "unavailable: manifest 404".into()
            } else {
                "available".into()
            },
            rewritten,
        };
        // 2026-12-06T10:40:00.000000500Z
        let time = d.time.get_or_insert_default();
        time.seconds = 1_796_553_600;
        time.nanos = 500;
        d
    }

    #[test]
    fn admissions_are_a_table_with_the_backup_only_when_rewritten() {
        assert_eq!(
            admissions_table(&[decision(true), decision(false)]),
            "TIME                  NAMESPACE  POD        CONTAINER  IMAGE       ADMITTED-AS          REASON\n\
             2026-12-06T10:40:00Z  web        shop-7d9c  nginx      nginx:1.27  reg/nginx@sha256:ab  unavailable: manifest 404\n\
             2026-12-06T10:40:00Z  web        shop-7d9c  nginx      nginx:1.27  -                    available"
        );
    }

    #[test]
    fn admission_results_say_the_mode_totals_and_why_they_are_missing() {
        let off = ListAdmissionsResponse {
            mode: "off".into(),
            ..ListAdmissionsResponse::default()
        };
        assert_eq!(admission_results(Ok(off)), json!({ "mode": "off" }));

        let failover = ListAdmissionsResponse {
            mode: "failover".into(),
            decisions: vec![decision(true)],
            pods_admitted: 7,
            images_rewritten: 1,
        };
        let results = admission_results(Ok(failover));
        assert_eq!(results["mode"], "failover");
        assert_eq!(results["pods-admitted"], 7);
        assert_eq!(results["images-rewritten"], 1);
        assert_eq!(results["recent"].as_str().unwrap().lines().count(), 2);

        let old = ApiError::Call {
            call: "ListAdmissions",
            status: tonic::Status::unimplemented("unknown method"),
        };
        assert_eq!(
            admission_results(Err(old)),
            json!({ "error": "controller API ListAdmissions: Operation is not implemented or not supported: unknown method" })
        );
    }
}

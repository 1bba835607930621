//! Golden YAML for each object the charm applies: any change to what lands on the cluster shows
//! up as a diff against `tests/golden/*.yaml`. After an intended change, regenerate with
//! `UPDATE_GOLDEN=1 cargo test -p cloudcasa-charm --test golden` and review the diff.

use std::path::PathBuf;

use cloudcasa_charm::cluster_id::ClusterId;
use cloudcasa_charm::image::Image;
use cloudcasa_charm::objects::{self, AgentSpec, Desired};
use cloudcasa_charm::owner::Owner;
use serde::Serialize;

fn spec() -> AgentSpec {
    AgentSpec {
        cluster_id: ClusterId::parse("5f8d0d55b54764421b7156c9").expect("valid id"),
        image: Image::parse("docker.io/catalogicsoftware/amds-kagent:latest").expect("valid image"),
        owner: Owner::new("backups", "cloudcasa").expect("valid owner"),
    }
}

/// The one place this crate turns objects into YAML.
fn to_yaml(object: &impl Serialize) -> String {
    serde_yaml::to_string(object).expect("k8s-openapi objects serialize")
}

fn check(name: &str, object: &impl Serialize) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.yaml"));
    let actual = to_yaml(object);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("golden files are in a directory"))
            .expect("golden directory can be created");
        std::fs::write(&path, &actual).expect("golden file is writable");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    assert!(
        actual == expected,
        "{name} drifted from {}; if intended, rerun with UPDATE_GOLDEN=1.\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

#[test]
fn namespace() {
    check("namespace", &objects::namespace(&spec().owner));
}

#[test]
fn service_account() {
    check("service-account", &objects::service_account(&spec().owner));
}

#[test]
fn cluster_role_binding() {
    check(
        "cluster-role-binding",
        &objects::cluster_role_binding(&spec().owner),
    );
}

#[test]
fn deployment() {
    check("deployment", &objects::deployment(&spec()));
}

#[test]
fn desired_holds_exactly_the_golden_objects() {
    let spec = spec();
    let desired = Desired::with_agent(&spec);
    assert_eq!(desired.namespace(), &objects::namespace(&spec.owner));
    assert_eq!(
        desired.service_account(),
        &objects::service_account(&spec.owner)
    );
    assert_eq!(
        desired.cluster_role_binding(),
        &objects::cluster_role_binding(&spec.owner)
    );
    assert_eq!(desired.deployment(), Some(&objects::deployment(&spec)));
}

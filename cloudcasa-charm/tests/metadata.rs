//! `charmcraft.yaml` keeps what `juju refresh` from the Python charm relies on: the charm's
//! name, its container and resource, and the `clusterid` option, each as the original declared it.

use cloudcasa_charm::image::CHARM_CONTAINER;
use serde_yaml::Value;

fn charmcraft() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/charmcraft.yaml");
    let text = std::fs::read_to_string(path).expect("charmcraft.yaml is readable");
    serde_yaml::from_str(&text).expect("charmcraft.yaml is YAML")
}

#[test]
fn refresh_compatible_with_the_python_charm() {
    let doc = charmcraft();
    assert_eq!(doc["type"], "charm");
    assert_eq!(doc["name"], "cloudcasa");
    assert_eq!(
        doc["containers"][CHARM_CONTAINER]["resource"],
        "cloudcasa-image"
    );
    let resource = &doc["resources"]["cloudcasa-image"];
    assert_eq!(resource["type"], "oci-image");
    assert_eq!(
        resource["upstream-source"],
        "docker.io/catalogicsoftware/amds-kagent:latest"
    );
    let clusterid = &doc["config"]["options"]["clusterid"];
    assert_eq!(clusterid["type"], "string");
    assert_eq!(clusterid["default"], "");
    let options = doc["config"]["options"]
        .as_mapping()
        .expect("options mapping");
    assert_eq!(options.len(), 1, "the original has exactly one option");
}

#[test]
fn runs_on_ubuntu_22_04_amd64() {
    let doc = charmcraft();
    let platforms = doc["platforms"].as_mapping().expect("platforms mapping");
    let names: Vec<_> = platforms.keys().filter_map(Value::as_str).collect();
    assert_eq!(names, ["ubuntu@22.04:amd64"]);
}

/// The one endpoint, ours rather than the Python charm's: optional, so a deployment without an
/// image-backup charm is complete, and speaking the interface the image-backup charm provides.
#[test]
fn image_backup_is_an_optional_requirer_of_the_providers_interface() {
    let endpoint = &charmcraft()["requires"][cloudcasa_charm::protection::ENDPOINT];
    assert_eq!(endpoint["interface"], "image-backup");
    assert_eq!(endpoint["optional"], true);
    assert_eq!(endpoint["limit"], 1);
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../image-backup/charm/charmcraft.yaml"
    );
    let text = std::fs::read_to_string(path).expect("the provider's charmcraft.yaml is readable");
    let provider: Value = serde_yaml::from_str(&text).expect("the provider's charmcraft.yaml");
    assert_eq!(
        provider["provides"]["image-backup"]["interface"],
        endpoint["interface"]
    );
}

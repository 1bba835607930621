//! Round-trip and golden tests of the `image-backup` interface's bag encoding.

use charm_core::contract::{Bag, BagChanges, BagCodec, decode_remote};
use proto::image_backup::v1::{BackedUpImage, ImageBackupProviderData, ImageBackupRequirerData};

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn bag(pairs: &[(&str, &str)]) -> Bag {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn keyed_messages(errors: charm_core::contract::ValidationErrors) -> Vec<(String, String)> {
    errors.into_iter().map(|e| (e.key, e.message)).collect()
}

fn provider() -> ImageBackupProviderData {
    ImageBackupProviderData {
        registry: "registry.example.com:5000/backups".into(),
        api_address: "http://10.1.2.3:50051".into(),
        backups: vec![BackedUpImage {
            source: "nginx:1.27".into(),
            reference: "registry.example.com:5000/backups/library/nginx:1.27".into(),
            digest: DIGEST.into(),
        }],
    }
}

#[test]
fn requirer_golden_bag_and_round_trip() {
    let request = ImageBackupRequirerData {
        images: vec![
            "docker.io/library/nginx:1.27".into(),
            format!("ghcr.io/org/agent@{DIGEST}"),
        ],
    };
    let encoded = request.to_bag().unwrap();
    assert_eq!(
        encoded,
        bag(&[(
            "images",
            &format!(r#"["docker.io/library/nginx:1.27","ghcr.io/org/agent@{DIGEST}"]"#)
        )])
    );
    assert_eq!(ImageBackupRequirerData::from_bag(&encoded), Ok(request));
}

#[test]
fn requirer_asking_for_nothing_writes_nothing() {
    let nothing = ImageBackupRequirerData { images: vec![] };
    assert_eq!(nothing.to_bag(), Ok(Bag::new()));
    assert_eq!(
        decode_remote::<ImageBackupRequirerData>(&Bag::new()),
        Ok(None)
    );
    assert_eq!(
        ImageBackupRequirerData::from_bag(&bag(&[("images", "[]")])),
        Ok(nothing)
    );
}

#[test]
fn provider_golden_bag_and_round_trip() {
    let offer = provider();
    let encoded = offer.to_bag().unwrap();
    assert_eq!(
        encoded,
        bag(&[
            ("api-address", "http://10.1.2.3:50051"),
            (
                "backups",
                &format!(
                    r#"[{{"source":"nginx:1.27","reference":"registry.example.com:5000/backups/library/nginx:1.27","digest":"{DIGEST}"}}]"#
                )
            ),
            ("registry", "registry.example.com:5000/backups"),
        ])
    );
    let decoded = ImageBackupProviderData::from_bag(&encoded).unwrap();
    assert_eq!(decoded, offer);
    assert_eq!(decoded.backup_of("nginx:1.27"), Some(&offer.backups[0]));
    assert_eq!(decoded.backup_of("nginx:1.28"), None);
}

#[test]
fn provider_without_finished_backups_has_no_backups_key() {
    let offer = ImageBackupProviderData {
        backups: vec![],
        ..provider()
    };
    let encoded = offer.to_bag().unwrap();
    assert!(!encoded.contains_key("backups"));
    assert_eq!(ImageBackupProviderData::from_bag(&encoded), Ok(offer));
}

#[test]
fn unknown_keys_and_json_fields_are_ignored() {
    // What a later v1 provider might write: a new key and a new field per entry.
    let newer = bag(&[
        ("registry", "r.example.com"),
        ("api-address", "https://r.example.com:443"),
        ("metrics", "http://r.example.com:9090/metrics"),
        (
            "backups",
            &format!(
                r#"[{{"source":"a","reference":"r.example.com/a","digest":"{DIGEST}","size":1}}]"#
            ),
        ),
    ]);
    let decoded = ImageBackupProviderData::from_bag(&newer).unwrap();
    assert_eq!(decoded.backups.len(), 1);
    assert_eq!(decoded.backups[0].reference, "r.example.com/a");
}

#[test]
fn invalid_provider_bag_names_every_key() {
    let errors = ImageBackupProviderData::from_bag(&bag(&[
        ("registry", "https://r.example.com"),
        (
            "backups",
            r#"[{"source":"Nginx","reference":"r/x","digest":"md5:1"}]"#,
        ),
    ]))
    .unwrap_err();
    assert_eq!(
        keyed_messages(errors.clone()),
        [
            (
                "registry".into(),
                "invalid registry port in \"https:\"".into()
            ),
            ("api-address".into(), "field required".into()),
            (
                "backups".into(),
                "source: invalid repository path component \"Nginx\"".into()
            ),
            ("backups".into(), "digest: invalid digest \"md5:1\"".into()),
        ]
    );
    assert_eq!(
        errors.keys().collect::<Vec<_>>(),
        ["registry", "api-address", "backups"]
    );
    assert_eq!(
        errors.get("backups").unwrap().value.as_deref(),
        Some("Nginx")
    );
}

#[test]
fn malformed_json_is_an_error_on_its_key() {
    let errors = ImageBackupRequirerData::from_bag(&bag(&[("images", "nginx,redis")])).unwrap_err();
    assert_eq!(errors.keys().collect::<Vec<_>>(), ["images"]);
    assert!(
        errors.errors()[0].message.starts_with("invalid JSON: "),
        "{errors}"
    );
    let errors = ImageBackupProviderData::from_bag(&bag(&[
        ("registry", "r.example.com"),
        ("api-address", "http://h:1"),
        ("backups", r#"{"source":"a"}"#),
    ]))
    .unwrap_err();
    assert_eq!(errors.keys().collect::<Vec<_>>(), ["backups"]);
}

#[test]
fn invalid_messages_are_never_encoded() {
    let request = ImageBackupRequirerData {
        images: vec!["nginx".into(), "not an image".into(), String::new()],
    };
    let errors = request.to_bag().unwrap_err();
    assert_eq!(
        keyed_messages(errors),
        [
            (
                "images".into(),
                "invalid repository path component \"not an image\"".into()
            ),
            ("images".into(), "image reference cannot be empty".into()),
        ]
    );

    let offer = ImageBackupProviderData {
        registry: String::new(),
        api_address: "10.1.2.3:50051".into(),
        backups: vec![],
    };
    assert_eq!(
        keyed_messages(offer.to_bag().unwrap_err()),
        [
            ("registry".into(), "field required".into()),
            (
                "api-address".into(),
                "must be http://host:port or https://host:port".into()
            ),
        ]
    );
}

#[test]
fn a_finished_backup_changes_only_the_backups_key() {
    let before = ImageBackupProviderData {
        backups: vec![],
        ..provider()
    }
    .to_bag()
    .unwrap();
    let after = provider().to_bag().unwrap();
    let changes = BagChanges::between(&before, &after);
    assert_eq!(changes.set.keys().collect::<Vec<_>>(), ["backups"]);
    assert!(changes.delete.is_empty());
    assert!(BagChanges::between(&after, &after).is_empty());
}

//! The bad-input matrix: each value is tried on a leader whose relation already carries a
//! valid request, and must either be applied exactly or be refused with the bag and the
//! scripts left as they were.

mod common;

use std::fs;

use common::*;

/// `value` as `fileset` is refused with `status`, changing nothing.
fn refused(value: &str, status: &str) {
    let (h, before) = published();
    let files = h.files();
    let out = reconfigure(
        &h,
        &before,
        &[
            ("fileset", value),
            ("run-before-backup", "#!/bin/sh\nchanged\n"),
        ],
    );
    assert_eq!(out.unit_status, blocked(status), "fileset {value:?}");
    assert_eq!(app_bag(&out), app_bag(&before), "fileset {value:?}");
    assert_eq!(h.files(), files, "fileset {value:?}");
    assert!(relation_sets(&out).is_empty(), "fileset {value:?}");
}

/// `value` as `fileset` is accepted and published as `expected`.
fn accepted(value: &str, expected: &str) {
    let (h, before) = published();
    let out = reconfigure(
        &h,
        &before,
        &[("fileset", value), ("run-before-backup", SCRIPT)],
    );
    assert_eq!(out.unit_status, active(), "fileset {value:?}");
    assert_eq!(app_bag(&out)["fileset"], expected, "fileset {value:?}");
}

#[test]
fn whitespace_only_fileset_is_missing() {
    for value in ["", " ", "\t", "\n \r\n", "\u{a0}\u{3000}"] {
        refused(value, "missing fileset config");
    }
}

#[test]
fn commas_only_fileset_is_invalid() {
    for value in [",", " , ", ",,", "\t,\n"] {
        refused(value, "invalid config: fileset");
    }
}

#[test]
fn relative_paths_are_invalid() {
    for value in [
        "var/backups",
        "./var",
        ".",
        "~/backups",
        "/srv,relative",
        "..",
        "../etc",
        "srv/../etc",
    ] {
        refused(value, "invalid config: fileset");
    }
}

#[test]
fn absolute_paths_with_dot_dot_pass_unresolved() {
    // pathlib keeps `..` (resolving it would need the filesystem); so does the Python charm.
    accepted("/var/backups/../log", "/var/backups/../log");
    accepted("/..", "/..");
}

#[test]
fn trailing_and_repeated_slashes_are_normalised() {
    accepted("/var/backups/", "/var/backups");
    accepted("/var//backups//,/srv/./data/", "/var/backups,/srv/data");
    accepted("//net/share/", "//net/share");
    accepted("/", "/");
}

#[test]
fn control_characters_in_a_path_are_invalid() {
    for value in [
        "/srv/a\nb",
        "/srv/a\rb",
        "/srv/a\0b",
        "/srv/a\tb",
        "/srv/\u{1b}[31m",
        "/srv/\u{85}x",
    ] {
        refused(value, "invalid config: fileset");
    }
}

#[test]
fn non_ascii_paths_pass_as_written() {
    accepted(
        "/srv/données,/srv/日本語,/srv/emoji-😀",
        "/srv/données,/srv/日本語,/srv/emoji-😀",
    );
    // Zero-width characters are not whitespace in Python either: kept.
    accepted("/srv/\u{200b}x", "/srv/\u{200b}x");
}

#[test]
fn very_long_fileset_is_published_whole() {
    let paths: Vec<String> = (0..2_000)
        .map(|i| format!("/srv/{}/{i}", "d".repeat(200)))
        .collect();
    let value = paths.join(",");
    assert!(value.len() > 400_000);
    accepted(&value, &value);
}

#[test]
fn very_long_script_is_written_exactly() {
    let (h, before) = published();
    let mut script = String::from("#!/bin/sh\n");
    while script.len() < 2 << 20 {
        script.push_str("echo 'a line of a long script with ünïcödé and a tab\t'\n");
    }
    let out = reconfigure(
        &h,
        &before,
        &[("fileset", "/srv"), ("run-after-backup", &script)],
    );
    assert_eq!(out.unit_status, active());
    let path = &app_bag(&out)["run-after-backup"];
    assert_eq!(fs::read(path).unwrap(), script.as_bytes());
}

#[test]
fn script_bytes_are_written_as_given() {
    // Config values are JSON strings, so always UTF-8, but they may hold anything UTF-8 can:
    // NUL, CRLF, a BOM after the shebang, astral characters. Written byte for byte.
    let contents = [
        "#!/bin/sh\r\necho crlf\r\n",
        "#!/bin/sh\necho nul \0 inside\n",
        "#!/bin/sh\n# \u{feff} bom later, 😀, \u{10ffff}\n",
        "#!",
        "#!/bin/sh",
    ];
    for content in contents {
        let (h, before) = published();
        let out = reconfigure(
            &h,
            &before,
            &[("fileset", "/srv"), ("run-before-restore", content)],
        );
        assert_eq!(out.unit_status, active(), "{content:?}");
        let path = &app_bag(&out)["run-before-restore"];
        assert_eq!(fs::read(path).unwrap(), content.as_bytes(), "{content:?}");
    }
}

#[test]
fn leading_whitespace_before_the_shebang_is_refused() {
    let (h, before) = published();
    let files = h.files();
    let out = reconfigure(
        &h,
        &before,
        &[("fileset", "/srv"), ("run-before-backup", "  #!/bin/sh\n")],
    );
    assert_eq!(
        out.unit_status,
        blocked("invalid config: run-before-backup must start with #!")
    );
    assert_eq!(h.files(), files);
    assert_eq!(app_bag(&out), app_bag(&before));
}

#[test]
fn whitespace_only_script_is_refused_not_unset() {
    let (h, before) = published();
    let out = reconfigure(
        &h,
        &before,
        &[("fileset", "/srv"), ("run-before-backup", "   \n")],
    );
    assert_eq!(
        out.unit_status,
        blocked("invalid config: run-before-backup must start with #!")
    );
    assert!(h.script_dir().join("run-before-backup").exists());
}

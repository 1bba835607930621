//! Golden tests of the `backup` interface against `charms.backup_integrator.v0.backup`
//! (LIBPATCH 1).
//!
//! Every expected value below was printed by that library's `BackupSpec` class (its validators
//! and serialisers retyped into a scratch script, run with pydantic 2.13.4 on CPython 3.11; the
//! script is not part of this repository): `BackupSpec.new(**bag).model_dump(exclude_none=True)`
//! for the bag cases (what a provider such as bacula-fd reads) and `BackupSpec.new(fileset=[...],
//! run_before_backup=...)` for the message cases (what `BackupDynamicRequirer.require_backup`
//! writes). pydantic prefixes messages with `Value error, `; the tables hold the library's own
//! strings.

use charm_core::contract::{Bag, BagCodec, decode_remote};
use proto::backup::v1::{BackupProviderData, BackupRequirerData};

type Pairs = &'static [(&'static str, &'static str)];
type Expected = Result<Pairs, Pairs>;

fn bag(pairs: Pairs) -> Bag {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn errors(
    result: Result<Bag, charm_core::contract::ValidationErrors>,
) -> Result<Bag, Vec<(String, String)>> {
    result.map_err(|errors| {
        errors
            .into_iter()
            .map(|error| (error.key, error.message))
            .collect()
    })
}

fn expected(expected: Expected) -> Result<Bag, Vec<(String, String)>> {
    match expected {
        Ok(pairs) => Ok(bag(pairs)),
        Err(pairs) => Err(pairs
            .iter()
            .map(|(k, m)| ((*k).to_owned(), (*m).to_owned()))
            .collect()),
    }
}

/// (case, bag a requirer wrote, what the Python library makes of it).
const BAG_CASES: &[(&str, Pairs, Expected)] = &[
    (
        "one path",
        &[("fileset", "/var/backups")],
        Ok(&[("fileset", "/var/backups")]),
    ),
    (
        "two paths",
        &[("fileset", "/var/backups,/etc/app")],
        Ok(&[("fileset", "/var/backups,/etc/app")]),
    ),
    (
        "items stripped and normalised like pathlib",
        &[(
            "fileset",
            " /var/backups/ , //a//b ,/./x/../y,/srv/./data/.",
        )],
        Ok(&[("fileset", "/var/backups,//a/b,/x/../y,/srv/data")]),
    ),
    (
        "empty items dropped",
        &[("fileset", ",/a,,/b,")],
        Ok(&[("fileset", "/a,/b")]),
    ),
    (
        "only commas",
        &[("fileset", ",")],
        Err(&[("fileset", "fileset cannot be empty")]),
    ),
    (
        "only spaces and commas",
        &[("fileset", " , ")],
        Err(&[("fileset", "fileset cannot be empty")]),
    ),
    (
        "missing fileset",
        &[("run-before-backup", "/opt/s")],
        Err(&[("fileset", "Field required")]),
    ),
    (
        "relative path",
        &[("fileset", "var/backups")],
        Err(&[("fileset", "all path in fileset must be absolute.")]),
    ),
    (
        "relative path among absolute ones",
        &[("fileset", "/var/backups,etc,/var/backups/foobar")],
        Err(&[("fileset", "all path in fileset must be absolute.")]),
    ),
    (
        "whitespace exposed by normalisation",
        &[("fileset", "/a /")],
        Err(&[("fileset", "path cannot start or end with whitespaces")]),
    ),
    (
        "information separator is python whitespace",
        &[("fileset", "/a\u{1c}/")],
        Err(&[("fileset", "path cannot start or end with whitespaces")]),
    ),
    (
        "no-break space stripped from items",
        &[("fileset", "/a/\u{a0}")],
        Ok(&[("fileset", "/a")]),
    ),
    (
        "zero-width space is not whitespace",
        &[("fileset", "/a\u{200b}")],
        Ok(&[("fileset", "/a\u{200b}")]),
    ),
    (
        "newline inside a path is kept",
        &[("fileset", "/a\n/b")],
        Ok(&[("fileset", "/a\n/b")]),
    ),
    (
        "leading double slash kept",
        &[("fileset", "//srv")],
        Ok(&[("fileset", "//srv")]),
    ),
    (
        "dotdot kept",
        &[("fileset", "/var/../etc,/..")],
        Ok(&[("fileset", "/var/../etc,/..")]),
    ),
    (
        "root",
        &[("fileset", "/,/.,///")],
        Ok(&[("fileset", "/,/,/")]),
    ),
    (
        "all scripts",
        &[
            ("fileset", "/a"),
            ("run-before-backup", "/s/before-backup"),
            ("run-after-backup", "/s/after-backup/"),
            ("run-before-restore", "//s//before-restore"),
            ("run-after-restore", "/s/./after-restore"),
        ],
        Ok(&[
            ("fileset", "/a"),
            ("run-before-backup", "/s/before-backup"),
            ("run-after-backup", "/s/after-backup"),
            ("run-before-restore", "//s/before-restore"),
            ("run-after-restore", "/s/after-restore"),
        ]),
    ),
    (
        "script with trailing space is accepted",
        &[("fileset", "/a"), ("run-after-backup", "/s/x ")],
        Ok(&[("fileset", "/a"), ("run-after-backup", "/s/x ")]),
    ),
    (
        "relative scripts",
        &[
            ("fileset", "/a"),
            ("run-before-backup", "s"),
            ("run-after-restore", " /s"),
        ],
        Err(&[
            ("run-before-backup", "path must be absolute"),
            ("run-after-restore", "path must be absolute"),
        ]),
    ),
    (
        "every field invalid",
        &[
            ("fileset", "a"),
            ("run-before-backup", "b"),
            ("run-after-backup", "c"),
            ("run-before-restore", "d"),
            ("run-after-restore", "e"),
        ],
        Err(&[
            ("fileset", "all path in fileset must be absolute."),
            ("run-before-backup", "path must be absolute"),
            ("run-after-backup", "path must be absolute"),
            ("run-before-restore", "path must be absolute"),
            ("run-after-restore", "path must be absolute"),
        ]),
    ),
    (
        "field name read when the key is absent",
        &[("fileset", "/a"), ("run_before_backup", "/s/x/")],
        Ok(&[("fileset", "/a"), ("run-before-backup", "/s/x")]),
    ),
    (
        "key wins over field name",
        &[
            ("fileset", "/a"),
            ("run_before_backup", "x"),
            ("run-before-backup", "/y"),
        ],
        Ok(&[("fileset", "/a"), ("run-before-backup", "/y")]),
    ),
    (
        "invalid field name reported under its name",
        &[("fileset", "/a"), ("run_after_restore", "x")],
        Err(&[("run_after_restore", "path must be absolute")]),
    ),
    (
        "unknown keys ignored",
        &[
            ("fileset", "/a"),
            ("egress-subnets", "10.0.0.0/24"),
            ("other", "x"),
        ],
        Ok(&[("fileset", "/a")]),
    ),
];

/// (case, fileset, scripts in field order, what the Python library writes or raises).
#[allow(clippy::type_complexity)]
const MESSAGE_CASES: &[(&str, &[&str], [Option<&str>; 4], Expected)] = &[
    (
        "normalised when written",
        &["/var/backups/", "//a//b", "/x/./y"],
        [None, None, None, None],
        Ok(&[("fileset", "/var/backups,//a/b,/x/y")]),
    ),
    (
        "empty fileset",
        &[],
        [None, None, None, None],
        Err(&[("fileset", "fileset cannot be empty")]),
    ),
    (
        "leading whitespace",
        &[" /a"],
        [None, None, None, None],
        Err(&[("fileset", "path cannot start or end with whitespaces")]),
    ),
    (
        "trailing whitespace exposed by normalisation",
        &["/a /"],
        [None, None, None, None],
        Err(&[("fileset", "path cannot start or end with whitespaces")]),
    ),
    (
        "comma in a path",
        &["/a,b"],
        [None, None, None, None],
        Err(&[("fileset", "path cannot contain commas")]),
    ),
    (
        "whitespace checked before commas",
        &[" /a,b"],
        [None, None, None, None],
        Err(&[("fileset", "path cannot start or end with whitespaces")]),
    ),
    (
        "commas checked before absoluteness",
        &["a,b"],
        [None, None, None, None],
        Err(&[("fileset", "path cannot contain commas")]),
    ),
    (
        "first bad path only",
        &["/ok", "rel", " /b"],
        [None, None, None, None],
        Err(&[("fileset", "all path in fileset must be absolute.")]),
    ),
    (
        "empty path is dot",
        &[""],
        [None, None, None, None],
        Err(&[("fileset", "all path in fileset must be absolute.")]),
    ),
    (
        "dot path",
        &["."],
        [None, None, None, None],
        Err(&[("fileset", "all path in fileset must be absolute.")]),
    ),
    (
        "empty script path",
        &["/a"],
        [Some(""), None, None, None],
        Err(&[("run-before-backup", "path must be absolute")]),
    ),
    (
        "relative script paths",
        &["/a"],
        [None, Some("x"), Some(" /x"), None],
        Err(&[
            ("run-after-backup", "path must be absolute"),
            ("run-before-restore", "path must be absolute"),
        ]),
    ),
    (
        "all fields",
        &["/a", "/b/"],
        [Some("/s/1"), Some("/s/2"), Some("/s/3"), Some("/s/4/")],
        Ok(&[
            ("fileset", "/a,/b"),
            ("run-before-backup", "/s/1"),
            ("run-after-backup", "/s/2"),
            ("run-before-restore", "/s/3"),
            ("run-after-restore", "/s/4"),
        ]),
    ),
    (
        "every field invalid",
        &[],
        [Some("a"), Some("b"), Some("c"), Some("d")],
        Err(&[
            ("fileset", "fileset cannot be empty"),
            ("run-before-backup", "path must be absolute"),
            ("run-after-backup", "path must be absolute"),
            ("run-before-restore", "path must be absolute"),
            ("run-after-restore", "path must be absolute"),
        ]),
    ),
];

#[test]
fn reading_a_bag_matches_python() {
    for (case, input, want) in BAG_CASES {
        let got = BackupRequirerData::from_bag(&bag(input)).and_then(|message| message.to_bag());
        assert_eq!(errors(got), expected(*want), "case {case:?}");
    }
}

#[test]
fn writing_a_message_matches_python() {
    for (case, fileset, [a, b, c, d], want) in MESSAGE_CASES {
        let message = BackupRequirerData {
            fileset: fileset.iter().map(|p| (*p).to_owned()).collect(),
            run_before_backup: a.map(str::to_owned),
            run_after_backup: b.map(str::to_owned),
            run_before_restore: c.map(str::to_owned),
            run_after_restore: d.map(str::to_owned),
        };
        assert_eq!(errors(message.to_bag()), expected(*want), "case {case:?}");
    }
}

#[test]
fn written_bags_read_back_to_the_normalised_message() {
    for (case, _, _, want) in MESSAGE_CASES {
        let Ok(pairs) = want else { continue };
        let written = bag(pairs);
        let read = BackupRequirerData::from_bag(&written).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(read.to_bag().as_ref(), Ok(&written), "case {case:?}");
    }
}

#[test]
fn errors_carry_the_offending_value() {
    let errors = BackupRequirerData::from_bag(&bag(&[
        ("fileset", "/ok, rel/x ,/b"),
        ("run-after-backup", "script"),
    ]))
    .unwrap_err();
    assert_eq!(
        errors.to_string(),
        "fileset: all path in fileset must be absolute. (got \"rel/x\"); \
         run-after-backup: path must be absolute (got \"script\")"
    );
    assert_eq!(
        errors.keys().collect::<Vec<_>>(),
        ["fileset", "run-after-backup"]
    );
}

#[test]
fn empty_remote_bag_is_not_written_yet() {
    assert_eq!(decode_remote::<BackupRequirerData>(&Bag::new()), Ok(None));
}

#[test]
fn empty_bag_value_is_an_absent_key() {
    // Juju never delivers an empty value (setting one deletes the key).
    let read = BackupRequirerData::from_bag(&bag(&[("fileset", "/a"), ("run-before-backup", "")]));
    assert_eq!(read.map(|m| m.run_before_backup), Ok(None));
    let missing = BackupRequirerData::from_bag(&bag(&[("fileset", "")])).unwrap_err();
    assert_eq!(missing.errors()[0].message, "Field required");
}

#[test]
fn provider_writes_nothing_and_ignores_its_bag() {
    assert_eq!(BackupProviderData {}.to_bag(), Ok(Bag::new()));
    assert_eq!(
        BackupProviderData::from_bag(&bag(&[("anything", "x")])),
        Ok(BackupProviderData {})
    );
}

#[test]
fn split_fileset_like_the_charm_config() {
    assert_eq!(
        proto::backup::v1::split_fileset(" /a ,, /b/,\u{3000}, "),
        ["/a", "/b/"]
    );
    assert!(proto::backup::v1::split_fileset(" , ").is_empty());
}

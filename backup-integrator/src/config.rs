//! The five config options, validated as a whole before anything is written.
//!
//! `fileset` follows the `backup` interface's rules (`proto::backup::v1`, the Python library's
//! rules), so the Blocked statuses are those of the Python charm; two rules are ours:
//! control characters in a path, and a script without `#!`, are rejected here rather than
//! failing later, silently, in the backup agent.

use std::fmt;

use charm_core::contract::{BagCodec, FieldError};
use charm_core::{Config, Status};
use proto::backup::v1::{self as backup, BackupRequirerData};

/// The `fileset` option (and bag key).
pub const FILESET: &str = backup::FILESET;

/// A `run-*` option: the content of a script to run around a backup or a restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScriptOption {
    RunBeforeBackup,
    RunAfterBackup,
    RunBeforeRestore,
    RunAfterRestore,
}

impl ScriptOption {
    /// In the interface's field order.
    pub const ALL: [ScriptOption; 4] = [
        ScriptOption::RunBeforeBackup,
        ScriptOption::RunAfterBackup,
        ScriptOption::RunBeforeRestore,
        ScriptOption::RunAfterRestore,
    ];

    /// The option's name, which is also the script's file name and its path's bag key.
    pub fn name(self) -> &'static str {
        match self {
            ScriptOption::RunBeforeBackup => backup::RUN_BEFORE_BACKUP,
            ScriptOption::RunAfterBackup => backup::RUN_AFTER_BACKUP,
            ScriptOption::RunBeforeRestore => backup::RUN_BEFORE_RESTORE,
            ScriptOption::RunAfterRestore => backup::RUN_AFTER_RESTORE,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ScriptOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The options as the operator set them (`None`: unset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub fileset: Option<String>,
    /// Indexed like [`ScriptOption::ALL`].
    pub scripts: [Option<String>; 4],
}

impl Options {
    /// Reads the options from the charm's config.
    pub fn from_config(config: &Config) -> Result<Options, charm_core::ConfigError> {
        let mut scripts: [Option<String>; 4] = Default::default();
        for option in ScriptOption::ALL {
            scripts[option.index()] = config.string(option.name())?;
        }
        Ok(Options {
            fileset: config.string(FILESET)?,
            scripts,
        })
    }

    #[cfg(test)]
    fn with_script(mut self, option: ScriptOption, content: &str) -> Options {
        self.scripts[option.index()] = Some(content.to_owned());
        self
    }

    /// Checks every option and reports every problem at once.
    pub fn validate(&self) -> Result<BackupRequest, ConfigError> {
        let value = self.fileset.as_deref().unwrap_or_default();
        let fileset = backup::split_fileset(value);
        // Blank (Python's `str.strip()` empty) is "missing"; commas only is invalid, as in the
        // Python charm. Without a comma, splitting keeps the stripped value unless it is blank.
        if fileset.is_empty() && !value.contains(',') {
            return Err(ConfigError::MissingFileset);
        }

        let mut problems = Vec::new();
        for path in &fileset {
            if path.chars().any(char::is_control) {
                problems.push(Problem::Fileset(FieldError::new(
                    FILESET,
                    "path cannot contain control characters",
                    Some(path),
                )));
            }
        }
        let fileset_only = BackupRequirerData {
            fileset: fileset.clone(),
            ..BackupRequirerData::default()
        };
        if let Err(errors) = fileset_only.to_bag() {
            problems.extend(errors.into_iter().map(Problem::Fileset));
        }

        let mut scripts: [Option<String>; 4] = Default::default();
        for option in ScriptOption::ALL {
            // Juju reports `juju config app opt=""` as an empty string: that is unset too.
            let Some(content) = self.scripts[option.index()].as_deref() else {
                continue;
            };
            if content.is_empty() {
                continue;
            }
            if !content.starts_with("#!") {
                problems.push(Problem::NoShebang(option));
            }
            scripts[option.index()] = Some(content.to_owned());
        }

        if problems.is_empty() {
            Ok(BackupRequest { fileset, scripts })
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }
}

/// What a valid configuration asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupRequest {
    fileset: Vec<String>,
    scripts: [Option<String>; 4],
}

impl BackupRequest {
    /// The fileset as configured: split on `,`, items trimmed, empty items dropped (the bag
    /// gets them normalised by the interface, e.g. without trailing slashes).
    pub fn fileset(&self) -> &[String] {
        &self.fileset
    }

    /// The content of a script, `None` when its option is unset.
    pub fn script(&self, option: ScriptOption) -> Option<&str> {
        self.scripts[option.index()].as_deref()
    }

    /// Every script option with its content, in field order.
    pub fn scripts(&self) -> impl Iterator<Item = (ScriptOption, Option<&str>)> {
        ScriptOption::ALL.into_iter().map(|o| (o, self.script(o)))
    }

    /// The `backup` relation message, with each set script at `path(option)`.
    pub fn message(&self, path: impl Fn(ScriptOption) -> String) -> BackupRequirerData {
        let path = |option| self.script(option).map(|_| path(option));
        BackupRequirerData {
            fileset: self.fileset.clone(),
            run_before_backup: path(ScriptOption::RunBeforeBackup),
            run_after_backup: path(ScriptOption::RunAfterBackup),
            run_before_restore: path(ScriptOption::RunBeforeRestore),
            run_after_restore: path(ScriptOption::RunAfterRestore),
        }
    }
}

/// Why the configuration cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// `fileset` is unset or blank.
    MissingFileset,
    /// Every problem found, in option order. Never empty.
    Invalid(Vec<Problem>),
}

/// One invalid option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// `fileset` broke a rule; the field error says which, with the offending path.
    Fileset(FieldError),
    /// A script that does not start with `#!`: the backup agent could not execute it.
    NoShebang(ScriptOption),
}

impl Problem {
    /// The option, with what is wrong when the option's name does not say it already.
    fn summary(&self) -> String {
        match self {
            Problem::Fileset(_) => FILESET.to_owned(),
            Problem::NoShebang(option) => format!("{option} must start with #!"),
        }
    }
}

impl fmt::Display for Problem {
    /// The detail for the log. A script's content is never shown: scripts may hold secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Fileset(error) => write!(f, "{error}"),
            Problem::NoShebang(option) => write!(
                f,
                "{option}: a script must start with #! (e.g. #!/bin/sh) for the backup agent \
                 to execute it"
            ),
        }
    }
}

impl ConfigError {
    /// The unit status that reports it.
    pub fn status(&self) -> Status {
        Status::blocked(self.to_string())
    }

    /// Every problem, for the log.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::MissingFileset => &[],
            ConfigError::Invalid(problems) => problems,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::MissingFileset => f.write_str("missing fileset config"),
            ConfigError::Invalid(problems) => {
                let mut parts: Vec<String> = Vec::new();
                for summary in problems.iter().map(Problem::summary) {
                    if !parts.contains(&summary) {
                        parts.push(summary);
                    }
                }
                write!(f, "invalid config: {}", parts.join(", "))
            }
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn fileset(value: &str) -> Options {
        Options {
            fileset: Some(value.to_owned()),
            ..Options::default()
        }
    }

    fn status(options: &Options) -> String {
        match options.validate() {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn blank_fileset_is_missing() {
        for value in [
            None,
            Some(""),
            Some("   "),
            Some("\t\n"),
            Some("\u{1f} \u{3000}"),
        ] {
            let options = Options {
                fileset: value.map(str::to_owned),
                ..Options::default()
            };
            assert_eq!(
                options.validate(),
                Err(ConfigError::MissingFileset),
                "{value:?}"
            );
        }
    }

    #[test]
    fn commas_only_is_invalid_not_missing() {
        for value in [",", " , ", ",,,", " ,\t, "] {
            let err = fileset(value).validate().unwrap_err();
            assert_eq!(err.to_string(), "invalid config: fileset", "{value:?}");
            let [Problem::Fileset(e)] = err.problems() else {
                panic!("{err:?}");
            };
            assert_eq!(e.message, "fileset cannot be empty");
        }
    }

    #[test]
    fn fileset_is_split_trimmed_and_kept_as_written() {
        let request = fileset(" /var/backups , /srv/data/,, /etc ")
            .validate()
            .unwrap();
        assert_eq!(request.fileset(), ["/var/backups", "/srv/data/", "/etc"]);
        assert_eq!(
            request.message(|_| unreachable!()).to_bag().unwrap()[FILESET],
            "/var/backups,/srv/data,/etc",
            "the interface normalises what goes into the bag"
        );
    }

    #[test]
    fn invalid_filesets_name_the_bad_path() {
        let cases = [
            (
                "var/backups",
                "all path in fileset must be absolute.",
                "var/backups",
            ),
            (
                "/var/backups,etc,/var/backups/foobar",
                "all path in fileset must be absolute.",
                "etc",
            ),
            ("../x", "all path in fileset must be absolute.", "../x"),
            (
                "/var/a\nb",
                "path cannot contain control characters",
                "/var/a\nb",
            ),
            (
                "/var/a\0b",
                "path cannot contain control characters",
                "/var/a\0b",
            ),
            (
                "/var/a\u{7f}",
                "path cannot contain control characters",
                "/var/a\u{7f}",
            ),
        ];
        for (value, message, path) in cases {
            let err = fileset(value).validate().unwrap_err();
            assert_eq!(err.to_string(), "invalid config: fileset", "{value:?}");
            let Problem::Fileset(e) = &err.problems()[0] else {
                panic!("{err:?}");
            };
            assert_eq!(
                (e.message.as_str(), e.value.as_deref()),
                (message, Some(path)),
                "{value:?}"
            );
            let detail = err.problems()[0].to_string();
            assert!(detail.contains(&format!("{path:?}")), "{detail}");
        }
    }

    #[test]
    fn absolute_paths_with_dots_and_slashes_pass_as_the_python_library_lets_them() {
        let request = fileset("/var/../etc,//srv//x/,/a/./b").validate().unwrap();
        assert_eq!(
            request.message(|_| unreachable!()).to_bag().unwrap()[FILESET],
            "/var/../etc,//srv/x,/a/b"
        );
    }

    #[test]
    fn scripts_must_start_with_a_shebang() {
        let options = fileset("/srv")
            .with_script(ScriptOption::RunBeforeBackup, "#!/bin/sh\necho hi\n")
            .with_script(ScriptOption::RunAfterBackup, "echo no shebang\n")
            .with_script(ScriptOption::RunBeforeRestore, " #!/bin/sh\n")
            .with_script(ScriptOption::RunAfterRestore, "   ");
        assert_eq!(
            status(&options),
            "invalid config: run-after-backup must start with #!, \
             run-before-restore must start with #!, run-after-restore must start with #!"
        );
        let secret = fileset("/srv").with_script(ScriptOption::RunAfterBackup, "PASSWORD=x");
        let err = secret.validate().unwrap_err();
        assert!(
            !err.problems()[0].to_string().contains("PASSWORD"),
            "{err:?}"
        );
    }

    #[test]
    fn every_problem_is_reported_once_in_option_order() {
        let options = fileset("rel,/a\nb")
            .with_script(ScriptOption::RunAfterRestore, "x")
            .with_script(ScriptOption::RunBeforeBackup, "y");
        let err = options.validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid config: fileset, run-before-backup must start with #!, \
             run-after-restore must start with #!"
        );
        assert_eq!(err.status(), Status::blocked(err.to_string()));
        assert_eq!(err.problems().len(), 4, "{err:?}");
    }

    #[test]
    fn empty_scripts_are_unset() {
        let request = fileset("/srv")
            .with_script(ScriptOption::RunAfterBackup, "")
            .with_script(ScriptOption::RunAfterRestore, "#!/bin/sh\n")
            .validate()
            .unwrap();
        let scripts: Vec<_> = request.scripts().filter(|(_, c)| c.is_some()).collect();
        assert_eq!(
            scripts,
            [(ScriptOption::RunAfterRestore, Some("#!/bin/sh\n"))]
        );
        let message = request.message(|o| format!("/scripts/{o}"));
        assert_eq!(message.run_after_backup, None);
        assert_eq!(
            message.run_after_restore.as_deref(),
            Some("/scripts/run-after-restore")
        );
    }

    #[test]
    fn option_names_are_the_bag_keys() {
        let names: Vec<_> = ScriptOption::ALL.iter().map(|o| o.name()).collect();
        assert_eq!(names, backup::SCRIPT_KEYS);
    }
}

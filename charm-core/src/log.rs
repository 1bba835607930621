//! `tracing` -> `juju debug-log`, at the fewest process starts that keep every line at its
//! level.
//!
//! Every hook-tool call starts a process (Go's `jujuc`) and makes a round trip to the unit
//! agent; ops pays one `juju-log` per line. charm-core buffers every line and sends them when
//! the hook ends, by level:
//!
//! - `INFO`, `WARNING` and `ERROR` lines go through `juju-log --log-level LEVEL -- MESSAGE`, **one
//!   call per level present**, the lines of that level joined by newlines in the order they were
//!   logged (calls in the order each level first appeared). A typical hook that changed
//!   something costs one call; no hook costs more than three, however much it logs (four in the
//!   cases below where DEBUG lines use `juju-log` too; plus one per 128 KiB, ops' limit for one
//!   message).
//! - `DEBUG` lines are written to the hook's **stdout**, which costs no process: Juju 3's unit
//!   agent records every line a hook prints on stdout in the model log at `DEBUG` (and stderr at
//!   `WARNING`), under the logger `unit.<unit>.<hook>` instead of `unit.<unit>.juju-log`. The
//!   same `logging-config` decides whether they are kept (`unit=DEBUG` keeps both; the default,
//!   `<root>=INFO`, drops both, so a DEBUG `juju-log` call is usually a process started for
//!   nothing). Two exceptions send them through one `juju-log --log-level DEBUG` call instead:
//!   actions (Juju hands an action's stdout back to the user as its result) and hooks run
//!   under `juju debug-hooks`/`debug-code` (`JUJU_DEBUG` set: the terminal gets stdout, not the
//!   log).
//!
//! Why not fewer calls: a line never changes level. `juju-log` has one level per call, and
//! Juju stores and filters on it: an INFO line riding in a DEBUG call would vanish at the
//! default `INFO` logging-config, and a WARNING line in an INFO call would be missing from
//! `juju debug-log --level WARNING`; the other way round, a DEBUG line in an INFO call would
//! show up, mislabelled, for users who asked for INFO only. So `juju debug-log --level X` shows
//! exactly the lines it would show with ops, each at its own level; what changes is that DEBUG
//! lines carry the hook's logger name, and that lines of different levels are grouped by level
//! rather than interleaved. Tools that follow events through ops' `Emitting Juju event <name>.`
//! line (a DEBUG line) under `juju-log` find them under the hook's logger instead; `jhack tail`
//! falls back to the agent's own `ran "<hook>" hook` INFO line, which Juju writes for every hook.
//!
//! Lines are also flushed from the panic hook, and an error that ends the hook is logged
//! before the flush. What is lost: lines of a process killed outright (SIGKILL, OOM). Error
//! lines also go to stderr (Juju records them at WARNING even if `juju-log` cannot run), and
//! with `JUJU_DEBUG` set every line does.
//!
//! Levels map as `TRACE`/`DEBUG` -> `DEBUG`, `INFO`, `WARN` -> `WARNING`, `ERROR`. Dependencies
//! that are chatty at debug level (hyper, h2, rustls, kube, tower, reqwest, tonic) are kept at
//! INFO and above.

use std::fmt::{self, Write as _};
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::{Event as TracingEvent, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::Context as LayerContext;

/// Re-exported from [`crate::backend`], where `juju-log`'s argument is defined.
pub use crate::backend::LogLevel;
use crate::backend::{Backend, BackendError};

/// ops splits longer messages (the shell's argument limit).
const MAX_MESSAGE_LEN: usize = 131_071;

/// The `juju-log` level of a `tracing` level (`TRACE` becomes `DEBUG`).
fn level_of(level: &Level) -> LogLevel {
    match *level {
        Level::ERROR => LogLevel::Error,
        Level::WARN => LogLevel::Warning,
        Level::INFO => LogLevel::Info,
        _ => LogLevel::Debug,
    }
}

/// One line for `juju debug-log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The level Juju records it at.
    pub level: LogLevel,
    /// The text, with the event's fields appended as ` key="value"`.
    pub message: String,
}

impl fmt::Display for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.level, self.message)
    }
}

/// Where a hook's DEBUG lines go (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DebugRoute {
    /// The hook's stdout, which Juju records at DEBUG: no process started.
    #[default]
    Stdout,
    /// One `juju-log --log-level DEBUG` call, like the other levels.
    JujuLog,
}

impl DebugRoute {
    /// The route for a hook Juju started with this `JUJU_DISPATCH_PATH`: through `juju-log`
    /// for actions (their stdout is the action's output) and under `juju debug-hooks`
    /// (`debug_session`: `JUJU_DEBUG` is set and stdout goes to the terminal), else stdout.
    pub fn for_hook(dispatch_path: &str, debug_session: bool) -> DebugRoute {
        if debug_session || dispatch_path.starts_with("actions/") {
            DebugRoute::JujuLog
        } else {
            DebugRoute::Stdout
        }
    }
}

/// A hook's lines, ready to leave the process: what [`batch`] makes of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batches {
    /// DEBUG lines for the hook's stdout, each ending in a newline.
    pub stdout: String,
    /// `juju-log` calls as (level, message): one per level, in the order the levels first
    /// appeared (more only when a level's lines pass the message size limit).
    pub calls: Vec<(LogLevel, String)>,
}

/// Lines waiting to be sent. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct LogBuffer {
    lines: Arc<Mutex<Vec<LogLine>>>,
    debug: DebugRoute,
}

impl LogBuffer {
    /// An empty buffer whose DEBUG lines will go `debug`'s way.
    pub fn new(debug: DebugRoute) -> Self {
        LogBuffer {
            lines: Arc::default(),
            debug,
        }
    }

    /// Adds a line (the [`JujuLogLayer`] calls this for every `tracing` event).
    pub fn push(&self, level: LogLevel, message: String) {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(LogLine { level, message });
    }

    /// Takes every buffered line.
    pub fn take(&self) -> Vec<LogLine> {
        std::mem::take(&mut *self.lines.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Sends every buffered line: DEBUG lines to `stdout` (unless the route says otherwise),
    /// the others with one `juju-log` call per level. Returns the number of `juju-log` calls.
    /// A failed write to stdout is reported on stderr and does not stop the `juju-log` calls:
    /// a closed stdout must not cost the WARNING and ERROR lines.
    pub fn flush(
        &self,
        backend: &mut dyn Backend,
        stdout: &mut dyn io::Write,
    ) -> Result<usize, BackendError> {
        let batches = batch(self.take(), self.debug);
        if !batches.stdout.is_empty()
            && let Err(e) = stdout
                .write_all(batches.stdout.as_bytes())
                .and_then(|()| stdout.flush())
        {
            eprintln!("cannot write debug lines to stdout: {e}");
        }
        for (level, message) in &batches.calls {
            backend.juju_log(*level, message)?;
        }
        Ok(batches.calls.len())
    }
}

/// Sorts lines into stdout text and `juju-log` calls (one per level, order kept within a level),
/// splitting messages too long for one call.
pub fn batch(lines: Vec<LogLine>, debug: DebugRoute) -> Batches {
    let mut out = Batches::default();
    for line in lines {
        if line.level == LogLevel::Debug && debug == DebugRoute::Stdout {
            out.stdout.push_str(&line.message);
            out.stdout.push('\n');
            continue;
        }
        let open = out
            .calls
            .iter_mut()
            .rev()
            .find(|(level, _)| *level == line.level);
        match open {
            Some((_, text)) if text.len() + 1 + line.message.len() <= MAX_MESSAGE_LEN => {
                text.push('\n');
                text.push_str(&line.message);
            }
            _ => {
                let mut rest = line.message.as_str();
                while rest.len() > MAX_MESSAGE_LEN {
                    let mut cut = MAX_MESSAGE_LEN;
                    while !rest.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    out.calls.push((line.level, rest[..cut].to_string()));
                    rest = &rest[cut..];
                }
                out.calls.push((line.level, rest.to_string()));
            }
        }
    }
    out
}

/// A `tracing` layer that records events into a [`LogBuffer`].
#[derive(Debug, Clone)]
pub struct JujuLogLayer {
    buffer: LogBuffer,
    /// Copy every line to stderr (`JUJU_DEBUG`).
    echo: bool,
}

impl JujuLogLayer {
    /// A layer recording into `buffer`; `echo` also prints every line on stderr (for
    /// `juju debug-hooks` sessions, where `JUJU_DEBUG` is set).
    pub fn new(buffer: LogBuffer, echo: bool) -> Self {
        JujuLogLayer { buffer, echo }
    }

    /// The default filter: debug and above, INFO and above for chatty dependencies.
    pub fn default_filter() -> Targets {
        Targets::new()
            .with_default(LevelFilter::DEBUG)
            .with_targets(
                [
                    "hyper",
                    "hyper_util",
                    "h2",
                    "rustls",
                    "kube",
                    "kube_client",
                    "tower",
                    "reqwest",
                    "tonic",
                    "mio",
                    "want",
                ]
                .map(|t| (t, LevelFilter::INFO)),
            )
    }
}

struct MessageVisitor<'a> {
    message: &'a mut String,
    fields: &'a mut String,
}

impl Visit for MessageVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for JujuLogLayer {
    fn on_event(&self, event: &TracingEvent<'_>, _ctx: LayerContext<'_, S>) {
        let mut message = String::new();
        let mut fields = String::new();
        event.record(&mut MessageVisitor {
            message: &mut message,
            fields: &mut fields,
        });
        message.push_str(&fields);
        let level = level_of(event.metadata().level());
        if self.echo || level == LogLevel::Error {
            eprintln!("{level} {message}");
        }
        self.buffer.push(level, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    fn line(level: LogLevel, m: &str) -> LogLine {
        LogLine {
            level,
            message: m.into(),
        }
    }

    #[test]
    fn each_level_is_one_call_and_debug_lines_go_to_stdout() {
        let lines = vec![
            line(LogLevel::Debug, "a"),
            line(LogLevel::Info, "b"),
            line(LogLevel::Warning, "c"),
            line(LogLevel::Debug, "d"),
            line(LogLevel::Info, "e"),
            line(LogLevel::Error, "f"),
            line(LogLevel::Warning, "g"),
        ];
        let b = batch(lines.clone(), DebugRoute::Stdout);
        assert_eq!(b.stdout, "a\nd\n");
        assert_eq!(
            b.calls,
            vec![
                (LogLevel::Info, "b\ne".to_string()),
                (LogLevel::Warning, "c\ng".to_string()),
                (LogLevel::Error, "f".to_string()),
            ],
            "no line changes level: a WARNING never rides in an INFO call"
        );

        let b = batch(lines, DebugRoute::JujuLog);
        assert_eq!(b.stdout, "");
        assert_eq!(b.calls[0], (LogLevel::Debug, "a\nd".to_string()));
        assert_eq!(b.calls.len(), 4);
    }

    #[test]
    fn a_hook_with_debug_lines_only_starts_no_process() {
        let b = batch(
            vec![line(LogLevel::Debug, "Emitting Juju event config_changed.")],
            DebugRoute::Stdout,
        );
        assert!(b.calls.is_empty());
        assert_eq!(b.stdout, "Emitting Juju event config_changed.\n");
    }

    #[test]
    fn actions_and_debug_sessions_send_debug_lines_through_juju_log() {
        assert_eq!(
            DebugRoute::for_hook("hooks/config-changed", false),
            DebugRoute::Stdout
        );
        assert_eq!(
            DebugRoute::for_hook("actions/backup", false),
            DebugRoute::JujuLog
        );
        assert_eq!(
            DebugRoute::for_hook("hooks/install", true),
            DebugRoute::JujuLog
        );
    }

    #[test]
    fn flush_writes_stdout_once_and_calls_juju_log_per_level() {
        let buffer = LogBuffer::new(DebugRoute::Stdout);
        buffer.push(LogLevel::Debug, "one".into());
        buffer.push(LogLevel::Info, "two".into());
        buffer.push(LogLevel::Debug, "three".into());
        let mut backend = crate::testing::MemoryBackend::default();
        let mut stdout = Vec::new();
        assert_eq!(buffer.flush(&mut backend, &mut stdout).unwrap(), 1);
        assert_eq!(String::from_utf8(stdout).unwrap(), "one\nthree\n");
        assert_eq!(
            backend.world.borrow().state.logs,
            vec![line(LogLevel::Info, "two")]
        );
        assert!(buffer.take().is_empty());
    }

    #[test]
    fn long_messages_are_split() {
        let long = "é".repeat(MAX_MESSAGE_LEN); // 2 bytes each
        let b = batch(
            vec![line(LogLevel::Info, &long), line(LogLevel::Info, "x")],
            DebugRoute::Stdout,
        )
        .calls;
        assert!(b.iter().all(|(_, m)| m.len() <= MAX_MESSAGE_LEN));
        let joined: String = b
            .iter()
            .map(|(_, m)| m.as_str())
            .collect::<Vec<_>>()
            .concat();
        assert_eq!(
            joined,
            format!("{long}\nx"),
            "nothing lost, the short line joins the last chunk"
        );
        assert!(b.len() >= 3);
    }

    #[test]
    fn layer_records_levels_messages_and_fields() {
        let buffer = LogBuffer::default();
        let subscriber = tracing_subscriber::registry().with(
            JujuLogLayer::new(buffer.clone(), false).with_filter(JujuLogLayer::default_filter()),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!("Emitting Juju event {}.", "config_changed");
            tracing::warn!(option = "fileset", "bad value");
            tracing::trace!("below the default filter");
            tracing::debug!(target: "hyper::proto", "noise");
            tracing::info!(target: "hyper::proto", "kept");
        });
        let lines = buffer.take();
        assert_eq!(
            lines,
            vec![
                line(LogLevel::Debug, "Emitting Juju event config_changed."),
                line(LogLevel::Warning, "bad value option=\"fileset\""),
                line(LogLevel::Info, "kept"),
            ]
        );
    }
}

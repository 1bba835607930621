//! `tracing` -> `juju debug-log`.
//!
//! Starting `juju-log` once per line costs a process and a round trip to the unit agent each
//! (ops pays it for every debug line). Instead every line is buffered and sent when the hook
//! ends: consecutive lines of the same level become ONE `juju-log --log-level LEVEL -- MSG`
//! call with the lines joined by newlines, so a typical hook (a few debug lines) costs one
//! call. Order and levels are preserved. Lines are also flushed from the panic hook, and an
//! error that ends the hook is logged before the flush. What is lost: lines of a process killed
//! outright (SIGKILL, OOM). Error lines also go to stderr (Juju records a hook's stderr), and
//! with `JUJU_DEBUG` set every line does.
//!
//! Levels map as `TRACE`/`DEBUG` -> `DEBUG`, `INFO`, `WARN` -> `WARNING`, `ERROR`. Dependencies
//! that are chatty at debug level (hyper, h2, rustls, kube, tower, reqwest, tonic) are kept at
//! INFO and above.

use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::{Event as TracingEvent, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::Context as LayerContext;

use crate::backend::{Backend, BackendError};

/// ops splits longer messages (the shell's argument limit).
const MAX_MESSAGE_LEN: usize = 131_071;

/// A `juju-log` level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    Debug,
    Info,
    Warning,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warning => "WARNING",
            LogLevel::Error => "ERROR",
        }
    }

    fn from_tracing(level: &Level) -> LogLevel {
        match *level {
            Level::ERROR => LogLevel::Error,
            Level::WARN => LogLevel::Warning,
            Level::INFO => LogLevel::Info,
            _ => LogLevel::Debug,
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line for `juju debug-log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
}

impl fmt::Display for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.level, self.message)
    }
}

/// Lines waiting to be sent. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct LogBuffer {
    lines: Arc<Mutex<Vec<LogLine>>>,
}

impl LogBuffer {
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

    /// Sends every buffered line: one `juju-log` call per run of same-level lines.
    pub fn flush(&self, backend: &mut dyn Backend) -> Result<usize, BackendError> {
        let batches = batch(self.take());
        for (level, message) in &batches {
            backend.juju_log(*level, message)?;
        }
        Ok(batches.len())
    }
}

/// Groups consecutive same-level lines, splitting messages that are too long for one call.
pub fn batch(lines: Vec<LogLine>) -> Vec<(LogLevel, String)> {
    let mut out: Vec<(LogLevel, String)> = Vec::new();
    for line in lines {
        match out.last_mut() {
            Some((level, text))
                if *level == line.level
                    && text.len() + 1 + line.message.len() <= MAX_MESSAGE_LEN =>
            {
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
                    out.push((line.level, rest[..cut].to_string()));
                    rest = &rest[cut..];
                }
                out.push((line.level, rest.to_string()));
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
        let level = LogLevel::from_tracing(event.metadata().level());
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
    fn consecutive_same_level_lines_share_one_call() {
        let b = batch(vec![
            line(LogLevel::Debug, "a"),
            line(LogLevel::Debug, "b"),
            line(LogLevel::Info, "c"),
            line(LogLevel::Debug, "d"),
        ]);
        assert_eq!(
            b,
            vec![
                (LogLevel::Debug, "a\nb".to_string()),
                (LogLevel::Info, "c".to_string()),
                (LogLevel::Debug, "d".to_string()),
            ]
        );
    }

    #[test]
    fn long_messages_are_split() {
        let long = "é".repeat(MAX_MESSAGE_LEN); // 2 bytes each
        let b = batch(vec![line(LogLevel::Info, &long), line(LogLevel::Info, "x")]);
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

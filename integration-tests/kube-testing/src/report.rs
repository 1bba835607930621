//! Lines for the person running the tests, written past the harness's capture so that a skip
//! shows in a plain `cargo test`.

use std::io::Write;

/// `<test>: <line>` on stderr.
pub fn say(test: &str, line: &str) {
    let _ = writeln!(std::io::stderr(), "{test}: {line}");
}

/// The one line a test prints for a part it did not check: `SKIPPED <what>: <why>`.
pub fn skipped(test: &str, what: &str, why: &str) {
    say(test, &format!("SKIPPED {what}: {why}"));
}

//! Bounded waits. Every wait in the cluster tests ends, and when it ends without success it says
//! what was still missing (a pod's waiting reason, the objects left in a namespace...).

use std::fmt;
use std::time::Duration;

/// A wait that ran out of time.
#[derive(thiserror::Error)]
#[error("timed out after {}s waiting for {what}: {missing}", limit.as_secs())]
pub struct Timeout {
    pub what: String,
    pub limit: Duration,
    /// The last answer of the check: what was still missing.
    pub missing: String,
}

// `expect` and `unwrap` print Debug: make that the readable message too.
impl fmt::Debug for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Calls `check` every `every` until it returns `Ok`, for at most `limit`. `check` answers
/// `Err(what is still missing)` while waiting; the last such answer is in the [`Timeout`].
pub async fn until<T, F, Fut>(
    what: &str,
    limit: Duration,
    every: Duration,
    mut check: F,
) -> Result<T, Timeout>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let missing = match check().await {
            Ok(value) => return Ok(value),
            Err(missing) => missing,
        };
        if tokio::time::Instant::now() + every > deadline {
            return Err(Timeout {
                what: what.to_owned(),
                limit,
                missing,
            });
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn names_what_was_missing_when_time_runs_out() {
        let mut calls = 0;
        let err = until(
            "the thing",
            Duration::from_secs(10),
            Duration::from_secs(1),
            || {
                calls += 1;
                let n = calls;
                async move { Err::<(), _>(format!("{n} checks, still no thing")) }
            },
        )
        .await
        .unwrap_err();
        // Checks at 0, 1, ..., 10 s: the last one at the deadline.
        assert_eq!(
            format!("{err:?}"),
            "timed out after 10s waiting for the thing: 11 checks, still no thing"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn returns_as_soon_as_the_check_passes() {
        let mut calls = 0;
        let value = until(
            "three calls",
            Duration::from_secs(60),
            Duration::from_secs(1),
            || {
                calls += 1;
                let n = calls;
                async move { if n == 3 { Ok(n) } else { Err("not yet".into()) } }
            },
        )
        .await
        .unwrap();
        assert_eq!(value, 3);
    }
}

//! Bounded exponential backoff for transient failures.

use std::time::{Duration, Instant};

/// How often and how long to retry a transient failure (connection error, 429, 5xx).
///
/// Both bounds apply: at most `max_attempts` tries in all, and no new try once `max_elapsed`
/// has passed since the first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            max_elapsed: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The pause before try number `attempt + 1` (`attempt` counts tries made, from 1), or
    /// `None` when the budget is spent. A server's `Retry-After` is honoured within the bounds.
    pub fn next_delay(
        &self,
        attempt: u32,
        started: Instant,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let exp = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        let delay = retry_after.unwrap_or(exp).min(self.max_backoff);
        if started.elapsed() + delay > self.max_elapsed {
            return None;
        }
        Some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_caps() {
        let p = RetryPolicy {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            max_elapsed: Duration::from_secs(60),
        };
        let now = Instant::now();
        let delays: Vec<_> = (1..=6).map(|a| p.next_delay(a, now, None)).collect();
        assert_eq!(
            delays,
            [
                Some(Duration::from_millis(100)),
                Some(Duration::from_millis(200)),
                Some(Duration::from_millis(400)),
                Some(Duration::from_millis(500)),
                Some(Duration::from_millis(500)),
                None
            ]
        );
        assert_eq!(
            p.next_delay(1, now, Some(Duration::from_secs(30))),
            Some(Duration::from_millis(500))
        );
    }

    #[test]
    fn stops_when_time_is_spent() {
        let p = RetryPolicy {
            max_elapsed: Duration::from_millis(50),
            ..RetryPolicy::default()
        };
        let long_ago = Instant::now() - Duration::from_secs(1);
        assert_eq!(p.next_delay(1, long_ago, None), None);
        assert_eq!(
            RetryPolicy::none().next_delay(1, Instant::now(), None),
            None
        );
    }
}

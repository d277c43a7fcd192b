//! Retry delays: exponential with jitter and a cap (J10). With the defaults (1 s doubling, capped
//! at one hour, 20 attempts) the attempts of one job span more than nine hours, so an outage of
//! an hour does not use them up.

use std::time::Duration;

use rand::Rng;

#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(3600),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1 for the first): `base * 2^(attempt-1)`,
    /// capped, then scaled by a random factor in [0.5, 1.5) so retries of many jobs spread out.
    pub fn delay(&self, attempt: i32) -> chrono::Duration {
        let exponent = attempt.saturating_sub(1).clamp(0, 30) as u32;
        let raw = self
            .base
            .saturating_mul(2u32.saturating_pow(exponent))
            .min(self.cap);
        let jitter: f64 = rand::rng().random_range(0.5..1.5);
        let delay = raw.mul_f64(jitter).min(self.cap);
        chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_jitter_and_stop_at_the_cap() {
        let policy = RetryPolicy::default();
        for attempt in 1..=20 {
            let delay = policy.delay(attempt).to_std().unwrap();
            let raw = Duration::from_secs(1 << (attempt - 1).min(30)).min(policy.cap);
            assert!(
                delay >= raw.mul_f64(0.5) && delay <= policy.cap,
                "{attempt}: {delay:?}"
            );
        }
        let total: Duration = (1..20)
            .map(|a| {
                Duration::from_secs(1 << (a - 1))
                    .min(policy.cap)
                    .mul_f64(0.5)
            })
            .sum();
        assert!(total > Duration::from_secs(4 * 3600), "{total:?}");
    }
}

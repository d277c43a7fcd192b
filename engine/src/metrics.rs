//! Counters and a duration histogram per job kind, in Prometheus' text format. Queue depth is
//! read from the database when scraped ([`crate::admin::queue_depths`]).

use std::{
    collections::BTreeMap,
    fmt::Write,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

/// Upper bounds of the duration histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0, 300.0,
];

#[derive(Default, Clone)]
struct KindCounters {
    enqueued: u64,
    started: u64,
    succeeded: u64,
    failed: u64,
    retried: u64,
    cancelled: u64,
    rescued: u64,
    slow: u64,
    snoozed: u64,
    buckets: [u64; BUCKETS.len()],
    duration_count: u64,
    duration_sum: f64,
}

/// A counter's name, help text and how to read it.
type Counter = (&'static str, &'static str, fn(&KindCounters) -> u64);

#[derive(Default)]
pub struct Metrics {
    kinds: Mutex<BTreeMap<String, KindCounters>>,
    /// Detections by (detector, outcome).
    detections: Mutex<BTreeMap<(String, String), u64>>,
    /// LISTEN connections found late or lost, by listener.
    listeners_lost: Mutex<BTreeMap<&'static str, u64>>,
    /// Reads of changed jobs for subscribers (`crate::updates`): one per notification, however
    /// many follow.
    update_reads: std::sync::atomic::AtomicU64,
}

impl Metrics {
    /// The process's metrics: enqueues count here, and workers record here unless given their
    /// own ([`crate::Worker::with_metrics`]).
    pub fn global() -> &'static Arc<Metrics> {
        static GLOBAL: OnceLock<Arc<Metrics>> = OnceLock::new();
        GLOBAL.get_or_init(Default::default)
    }

    fn with(&self, kind: &str, change: impl FnOnce(&mut KindCounters)) {
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        change(kinds.entry(kind.to_owned()).or_default());
    }

    pub fn enqueued(&self, kind: &str, count: u64) {
        self.with(kind, |k| k.enqueued += count);
    }

    pub(crate) fn started(&self, kind: &str) {
        self.with(kind, |k| k.started += 1);
    }

    pub(crate) fn slow(&self, kind: &str) {
        self.with(kind, |k| k.slow += 1);
    }

    pub(crate) fn rescued(&self, kind: &str) {
        self.with(kind, |k| k.rescued += 1);
    }

    /// An attempt ended with the attempt-row `outcome`.
    pub(crate) fn finished(&self, kind: &str, outcome: &str, took: Duration) {
        self.with(kind, |k| {
            match outcome {
                "completed" => k.succeeded += 1,
                "retried" | "panicked" | "timed_out" => k.retried += 1,
                "cancelled" => k.cancelled += 1,
                "released" => {}
                "snoozed" => k.snoozed += 1,
                _ => k.failed += 1,
            }
            let seconds = took.as_secs_f64();
            for (bucket, bound) in k.buckets.iter_mut().zip(BUCKETS) {
                if seconds <= bound {
                    *bucket += 1;
                }
            }
            k.duration_count += 1;
            k.duration_sum += seconds;
        });
    }

    /// A detector ran on an event: `detected` or `detection_failed`.
    pub fn detection(&self, detector: &str, outcome: &str) {
        let mut detections = self.detections.lock().unwrap_or_else(|e| e.into_inner());
        *detections
            .entry((detector.to_owned(), outcome.to_owned()))
            .or_default() += 1;
    }

    /// A LISTEN connection went quiet or was lost (`crate::listen`).
    pub fn listener_lost(&self, listener: &'static str) {
        let mut lost = self
            .listeners_lost
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *lost.entry(listener).or_default() += 1;
    }

    /// The job-updates fan-out read the changed rows once.
    pub(crate) fn update_read(&self) {
        self.update_reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn render_listeners(&self, out: &mut String) {
        let name = "engine_job_update_reads_total";
        let _ = writeln!(
            out,
            "# HELP {name} Reads of changed jobs for subscribers (one per notification)\n# TYPE {name} counter\n{name} {}",
            self.update_reads.load(std::sync::atomic::Ordering::Relaxed)
        );
        let lost = self
            .listeners_lost
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let name = "engine_listener_lost_total";
        let _ = writeln!(
            out,
            "# HELP {name} LISTEN connections that went quiet (no heartbeat answer) or were lost\n# TYPE {name} counter"
        );
        for (listener, count) in lost.iter() {
            let _ = writeln!(out, "{name}{{listener=\"{listener}\"}} {count}");
        }
    }

    fn render_detections(&self, out: &mut String) {
        let detections = self.detections.lock().unwrap_or_else(|e| e.into_inner());
        let name = "engine_event_detections_total";
        let _ = writeln!(
            out,
            "# HELP {name} Events a detector matched or failed on\n# TYPE {name} counter"
        );
        for ((detector, outcome), count) in detections.iter() {
            let _ = writeln!(
                out,
                "{name}{{detector=\"{detector}\",outcome=\"{outcome}\"}} {count}"
            );
        }
    }

    /// The counters in Prometheus' text exposition format.
    pub fn render(&self) -> String {
        let kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut out = String::new();
        let counters: [Counter; 9] = [
            (
                "engine_jobs_enqueued_total",
                "Jobs this process asked to enqueue (a rolled-back transaction's included)",
                |k| k.enqueued,
            ),
            ("engine_jobs_started_total", "Attempts started", |k| {
                k.started
            }),
            (
                "engine_jobs_succeeded_total",
                "Attempts that completed",
                |k| k.succeeded,
            ),
            (
                "engine_jobs_failed_total",
                "Attempts that failed for good (failed or discarded)",
                |k| k.failed,
            ),
            (
                "engine_jobs_retried_total",
                "Attempts that will be retried",
                |k| k.retried,
            ),
            ("engine_jobs_cancelled_total", "Attempts cancelled", |k| {
                k.cancelled
            }),
            (
                "engine_jobs_rescued_total",
                "Jobs returned after their worker stopped heartbeating",
                |k| k.rescued,
            ),
            (
                "engine_jobs_slow_total",
                "Attempts that ran past their kind's warn_after",
                |k| k.slow,
            ),
            (
                "engine_jobs_snoozed_total",
                "Attempts that asked to run later without counting (a service they need is down)",
                |k| k.snoozed,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (kind, counters) in &kinds {
                let _ = writeln!(out, "{name}{{kind=\"{kind}\"}} {}", value(counters));
            }
        }
        let name = "engine_job_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} How long attempts ran\n# TYPE {name} histogram"
        );
        for (kind, counters) in &kinds {
            for (bound, count) in BUCKETS.iter().zip(counters.buckets) {
                let _ = writeln!(
                    out,
                    "{name}_bucket{{kind=\"{kind}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{kind=\"{kind}\",le=\"+Inf\"}} {}\n{name}_sum{{kind=\"{kind}\"}} {}\n{name}_count{{kind=\"{kind}\"}} {}",
                counters.duration_count, counters.duration_sum, counters.duration_count
            );
        }
        self.render_detections(&mut out);
        self.render_listeners(&mut out);
        out
    }
}

/// Queue depth as Prometheus gauges: `(queue, state, count)` rows.
pub fn render_depths(depths: &[(String, String, i64)]) -> String {
    let mut out = String::from(
        "# HELP engine_queue_jobs Jobs per queue and state\n# TYPE engine_queue_jobs gauge\n",
    );
    for (queue, state, count) in depths {
        let _ = writeln!(
            out,
            "engine_queue_jobs{{queue=\"{queue}\",state=\"{state}\"}} {count}"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let metrics = Metrics::default();
        metrics.started("mail");
        metrics.finished("mail", "completed", Duration::from_millis(30));
        metrics.finished("mail", "retried", Duration::from_secs(2));
        let text = metrics.render();
        assert!(
            text.contains("engine_jobs_succeeded_total{kind=\"mail\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("engine_jobs_retried_total{kind=\"mail\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("engine_job_duration_seconds_bucket{kind=\"mail\",le=\"0.05\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("engine_job_duration_seconds_bucket{kind=\"mail\",le=\"2.5\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("engine_job_duration_seconds_count{kind=\"mail\"} 2"),
            "{text}"
        );
    }
}

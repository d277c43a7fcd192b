//! Time estimates from what recently ran: per kind and priority class, the p50/p90 of processing
//! time (an attempt's run) and completion time (creation → finish, waiting included), and the
//! wait a new job would have — the jobs ahead of it in its queue divided by the queue's effective
//! concurrency, times the typical processing time. (Koalati's README promised the waiting time;
//! its code averaged all of history.) Only the last seven days count.

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement};
use serde::Serialize;

use engine::EngineError;

/// Jobs with a priority above this are "high priority" (Koalati: priority > 1).
pub const LOW_PRIORITY_MAX: i16 = 1;
/// What a kind with no history is assumed to take (Koalati's fallback).
pub const FALLBACK_MS: f64 = 3000.0;

#[derive(Clone, Debug, Serialize)]
pub struct Estimate {
    /// p50 of processing time, ms (`null` without history).
    pub processing_time: Option<f64>,
    pub processing_time_p90: Option<f64>,
    /// p50 of creation → completion, ms.
    pub completion_time: Option<f64>,
    pub completion_time_p90: Option<f64>,
    /// Completed jobs the percentiles come from.
    pub samples: i64,
    /// For a job enqueued now at this class: jobs ahead of it (waiting at the same or a higher
    /// priority, plus running), the concurrency serving them, and the expected wait in ms.
    pub jobs_ahead: i64,
    pub effective_concurrency: i64,
    pub expected_wait: f64,
}

#[derive(FromQueryResult)]
struct Row {
    kind: String,
    high: bool,
    processing_p50: Option<f64>,
    processing_p90: Option<f64>,
    completion_p50: Option<f64>,
    completion_p90: Option<f64>,
    samples: i64,
    jobs_ahead: i64,
    running: i64,
    concurrency: Option<i32>,
}

const ESTIMATES: &str = r#"
WITH classes AS (
    SELECT k.kind, k.queue, c.high
      FROM (SELECT unnest($1::text[]) AS kind, unnest($2::text[]) AS queue) k
     CROSS JOIN (VALUES (false), (true)) AS c(high)),
-- A sample, not a scan: the latest 5000 completions of each kind within seven days, newest
-- first along the primary key (finished jobs are the old ones). A completed job's `started_at`
-- is its last attempt's start.
recent AS (
    SELECT k.kind, j.priority > $3 AS high,
           EXTRACT(EPOCH FROM j.finished_at - j.started_at) * 1000 AS processing,
           EXTRACT(EPOCH FROM j.finished_at - j.created_at) * 1000 AS completion
      FROM (SELECT DISTINCT kind FROM classes) k
     CROSS JOIN LATERAL (
           SELECT l.priority, l.started_at, l.finished_at, l.created_at FROM engine_jobs l
            WHERE l.kind = k.kind AND l.state = 'completed'
              AND l.finished_at > now() - interval '7 days'
            ORDER BY l.id DESC LIMIT 5000) j),
percentiles AS (
    SELECT kind, high,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY processing) AS processing_p50,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY processing) AS processing_p90,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY completion) AS completion_p50,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY completion) AS completion_p90,
           count(*) AS samples
      FROM recent GROUP BY kind, high)
SELECT c.kind, c.high, p.processing_p50, p.processing_p90, p.completion_p50, p.completion_p90,
       coalesce(p.samples, 0) AS samples,
       -- Ahead of a low-priority job: every due waiting job of the queue (the kept counts less
       -- the scheduled ones); of a high one: the due high ones (the claim index's range).
       CASE WHEN c.high
            THEN (SELECT count(*) FROM engine_jobs w
                   WHERE w.queue = c.queue AND w.state = 'available' AND NOT w.isolate
                     AND w.priority > $3 AND w.run_at <= now())
            ELSE greatest((SELECT coalesce(sum(n.jobs), 0) FROM engine_job_counts n
                            WHERE n.queue = c.queue AND n.state = 'available')
                          - (SELECT w.scheduled FROM engine_waiting(c.queue) w),
                          0)::bigint END AS jobs_ahead,
       (SELECT coalesce(sum(n.jobs), 0) FROM engine_job_counts n
         WHERE n.queue = c.queue AND n.state = 'running')::bigint AS running,
       (SELECT q.concurrency FROM engine_queues q WHERE q.name = c.queue) AS concurrency
  FROM classes c LEFT JOIN percentiles p ON p.kind = c.kind AND p.high = c.high
 ORDER BY c.kind, c.high"#;

/// `lowPriority` / `highPriority` → kind → estimate, for `(kind, queue, default concurrency)`.
pub async fn time_estimates(
    db: &impl ConnectionTrait,
    kinds: &[(String, String, usize)],
) -> Result<BTreeMap<&'static str, BTreeMap<String, Estimate>>, EngineError> {
    let names: Vec<String> = kinds.iter().map(|k| k.0.clone()).collect();
    let queues: Vec<String> = kinds.iter().map(|k| k.1.clone()).collect();
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            ESTIMATES,
            vec![names.into(), queues.into(), LOW_PRIORITY_MAX.into()],
        ))
        .await?;
    let mut classes: BTreeMap<&'static str, BTreeMap<String, Estimate>> = BTreeMap::new();
    for row in &rows {
        let row = Row::from_query_result(row, "")?;
        let configured = kinds
            .iter()
            .find(|k| k.0 == row.kind)
            .map_or(1, |k| k.2 as i64);
        let concurrency = row
            .concurrency
            .map_or(configured, i64::from)
            .max(row.running)
            .max(1);
        let typical = row.processing_p50.unwrap_or(FALLBACK_MS);
        let ahead = row.jobs_ahead + row.running;
        let estimate = Estimate {
            processing_time: row.processing_p50,
            processing_time_p90: row.processing_p90,
            completion_time: row.completion_p50,
            completion_time_p90: row.completion_p90,
            samples: row.samples,
            jobs_ahead: ahead,
            effective_concurrency: concurrency,
            expected_wait: (ahead as f64 / concurrency as f64).floor() * typical,
        };
        let class = if row.high {
            "highPriority"
        } else {
            "lowPriority"
        };
        classes.entry(class).or_default().insert(row.kind, estimate);
    }
    Ok(classes)
}

/// The jobs whose `url` argument starts with a prefix: how many are not finished, how many there
/// are, and when the last of them should be done.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupStatus {
    pub pending: i64,
    pub request_count: i64,
    /// ms until all pending ones are expected to be done.
    pub time_estimate: f64,
}

#[derive(FromQueryResult)]
struct PendingRow {
    typical: Option<f64>,
    elapsed: Option<f64>,
}

/// For `/status/project?url=`: list scheduling of the pending jobs (each taking its kind's p50,
/// less what a running one has done) over `processors` slots, the largest load being the answer.
pub async fn url_prefix_status(
    db: &impl ConnectionTrait,
    prefix: &str,
    processors: usize,
) -> Result<GroupStatus, EngineError> {
    let pattern = format!(
        "{}%",
        prefix
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let counts = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT count(*) AS request_count,
                    count(*) FILTER (WHERE state IN ('available', 'running')) AS pending
               FROM engine_jobs WHERE args ? 'url' AND (args->>'url') LIKE $1",
            vec![pattern.clone().into()],
        ))
        .await?;
    let (request_count, pending) = match counts {
        Some(row) => (
            row.try_get::<i64>("", "request_count")?,
            row.try_get::<i64>("", "pending")?,
        ),
        None => (0, 0),
    };
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            r#"WITH pending AS (
                   SELECT kind, state, started_at FROM engine_jobs
                    WHERE args ? 'url' AND (args->>'url') LIKE $1
                      AND state IN ('available', 'running')),
               -- The latest 1000 completions of each kind (as in the estimates).
               typical AS (
                   SELECT k.kind,
                          percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM j.finished_at - j.started_at) * 1000) AS ms
                     FROM (SELECT DISTINCT kind FROM pending) k
                    CROSS JOIN LATERAL (
                          SELECT l.started_at, l.finished_at FROM engine_jobs l
                           WHERE l.kind = k.kind AND l.state = 'completed'
                             AND l.finished_at > now() - interval '7 days'
                           ORDER BY l.id DESC LIMIT 1000) j
                    GROUP BY k.kind)
               SELECT t.ms AS typical,
                      CASE WHEN p.state = 'running'
                           THEN EXTRACT(EPOCH FROM clock_timestamp() - p.started_at) * 1000 END AS elapsed
                 FROM pending p LEFT JOIN typical t USING (kind)"#,
            vec![pattern.into()],
        ))
        .await?;
    let mut loads = vec![0.0_f64; processors.max(1)];
    for row in &rows {
        let row = PendingRow::from_query_result(row, "")?;
        let remaining = (row.typical.unwrap_or(FALLBACK_MS) - row.elapsed.unwrap_or(0.0)).max(0.0);
        if let Some(least) = loads.iter_mut().min_by(|a, b| a.total_cmp(b)) {
            *least += remaining;
        }
    }
    Ok(GroupStatus {
        pending,
        request_count,
        time_estimate: loads.iter().copied().fold(0.0, f64::max),
    })
}

//! Cron (J7): schedules with seconds and an IANA time zone. Each slot becomes one job, whatever
//! the number of schedulers running: a scheduler claims due schedules with `FOR UPDATE SKIP
//! LOCKED`, and a slot is an `engine_schedule_runs` row unique per (schedule, slot). Slots come
//! from the database's clock, not the process's. After downtime only the latest missed slot runs
//! (no catch-up storm).

use std::{future::Future, str::FromStr, time::Duration};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use sea_orm::DatabaseConnection;
use serde_json::Value;

use sqlx::{PgConnection, PgPool};

use crate::{
    EngineError,
    enqueue::{NewJob, enqueue_many_in},
};

/// Whether a slot may start while the previous run of the schedule still waits or runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overlap {
    Allow,
    /// The slot is recorded as skipped.
    Skip,
}

impl Overlap {
    fn as_str(self) -> &'static str {
        match self {
            Overlap::Allow => "allow",
            Overlap::Skip => "skip",
        }
    }
}

/// A schedule as the application defines it; [`Scheduler::sync`] stores it.
#[derive(Clone, Debug)]
pub struct Schedule {
    pub name: String,
    /// Five fields, or six with seconds first (`*/5 * * * * *`: every five seconds).
    pub cron: String,
    pub timezone: Tz,
    pub kind: String,
    pub args: Value,
    pub queue: String,
    pub priority: i16,
    pub max_attempts: i32,
    pub overlap: Overlap,
    /// Also run once when a scheduler starts (at most one such job waits or runs at a time).
    pub run_on_start: bool,
}

impl Schedule {
    pub fn new(name: impl Into<String>, cron: impl Into<String>, kind: impl Into<String>) -> Self {
        Schedule {
            name: name.into(),
            cron: cron.into(),
            timezone: Tz::UTC,
            kind: kind.into(),
            args: Value::Object(Default::default()),
            queue: "default".into(),
            priority: 1,
            max_attempts: 20,
            overlap: Overlap::Allow,
            run_on_start: false,
        }
    }

    /// A schedule of the typed kind `A` with `A`'s queue, priority and attempts.
    pub fn of<A: crate::JobArgs>(
        name: impl Into<String>,
        cron: impl Into<String>,
        job: &A,
    ) -> Self {
        let settings = A::settings();
        let mut schedule = Schedule::new(name, cron, A::KIND)
            .args(serde_json::to_value(job).unwrap_or_default())
            .queue(settings.queue);
        schedule.priority = settings.priority;
        schedule.max_attempts = settings.max_attempts;
        schedule
    }

    pub fn timezone(mut self, timezone: Tz) -> Self {
        self.timezone = timezone;
        self
    }

    pub fn args(mut self, args: Value) -> Self {
        self.args = args;
        self
    }

    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = queue.into();
        self
    }

    pub fn overlap(mut self, overlap: Overlap) -> Self {
        self.overlap = overlap;
        self
    }

    pub fn run_on_start(mut self, run: bool) -> Self {
        self.run_on_start = run;
        self
    }
}

pub fn parse_cron(pattern: &str) -> Result<Cron, EngineError> {
    Cron::from_str(pattern).map_err(|e| EngineError::Invalid(format!("cron `{pattern}`: {e}")))
}

/// The first slot of `cron` in `zone` strictly after `after`.
pub fn next_slot(cron: &Cron, zone: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_next_occurrence(&after.with_timezone(&zone), false)
        .ok()
        .map(|slot| boundary(slot.with_timezone(&Utc)))
}

/// The last slot at or before `at`.
fn latest_slot(cron: &Cron, zone: Tz, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_previous_occurrence(&at.with_timezone(&zone), true)
        .ok()
        .map(|slot| boundary(slot.with_timezone(&Utc)))
}

/// A slot is the cron's boundary (its resolution is the second): croner keeps the fraction of the
/// instant it was asked from, and a slot that carried the first scheduler's milliseconds would
/// not be the same `(schedule, slot)` row as another scheduler's for the same boundary.
fn boundary(slot: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::Timelike;
    slot.with_nanosecond(0).unwrap_or(slot)
}

async fn database_now(db: &mut PgConnection) -> Result<DateTime<Utc>, EngineError> {
    Ok(sqlx::query_scalar!(r#"SELECT now() AS "now!""#)
        .fetch_one(db)
        .await?)
}

/// A due schedule, as the scheduler reads it.
struct Due {
    name: String,
    cron: String,
    timezone: String,
    kind: String,
    args: Value,
    queue: String,
    priority: i16,
    max_attempts: i32,
    overlap: String,
    next_run_at: DateTime<Utc>,
}

pub struct Scheduler {
    pool: PgPool,
    tick: Duration,
}

impl Scheduler {
    pub fn new(db: DatabaseConnection) -> Self {
        Scheduler {
            pool: db.get_postgres_connection_pool().clone(),
            tick: Duration::from_secs(1),
        }
    }

    /// Stores the application's schedules (a changed pattern or zone starts from the next
    /// slot; `enabled`, set by operators, is kept) and queues the `run_on_start` ones.
    pub async fn sync(&self, schedules: &[Schedule]) -> Result<(), EngineError> {
        let mut conn = self.pool.acquire().await?;
        let now = database_now(&mut conn).await?;
        for schedule in schedules {
            let cron = parse_cron(&schedule.cron)?;
            let next = next_slot(&cron, schedule.timezone, now).ok_or_else(|| {
                EngineError::Invalid(format!("schedule `{}` never runs", schedule.name))
            })?;
            sqlx::query!(
                "INSERT INTO engine_schedules
                     (name, cron, timezone, kind, args, queue, priority, overlap, run_on_start, next_run_at,
                      max_attempts)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (name) DO UPDATE SET
                     next_run_at = CASE WHEN engine_schedules.cron <> excluded.cron
                                          OR engine_schedules.timezone <> excluded.timezone
                                        THEN excluded.next_run_at
                                        ELSE engine_schedules.next_run_at END,
                     cron = excluded.cron, timezone = excluded.timezone, kind = excluded.kind,
                     args = excluded.args, queue = excluded.queue, priority = excluded.priority,
                     overlap = excluded.overlap, run_on_start = excluded.run_on_start,
                     max_attempts = excluded.max_attempts,
                     updated_at = now()",
                schedule.name,
                schedule.cron,
                schedule.timezone.name(),
                schedule.kind,
                schedule.args,
                schedule.queue,
                schedule.priority,
                schedule.overlap.as_str(),
                schedule.run_on_start,
                next,
                schedule.max_attempts
            )
            .execute(&mut *conn)
            .await?;
            if schedule.run_on_start {
                let job = NewJob::new(schedule.kind.clone(), schedule.args.clone())
                    .queue(schedule.queue.clone())
                    .priority(schedule.priority)
                    .max_attempts(schedule.max_attempts)
                    .dedupe_key(format!("cron:{}:start", schedule.name))
                    .created_by(format!("cron:{}", schedule.name));
                enqueue_many_in(&mut conn, vec![job]).await?;
            }
        }
        Ok(())
    }

    /// Creates the jobs of every due slot until `shutdown` resolves.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            if let Err(err) = self.tick().await {
                tracing::warn!(error = %err, "scheduler tick failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.tick) => {}
                _ = &mut shutdown => return,
            }
        }
    }

    /// One pass over the due schedules; returns the jobs created.
    pub async fn tick(&self) -> Result<usize, EngineError> {
        let mut txn = self.pool.begin().await?;
        let now = database_now(&mut txn).await?;
        let due = sqlx::query_as!(
            Due,
            "SELECT name, cron, timezone, kind, args, queue, priority, max_attempts, overlap, next_run_at
               FROM engine_schedules
              WHERE enabled AND next_run_at <= now()
                FOR UPDATE SKIP LOCKED"
        )
        .fetch_all(&mut *txn)
        .await?;
        let mut created = 0;
        for schedule in due {
            let name = schedule.name.clone();
            match fire(&mut txn, schedule, now).await {
                Ok(true) => created += 1,
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(schedule = %name, error = %err, "schedule could not run")
                }
            }
        }
        txn.commit().await?;
        Ok(created)
    }
}

/// Runs the latest due slot of one schedule and moves it to its next slot.
async fn fire(
    db: &mut PgConnection,
    schedule: Due,
    now: DateTime<Utc>,
) -> Result<bool, EngineError> {
    let name = schedule.name;
    let cron = parse_cron(&schedule.cron)?;
    let zone: Tz = schedule
        .timezone
        .parse()
        .map_err(|_| EngineError::Invalid(format!("schedule `{name}`: unknown time zone")))?;
    let due = schedule.next_run_at;
    let slot = latest_slot(&cron, zone, now)
        .filter(|s| *s >= due)
        .unwrap_or(due);
    let next = next_slot(&cron, zone, now)
        .ok_or_else(|| EngineError::Invalid(format!("schedule `{name}` has no next slot")))?;
    sqlx::query!(
        "UPDATE engine_schedules SET next_run_at = $2 WHERE name = $1",
        name,
        next
    )
    .execute(&mut *db)
    .await?;
    let claimed = sqlx::query!(
        "INSERT INTO engine_schedule_runs (schedule, slot) VALUES ($1, $2)
         ON CONFLICT DO NOTHING RETURNING slot",
        name,
        slot
    )
    .fetch_optional(&mut *db)
    .await?;
    if claimed.is_none() {
        return Ok(false); // another scheduler made this slot's job
    }
    let created_by = format!("cron:{name}");
    if schedule.overlap == Overlap::Skip.as_str() {
        // The previous run is still going if its job waits, or runs under a live lease: a worker
        // that has not shown itself (`PRESENCE_EVERY`) for `GONE_AFTER` is dead, and its run does
        // not hold the slots back for the rest of its lease. Cron jobs carry a dedupe key, so
        // the live-jobs index (kind, dedupe_key) answers this without reading finished jobs.
        let busy = sqlx::query!(
            r#"SELECT 1 AS "busy!" FROM engine_jobs j
                 LEFT JOIN engine_workers w ON w.id = j.lease_owner
                WHERE j.kind = $1 AND j.dedupe_key IS NOT NULL AND j.created_by = $2
                  AND j.state IN ('available', 'running')
                  AND (j.state = 'available'
                       OR (j.lease_expires_at > now()
                           AND w.last_heartbeat_at > now() - make_interval(secs => $3)))
                LIMIT 1"#,
            schedule.kind,
            created_by,
            crate::worker::GONE_AFTER.as_secs_f64()
        )
        .fetch_optional(&mut *db)
        .await?;
        if busy.is_some() {
            sqlx::query!(
                "UPDATE engine_schedule_runs SET skipped_reason = 'the previous run has not finished'
                  WHERE schedule = $1 AND slot = $2",
                name,
                slot
            )
            .execute(&mut *db)
            .await?;
            return Ok(false);
        }
    }
    let job = NewJob::new(schedule.kind, schedule.args)
        .queue(schedule.queue)
        .priority(schedule.priority)
        .max_attempts(schedule.max_attempts)
        .dedupe_key(format!("cron:{name}:{}", slot.to_rfc3339()))
        .created_by(created_by);
    let enqueued = enqueue_many_in(&mut *db, vec![job])
        .await?
        .pop()
        .ok_or_else(|| EngineError::Invalid("the insert returned no job".into()))?;
    sqlx::query!(
        "UPDATE engine_schedule_runs SET job_id = $3 WHERE schedule = $1 AND slot = $2",
        name,
        slot,
        enqueued.id
    )
    .execute(&mut *db)
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn slots_follow_seconds_and_time_zones() {
        let every_five = parse_cron("*/5 * * * * *").unwrap();
        let at = Utc.with_ymd_and_hms(2026, 3, 29, 0, 59, 58).unwrap();
        assert_eq!(
            next_slot(&every_five, Tz::UTC, at),
            Some(Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0).unwrap())
        );
        // 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer.
        let nine = parse_cron("0 9 * * *").unwrap();
        let winter = Utc.with_ymd_and_hms(2026, 1, 10, 0, 0, 0).unwrap();
        let summer = Utc.with_ymd_and_hms(2026, 7, 10, 0, 0, 0).unwrap();
        let berlin = chrono_tz::Europe::Berlin;
        assert_eq!(
            next_slot(&nine, berlin, winter)
                .unwrap()
                .format("%H")
                .to_string(),
            "08"
        );
        assert_eq!(
            next_slot(&nine, berlin, summer)
                .unwrap()
                .format("%H")
                .to_string(),
            "07"
        );
        assert_eq!(
            latest_slot(&every_five, Tz::UTC, at),
            Some(Utc.with_ymd_and_hms(2026, 3, 29, 0, 59, 55).unwrap())
        );
        assert!(parse_cron("not a cron").is_err());
    }

    #[test]
    fn slots_are_whole_boundaries_whenever_they_are_computed() {
        let every_ten = parse_cron("*/10 * * * * *").unwrap();
        let late = Utc.with_ymd_and_hms(2026, 3, 29, 0, 0, 40).unwrap()
            + chrono::Duration::milliseconds(87);
        assert_eq!(
            latest_slot(&every_ten, Tz::UTC, late),
            Some(Utc.with_ymd_and_hms(2026, 3, 29, 0, 0, 40).unwrap())
        );
        assert_eq!(
            next_slot(&every_ten, Tz::UTC, late),
            Some(Utc.with_ymd_and_hms(2026, 3, 29, 0, 0, 50).unwrap())
        );
    }
}

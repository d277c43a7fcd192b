//! Detectors: a unique name, the table they watch, a predicate over the event, and the jobs a
//! detected event creates.

use std::{
    collections::{BTreeSet, HashSet},
    panic::AssertUnwindSafe,
};

use super::envelope::Event;
use crate::{NewJob, job::JobArgs, panic_message};

pub type DetectError = String;

/// A job a detection creates; `name` is unique within the detector (the job's key is
/// (event, detector, name)).
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedJob {
    pub name: String,
    pub job: NewJob,
}

impl PlannedJob {
    pub fn new(name: impl Into<String>, job: NewJob) -> Self {
        PlannedJob {
            name: name.into(),
            job,
        }
    }

    /// A typed job with its kind's settings.
    pub fn of<A: JobArgs>(name: impl Into<String>, job: &A) -> Result<Self, DetectError> {
        Ok(PlannedJob::new(
            name,
            NewJob::of(job).map_err(|e| e.to_string())?,
        ))
    }
}

type Predicate = Box<dyn Fn(&Event) -> bool + Send + Sync>;
type Plan = Box<dyn Fn(&Event) -> Result<Vec<PlannedJob>, DetectError> + Send + Sync>;

pub struct Detector {
    name: String,
    /// `table` or `schema.table`.
    table: String,
    predicate: Predicate,
    plan: Plan,
}

impl Detector {
    pub fn new(
        name: impl Into<String>,
        table: impl Into<String>,
        predicate: impl Fn(&Event) -> bool + Send + Sync + 'static,
        plan: impl Fn(&Event) -> Result<Vec<PlannedJob>, DetectError> + Send + Sync + 'static,
    ) -> Self {
        Detector {
            name: name.into(),
            table: table.into(),
            predicate: Box::new(predicate),
            plan: Box::new(plan),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn watches(&self, event: &Event) -> bool {
        match self.table.split_once('.') {
            Some((schema, table)) => event.table_schema == schema && event.table_name == table,
            None => event.table_name == self.table,
        }
    }

    /// The predicate, then the plan; a panic in either is a failed detection.
    fn detect(&self, event: &Event) -> Outcome {
        let run = || -> Result<Option<Vec<PlannedJob>>, DetectError> {
            if !(self.predicate)(event) {
                return Ok(None);
            }
            let jobs = (self.plan)(event)?;
            let mut names = HashSet::new();
            if let Some(twice) = jobs.iter().find(|j| !names.insert(j.name.as_str())) {
                return Err(format!("two jobs are named `{}`", twice.name));
            }
            Ok(Some(jobs))
        };
        match std::panic::catch_unwind(AssertUnwindSafe(run)) {
            Ok(Ok(None)) => Outcome::NotDetected,
            Ok(Ok(Some(jobs))) => Outcome::Detected(jobs),
            Ok(Err(error)) => Outcome::Failed(error),
            Err(panic) => Outcome::Failed(format!("panicked: {}", panic_message(&panic))),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    NotDetected,
    Detected(Vec<PlannedJob>),
    Failed(DetectError),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    pub detector: String,
    pub outcome: Outcome,
}

/// The registry, built once at start-up.
#[derive(Default)]
pub struct Detectors {
    list: Vec<Detector>,
}

impl Detectors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, detector: Detector) -> Self {
        self.list.push(detector);
        self
    }

    /// Refuses empty, overlong or repeated names (checked at start-up).
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = HashSet::new();
        for detector in &self.list {
            let name = detector.name();
            if name.trim().is_empty() || name.len() > 200 {
                return Err(format!("detector name `{name}`: 1 to 200 characters"));
            }
            if !seen.insert(name) {
                return Err(format!("two detectors are named `{name}`"));
            }
        }
        Ok(())
    }

    pub fn names(&self) -> Vec<&str> {
        self.list.iter().map(Detector::name).collect()
    }

    /// The tables the detectors watch (they must be captured).
    pub fn tables(&self) -> BTreeSet<&str> {
        self.list.iter().map(Detector::table).collect()
    }

    /// Every detector watching the event's table, in registration order; none can stop the
    /// others.
    pub fn detect(&self, event: &Event) -> Vec<Detection> {
        self.list
            .iter()
            .filter(|d| d.watches(event))
            .map(|d| Detection {
                detector: d.name.clone(),
                outcome: d.detect(event),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Envelope, Source};
    use serde_json::json;

    fn insert(table: &str) -> Event {
        serde_json::from_value::<Envelope>(json!({
            "id": "85558393-c75d-4d2f-9c31-e7f6ac7b8a44",
            "trigger": { "name": "t" }, "table": { "schema": "public", "name": table },
            "event": { "op": "INSERT", "data": { "old": null, "new": { "id": 1 } } }
        }))
        .unwrap()
        .into_event(Source::Hasura)
        .unwrap()
    }

    #[test]
    fn failures_and_panics_are_recorded_and_the_others_still_run() {
        let job = || PlannedJob::new("only", NewJob::new("noop", json!({})));
        let detectors = Detectors::new()
            .with(Detector::new(
                "boom",
                "users",
                |_| true,
                |_| Err("no".into()),
            ))
            .with(Detector::new(
                "panics",
                "users",
                |_| panic!("bug"),
                |_| Ok(vec![]),
            ))
            .with(Detector::new(
                "fine",
                "public.users",
                |e| e.inserted(),
                move |_| Ok(vec![job()]),
            ))
            .with(Detector::new(
                "elsewhere",
                "meets",
                |_| true,
                |_| Ok(vec![]),
            ))
            .with(Detector::new(
                "quiet",
                "users",
                |e| e.deleted(),
                |_| Ok(vec![]),
            ));
        detectors.validate().unwrap();
        let found = detectors.detect(&insert("users"));
        let outcomes: Vec<(&str, &Outcome)> = found
            .iter()
            .map(|d| (d.detector.as_str(), &d.outcome))
            .collect();
        assert_eq!(outcomes.len(), 4, "{outcomes:?}");
        assert_eq!(outcomes[0], ("boom", &Outcome::Failed("no".into())));
        assert!(matches!(outcomes[1].1, Outcome::Failed(e) if e.contains("bug")));
        assert!(matches!(outcomes[2].1, Outcome::Detected(jobs) if jobs.len() == 1));
        assert_eq!(outcomes[3], ("quiet", &Outcome::NotDetected));
    }

    #[test]
    fn names_are_unique() {
        let detectors = Detectors::new()
            .with(Detector::new("a", "users", |_| true, |_| Ok(vec![])))
            .with(Detector::new("a", "meets", |_| true, |_| Ok(vec![])));
        assert!(detectors.validate().unwrap_err().contains("two detectors"));
    }
}

//! Named business events from database changes, made durable.
//!
//! ```text
//! Hasura POST /hooks/hasura ─┐
//! capture trigger ───────────┼─▶ engine_events ─▶ detectors ─▶ engine_event_detections
//! invokeEvent (MANUAL) ──────┘   (id = dedupe)     (name,          └─▶ engine_event_jobs ─▶ engine_jobs
//!                                                   predicate, jobs)    one per (event, detector, job)
//! ```
//!
//! An event is Hasura's event-trigger envelope, whoever produced it. Detection runs in one
//! transaction with the jobs it creates, so an event is either undetected (and detected later)
//! or detected with all its jobs; each (event, detector, job name) is keyed, so a re-delivered
//! or replayed event never creates a job twice. A detector that errors or panics is recorded as
//! a failed detection, never taken for "not detected".

mod capture;
mod detector;
mod envelope;
mod store;

pub use capture::{
    CAPTURE_OFF, capture_table, captured_tables, manual_event, set_session, uncapture_table,
};
pub use detector::{DetectError, Detection, Detector, Detectors, Outcome, PlannedJob};
pub use envelope::{Envelope, EnvelopeError, Event, Op, Source, json_equal};
pub use store::{
    DETECT_KIND, DetectEvent, DetectionSummary, EventRow, EventSummary, Ingested, JobOutcome,
    JobSummary, SummaryError, detect_stored, find, find_many, ingest, list, list_ids, summaries,
    summary, wait_for_jobs,
};

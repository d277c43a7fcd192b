//! Calendar invites (.ics) for meets. The UID is stable per meet, so calendar clients update the
//! event they already have instead of adding a second one; SEQUENCE grows with each edit.

use chrono::{DateTime, Duration, Utc};
use icalendar::{Calendar, Component, Event, EventLike};

use crate::meets::entity::{MeetType, Model as Meet};

pub fn uid(meet: &Meet, domain: &str) -> String {
    format!("meet-{}@{domain}", meet.id)
}

/// A hackathon's invite is a one-hour kickoff from its start rather than the whole multi-day
/// span; other meets block their real time.
pub fn event_times(meet: &Meet) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = meet.start_instant();
    match meet.kind() {
        MeetType::Hackathon => (start, start + Duration::hours(1)),
        _ => (start, meet.end_instant()),
    }
}

pub fn invite(meet: &Meet, meet_url: &str, domain: &str, now: DateTime<Utc>) -> String {
    let (start, end) = event_times(meet);
    let summary = match meet.kind() {
        MeetType::Hackathon => format!("{} (kickoff)", meet.title),
        _ => meet.title.clone(),
    };
    // Seconds since 2020 fit in u32 for the next century and only ever grow with edits.
    let sequence =
        u32::try_from((meet.updated_at.timestamp() - 1_577_836_800).max(0)).unwrap_or(u32::MAX);
    let event = Event::new()
        .uid(&uid(meet, domain))
        .sequence(sequence)
        .timestamp(now)
        .summary(&summary)
        .description(&format!("{}\n\n{meet_url}", meet.description))
        .url(meet_url)
        .starts(start)
        .ends(end)
        .done();
    let mut calendar = Calendar::new();
    calendar.append_property(("METHOD", "PUBLISH"));
    calendar.push(event);
    calendar.done().to_string()
}

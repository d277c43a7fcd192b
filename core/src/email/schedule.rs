//! Which emails a meet gets and when. Pure functions, so the timing rules are tested directly.
//!
//! Times are instants: "24 hours before the start" is 24 real hours before the start instant,
//! which itself comes from the wall-clock start in the meet's region (so a reminder across a DST
//! change is still exactly 24 hours ahead).

use chrono::{DateTime, Duration, Utc};

use crate::meets::entity::MeetType;

/// The email families of the Node backend: `hackathons/...` for hackathons, `workshops/...` for
/// every other meet type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    RegistrationConfirmation,
    Reminder1,
    Reminder2,
    SubmissionReminder1,
    SubmissionReminder2,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::RegistrationConfirmation,
        Kind::Reminder1,
        Kind::Reminder2,
        Kind::SubmissionReminder1,
        Kind::SubmissionReminder2,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            Kind::RegistrationConfirmation => "registration-confirmation",
            Kind::Reminder1 => "reminder-1",
            Kind::Reminder2 => "reminder-2",
            Kind::SubmissionReminder1 => "submission-reminder-1",
            Kind::SubmissionReminder2 => "submission-reminder-2",
        }
    }

    pub fn is_reminder(self) -> bool {
        self != Kind::RegistrationConfirmation
    }
}

/// The template of the contact form (its emails never pass through `scheduledEmails`).
pub const CONTACT_FORM_TEMPLATE: &str = "contact-form";

/// A template of the Node queue: family + kind, e.g. `hackathons/reminder-1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateName {
    pub hackathon: bool,
    pub kind: Kind,
}

impl TemplateName {
    pub fn for_meet(meet_type: MeetType, kind: Kind) -> TemplateName {
        TemplateName {
            hackathon: meet_type == MeetType::Hackathon,
            kind,
        }
    }

    /// Every template name the Node backend stored (workshops have no submission reminders).
    pub fn all() -> Vec<TemplateName> {
        let mut all = Vec::new();
        for hackathon in [true, false] {
            for kind in Kind::ALL {
                let name = TemplateName { hackathon, kind };
                if name.exists() {
                    all.push(name);
                }
            }
        }
        all
    }

    fn exists(self) -> bool {
        self.hackathon
            || !matches!(
                self.kind,
                Kind::SubmissionReminder1 | Kind::SubmissionReminder2
            )
    }

    pub fn parse(value: &str) -> Option<TemplateName> {
        TemplateName::all()
            .into_iter()
            .find(|t| t.to_string() == value)
    }
}

impl std::fmt::Display for TemplateName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let family = if self.hackathon {
            "hackathons"
        } else {
            "workshops"
        };
        write!(f, "{family}/{}", self.kind.slug())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planned {
    pub template: TemplateName,
    pub send_at: DateTime<Utc>,
}

/// The reminders of a meet from `start` to `end`, as of `now`.
///
/// * reminder 1: 24 h before the start, only while that is still ahead;
/// * reminder 2: 30 min before the start; if that moment has passed but the meet has not started
///   (a meet created at short notice), right away;
/// * hackathons also get submission reminder 1 two days before the end when they last more than
///   three days (only while still ahead), and submission reminder 2 three hours before the end
///   (30 minutes when the hackathon lasts less than a day), right away if that moment has passed
///   but the hackathon has not ended.
///
/// `already_sent` kinds are never sent "right away" a second time (used when a meet is moved).
pub fn reminders(
    meet_type: MeetType,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
    already_sent: &dyn Fn(Kind) -> bool,
) -> Vec<Planned> {
    let mut planned = Vec::new();
    let mut plan = |kind: Kind, at: DateTime<Utc>, late_until: Option<DateTime<Utc>>| {
        let send_at = if at > now {
            Some(at)
        } else {
            late_until
                .filter(|deadline| *deadline > now && !already_sent(kind))
                .map(|_| now)
        };
        if let Some(send_at) = send_at {
            planned.push(Planned {
                template: TemplateName::for_meet(meet_type, kind),
                send_at,
            });
        }
    };
    plan(Kind::Reminder1, start - Duration::hours(24), None);
    plan(Kind::Reminder2, start - Duration::minutes(30), Some(start));
    if meet_type == MeetType::Hackathon {
        let length = end - start;
        if length > Duration::days(3) {
            plan(Kind::SubmissionReminder1, end - Duration::days(2), None);
        }
        let last_call = if length < Duration::days(1) {
            Duration::minutes(30)
        } else {
            Duration::hours(3)
        };
        plan(Kind::SubmissionReminder2, end - last_call, Some(end));
    }
    planned
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meets::time::to_instant;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn names(planned: &[Planned]) -> Vec<(String, DateTime<Utc>)> {
        planned
            .iter()
            .map(|p| (p.template.to_string(), p.send_at))
            .collect()
    }

    const NEVER: &dyn Fn(Kind) -> bool = &|_| false;

    #[test]
    fn template_names_match_the_node_backend() {
        let all: Vec<String> = TemplateName::all()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            all,
            [
                "hackathons/registration-confirmation",
                "hackathons/reminder-1",
                "hackathons/reminder-2",
                "hackathons/submission-reminder-1",
                "hackathons/submission-reminder-2",
                "workshops/registration-confirmation",
                "workshops/reminder-1",
                "workshops/reminder-2",
            ]
        );
        assert_eq!(
            TemplateName::parse("workshops/reminder-2").unwrap().kind,
            Kind::Reminder2
        );
        assert!(TemplateName::parse("workshops/submission-reminder-1").is_none());
        assert!(TemplateName::parse("nope").is_none());
    }

    #[test]
    fn workshops_get_two_reminders() {
        let now = utc("2030-01-01T00:00:00Z");
        for kind in [MeetType::Workshop, MeetType::Webinar, MeetType::Lecture] {
            let planned = reminders(
                kind,
                utc("2030-01-10T18:00:00Z"),
                utc("2030-01-10T20:00:00Z"),
                now,
                NEVER,
            );
            assert_eq!(
                names(&planned),
                vec![
                    ("workshops/reminder-1".into(), utc("2030-01-09T18:00:00Z")),
                    ("workshops/reminder-2".into(), utc("2030-01-10T17:30:00Z")),
                ]
            );
        }
    }

    #[test]
    fn long_hackathons_get_both_submission_reminders() {
        let now = utc("2030-01-01T00:00:00Z");
        let planned = reminders(
            MeetType::Hackathon,
            utc("2030-01-10T12:00:00Z"),
            utc("2030-01-17T12:00:00Z"),
            now,
            NEVER,
        );
        assert_eq!(
            names(&planned),
            vec![
                ("hackathons/reminder-1".into(), utc("2030-01-09T12:00:00Z")),
                ("hackathons/reminder-2".into(), utc("2030-01-10T11:30:00Z")),
                (
                    "hackathons/submission-reminder-1".into(),
                    utc("2030-01-15T12:00:00Z")
                ),
                (
                    "hackathons/submission-reminder-2".into(),
                    utc("2030-01-17T09:00:00Z")
                ),
            ]
        );
    }

    #[test]
    fn hackathon_duration_edges() {
        let now = utc("2030-01-01T00:00:00Z");
        let start = utc("2030-01-10T12:00:00Z");
        let kinds = |end: &str| -> Vec<(String, DateTime<Utc>)> {
            names(&reminders(MeetType::Hackathon, start, utc(end), now, NEVER))
                .into_iter()
                .filter(|(n, _)| n.contains("submission"))
                .collect()
        };
        // Exactly three days: no submission reminder 1; three hours before the end.
        assert_eq!(
            kinds("2030-01-13T12:00:00Z"),
            vec![(
                "hackathons/submission-reminder-2".into(),
                utc("2030-01-13T09:00:00Z")
            )]
        );
        // A minute over three days: both.
        assert_eq!(kinds("2030-01-13T12:01:00Z").len(), 2);
        // Exactly one day counts as a day: three hours.
        assert_eq!(
            kinds("2030-01-11T12:00:00Z"),
            vec![(
                "hackathons/submission-reminder-2".into(),
                utc("2030-01-11T09:00:00Z")
            )]
        );
        // Under a day: thirty minutes.
        assert_eq!(
            kinds("2030-01-11T11:59:00Z"),
            vec![(
                "hackathons/submission-reminder-2".into(),
                utc("2030-01-11T11:29:00Z")
            )]
        );
    }

    #[test]
    fn past_reminders_are_skipped_or_sent_at_once() {
        let start = utc("2030-01-10T12:00:00Z");
        let end = utc("2030-01-10T20:00:00Z");
        // Created 10 hours ahead: no reminder 1; reminder 2 on time.
        let planned = reminders(
            MeetType::Workshop,
            start,
            end,
            utc("2030-01-10T02:00:00Z"),
            NEVER,
        );
        assert_eq!(
            names(&planned),
            vec![("workshops/reminder-2".into(), utc("2030-01-10T11:30:00Z"))]
        );
        // Created 10 minutes ahead: reminder 2 right away.
        let now = utc("2030-01-10T11:50:00Z");
        assert_eq!(
            names(&reminders(MeetType::Workshop, start, end, now, NEVER)),
            vec![("workshops/reminder-2".into(), now)]
        );
        // ...unless it was already sent (the meet was moved).
        assert!(
            reminders(MeetType::Workshop, start, end, now, &|k| k
                == Kind::Reminder2)
            .is_empty()
        );
        // A meet that already started gets nothing; a running hackathon still gets its last call.
        assert!(
            reminders(
                MeetType::Workshop,
                start,
                end,
                utc("2030-01-10T13:00:00Z"),
                NEVER
            )
            .is_empty()
        );
        let running = reminders(
            MeetType::Hackathon,
            start,
            end,
            utc("2030-01-10T19:45:00Z"),
            NEVER,
        );
        assert_eq!(
            names(&running),
            vec![(
                "hackathons/submission-reminder-2".into(),
                utc("2030-01-10T19:45:00Z")
            )]
        );
        assert!(
            reminders(
                MeetType::Hackathon,
                start,
                end,
                utc("2030-01-10T21:00:00Z"),
                NEVER
            )
            .is_empty()
        );
    }

    #[test]
    fn reminders_are_exact_durations_across_a_dst_change() {
        let toronto = chrono_tz::America::Toronto;
        // Clocks go forward on 2031-03-09 at 02:00 in Toronto. A meet at 12:00 on the 9th (EDT,
        // 16:00Z) gets its 24-hour reminder at 16:00Z on the 8th, which is 11:00 EST there.
        let start = to_instant(
            chrono::NaiveDate::from_ymd_opt(2031, 3, 9)
                .unwrap()
                .and_hms_opt(12, 0, 0)
                .unwrap(),
            toronto,
        );
        let end = start + Duration::hours(2);
        assert_eq!(start, utc("2031-03-09T16:00:00Z"));
        let planned = reminders(
            MeetType::Workshop,
            start,
            end,
            utc("2031-01-01T00:00:00Z"),
            NEVER,
        );
        assert_eq!(planned[0].send_at, utc("2031-03-08T16:00:00Z"));
        assert_eq!(planned[1].send_at, utc("2031-03-09T15:30:00Z"));
        // Autumn: clocks go back on 2031-11-02; a meet at 10:00 EST (15:00Z) on the 2nd.
        let start = to_instant(
            chrono::NaiveDate::from_ymd_opt(2031, 11, 2)
                .unwrap()
                .and_hms_opt(10, 0, 0)
                .unwrap(),
            toronto,
        );
        assert_eq!(start, utc("2031-11-02T15:00:00Z"));
        let planned = reminders(
            MeetType::Workshop,
            start,
            start + Duration::hours(1),
            utc("2031-01-01T00:00:00Z"),
            NEVER,
        );
        assert_eq!(planned[0].send_at, utc("2031-11-01T15:00:00Z"));
    }
}

//! Wall-clock times of meets.
//!
//! A meet's `startTime`/`endTime` are local times in its IANA `region` ("2020-10-10T09:00:00.000"
//! in "America/Toronto"), as the Node backend and its frontend exchange them. Turning them into
//! instants needs the zone's rules, including daylight-saving changes.

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

use crate::error::{AppError, AppResult};

const ACCEPTED_FORMATS: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
];

/// Parses a wall-clock time such as `2020-10-10T09:00` or `2020-10-10T09:00:00.000`.
///
/// A trailing `Z` is tolerated and ignored, as the Node backend stored such strings unchanged;
/// a numeric offset is refused because it would contradict the meet's region.
pub fn parse_wall_clock(field: &str, value: &str) -> AppResult<NaiveDateTime> {
    let trimmed = value.trim();
    let without_z = trimmed.strip_suffix(['Z', 'z']).unwrap_or(trimmed);
    ACCEPTED_FORMATS
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(without_z, format).ok())
        .ok_or_else(|| {
            AppError::bad_input(
                field,
                format!(
                    "{field} must be a local date and time like 2020-10-10T09:00:00 \
                     (interpreted in the meet's region, without a UTC offset)"
                ),
            )
        })
}

/// The format the API returns: milliseconds, no offset (`2020-10-10T09:00:00.000`).
pub fn format_wall_clock(value: NaiveDateTime) -> String {
    value.format("%Y-%m-%dT%H:%M:%S%.3f").to_string()
}

pub fn parse_region(field: &str, value: &str) -> AppResult<Tz> {
    value.trim().parse::<Tz>().map_err(|_| {
        AppError::bad_input(
            field,
            format!("{field} must be an IANA time zone such as America/Toronto"),
        )
    })
}

/// The zone of a stored meet; rows written by hand with a bad zone fall back to UTC rather than
/// making the meet unreadable.
pub fn stored_region(region: &str) -> Tz {
    region.parse().unwrap_or_else(|_| {
        tracing::warn!(region, "meet has an unknown time zone; using UTC");
        Tz::UTC
    })
}

/// The instant a wall-clock time denotes in `zone`. A time skipped by a spring-forward change
/// moves forward by the gap (02:30 → 03:30), as moment-timezone did; an ambiguous time in the
/// autumn repeat takes its first occurrence.
pub fn to_instant(wall_clock: NaiveDateTime, zone: Tz) -> DateTime<Utc> {
    match zone.from_local_datetime(&wall_clock) {
        LocalResult::Single(dt) => dt.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => {
            // Read the skipped time with the offset in force just before the transition: that is
            // exactly "shift forward by the gap".
            let offset_before = zone
                .offset_from_utc_datetime(&(wall_clock - chrono::Duration::days(1)))
                .fix()
                .local_minus_utc();
            Utc.from_utc_datetime(
                &(wall_clock - chrono::Duration::seconds(i64::from(offset_before))),
            )
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterLinkStatus {
    Waiting,
    Open,
    Closed,
}

/// WAITING before the start, OPEN until the end, CLOSED after.
pub fn register_link_status(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> RegisterLinkStatus {
    if now < start {
        RegisterLinkStatus::Waiting
    } else if now < end {
        RegisterLinkStatus::Open
    } else {
        RegisterLinkStatus::Closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wall(s: &str) -> NaiveDateTime {
        parse_wall_clock("t", s).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn accepts_the_formats_frontends_send() {
        let expected = wall("2020-10-10T09:00:00");
        for input in [
            "2020-10-10T09:00",
            "2020-10-10T09:00:00",
            "2020-10-10T09:00:00.000",
            "2020-10-10T09:00:00.000Z",
            "2020-10-10 09:00",
            " 2020-10-10T09:00 ",
        ] {
            assert_eq!(
                parse_wall_clock("startTime", input).unwrap(),
                expected,
                "{input}"
            );
        }
        for bad in [
            "",
            "tomorrow",
            "2020-13-10T09:00",
            "2020-10-10T09:00:00+02:00",
            "2020-10-10",
        ] {
            let err = parse_wall_clock("startTime", bad).unwrap_err();
            assert!(
                matches!(err, AppError::BadInput { ref field, .. } if field.as_deref() == Some("startTime")),
                "{bad}"
            );
        }
    }

    #[test]
    fn formats_like_the_node_backend() {
        assert_eq!(
            format_wall_clock(wall("2020-10-10T09:05")),
            "2020-10-10T09:05:00.000"
        );
    }

    #[test]
    fn regions_must_be_iana_zones() {
        assert_eq!(
            parse_region("region", "America/Toronto").unwrap(),
            chrono_tz::America::Toronto
        );
        assert!(parse_region("region", "Mars/Olympus").is_err());
        assert!(parse_region("region", "").is_err());
    }

    #[test]
    fn converts_wall_clock_using_the_zone_rules() {
        let toronto = chrono_tz::America::Toronto;
        // EDT (UTC-4) in October, EST (UTC-5) in December.
        assert_eq!(
            to_instant(wall("2020-10-10T09:00"), toronto),
            utc("2020-10-10T13:00:00Z")
        );
        assert_eq!(
            to_instant(wall("2020-12-10T09:00"), toronto),
            utc("2020-12-10T14:00:00Z")
        );
        assert_eq!(
            to_instant(wall("2021-06-01T18:00"), chrono_tz::Asia::Kolkata),
            utc("2021-06-01T12:30:00Z")
        );
    }

    #[test]
    fn spring_forward_gap_moves_forward_and_autumn_repeat_takes_the_first() {
        let toronto = chrono_tz::America::Toronto;
        // 2021-03-14 02:30 does not exist in Toronto: it becomes 03:30 EDT = 07:30Z.
        assert_eq!(
            to_instant(wall("2021-03-14T02:30"), toronto),
            utc("2021-03-14T07:30:00Z")
        );
        // 2021-11-07 01:30 happens twice; the first is EDT = 05:30Z.
        assert_eq!(
            to_instant(wall("2021-11-07T01:30"), toronto),
            utc("2021-11-07T05:30:00Z")
        );
    }

    #[test]
    fn register_link_status_follows_the_clock() {
        let start = utc("2020-10-10T13:00:00Z");
        let end = utc("2020-10-10T15:00:00Z");
        assert_eq!(
            register_link_status(start, end, utc("2020-10-10T12:59:59Z")),
            RegisterLinkStatus::Waiting
        );
        assert_eq!(
            register_link_status(start, end, start),
            RegisterLinkStatus::Open
        );
        assert_eq!(
            register_link_status(start, end, utc("2020-10-10T14:59:59Z")),
            RegisterLinkStatus::Open
        );
        assert_eq!(
            register_link_status(start, end, end),
            RegisterLinkStatus::Closed
        );
    }
}

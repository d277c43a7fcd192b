//! `meets`: events (hackathons, workshops, webinars, lectures).
//!
//! `startTime`/`endTime` hold the *wall-clock* time of the meet's `region`, stored as if it were
//! UTC — the Node backend's convention, kept so existing rows mean the same thing. Use
//! [`Model::start_wall_clock`] / [`super::time`] rather than reading them as instants.

use chrono::NaiveDateTime;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "meets", rename_all = "camelCase")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub meet_type: String,
    pub title: String,
    pub description: String,
    pub instructions: String,
    pub detailed_description: Option<String>,
    pub register_link: Option<String>,
    pub cover_image_url: String,
    pub start_time: DateTimeUtc,
    pub end_time: DateTimeUtc,
    pub region: String,
    pub kanban_canon_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::soft_deletes!();

impl Model {
    pub fn start_wall_clock(&self) -> NaiveDateTime {
        self.start_time.naive_utc()
    }

    pub fn end_wall_clock(&self) -> NaiveDateTime {
        self.end_time.naive_utc()
    }
}

/// The kinds of meet. Stored as upper-case text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeetType {
    Hackathon,
    Workshop,
    Webinar,
    Lecture,
}

impl MeetType {
    pub fn as_str(self) -> &'static str {
        match self {
            MeetType::Hackathon => "HACKATHON",
            MeetType::Workshop => "WORKSHOP",
            MeetType::Webinar => "WEBINAR",
            MeetType::Lecture => "LECTURE",
        }
    }

    /// Reads a stored value. Early Node rows used `hackMeet`; anything unknown reads as a
    /// hackathon (the column's default) rather than making the meet unreadable.
    pub fn from_stored(value: &str) -> MeetType {
        match value.to_ascii_uppercase().as_str() {
            "WORKSHOP" => MeetType::Workshop,
            "WEBINAR" => MeetType::Webinar,
            "LECTURE" => MeetType::Lecture,
            "HACKATHON" | "HACKMEET" => MeetType::Hackathon,
            other => {
                tracing::warn!(
                    meet_type = other,
                    "unknown meetType in the database; reading it as HACKATHON"
                );
                MeetType::Hackathon
            }
        }
    }
}

impl Model {
    pub fn kind(&self) -> MeetType {
        MeetType::from_stored(&self.meet_type)
    }

    pub fn zone(&self) -> chrono_tz::Tz {
        super::time::stored_region(&self.region)
    }

    pub fn start_instant(&self) -> chrono::DateTime<chrono::Utc> {
        super::time::to_instant(self.start_wall_clock(), self.zone())
    }

    pub fn end_instant(&self) -> chrono::DateTime<chrono::Utc> {
        super::time::to_instant(self.end_wall_clock(), self.zone())
    }

    pub fn register_link_status(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> super::time::RegisterLinkStatus {
        super::time::register_link_status(self.start_instant(), self.end_instant(), now)
    }
}

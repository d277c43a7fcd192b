//! Meets and registrations: listing, admin CRUD, registering.

use chrono::{NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    Statement, TransactionSession,
};
use uuid::Uuid;

use super::{
    entity::{self, ActiveModel, Column, Entity as Meets, MeetType, Model as Meet},
    registration,
    time::{parse_region, parse_wall_clock, to_instant},
};
use crate::{
    auth::Caller,
    db::Db,
    error::{AppError, AppResult},
    kanban::service as kanban,
    users::entity::{self as users, Profile},
    validation,
};

/// Everything needed to create a meet.
pub struct NewMeet {
    pub meet_type: MeetType,
    pub title: String,
    pub description: String,
    pub detailed_description: Option<String>,
    pub instructions: String,
    pub register_link: Option<String>,
    pub cover_image_url: String,
    /// Wall-clock time in `region`, e.g. `2020-10-10T09:00`.
    pub start_time: String,
    pub end_time: String,
    /// IANA time zone, e.g. `America/Toronto`.
    pub region: String,
}

/// A partial edit: `None` leaves a field as it is; for nullable fields `Some(None)` clears it.
#[derive(Default)]
pub struct MeetChanges {
    pub meet_type: Option<MeetType>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub detailed_description: Option<Option<String>>,
    pub instructions: Option<String>,
    pub register_link: Option<Option<String>>,
    pub cover_image_url: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub region: Option<String>,
    /// Attach a kanban canon, or `Some(None)` to detach it.
    pub kanban_canon_id: Option<Option<Uuid>>,
}

impl MeetChanges {
    fn is_empty(&self) -> bool {
        self.meet_type.is_none()
            && self.title.is_none()
            && self.description.is_none()
            && self.detailed_description.is_none()
            && self.instructions.is_none()
            && self.register_link.is_none()
            && self.cover_image_url.is_none()
            && self.start_time.is_none()
            && self.end_time.is_none()
            && self.region.is_none()
            && self.kanban_canon_id.is_none()
    }
}

/// A validated start/end pair in a zone.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    pub zone: Tz,
}

impl Schedule {
    fn validate(self) -> AppResult<Self> {
        if to_instant(self.end, self.zone) <= to_instant(self.start, self.zone) {
            return Err(AppError::bad_input(
                "endTime",
                "endTime must be after startTime",
            ));
        }
        Ok(self)
    }
}

/// Field lengths in characters: (min, max).
const TITLE: (usize, usize) = (2, 64);
const DESCRIPTION: (usize, usize) = (3, 2000);
const INSTRUCTIONS: (usize, usize) = (3, 20_000);
const DETAILED_DESCRIPTION: (usize, usize) = (0, 20_000);

fn stored(wall_clock: NaiveDateTime) -> chrono::DateTime<Utc> {
    Utc.from_utc_datetime(&wall_clock)
}

fn title(value: &str) -> AppResult<String> {
    validation::text("title", value, TITLE.0, TITLE.1)
}

fn description(value: &str) -> AppResult<String> {
    validation::text("description", value, DESCRIPTION.0, DESCRIPTION.1)
}

fn instructions(value: &str) -> AppResult<String> {
    validation::text("instructions", value, INSTRUCTIONS.0, INSTRUCTIONS.1)
}

fn detailed_description(value: Option<&str>) -> AppResult<Option<String>> {
    validation::optional_text(
        "detailedDescription",
        value,
        DETAILED_DESCRIPTION.0,
        DETAILED_DESCRIPTION.1,
    )
}

fn optional_url(field: &str, value: Option<&str>) -> AppResult<Option<String>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => validation::url(field, v).map(Some),
    }
}

pub async fn list(db: &impl ConnectionTrait) -> AppResult<Vec<Meet>> {
    Ok(Meets::live()
        .order_by_desc(Column::StartTime)
        .all(db)
        .await?)
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<Meet>> {
    Ok(Meets::live().filter(Column::Id.eq(id)).one(db).await?)
}

pub async fn find_many(db: &impl ConnectionTrait, ids: &[Uuid]) -> AppResult<Vec<Meet>> {
    Ok(Meets::live()
        .filter(crate::db::any_id(Column::Id, ids))
        .all(db)
        .await?)
}

async fn lock_for_update(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Meet> {
    Meets::live()
        .filter(Column::Id.eq(id))
        .lock_exclusive()
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("Meet"))
}

async fn ensure_canon_exists(db: &impl ConnectionTrait, canon_id: Uuid) -> AppResult<()> {
    if kanban::find_canon(db, canon_id).await?.is_none() {
        return Err(AppError::bad_input(
            "kanbanCanonId",
            "kanbanCanonId does not refer to an existing kanban canon",
        ));
    }
    Ok(())
}

fn validate_new(input: &NewMeet) -> AppResult<ActiveModel> {
    let schedule = Schedule {
        start: parse_wall_clock("startTime", &input.start_time)?,
        end: parse_wall_clock("endTime", &input.end_time)?,
        zone: parse_region("region", &input.region)?,
    }
    .validate()?;
    let now = Utc::now();
    Ok(ActiveModel {
        id: Set(Uuid::new_v4()),
        meet_type: Set(input.meet_type.as_str().to_owned()),
        title: Set(title(&input.title)?),
        description: Set(description(&input.description)?),
        detailed_description: Set(detailed_description(input.detailed_description.as_deref())?),
        instructions: Set(instructions(&input.instructions)?),
        register_link: Set(optional_url(
            "registerLink",
            input.register_link.as_deref(),
        )?),
        cover_image_url: Set(validation::url("coverImageUrl", &input.cover_image_url)?),
        start_time: Set(stored(schedule.start)),
        end_time: Set(stored(schedule.end)),
        region: Set(schedule.zone.name().to_owned()),
        kanban_canon_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        deleted: Set(false),
    })
}

/// Admins only. Creates a meet (its reminders follow from the change: `meets::events`).
#[tracing::instrument(skip_all)]
pub async fn create(db: &impl Db, caller: &Caller, input: NewMeet) -> AppResult<Meet> {
    caller.require_admin()?;
    let model = validate_new(&input)?;
    let txn = crate::db::begin(db, caller).await?;
    let meet = model.insert(&txn).await?;
    txn.commit().await?;
    tracing::info!(meet_id = %meet.id, "meet created");
    Ok(meet)
}

/// Sets the text fields an edit names on `model`.
fn apply_text_changes(model: &mut ActiveModel, changes: &MeetChanges) -> AppResult<()> {
    if let Some(meet_type) = changes.meet_type {
        model.meet_type = Set(meet_type.as_str().to_owned());
    }
    if let Some(value) = &changes.title {
        model.title = Set(title(value)?);
    }
    if let Some(value) = &changes.description {
        model.description = Set(description(value)?);
    }
    if let Some(value) = &changes.detailed_description {
        model.detailed_description = Set(detailed_description(value.as_deref())?);
    }
    if let Some(value) = &changes.instructions {
        model.instructions = Set(instructions(value)?);
    }
    if let Some(link) = &changes.register_link {
        model.register_link = Set(optional_url("registerLink", link.as_deref())?);
    }
    if let Some(cover) = &changes.cover_image_url {
        model.cover_image_url = Set(validation::url("coverImageUrl", cover)?);
    }
    Ok(())
}

/// The schedule after an edit, or `None` when the edit leaves start, end and region alone.
fn changed_schedule(current: &Meet, changes: &MeetChanges) -> AppResult<Option<Schedule>> {
    if changes.start_time.is_none() && changes.end_time.is_none() && changes.region.is_none() {
        return Ok(None);
    }
    let schedule = Schedule {
        start: match &changes.start_time {
            Some(s) => parse_wall_clock("startTime", s)?,
            None => current.start_wall_clock(),
        },
        end: match &changes.end_time {
            Some(s) => parse_wall_clock("endTime", s)?,
            None => current.end_wall_clock(),
        },
        zone: match &changes.region {
            Some(r) => parse_region("region", r)?,
            None => current.zone(),
        },
    };
    schedule.validate().map(Some)
}

/// Admins only. Applies an edit (a new time, region or type reschedules the reminders, by the
/// `meet.rescheduled` detector).
#[tracing::instrument(skip_all, fields(meet_id = %id))]
pub async fn edit(
    db: &impl Db,
    caller: &Caller,
    id: Uuid,
    changes: MeetChanges,
) -> AppResult<Meet> {
    caller.require_admin()?;
    if changes.is_empty() {
        return Err(validation::nothing_to_edit());
    }
    let txn = crate::db::begin(db, caller).await?;
    let current = lock_for_update(&txn, id).await?;
    let mut model: ActiveModel = current.clone().into();
    apply_text_changes(&mut model, &changes)?;
    if let Some(canon_id) = changes.kanban_canon_id {
        if let Some(canon_id) = canon_id {
            ensure_canon_exists(&txn, canon_id).await?;
        }
        model.kanban_canon_id = Set(canon_id);
    }
    if let Some(schedule) = changed_schedule(&current, &changes)? {
        model.start_time = Set(stored(schedule.start));
        model.end_time = Set(stored(schedule.end));
        model.region = Set(schedule.zone.name().to_owned());
    }
    model.updated_at = Set(Utc::now());
    let meet = model.update(&txn).await?;
    txn.commit().await?;
    Ok(meet)
}

/// Admins only. Soft-deletes a meet (`meet.deleted` cancels its emails that have not gone out).
#[tracing::instrument(skip_all, fields(meet_id = %id))]
pub async fn delete(db: &impl Db, caller: &Caller, id: Uuid) -> AppResult<()> {
    caller.require_admin()?;
    let txn = crate::db::begin(db, caller).await?;
    let meet = lock_for_update(&txn, id).await?;
    let mut model: ActiveModel = meet.into();
    model.deleted = Set(true);
    model.updated_at = Set(Utc::now());
    model.update(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// Registers the caller for a meet (`meet.registered` sends the confirmation). A
/// second registration is an error; a registration that was soft-deleted is revived (the UNIQUE
/// (userId, meetId) constraint allows only one row).
#[tracing::instrument(skip_all, fields(meet_id = %meet_id))]
pub async fn register(
    db: &impl Db,
    caller: &Caller,
    meet_id: Uuid,
) -> AppResult<registration::Model> {
    let user = caller.require_user()?;
    let txn = crate::db::begin(db, caller).await?;
    let meet = find(&txn, meet_id)
        .await?
        .ok_or_else(|| AppError::not_found("Meet"))?;
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(
            txn.get_database_backend(),
            r#"INSERT INTO "meetRegistrations" (id, "userId", "meetId", "createdAt", "updatedAt", deleted)
               VALUES ($1, $2, $3, now(), now(), false)
               ON CONFLICT ("userId", "meetId") DO UPDATE
                 SET deleted = false, "updatedAt" = now()
                 WHERE "meetRegistrations".deleted
               RETURNING *"#,
            [Uuid::new_v4().into(), user.id.into(), meet.id.into()],
        ))
        .await?;
    let Some(row) = row else {
        return Err(AppError::bad_input(
            "meetId",
            "You are already registered for this meet",
        ));
    };
    let registration =
        <registration::Model as sea_orm::FromQueryResult>::from_query_result(&row, "")?;
    txn.commit().await?;
    Ok(registration)
}

#[derive(sea_orm::FromQueryResult)]
struct Registrant {
    meet_id: Uuid,
    #[sea_orm(nested)]
    profile: Profile,
}

/// `(meetId, profile)` for every active registration of active users to the given meets, by
/// first name. Profiles only: a meet page shows many registrants and never their email.
pub async fn list_registrants(
    db: &impl ConnectionTrait,
    meet_ids: &[Uuid],
) -> AppResult<Vec<(Uuid, Profile)>> {
    let rows = registration::Entity::live()
        .select_only()
        .column_as(registration::Column::MeetId, "meet_id")
        .column_as(users::Column::Id, "id")
        .column_as(users::Column::FirstName, "first_name")
        .column_as(users::Column::LastName, "last_name")
        .column_as(users::Column::IsAdmin, "is_admin")
        .column_as(users::Column::CreatedAt, "created_at")
        .column_as(users::Column::UpdatedAt, "updated_at")
        .inner_join(users::Entity)
        .filter(crate::db::any_id(registration::Column::MeetId, meet_ids))
        .filter(users::Column::Deleted.eq(false))
        // The Node backend's order: by first name.
        .order_by_asc(users::Column::FirstName)
        .order_by_asc(users::Column::LastName)
        .order_by_asc(users::Column::Id)
        .into_model::<Registrant>()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.meet_id, row.profile))
        .collect())
}

/// `(userId, meet)` for the active meets the given users are registered for, newest start first.
pub async fn list_registered_meets(
    db: &impl ConnectionTrait,
    user_ids: &[Uuid],
) -> AppResult<Vec<(Uuid, Meet)>> {
    let rows = registration::Entity::live()
        .find_also_related(entity::Entity)
        .filter(crate::db::any_id(registration::Column::UserId, user_ids))
        .filter(Column::Deleted.eq(false))
        .order_by_desc(Column::StartTime)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(reg, meet)| meet.map(|m| (reg.user_id, m)))
        .collect())
}

//! Badges: admin CRUD and awarding them to projects.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionSession,
};
use uuid::Uuid;

use super::{
    badge_project,
    entity::{ActiveModel, BadgeShape, Column, Entity as Badges, Model as Badge},
};
use crate::{
    auth::Caller,
    db::Db,
    error::{AppError, AppResult},
    projects::{entity as projects, entity::Model as Project, service as project_service},
    validation,
};

/// A new badge.
pub struct NewBadge {
    pub alias: String,
    pub badge_shape: BadgeShape,
    pub fa_icon: String,
    pub background_hex: Option<String>,
    pub icon_hex: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub weight: Option<i32>,
}

/// An edit: fields left out (`None`) stay as they are.
#[derive(Default)]
pub struct BadgeChanges {
    pub alias: Option<String>,
    pub badge_shape: Option<BadgeShape>,
    pub fa_icon: Option<String>,
    pub background_hex: Option<String>,
    pub icon_hex: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub weight: Option<i32>,
}

impl BadgeChanges {
    fn is_empty(&self) -> bool {
        self.alias.is_none()
            && self.badge_shape.is_none()
            && self.fa_icon.is_none()
            && self.background_hex.is_none()
            && self.icon_hex.is_none()
            && self.title.is_none()
            && self.description.is_none()
            && self.weight.is_none()
    }
}

impl From<NewBadge> for BadgeChanges {
    fn from(badge: NewBadge) -> Self {
        BadgeChanges {
            alias: Some(badge.alias),
            badge_shape: Some(badge.badge_shape),
            fa_icon: Some(badge.fa_icon),
            background_hex: badge.background_hex,
            icon_hex: badge.icon_hex,
            title: Some(badge.title),
            description: badge.description,
            weight: badge.weight,
        }
    }
}

const DEFAULT_DESCRIPTION: &str = "No description provided.";
const ALIAS_TAKEN: &str = "alias is already used by another badge";

/// Any 3 to 25 characters, unique, as the Node backend accepted (the frontend uses `:name:`,
/// but badges carried over from Node may be called `legacy badge`).
fn alias(value: &str) -> AppResult<String> {
    validation::text("alias", value, 3, 25)
}

fn apply(model: &mut ActiveModel, fields: BadgeChanges) -> AppResult<()> {
    if let Some(value) = fields.alias {
        model.alias = Set(alias(&value)?);
    }
    if let Some(shape) = fields.badge_shape {
        model.badge_shape = Set(shape.as_stored().to_owned());
    }
    if let Some(value) = fields.fa_icon {
        model.fa_icon = Set(validation::text("faIcon", &value, 1, 64)?);
    }
    if let Some(value) = fields.background_hex {
        model.background_hex = Set(Some(validation::hex_colour("backgroundHex", &value)?));
    }
    if let Some(value) = fields.icon_hex {
        model.icon_hex = Set(Some(validation::hex_colour("iconHex", &value)?));
    }
    if let Some(value) = fields.title {
        model.title = Set(validation::text("title", &value, 2, 64)?);
    }
    if let Some(value) = fields.description {
        let description = validation::text("description", &value, 0, 150)?;
        model.description = Set(if description.is_empty() {
            DEFAULT_DESCRIPTION.to_owned()
        } else {
            description
        });
    }
    if let Some(value) = fields.weight {
        model.weight = Set(validation::int_range("weight", value, 0, 9999)?);
    }
    Ok(())
}

pub async fn list(db: &impl ConnectionTrait) -> AppResult<Vec<Badge>> {
    Ok(Badges::live()
        .order_by_desc(Column::CreatedAt)
        .all(db)
        .await?)
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<Badge>> {
    Ok(Badges::live().filter(Column::Id.eq(id)).one(db).await?)
}

/// Admins only.
#[tracing::instrument(skip_all)]
pub async fn create(
    db: &impl ConnectionTrait,
    caller: &Caller,
    badge: NewBadge,
) -> AppResult<Badge> {
    caller.require_admin()?;
    let now = Utc::now();
    let mut model = ActiveModel {
        id: Set(Uuid::new_v4()),
        alias: Set(String::new()),
        badge_shape: Set(String::new()),
        fa_icon: Set(String::new()),
        background_hex: Set(Some("000000".into())),
        icon_hex: Set(Some("ffffff".into())),
        title: Set(String::new()),
        description: Set(DEFAULT_DESCRIPTION.into()),
        weight: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        deleted: Set(false),
    };
    apply(&mut model, badge.into())?;
    model
        .insert(db)
        .await
        .map_err(|e| AppError::on_unique_violation(e, "alias", ALIAS_TAKEN))
}

/// Admins only.
#[tracing::instrument(skip_all, fields(badge_id = %id))]
pub async fn edit(
    db: &impl ConnectionTrait,
    caller: &Caller,
    id: Uuid,
    fields: BadgeChanges,
) -> AppResult<Badge> {
    caller.require_admin()?;
    if fields.is_empty() {
        return Err(validation::nothing_to_edit());
    }
    let badge = find(db, id)
        .await?
        .ok_or_else(|| AppError::not_found("Badge"))?;
    let mut model: ActiveModel = badge.into();
    apply(&mut model, fields)?;
    model.updated_at = Set(Utc::now());
    model
        .update(db)
        .await
        .map_err(|e| AppError::on_unique_violation(e, "alias", ALIAS_TAKEN))
}

/// Admins only. Deletes a badge and its awards, as the Node backend did; its alias becomes free
/// again.
#[tracing::instrument(skip_all, fields(badge_id = %id))]
pub async fn delete(db: &impl ConnectionTrait, caller: &Caller, id: Uuid) -> AppResult<()> {
    caller.require_admin()?;
    let result = Badges::delete_by_id(id).exec(db).await?;
    if result.rows_affected == 0 {
        return Err(AppError::not_found("Badge"));
    }
    Ok(())
}

/// Most badges one project can carry (and one award request can name).
pub const MAX_BADGES_PER_PROJECT: usize = 100;

/// Admins only. Replaces the badges of a project with `badge_ids`, atomically.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn award_to_project(
    db: &impl Db,
    caller: &Caller,
    project_id: Uuid,
    badge_ids: &[Uuid],
) -> AppResult<Project> {
    caller.require_admin()?;
    if badge_ids.len() > MAX_BADGES_PER_PROJECT {
        return Err(AppError::bad_input(
            "badgeIds",
            format!("badgeIds can name at most {MAX_BADGES_PER_PROJECT} badges"),
        ));
    }
    let mut unique = Vec::with_capacity(badge_ids.len());
    let mut seen = HashSet::new();
    for id in badge_ids {
        if seen.insert(*id) {
            unique.push(*id);
        }
    }
    let txn = crate::db::begin(db, caller).await?;
    // Lock the project so concurrent awards to it apply one after the other.
    let project = projects::Entity::live()
        .filter(projects::Column::Id.eq(project_id))
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("Project"))?;
    let found = Badges::live()
        .filter(crate::db::any_id(Column::Id, &unique))
        .all(&txn)
        .await?;
    if found.len() != unique.len() {
        let known: HashSet<Uuid> = found.iter().map(|b| b.id).collect();
        return Err(unknown_badges(&unique, &known));
    }
    replace_awards(&txn, project_id, &unique).await?;
    txn.commit().await?;
    Ok(project)
}

/// Names a few of the unknown ids; never echoes a whole list back.
fn unknown_badges(asked: &[Uuid], known: &HashSet<Uuid>) -> AppError {
    let missing: Vec<String> = asked
        .iter()
        .filter(|id| !known.contains(id))
        .map(Uuid::to_string)
        .collect();
    let shown = missing
        .iter()
        .take(3)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    let more = missing.len().saturating_sub(3);
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    AppError::bad_input("badgeIds", format!("unknown badge id(s): {shown}{tail}"))
}

/// Makes the project's badges exactly `badge_ids`: removed ones deleted, new ones inserted,
/// kept ones untouched (so only a badge newly given is an award: `badge.awarded`).
async fn replace_awards(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    badge_ids: &[Uuid],
) -> AppResult<()> {
    badge_project::Entity::delete_many()
        .filter(badge_project::Column::ProjectId.eq(project_id))
        .filter(badge_project::Column::BadgeId.is_not_in(badge_ids.iter().copied()))
        .exec(db)
        .await?;
    let kept: HashSet<Uuid> = badge_project::Entity::find()
        .filter(badge_project::Column::ProjectId.eq(project_id))
        .all(db)
        .await?
        .into_iter()
        .map(|award| award.badge_id)
        .collect();
    let new: Vec<Uuid> = badge_ids
        .iter()
        .copied()
        .filter(|id| !kept.contains(id))
        .collect();
    if new.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    badge_project::Entity::insert_many(new.into_iter().map(|badge_id| {
        badge_project::ActiveModel {
            id: Set(Uuid::new_v4()),
            project_id: Set(project_id),
            badge_id: Set(badge_id),
            created_at: Set(now),
            updated_at: Set(now),
        }
    }))
    .exec(db)
    .await?;
    Ok(())
}

/// `(projectId, badge)` for the given projects, heaviest badge first.
pub async fn list_by_project(
    db: &impl ConnectionTrait,
    project_ids: &[Uuid],
) -> AppResult<Vec<(Uuid, Badge)>> {
    let rows = badge_project::Entity::find()
        .find_also_related(Badges)
        .filter(crate::db::any_id(
            badge_project::Column::ProjectId,
            project_ids,
        ))
        .filter(Column::Deleted.eq(false))
        .order_by_desc(Column::Weight)
        .order_by_asc(Column::Title)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(link, badge)| badge.map(|b| (link.project_id, b)))
        .collect())
}

/// `(badgeId, project)` for the given badges' visible projects, newest first.
pub async fn list_projects(
    db: &impl ConnectionTrait,
    badge_ids: &[Uuid],
) -> AppResult<Vec<(Uuid, Project)>> {
    let links = badge_project::Entity::find()
        .filter(crate::db::any_id(badge_project::Column::BadgeId, badge_ids))
        .all(db)
        .await?;
    let mut badges_by_project: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for link in &links {
        badges_by_project
            .entry(link.project_id)
            .or_default()
            .push(link.badge_id);
    }
    let project_ids: Vec<Uuid> = badges_by_project.keys().copied().collect();
    // find_many keeps the project order (newest first) and hides deleted projects and owners.
    let projects = project_service::find_many(db, &project_ids).await?;
    Ok(projects
        .into_iter()
        .flat_map(|project| {
            badges_by_project
                .get(&project.id)
                .into_iter()
                .flatten()
                .map(move |badge_id| (*badge_id, project.clone()))
                .collect::<Vec<_>>()
        })
        .collect())
}

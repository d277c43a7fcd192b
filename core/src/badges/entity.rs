//! `badges`: awards an admin can give to projects. `badgeShape` is stored lower-case.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "badges", rename_all = "camelCase")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub alias: String,
    pub badge_shape: String,
    pub fa_icon: String,
    pub background_hex: Option<String>,
    pub icon_hex: Option<String>,
    pub title: String,
    pub description: String,
    pub weight: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::soft_deletes!();

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadgeShape {
    Star,
    Circle,
    Square,
}

impl BadgeShape {
    pub fn as_stored(self) -> &'static str {
        match self {
            BadgeShape::Star => "star",
            BadgeShape::Circle => "circle",
            BadgeShape::Square => "square",
        }
    }

    /// Unknown stored shapes read as stars rather than making the badge unreadable.
    pub fn from_stored(value: &str) -> BadgeShape {
        match value.to_ascii_lowercase().as_str() {
            "circle" => BadgeShape::Circle,
            "square" => BadgeShape::Square,
            _ => BadgeShape::Star,
        }
    }
}

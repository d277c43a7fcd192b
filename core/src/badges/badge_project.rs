//! `badgesProjects`: a badge awarded to a project (unique per pair).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "badgesProjects", rename_all = "camelCase")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: Uuid,
    pub badge_id: Uuid,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::entity::Entity",
        from = "Column::BadgeId",
        to = "super::entity::Column::Id"
    )]
    Badge,
    #[sea_orm(
        belongs_to = "crate::projects::entity::Entity",
        from = "Column::ProjectId",
        to = "crate::projects::entity::Column::Id"
    )]
    Project,
}

impl Related<super::entity::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Badge.def()
    }
}

impl Related<crate::projects::entity::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

//! `meetRegistrations`: a user registered for a meet (unique per user and meet).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "meetRegistrations", rename_all = "camelCase")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub meet_id: Uuid,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "crate::users::entity::Entity",
        from = "Column::UserId",
        to = "crate::users::entity::Column::Id"
    )]
    User,
    #[sea_orm(
        belongs_to = "super::entity::Entity",
        from = "Column::MeetId",
        to = "super::entity::Column::Id"
    )]
    Meet,
}

impl Related<crate::users::entity::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl Related<super::entity::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Meet.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

crate::soft_deletes!();

//! `kanbanSessions`: one user's board for a canon (optionally for one meet), holding the user's
//! own moves in `cardPositions`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "kanbanSessions", rename_all = "camelCase")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kanban_canon_id: Uuid,
    pub user_id: Uuid,
    pub meet_id: Option<Uuid>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub card_positions: Option<Json>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::soft_deletes!();

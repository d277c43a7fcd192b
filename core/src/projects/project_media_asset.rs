//! `projectMediaAssets`: links a project to its media assets.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "projectMediaAssets", rename_all = "camelCase")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: Uuid,
    pub media_asset_id: Uuid,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::media_asset::Entity",
        from = "Column::MediaAssetId",
        to = "super::media_asset::Column::Id"
    )]
    MediaAsset,
}

impl Related<super::media_asset::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::MediaAsset.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

crate::soft_deletes!();

//! `scheduledEmails`: the Node backend's email queue, kept as it is. A row addressed to a user
//! (`userRecipientId`) goes to that user; one addressed to a meet (`meetRecipientId`) goes to
//! everyone registered for it when it is due. `meetId` is the meet the email is about.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "scheduledEmails", rename_all = "camelCase")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub template_name: String,
    pub user_recipient_id: Option<Uuid>,
    pub meet_recipient_id: Option<Uuid>,
    pub meet_id: Option<Uuid>,
    pub send_at: DateTimeUtc,
    pub retries_left: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

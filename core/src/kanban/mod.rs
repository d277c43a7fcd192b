//! Kanban boards: canons (master boards an admin maintains), their cards, and each user's own
//! board (`kanbanSessions`) that overlays the user's moves on the canon.

pub mod board;
pub mod canon;
pub mod card;
pub mod positions;
pub mod service;

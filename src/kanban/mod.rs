//! Kanban boards: canons (master boards), their cards, and per-user boards.

pub mod board;
pub mod canon;
pub mod card;

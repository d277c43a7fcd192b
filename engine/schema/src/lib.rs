//! The job engine's schema as SQL statements, in a crate of its own: migrations build against it
//! without the engine, whose statements are checked against the schema these migrations make
//! (`make schema`). The engine re-exports it as `engine::schema`.

pub mod schema;

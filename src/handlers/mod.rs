//! The job handlers: what a worker does with each of Mintbean's job kinds. A kind's arguments
//! live beside the domain that enqueues it (`email::jobs`, `projects::jobs`, `tasks::tools`);
//! its handler lives here and holds what it needs (clients, configuration). `crate::app`
//! registers them once.

pub mod email;
pub mod links;

use engine::JobError;

use mintbean_core::error::AppError;

/// A service error as a job's failure: a missing row never appears by retrying, anything else
/// may.
pub fn job_error(error: AppError) -> JobError {
    match error {
        AppError::NotFound(_) | AppError::BadInput { .. } => JobError::permanent(error),
        error => JobError::retryable(error),
    }
}

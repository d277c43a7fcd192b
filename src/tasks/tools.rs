//! The tools offered to API clients (Koalati's `tool`): job kinds with a JSON Schema.
//!
//! `link_check` shares the `links` queue and its per-host cap with project checks; a live check
//! of the same URL is shared. Its handler is `crate::handlers::links`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use engine::{ArgsError, JobArgs, JobOptions, KindSettings};
use mintbean_core::projects::jobs::{CheckLink, host_key};

// (The doc comment below is the schema's description that API clients read.)
/// Checks that a public http(s) URL answers: its status, redirects and time.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkCheckTool {
    /// An http(s) URL, at most 2048 characters.
    #[schema(example = "https://example.com/", max_length = 2048)]
    pub url: String,
}

impl JobArgs for LinkCheckTool {
    const KIND: &'static str = "link_check";

    fn settings() -> KindSettings {
        CheckLink::settings()
    }

    fn options(&self) -> JobOptions {
        JobOptions {
            concurrency_key: Some(host_key(&self.url)),
            dedupe_key: Some(self.url.clone()),
            ..JobOptions::default()
        }
    }

    fn schema() -> Option<Value> {
        serde_json::to_value(<Self as utoipa::PartialSchema>::schema()).ok()
    }

    fn validate(&self) -> Result<(), ArgsError> {
        let refuse = |m: &str| Err(ArgsError::field("url", m));
        if self.url.len() > 2048 {
            return refuse("at most 2048 characters");
        }
        match url::Url::parse(&self.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {
                Ok(())
            }
            _ => refuse("an http(s) URL with a host"),
        }
    }
}

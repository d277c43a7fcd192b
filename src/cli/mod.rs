//! The command lines of both binaries, parsed with clap: `mintbean` (the server, database
//! maintenance, tokens and webhooks, and `mintbean jobs …`) and `jobs` (the worker and the job
//! commands, for cron and systemd). `jobs` and `mintbean jobs` are one command tree
//! ([`jobs::JobsCli`]). Every command has `--help`.
//!
//! Exit status: 0 on success, 1 when the command failed (a missing job, a refused change, a
//! stopped email run), 2 for a usage error (bad arguments, bad configuration).

pub mod email;
pub mod events;
pub mod jobs;
pub mod table;
pub mod tokens;

use std::{process::ExitCode, time::Duration};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Parses `args` as `C`; on a usage error, prints `<program>: <problem>` and gives the exit
/// status to end with (`--help` and `--version` print and end with 0).
pub fn parse<C: clap::Parser>(program: &str, args: &[String]) -> Result<C, ExitCode> {
    C::try_parse_from(args).map_err(|error| {
        use clap::error::ErrorKind;
        match error.kind() {
            ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                let _ = error.print();
                if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    ExitCode::from(2)
                } else {
                    ExitCode::SUCCESS
                }
            }
            _ => usage_error(program, error.to_string().trim_start_matches("error: ")),
        }
    })
}

/// Prints `<program>: <problem>` and gives status 2.
pub fn usage_error(program: &str, problem: &str) -> ExitCode {
    eprintln!("{program}: {}", problem.trim_end());
    ExitCode::from(2)
}

/// Tables for people, or JSON with `--json`.
pub struct Output {
    pub json: bool,
}

impl Output {
    pub fn print(&self, value: &impl Serialize, text: impl FnOnce() -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value)
                    .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
            );
        } else {
            println!("{}", text());
        }
    }
}

/// `90s`, `10m`, `2h`, `1d` or plain seconds, more than zero (a clap value parser).
pub fn duration(text: &str) -> Result<Duration, String> {
    let parsed = mintbean_core::validation::parse_delay(text)?;
    if parsed.is_zero() {
        return Err("a duration is more than zero (10m, 1h, 1d)".into());
    }
    Ok(parsed)
}

/// An RFC 3339 time, or a delay from now (`10m`).
pub fn time_or_delay(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let delay = duration(text.trim_start_matches('+'))
        .map_err(|_| "an RFC 3339 time or a delay like 10m".to_owned())?;
    Ok(Utc::now() + chrono::Duration::from_std(delay).map_err(|e| e.to_string())?)
}

/// An RFC 3339 time, or how long ago (`1h`).
pub fn time_or_ago(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let ago = duration(text).map_err(|_| "a time or a duration like 1h".to_owned())?;
    Ok(Utc::now() - chrono::Duration::from_std(ago).map_err(|e| e.to_string())?)
}

/// A time for a table cell.
pub fn time(at: &Option<DateTime<Utc>>) -> String {
    table::cell(&at.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()))
}

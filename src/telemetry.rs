//! Logging: human-readable by default, JSON with `LOG_FORMAT=json`; `RUST_LOG` overrides the
//! default filter (which keeps sqlx's per-statement logging quiet).

use std::io::IsTerminal as _;

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use mintbean_core::config::LogFormat;

pub const DEFAULT_FILTER: &str = "info,sqlx=warn,sea_orm=warn,tower_http=warn";

pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        LogFormat::Json => registry.with(fmt::layer().json()).try_init(),
        // Colours only for a terminal: escape codes in a log file or the journal are noise.
        LogFormat::Text => registry
            .with(fmt::layer().with_ansi(std::io::stdout().is_terminal()))
            .try_init(),
    };
}

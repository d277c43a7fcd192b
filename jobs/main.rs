//! The `jobs` binary: background work that runs outside the web server (cron, systemd timers).

use std::process::ExitCode;

const USAGE: &str = "\
jobs — mintbean background jobs

USAGE:
    jobs <COMMAND>

COMMANDS:
    help       Show this message

Background jobs (such as draining scheduled emails) are added here as they are built.";

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        None | Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("jobs: unknown command `{other}`\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

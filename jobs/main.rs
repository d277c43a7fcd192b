//! The `jobs` binary: background work that runs beside the web server, from cron or systemd
//! (the same commands as `mintbean jobs …`; see `mintbean::cli::jobs`).

use std::process::ExitCode;

// jemalloc: large answers allocate many small objects across threads; see docs/benchmarks.md.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    mintbean::cli::jobs::main(&args).await
}

//! `make bench`: how fast `jobs email` drains 10 000 queued emails (templated, each with a
//! calendar invite) into a local SMTP server, the CPU each email costs (the `jobs` process and
//! PostgreSQL), and the peak memory.
//!
//! Runs the release `jobs` binary as a child process against a fresh database on the test
//! cluster (TEST_DATABASE_URL, on this machine), with the SMTP sink of the test suite in this
//! process.

// Shared with the test suite; the benchmark uses only part of it.
#[allow(dead_code)]
#[path = "../tests/support/smtp_sink.rs"]
mod smtp_sink;

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use sea_orm::{ConnectionTrait, Statement};
use smtp_sink::SmtpSink;

const EMAILS: i64 = 10_000;

fn database_url(admin: &str, name: &str) -> String {
    let mut url = url::Url::parse(admin).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// Peak resident memory (VmHWM) of a running process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU seconds (user + system) of the children this process has waited for.
fn children_cpu_secs() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// The PostgreSQL server's process id (the parent of a backend), when it runs on this machine.
async fn postmaster_pid(admin: &sea_orm::DatabaseConnection) -> Option<u32> {
    let backend: i32 = admin
        .query_one_raw(Statement::from_string(
            admin.get_database_backend(),
            "SELECT pg_backend_pid() AS pid",
        ))
        .await
        .ok()??
        .try_get("", "pid")
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{backend}/stat")).ok()?;
    // Fields after the command name (which ends with the last ')'): state, ppid, ...
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU seconds of the PostgreSQL backends that have exited (added to the server process's
/// children's time when it reaps them).
fn exited_backends_cpu_secs(postmaster: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{postmaster}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // cutime and cstime: fields 16 and 17 of stat, 14 and 15 after the command name.
    let ticks: f64 = fields.get(13)?.parse::<f64>().ok()? + fields.get(14)?.parse::<f64>().ok()?;
    // SAFETY: sysconf reads a constant.
    let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks / per_sec)
}

/// Waits until no connection to `name` is left, so that its backends' CPU has been counted.
async fn until_disconnected(admin_url: &str, name: &str) {
    let admin = mintbean_core::db::connect(admin_url, 1)
        .await
        .expect("test cluster");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let row = admin
            .query_one_raw(Statement::from_sql_and_values(
                admin.get_database_backend(),
                "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1",
                [name.into()],
            ))
            .await
            .unwrap()
            .unwrap();
        let left: i64 = row.try_get("", "n").unwrap();
        if left == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = admin.close().await;
}

async fn prepare(admin_url: &str) -> String {
    let name = format!("mintbean_bench_{}", uuid::Uuid::new_v4().simple());
    let admin = mintbean_core::db::connect(admin_url, 1)
        .await
        .expect("test cluster");
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    let url = database_url(admin_url, &name);
    mintbean_core::db::migrate(&url).await.expect("migrate");
    let db = mintbean_core::db::connect(&url, 2).await.unwrap();
    let meet = uuid::Uuid::new_v4();
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        r#"INSERT INTO meets (id, "meetType", title, description, instructions, "coverImageUrl",
                              "startTime", "endTime", region)
           VALUES ($1, 'HACKATHON', 'Benchmark Jam', 'Build something fast', 'Go',
                   'https://example.com/c.png', '2031-06-10 12:00+00', '2031-06-17 12:00+00',
                   'America/Toronto')"#,
        [meet.into()],
    ))
    .await
    .unwrap();
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        r#"INSERT INTO users (email, "firstName", "lastName", "passwordHash")
           SELECT 'bench' || n || '@example.com', 'Bench', 'User ' || n, 'x'
           FROM generate_series(1, $1) n"#,
        [EMAILS.into()],
    ))
    .await
    .unwrap();
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        r#"INSERT INTO "scheduledEmails" ("templateName", "userRecipientId", "meetId", "sendAt")
           SELECT 'hackathons/registration-confirmation', id, $1, now() FROM users"#,
        [meet.into()],
    ))
    .await
    .unwrap();
    let _ = db.close().await;
    let _ = admin.close().await;
    name
}

async fn drop_database(admin_url: &str, name: &str) {
    if let Ok(admin) = mintbean_core::db::connect(admin_url, 1).await {
        let _ = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await;
    }
}

struct Run {
    concurrency: usize,
    seconds: f64,
    peak_mib: f64,
    jobs_cpu_secs: f64,
    postgres_cpu_secs: Option<f64>,
}

async fn run(admin_url: &str, postmaster: Option<u32>, concurrency: usize) -> Run {
    let name = prepare(admin_url).await;
    until_disconnected(admin_url, &name).await;
    let sink = SmtpSink::start().await;
    let jobs_cpu_before = children_cpu_secs();
    let postgres_cpu_before = postmaster.and_then(exited_backends_cpu_secs);
    let started = Instant::now();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_jobs"))
        .arg("email")
        .env("DATABASE_URL", database_url(admin_url, &name))
        .env("SMTP_URL", sink.url())
        .env("SENDER_EMAIL", "Mintbean <hello@mintbean.test>")
        .env("EMAIL_CONCURRENCY", concurrency.to_string())
        .env("APP_ENV", "test")
        .env("RUST_LOG", "warn")
        .current_dir(std::env::temp_dir())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start jobs");
    let pid = child.id().expect("pid");
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        match tokio::time::timeout(Duration::from_millis(20), child.wait()).await {
            Ok(status) => break status.unwrap(),
            Err(_) => continue,
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let jobs_cpu_secs = children_cpu_secs() - jobs_cpu_before;
    until_disconnected(admin_url, &name).await;
    let postgres_cpu_secs = postgres_cpu_before
        .zip(postmaster.and_then(exited_backends_cpu_secs))
        .map(|(before, after)| after - before);
    assert!(status.success(), "jobs email failed");
    let messages = sink.messages();
    let unique: HashSet<String> = messages.iter().map(|m| m.message_id()).collect();
    assert_eq!(messages.len() as i64, EMAILS, "every email arrives");
    assert_eq!(unique.len() as i64, EMAILS, "each exactly once");
    assert!(
        messages
            .iter()
            .all(|m| String::from_utf8_lossy(&m.data).contains("text/calendar")),
        "each with its invite"
    );
    drop_database(admin_url, &name).await;
    Run {
        concurrency,
        seconds,
        peak_mib: peak as f64 / 1024.0,
        jobs_cpu_secs,
        postgres_cpu_secs,
    }
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing and expects no work.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let admin_url =
        std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL is not set; run `make bench`");
    println!(
        "Draining {EMAILS} queued registration confirmations (HTML + text + .ics) into a local SMTP sink"
    );
    println!();
    let postmaster = {
        let admin = mintbean_core::db::connect(&admin_url, 1)
            .await
            .expect("test cluster");
        postmaster_pid(&admin).await
    };
    println!(
        "| EMAIL_CONCURRENCY | time (s) | emails/s | CPU µs per email: `jobs` | CPU µs per email: PostgreSQL | peak RSS of `jobs` (MiB) |"
    );
    println!("|---|---|---|---|---|---|");
    let per_email = |secs: f64| format!("{:.0}", secs * 1e6 / EMAILS as f64);
    for concurrency in [1, 4, 8, 16] {
        let r = run(&admin_url, postmaster, concurrency).await;
        println!(
            "| {} | {:.2} | {:.0} | {} | {} | {:.1} |",
            r.concurrency,
            r.seconds,
            EMAILS as f64 / r.seconds,
            per_email(r.jobs_cpu_secs),
            r.postgres_cpu_secs
                .map(per_email)
                .unwrap_or_else(|| "n/a (not on this machine)".into()),
            r.peak_mib
        );
    }
}

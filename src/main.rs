//! The mintbean server binary, plus the database maintenance commands `make` uses.

use std::process::ExitCode;

use mintbean::{AppState, app, graphql, http, telemetry};
use mintbean_core::{
    config::{Component, Config, Environment},
    db,
    seed::{self, AccountPasswords},
};

// jemalloc: large answers allocate many small objects across threads; see docs/benchmarks.md.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const USAGE_TEMPLATE: &str = "\
mintbean — Mintbean-compatible GraphQL server

USAGE:
    mintbean [COMMAND]

COMMANDS:
    serve      Serve GraphQL on HOST:PORT (default; GET /graphql opens the Playground)
               --with-worker (or JOBS_IN_SERVER=true): also run the job worker
               and scheduler in this process (small installs)
    setup      Create the database if missing, apply migrations, seed it if empty
               (with APP_ENV=production: no seeding)
    migrate    Apply pending migrations
    seed       Load development seed data into an empty database
    reset      DROP and recreate the database, migrate and seed (destroys all data!)
    schema     Print the GraphQL schema (SDL)
{TASK_USAGE}
    help       Show this message

With APP_ENV=production, `seed` and `reset` refuse to run unless given --allow-production;
the seeded accounts then get random passwords, printed once.

Configuration comes from environment variables and .env; see README.md.";

fn usage() -> String {
    USAGE_TEMPLATE.replace("{TASK_USAGE}", mintbean::tasks::cli::USAGE)
}

#[tokio::main]
async fn main() -> ExitCode {
    let command = std::env::args().nth(1).unwrap_or_else(|| "serve".into());
    if matches!(command.as_str(), "help" | "-h" | "--help") {
        println!("{}", usage());
        return ExitCode::SUCCESS;
    }
    let component = if command == "serve" {
        Component::Server
    } else {
        Component::Admin
    };
    let config = match Config::from_env(component) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    match run(&command, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: &str, config: Config) -> anyhow::Result<()> {
    let allow_production = std::env::args().any(|arg| arg == "--allow-production");
    let production = config.environment == Environment::Production;
    // Seeding creates accounts with published passwords, one of them an admin: never on a
    // production database by accident, and never with those passwords.
    let passwords = if production {
        AccountPasswords::Random
    } else {
        AccountPasswords::Development
    };
    if production && matches!(command, "seed" | "reset") && !allow_production {
        anyhow::bail!(
            "APP_ENV=production: `{command}` refused. Pass --allow-production to run it anyway \
             (seeded accounts then get random passwords, printed once)."
        );
    }
    match command {
        "serve" => serve(config).await,
        "setup" => {
            db::ensure_database(&config.database_url).await?;
            db::migrate(&config.database_url).await?;
            if production {
                println!(
                    "migrations applied; APP_ENV=production, so no seed data was loaded \
                     (`mintbean seed --allow-production` loads it with random passwords)"
                );
                return Ok(());
            }
            seed_database(config, passwords).await
        }
        "migrate" => {
            db::migrate(&config.database_url).await?;
            println!("migrations applied");
            Ok(())
        }
        "seed" => seed_database(config, passwords).await,
        "reset" => {
            db::recreate_database(&config.database_url).await?;
            db::migrate(&config.database_url).await?;
            seed_database(config, passwords).await
        }
        "schema" => {
            let connection = db::connect(&config.database_url, 1).await?;
            print!("{}", graphql::sdl(AppState::new(connection, config)?));
            Ok(())
        }
        "tokens" | "webhooks" => {
            let connection = db::connect(&config.database_url, 2).await?;
            let args: Vec<String> = std::env::args().skip(2).collect();
            if command == "tokens" {
                mintbean::tasks::cli::tokens(&connection, &args).await
            } else {
                mintbean::tasks::cli::webhooks(&connection, &config, &args).await
            }
        }
        other => anyhow::bail!("unknown command `{other}`\n\n{}", usage()),
    }
}

async fn seed_database(config: Config, passwords: AccountPasswords) -> anyhow::Result<()> {
    let connection = db::connect(&config.database_url, 2).await?;
    let state = AppState::new(connection, config)?;
    match seed::seed_if_empty(&state.db, &state.passwords, passwords).await? {
        seed::SeedOutcome::Seeded(accounts) => {
            println!("seed data loaded");
            print!("{}", seed::describe_accounts(&accounts));
        }
        seed::SeedOutcome::SkippedNotEmpty => {
            println!("database already has users; seed data not loaded");
            if passwords == AccountPasswords::Development {
                print!("{}", seed::describe_accounts(&seed::accounts(passwords)));
            }
        }
    }
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let address = std::net::SocketAddr::new(config.host, config.port);
    let with_worker = config.jobs.in_server || std::env::args().any(|arg| arg == "--with-worker");
    let connection =
        db::connect_with(&config.database_url, &db::PoolSettings::server(&config)).await?;
    let playground = config.graphql.playground;
    let state = AppState::new(connection, config)?;
    if state.config.weak_jwt_secret() {
        tracing::warn!(
            "JWT_SECRET is shorter than 16 characters (ALLOW_WEAK_JWT_SECRET=true): sessions can be \
             forged by guessing it; move to a long random secret once the Node backend is retired"
        );
    }
    mintbean_core::events::ensure_capture(&state.db, &state.config).await?;
    let listener = tokio::net::TcpListener::bind(address).await?;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let stopped = |mut stop: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    let worker = if with_worker {
        let pool = db::connect(&state.config.database_url, app::pool_size(&state.config)).await?;
        tracing::info!("running the job worker and scheduler in the server process");
        Some(tokio::spawn(app::run_worker(
            pool,
            state.config.clone(),
            stopped(stop.clone()),
        )))
    } else {
        None
    };
    tokio::spawn(async move {
        mintbean::runtime::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    tracing::info!(%address, playground, "mintbean is serving GraphQL at /graphql");
    http::serve_until(state, listener, stopped(stop)).await?;
    if let Some(worker) = worker {
        worker.await??;
    }
    tracing::info!("server stopped");
    Ok(())
}

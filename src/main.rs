//! The mintbean server binary: the GraphQL server, the database maintenance commands `make`
//! uses, API tokens and webhook endpoints, and the job commands (`mintbean jobs …`, the same as
//! the `jobs` binary).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mintbean::{
    AppState, app,
    cli::{
        jobs::JobsCli,
        tokens::{TokensCommand, WebhooksCommand},
    },
    graphql, http, runtime, telemetry,
};
use mintbean_core::{
    config::{Component, Config, Environment},
    db,
    seed::{self, AccountPasswords},
};

// jemalloc: large answers allocate many small objects across threads; see docs/benchmarks.md.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// mintbean — Mintbean-compatible GraphQL server. Configuration comes from environment
/// variables and .env (README.md). With APP_ENV=production, `seed` and `reset` refuse to run
/// unless given --allow-production; the seeded accounts then get random passwords, printed once.
#[derive(Debug, Parser)]
#[command(name = "mintbean", version)]
struct Cli {
    /// Without a command: serve
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve GraphQL on HOST:PORT (GET /graphql opens GraphiQL outside production)
    Serve {
        /// Also run the job worker and scheduler in this process (small installs; or
        /// JOBS_IN_SERVER=true)
        #[arg(long)]
        with_worker: bool,
    },
    /// Create the database if missing, apply migrations, seed it if empty (not in production)
    Setup,
    /// Apply pending migrations
    Migrate,
    /// Load development seed data into an empty database
    Seed {
        /// Seed a production database too (random passwords, printed once)
        #[arg(long)]
        allow_production: bool,
    },
    /// DROP and recreate the database, migrate and seed (destroys all data!)
    Reset {
        /// Reset a production database too
        #[arg(long)]
        allow_production: bool,
    },
    /// Print the GraphQL schema (SDL)
    Schema,
    /// API tokens of the task API
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Webhook endpoints told when tasks finish
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// The job commands (the `jobs` binary): worker, stats, list, show, events, email, …
    Jobs(JobsCli),
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let cli: Cli = match mintbean::cli::parse("mintbean", &args) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let command = match cli.command.unwrap_or(Command::Serve { with_worker: false }) {
        Command::Jobs(jobs) => return mintbean::cli::jobs::run(jobs).await,
        other => other,
    };
    let component = match &command {
        Command::Serve { with_worker: true } => Component::ServerWithWorker,
        Command::Serve { .. } => Component::Server,
        _ => Component::Admin,
    };
    let config = match Config::from_env(component) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    match run(command, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("mintbean: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let production = config.environment == Environment::Production;
    // Seeding creates accounts with published passwords, one of them an admin: never on a
    // production database by accident, and never with those passwords.
    let passwords = if production {
        AccountPasswords::Random
    } else {
        AccountPasswords::Development
    };
    if let Command::Seed { allow_production }
    | Command::Reset {
        allow_production, ..
    } = &command
        && production
        && !allow_production
    {
        let name = if matches!(command, Command::Seed { .. }) {
            "seed"
        } else {
            "reset"
        };
        anyhow::bail!(
            "APP_ENV=production: `{name}` refused. Pass --allow-production to run it anyway \
             (seeded accounts then get random passwords, printed once)."
        );
    }
    match command {
        Command::Serve { with_worker } => serve(config, with_worker).await,
        Command::Setup => {
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
        Command::Migrate => {
            db::migrate(&config.database_url).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Seed { .. } => seed_database(config, passwords).await,
        Command::Reset { .. } => {
            db::recreate_database(&config.database_url).await?;
            db::migrate(&config.database_url).await?;
            seed_database(config, passwords).await
        }
        Command::Schema => {
            let connection = db::connect(&config.database_url, 1).await?;
            print!("{}", graphql::sdl(AppState::new(connection, config)?));
            Ok(())
        }
        Command::Tokens(command) => {
            let connection = db::connect(&config.database_url, 2).await?;
            mintbean::cli::tokens::tokens(&connection, command).await
        }
        Command::Webhooks(command) => {
            let connection = db::connect(&config.database_url, 2).await?;
            mintbean::cli::tokens::webhooks(&connection, &config, command).await
        }
        Command::Jobs(_) => unreachable!("run before the configuration is read"),
    }
}

async fn seed_database(config: Config, passwords: AccountPasswords) -> anyhow::Result<()> {
    let connection = db::connect(&config.database_url, 2).await?;
    let state = AppState::new(connection, config)?;
    match seed::seed_if_empty(&state.db, &state.passwords, passwords).await? {
        seed::SeedOutcome::Seeded(accounts) => {
            println!("seed data loaded");
            print!("{}", seed::describe_accounts("Seeded accounts", &accounts));
        }
        seed::SeedOutcome::SkippedNotEmpty => {
            println!("the database has users already, so no seed data was loaded");
            if passwords == AccountPasswords::Development {
                print!(
                    "{}",
                    seed::describe_accounts(
                        "The development accounts, unless changed since they were seeded",
                        &seed::accounts(passwords)
                    )
                );
            }
        }
    }
    Ok(())
}

async fn serve(config: Config, with_worker: bool) -> anyhow::Result<()> {
    let address = std::net::SocketAddr::new(config.host, config.port);
    let with_worker = config.jobs.in_server || with_worker;
    let connection =
        db::connect_with(&config.database_url, &db::PoolSettings::server(&config)).await?;
    let graphiql = config.graphql.graphiql;
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
        runtime::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    tracing::info!(%address, graphiql, "mintbean is serving GraphQL at /graphql");
    http::serve_until(state, listener, stopped(stop)).await?;
    if let Some(worker) = worker {
        worker.await??;
    }
    tracing::info!("server stopped");
    Ok(())
}

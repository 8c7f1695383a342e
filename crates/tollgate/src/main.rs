//! `tollgate`: the one binary. `serve` runs the console, the API and the workers; `migrate`
//! applies the database migrations; `admin` holds the operators' commands.

mod admin;
mod admin_usage;
mod cli;
mod config;
mod serve;

use clap::Parser;

use crate::cli::{Cli, Command};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::MockUpstream(args) = &cli.command {
        return mock_upstream(&args.listen).await;
    }
    let config = config::Config::load(&cli.global)?;
    match cli.command {
        Command::Serve(args) => serve::run(config, args).await,
        Command::Migrate => {
            let store = config.open_store().await?;
            store.migrate().await?;
            tracing::info!(database = %config.database_url_redacted(), "migrations applied");
            Ok(())
        }
        Command::Admin(cmd) => admin::run(&config, cmd).await,
        Command::MockUpstream(args) => mock_upstream(&args.listen).await,
    }
}

/// `tollgate mock-upstream`: the gateway's built-in mock over HTTP, until SIGTERM or Ctrl-C.
async fn mock_upstream(listen: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    let stats = std::sync::Arc::new(tollgate_server::gateway::mock::MockStats::default());
    tracing::info!("mock upstream listening: base_url = \"http://{addr}/v1\"");
    axum::serve(listener, tollgate_server::gateway::mock::router(stats))
        .with_graceful_shutdown(serve::shutdown_signal())
        .await?;
    Ok(())
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOLLGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    // Colours only on a terminal: log files and the tests that read the log get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
}

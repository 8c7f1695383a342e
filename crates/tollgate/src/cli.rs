use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "tollgate",
    version,
    about = "The self-hosted console, billing and gateway of an LLM inference API"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Settings every command understands. Each flag beats its environment variable, which beats
/// the TOML file, which beats the default.
#[derive(Args, Debug, Default)]
pub struct GlobalArgs {
    /// TOML configuration file.
    #[arg(long, global = true, env = "TOLLGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory for the SQLite database and the email outbox [default: ./data].
    #[arg(long, global = true, env = "TOLLGATE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// `sqlite:PATH` or `postgres://…` [default: sqlite:<data-dir>/tollgate.db].
    #[arg(long, global = true, env = "TOLLGATE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The model catalog (TOML) [default: the built-in example catalog].
    #[arg(long, global = true, env = "TOLLGATE_CATALOG")]
    pub catalog: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the console, API and background workers.
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Operator commands.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Serve the built-in mock model as an OpenAI-compatible server (for demos, benchmarks and
    /// tests): deterministic text, real `usage`, streaming; see docs/gateway.md.
    MockUpstream(MockUpstreamArgs),
}

#[derive(Args, Debug)]
pub struct MockUpstreamArgs {
    /// Address to listen on; port 0 picks a free port (logged).
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub listen: String,
}

#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:8080].
    #[arg(long, env = "TOLLGATE_LISTEN")]
    pub listen: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// The model catalog.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Operator tokens (inference servers report usage with them).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Credits.
    #[command(subcommand)]
    Credits(CreditsCommand),
    /// Subscription tiers: mark one Temporarily Sold Out without editing the catalog.
    #[command(subcommand)]
    Tier(TierCommand),
    /// Subscriptions of every organization.
    #[command(subcommand)]
    Subscriptions(SubscriptionsCommand),
    /// Usage analytics.
    #[command(subcommand)]
    Usage(UsageCommand),
}

#[derive(Subcommand, Debug)]
pub enum UsageCommand {
    /// Recompute the hourly and daily usage rollups from the raw usage records, for one
    /// organization or all, from `--since` (a date, UTC; default: the oldest day still kept).
    RebuildRollups {
        #[arg(long)]
        org: Option<String>,
        /// YYYY-MM-DD; not before the oldest raw records kept (`usage_retention_days`).
        #[arg(long)]
        since: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create an operator token for `POST /api/v1/usage`; it is printed once, only its
    /// SHA-256 is stored.
    Create { name: String },
}

#[derive(Subcommand, Debug)]
pub enum CreditsCommand {
    /// Give an organization promotional credits, e.g. `grant org_… 25.00 --expires 2027-01-01`.
    Grant {
        org_id: String,
        /// USD, e.g. `25` or `25.50`.
        amount: String,
        /// Expiry date (YYYY-MM-DD, UTC midnight) or RFC 3339 time; never by default.
        #[arg(long)]
        expires: Option<String>,
        /// Shown in the grant history.
        #[arg(long, default_value = "Promotional credits")]
        reason: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum CatalogCommand {
    /// Validate a catalog file: prints what it defines, or the line and reason it is refused.
    Check { file: PathBuf },
    /// Make every running server re-read its catalog file, through the database (after
    /// checking the configured catalog, if there is one). SIGHUP does the same for one server.
    Reload,
}

#[derive(Subcommand, Debug)]
pub enum TierCommand {
    /// `on`: Temporarily Sold Out, new subscriptions refused (existing ones continue); `off`:
    /// open, even when the catalog file marks it sold out. Applies to every server at once.
    SoldOut {
        model: String,
        tier: String,
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum SubscriptionsCommand {
    /// List subscriptions, oldest first.
    List {
        /// Only subscriptions to this model.
        #[arg(long)]
        model: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum OrgCommand {
    /// Show an organization.
    Show { org_id: String },
    /// Change an organization's type (the only way to do so).
    SetType {
        org_id: String,
        #[arg(value_parser = ["personal", "team", "enterprise"])]
        org_type: String,
    },
    /// Stop an organization's API keys (in every server within a second). The console stays
    /// open to its members.
    Suspend { org_id: String },
    /// Let a suspended organization's API keys work again.
    Resume { org_id: String },
}

//! `tollgate admin …`: operator commands, run against the database directly.

use std::io::Write;

use anyhow::Context;
use tollgate_domain::{Clock, OrgId, OrgType, SystemClock};
use tollgate_server::catalog::read_catalog;
use tollgate_store::{ChangeKind, Conflict, StoreError};

use crate::cli::{
    AdminCommand, CatalogCommand, CreditsCommand, LimitsCommand, OrgCommand, SubscriptionsCommand,
    TierCommand, TokenCommand, UsageCommand,
};
use crate::config::Config;

pub async fn run(config: &Config, cmd: AdminCommand) -> anyhow::Result<()> {
    match cmd {
        // Checking a file needs no database.
        AdminCommand::Catalog(CatalogCommand::Check { file }) => check_catalog(&file),
        AdminCommand::Catalog(CatalogCommand::Reload) => reload_catalog(config).await,
        AdminCommand::Org(cmd) => org(config, cmd).await,
        AdminCommand::Token(TokenCommand::Create { name }) => create_token(config, &name).await,
        AdminCommand::Credits(CreditsCommand::Grant {
            org_id,
            amount,
            expires,
            reason,
        }) => grant_credits(config, &org_id, &amount, expires.as_deref(), &reason).await,
        AdminCommand::Tier(cmd) => tier(config, cmd).await,
        AdminCommand::Subscriptions(cmd) => subscriptions(config, cmd).await,
        AdminCommand::Limits(cmd) => limits(config, cmd).await,
        AdminCommand::Usage(UsageCommand::RebuildRollups { org, since }) => {
            crate::admin_usage::rebuild_rollups(config, org.as_deref(), since.as_deref()).await
        }
    }
}

async fn create_token(config: &Config, name: &str) -> anyhow::Result<()> {
    let name = name.trim();
    anyhow::ensure!(
        !name.is_empty() && name.len() <= 100,
        "the token name must be 1 to 100 characters"
    );
    let store = config.open_store().await?;
    store.migrate().await.context("applying migrations")?;
    let (token, digest) = tollgate_server::service::usage::new_operator_token();
    let id = tollgate_domain::new_id(tollgate_domain::IdPrefix::OperatorToken);
    store
        .create_operator_token(&id, name, &digest, SystemClock.now_ms())
        .await
        .map_err(|e| match e {
            StoreError::Conflict(Conflict::OperatorTokenName) => {
                anyhow::anyhow!("an operator token named '{name}' exists already")
            }
            other => other.into(),
        })?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{token}")?;
    Ok(())
}

/// An organization's id as given on the command line, parsed where the organization is
/// looked up: a malformed one names no organization and is answered as an unknown one is.
fn org_id_arg(raw: &str) -> anyhow::Result<OrgId> {
    OrgId::parse(raw).with_context(|| format!("no organization {raw}"))
}

/// `YYYY-MM-DD` (UTC midnight) or RFC 3339, in milliseconds.
fn parse_expiry(raw: &str) -> anyhow::Result<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(t.timestamp_millis());
    }
    let date = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .with_context(|| format!("--expires '{raw}' is not a date like 2027-01-31"))?;
    Ok(date
        .and_hms_opt(0, 0, 0)
        .context("midnight")?
        .and_utc()
        .timestamp_millis())
}

async fn grant_credits(
    config: &Config,
    org_id: &str,
    amount: &str,
    expires: Option<&str>,
    reason: &str,
) -> anyhow::Result<()> {
    let amount =
        tollgate_domain::Money::parse_usd("amount", amount).map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!(amount.micros() > 0, "the amount must be positive");
    anyhow::ensure!(
        amount.micros() <= 1_000_000_000_000,
        "the amount is too large (at most 1,000,000 USD)"
    );
    let now = SystemClock.now_ms();
    let expires_at = expires.map(parse_expiry).transpose()?;
    if let Some(at) = expires_at {
        anyhow::ensure!(at > now, "--expires must be in the future");
    }
    let reason = reason.trim();
    anyhow::ensure!(
        !reason.is_empty() && reason.len() <= 200,
        "--reason must be 1 to 200 characters"
    );
    let store = config.open_store().await?;
    store.migrate().await.context("applying migrations")?;
    let org_id = &org_id_arg(org_id)?;
    store
        .org(org_id)
        .await?
        .with_context(|| format!("no organization {org_id}"))?;
    let key = format!(
        "admin:{}",
        tollgate_domain::new_id(tollgate_domain::IdPrefix::Grant)
    );
    let granted = store
        .grant_credits(
            org_id,
            &tollgate_store::NewGrant {
                source: tollgate_domain::ledger::GrantSource::Promotion,
                amount,
                expires_at,
                idempotency_key: &key,
                reference: None,
                description: reason,
            },
            now,
        )
        .await?;
    let mut out = std::io::stdout().lock();
    if let tollgate_store::Granted::Created(grant) = granted {
        let balance = store.credit_account(org_id).await?.balance;
        writeln!(
            out,
            "granted {} USD of promotional credits to {org_id} ({}); balance {} USD",
            amount, grant.id, balance
        )?;
    }
    Ok(())
}

fn check_catalog(file: &std::path::Path) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let catalog = read_catalog(file)?;
    writeln!(
        out,
        "{}: ok, {} models, {} subscription tiers",
        file.display(),
        catalog.models().len(),
        catalog.tier_count()
    )?;
    for m in catalog.models() {
        writeln!(
            out,
            "  {:<32} input {} / output {} USD per 1M tokens, {} tiers",
            m.id,
            m.pricing.input,
            m.pricing.output,
            m.tiers.len()
        )?;
    }
    Ok(())
}

async fn reload_catalog(config: &Config) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match &config.catalog {
        Some(path) => {
            let catalog = read_catalog(path).context("not signalling the servers")?;
            writeln!(
                out,
                "{}: ok, {} models",
                path.display(),
                catalog.models().len()
            )?;
        }
        None => writeln!(
            out,
            "no catalog is configured here; each server re-reads its own catalog file"
        )?,
    }
    let store = config.open_store().await?;
    store.migrate().await.context("applying migrations")?;
    store
        .signal_change(ChangeKind::Catalog, "", SystemClock.now_ms())
        .await?;
    writeln!(
        out,
        "running servers will reload their catalog within a second"
    )?;
    Ok(())
}

async fn org(config: &Config, cmd: OrgCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let store = config.open_store().await?;
    store.migrate().await.context("applying migrations")?;
    let now = SystemClock.now_ms();
    let no_org = |org_id: &OrgId| {
        let org_id = org_id.clone();
        move |e: StoreError| match e {
            StoreError::NotFound => anyhow::anyhow!("no organization {org_id}"),
            other => other.into(),
        }
    };
    match cmd {
        OrgCommand::Show { org_id } => {
            let org_id = org_id_arg(&org_id)?;
            let org = store
                .org(&org_id)
                .await?
                .with_context(|| format!("no organization {org_id}"))?;
            let members = store.count_members(&org.id).await?;
            let suspended = store.org_suspended_at(&org.id).await?;
            writeln!(out, "id:      {}", org.id)?;
            writeln!(out, "name:    {}", org.name)?;
            writeln!(out, "type:    {}", org.org_type)?;
            writeln!(
                out,
                "created: {}",
                tollgate_domain::clock::to_datetime(org.created_at).to_rfc3339()
            )?;
            writeln!(out, "members: {members}")?;
            if let Some(at) = suspended {
                writeln!(
                    out,
                    "suspended: {}",
                    tollgate_domain::clock::to_datetime(at).to_rfc3339()
                )?;
            }
        }
        OrgCommand::SetType { org_id, org_type } => {
            let org_type: OrgType = org_type.parse()?;
            let org_id = org_id_arg(&org_id)?;
            let org = store
                .set_org_type(&org_id, org_type)
                .await
                .map_err(no_org(&org_id))?;
            writeln!(out, "{} is now {}", org.id, org.org_type)?;
        }
        OrgCommand::Suspend { org_id } => {
            let org_id = org_id_arg(&org_id)?;
            store
                .set_org_suspended(&org_id, Some(now), now)
                .await
                .map_err(no_org(&org_id))?;
            writeln!(out, "{org_id} is suspended: its API keys stop working")?;
        }
        OrgCommand::Resume { org_id } => {
            let org_id = org_id_arg(&org_id)?;
            store
                .set_org_suspended(&org_id, None, now)
                .await
                .map_err(no_org(&org_id))?;
            writeln!(out, "{org_id} is resumed: its API keys work again")?;
        }
    }
    Ok(())
}

/// The catalog this command line is configured with (the example when none).
fn configured_catalog(config: &Config) -> anyhow::Result<tollgate_domain::Catalog> {
    Ok(match &config.catalog {
        Some(path) => read_catalog(path)?,
        None => tollgate_domain::Catalog::example(),
    })
}

async fn tier(config: &Config, cmd: TierCommand) -> anyhow::Result<()> {
    let TierCommand::SoldOut { model, tier, state } = cmd;
    let catalog = configured_catalog(config)?;
    let m = catalog
        .model(&model)
        .with_context(|| format!("no model {model} in the catalog"))?;
    let t = m
        .tiers
        .iter()
        .find(|t| t.id == tier)
        .with_context(|| format!("model {model} has no tier {tier}"))?;
    let sold_out = state == "on";
    let store = config.open_store().await?;
    store.migrate().await.context("applying migrations")?;
    store
        .set_tier_sold_out(&m.id, &t.id, Some(sold_out), SystemClock.now_ms())
        .await?;
    let mut out = std::io::stdout().lock();
    if sold_out {
        writeln!(
            out,
            "{model} {tier} is Temporarily Sold Out: new subscriptions are refused, existing ones continue"
        )?;
    } else {
        writeln!(
            out,
            "{model} {tier} is open to new subscriptions (up to its capacity)"
        )?;
    }
    Ok(())
}

async fn subscriptions(config: &Config, cmd: SubscriptionsCommand) -> anyhow::Result<()> {
    let SubscriptionsCommand::List { model } = cmd;
    let store = config.open_store().await?;
    store.migrate().await.context("applying migrations")?;
    let subs = store.all_subscriptions(model.as_deref()).await?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<28} {:<28} {:<28} {:<12} {:<10} {:<20} pending",
        "id", "organization", "model", "tier", "status", "period end"
    )?;
    for s in &subs {
        let pending = match (&s.pending_tier, s.cancel_at_period_end) {
            (_, true) => "cancel".to_owned(),
            (Some(t), false) => format!("-> {t}"),
            (None, false) => String::new(),
        };
        writeln!(
            out,
            "{:<28} {:<28} {:<28} {:<12} {:<10} {:<20} {pending}",
            s.id,
            s.org_id,
            s.model,
            s.tier,
            s.status.as_str(),
            tollgate_domain::clock::to_datetime(s.current_period_end)
                .format("%Y-%m-%d %H:%M")
                .to_string(),
        )?;
    }
    writeln!(out, "{} subscriptions", subs.len())?;
    Ok(())
}

async fn limits(config: &Config, cmd: LimitsCommand) -> anyhow::Result<()> {
    use tollgate_domain::limits::{resolve, Dimension, LimitSource, RateLimits};
    let catalog = configured_catalog(config)?;
    let store = config.open_store().await?;
    store.migrate().await.context("applying migrations")?;
    let org_id = match &cmd {
        LimitsCommand::Set { org_id, .. }
        | LimitsCommand::Show { org_id }
        | LimitsCommand::Clear { org_id, .. } => org_id_arg(org_id)?,
    };
    store
        .org(&org_id)
        .await?
        .with_context(|| format!("no organization {org_id}"))?;
    let overrides: std::collections::HashMap<String, RateLimits> =
        store.org_model_limits(&org_id).await?.into_iter().collect();
    let now = SystemClock.now_ms();
    let mut out = std::io::stdout().lock();
    match cmd {
        LimitsCommand::Set { model, limits, .. } => {
            let m = catalog
                .model(&model)
                .with_context(|| format!("no model {model} in the catalog"))?;
            let given =
                RateLimits::parse_assignments(&limits).map_err(|e| anyhow::anyhow!("{e}"))?;
            let merged = overrides
                .get(&m.id)
                .copied()
                .unwrap_or_default()
                .overlaid(&given);
            let details = serde_json::json!(merged
                .iter()
                .map(|(d, v)| (d.abbreviation(), v))
                .collect::<std::collections::BTreeMap<_, _>>());
            store
                .set_org_model_limits(
                    &org_id,
                    &m.id,
                    &merged,
                    now,
                    operator_audit("limits.override.set", &m.id, details),
                )
                .await?;
            writeln!(out, "{org_id} {}: {}", m.id, describe(&merged))?;
            writeln!(out, "running servers enforce it within a second")?;
        }
        LimitsCommand::Clear { model, .. } => {
            anyhow::ensure!(
                overrides.contains_key(&model),
                "{org_id} has no override for {model}"
            );
            store
                .set_org_model_limits(
                    &org_id,
                    &model,
                    &RateLimits::default(),
                    now,
                    operator_audit("limits.override.clear", &model, serde_json::json!({})),
                )
                .await?;
            writeln!(
                out,
                "{org_id} {model}: back to the tier's or the catalog's limits"
            )?;
        }
        LimitsCommand::Show { .. } => {
            for m in catalog.models() {
                let tier = store
                    .live_subscription(&org_id, &m.id)
                    .await?
                    .filter(|s| s.status.entitles())
                    .and_then(|s| m.tiers.iter().find(|t| t.id == s.tier));
                let (source, base) = match tier {
                    Some(t) => (LimitSource::Tier(t.id.clone()), RateLimits::from(t.limits)),
                    None => (LimitSource::PayAsYouGo, RateLimits::from(m.limits)),
                };
                let r = resolve(source, base, overrides.get(&m.id));
                writeln!(out, "{}", m.id)?;
                for d in Dimension::ALL {
                    let value = r.limits.get(d).map_or("-".to_owned(), |v| v.to_string());
                    let from = match r.source(d) {
                        LimitSource::Tier(t) => format!("tier {t}"),
                        LimitSource::PayAsYouGo => "pay-as-you-go".to_owned(),
                        LimitSource::Custom => "custom".to_owned(),
                    };
                    let from = if r.limits.get(d).is_some() {
                        from
                    } else {
                        String::new()
                    };
                    writeln!(out, "  {:<4}{value:>14}  {from}", d.to_string())?;
                }
            }
        }
    }
    Ok(())
}

fn describe(l: &tollgate_domain::limits::RateLimits) -> String {
    l.iter()
        .map(|(d, v)| format!("{}={v}", d.abbreviation()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// An operator's change in the organization's audit log.
fn operator_audit<'a>(
    action: &'a str,
    model: &'a str,
    details: serde_json::Value,
) -> tollgate_store::AuditEntry<'a> {
    tollgate_store::AuditEntry {
        actor_id: None,
        actor_email: Some("operator (tollgate admin)"),
        action,
        target_type: "model",
        target_id: model,
        details,
        ip: None,
    }
}

//! `tollgate admin …`: operator commands, run against the database directly.

use std::io::Write;

use anyhow::Context;
use tollgate_domain::{Clock, OrgType, SystemClock};
use tollgate_server::catalog::read_catalog;
use tollgate_store::{ChangeKind, StoreError};

use crate::cli::{AdminCommand, CatalogCommand, OrgCommand, SubscriptionsCommand, TierCommand};
use crate::config::Config;

pub async fn run(config: &Config, cmd: AdminCommand) -> anyhow::Result<()> {
    match cmd {
        // Checking a file needs no database.
        AdminCommand::Catalog(CatalogCommand::Check { file }) => check_catalog(&file),
        AdminCommand::Catalog(CatalogCommand::Reload) => reload_catalog(config).await,
        AdminCommand::Org(cmd) => org(config, cmd).await,
        AdminCommand::Tier(cmd) => tier(config, cmd).await,
        AdminCommand::Subscriptions(cmd) => subscriptions(config, cmd).await,
    }
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
    let no_org = |org_id: &str| {
        let org_id = org_id.to_owned();
        move |e: StoreError| match e {
            StoreError::NotFound => anyhow::anyhow!("no organization {org_id}"),
            other => other.into(),
        }
    };
    match cmd {
        OrgCommand::Show { org_id } => {
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
            let org = store
                .set_org_type(&org_id, org_type)
                .await
                .map_err(no_org(&org_id))?;
            writeln!(out, "{} is now {}", org.id, org.org_type)?;
        }
        OrgCommand::Suspend { org_id } => {
            store
                .set_org_suspended(&org_id, Some(now), now)
                .await
                .map_err(no_org(&org_id))?;
            writeln!(out, "{org_id} is suspended: its API keys stop working")?;
        }
        OrgCommand::Resume { org_id } => {
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

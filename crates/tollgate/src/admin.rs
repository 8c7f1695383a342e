//! `tollgate admin …`: operator commands, run against the database directly.

use std::io::Write;

use anyhow::Context;
use tollgate_domain::{Clock, OrgType, SystemClock};
use tollgate_server::catalog::read_catalog;
use tollgate_store::{ChangeKind, StoreError};

use crate::cli::{AdminCommand, CatalogCommand, OrgCommand};
use crate::config::Config;

pub async fn run(config: &Config, cmd: AdminCommand) -> anyhow::Result<()> {
    match cmd {
        // Checking a file needs no database.
        AdminCommand::Catalog(CatalogCommand::Check { file }) => check_catalog(&file),
        AdminCommand::Catalog(CatalogCommand::Reload) => reload_catalog(config).await,
        AdminCommand::Org(cmd) => org(config, cmd).await,
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

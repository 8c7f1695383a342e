//! `tollgate admin …`: operator commands, run against the database directly.

use std::io::Write;

use anyhow::Context;
use tollgate_domain::OrgType;

use crate::cli::{AdminCommand, OrgCommand};
use crate::config::Config;

pub async fn run(config: &Config, cmd: AdminCommand) -> anyhow::Result<()> {
    let store = config.open_store().await?;
    store.migrate().await.context("applying migrations")?;
    let mut out = std::io::stdout().lock();
    match cmd {
        AdminCommand::Org(OrgCommand::Show { org_id }) => {
            let org = store
                .org(&org_id)
                .await?
                .with_context(|| format!("no organization {org_id}"))?;
            let members = store.count_members(&org.id).await?;
            writeln!(out, "id:      {}", org.id)?;
            writeln!(out, "name:    {}", org.name)?;
            writeln!(out, "type:    {}", org.org_type)?;
            writeln!(
                out,
                "created: {}",
                tollgate_domain::clock::to_datetime(org.created_at).to_rfc3339()
            )?;
            writeln!(out, "members: {members}")?;
        }
        AdminCommand::Org(OrgCommand::SetType { org_id, org_type }) => {
            let org_type: OrgType = org_type.parse()?;
            let org = store
                .set_org_type(&org_id, org_type)
                .await
                .map_err(|e| match e {
                    tollgate_store::StoreError::NotFound => {
                        anyhow::anyhow!("no organization {org_id}")
                    }
                    other => other.into(),
                })?;
            writeln!(out, "{} is now {}", org.id, org.org_type)?;
        }
    }
    Ok(())
}

//! `tollgate admin usage rebuild-rollups`: recompute usage rollups from raw records.

use std::io::Write;

use anyhow::Context;
use tollgate_domain::clock::to_datetime;
use tollgate_domain::{Clock, OrgId, SystemClock};
use tollgate_server::jobs::housekeeping::usage_horizon;

fn date(ms: i64) -> String {
    to_datetime(ms).format("%Y-%m-%d").to_string()
}

use crate::config::Config;

pub async fn rebuild_rollups(
    config: &Config,
    org: Option<&str>,
    since: Option<&str>,
) -> anyhow::Result<()> {
    let retention = config.server()?.usage_retention_days;
    let horizon = usage_horizon(SystemClock.now_ms(), retention);
    let since = match since {
        None => horizon,
        Some(raw) => {
            let day = chrono::NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .with_context(|| format!("--since must be a date, YYYY-MM-DD (got '{raw}')"))?;
            day.and_utc().timestamp_millis()
        }
    };
    anyhow::ensure!(
        since >= horizon,
        "--since is before {}, the oldest day whose raw usage records are kept \
         (usage_retention_days = {retention}): rollups before it cannot be recomputed",
        date(horizon)
    );
    let store = config.open_store().await?;
    store.migrate().await.context("applying migrations")?;
    // A malformed id names no organization: answered as an unknown one is.
    let org_id = org
        .map(|raw| OrgId::parse(raw).with_context(|| format!("no organization '{raw}'")))
        .transpose()?;
    if let Some(org_id) = &org_id {
        anyhow::ensure!(
            store.org(org_id).await?.is_some(),
            "no organization '{org_id}'"
        );
    }
    let rows = store.rebuild_rollups(org_id.as_ref(), since).await?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "rebuilt {rows} rollup rows from {} for {}",
        date(since),
        org.unwrap_or("every organization")
    )?;
    Ok(())
}

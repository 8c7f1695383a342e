//! Reading one stored usage record back whole, by its id (the gateway's `x-request-id`).

use sqlx::Row;
use tollgate_domain::usage::UsageCost;
use tollgate_domain::{CallerId, OrgId, ProjectId, RequestId};

use crate::error::corrupt;
use crate::{Result, Store, UsageRecord};

impl Store {
    pub async fn find_usage_record(&self, id: &RequestId) -> Result<Option<UsageRecord>> {
        let Some(row) = sqlx::query(
            "SELECT id, org_id, project_id, key_id, model, input_tokens, cached_input_tokens, \
                    output_tokens, cost_picos, plan, status, latency_ms, ttft_ms, estimated, occurred_at \
             FROM usage_records WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let plan: String = row.try_get("plan")?;
        let plan = match plan.as_str() {
            "payg" => "payg",
            "subscription" => "subscription",
            other => return Err(corrupt(format!("usage record {id} has plan '{other}'"))),
        };
        let estimated: i64 = row.try_get("estimated")?;
        let picos: i64 = row.try_get("cost_picos")?;
        let cost = UsageCost::from_picos(picos)
            .ok_or_else(|| corrupt(format!("usage record {id} has cost_picos {picos}")))?;
        Ok(Some(UsageRecord {
            id: row.try_get("id")?,
            org_id: OrgId::from_stored(row.try_get("org_id")?),
            project_id: ProjectId::from_stored(row.try_get("project_id")?),
            key_id: CallerId::from_stored(row.try_get("key_id")?),
            model: row.try_get("model")?,
            input_tokens: row.try_get("input_tokens")?,
            cached_input_tokens: row.try_get("cached_input_tokens")?,
            output_tokens: row.try_get("output_tokens")?,
            cost,
            plan,
            status: row.try_get("status")?,
            latency_ms: row.try_get("latency_ms")?,
            ttft_ms: row.try_get("ttft_ms")?,
            estimated: estimated != 0,
            occurred_at: row.try_get("occurred_at")?,
        }))
    }
}

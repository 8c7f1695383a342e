//! What an organization has done of its first steps (the Overview's "getting started"
//! checklist): each answered by one index probe, never by counting.

use sqlx::Row;

use tollgate_domain::OrgId;

use crate::{Result, Store};

/// Which first steps an organization has taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FirstSteps {
    /// An API key was created (revoked ones count).
    pub key_created: bool,
    /// A credit grant was ever added (bought, recharged, granted).
    pub credits_added: bool,
    /// A request was recorded (the rollups hold usage).
    pub first_request: bool,
}

impl Store {
    pub async fn first_steps(&self, org_id: &OrgId) -> Result<FirstSteps> {
        let row = sqlx::query(
            "SELECT \
             (SELECT COUNT(*) FROM (SELECT 1 AS x FROM api_keys WHERE org_id = $1 LIMIT 1) k) AS keys, \
             (SELECT COUNT(*) FROM (SELECT 1 AS x FROM credit_grants WHERE org_id = $1 LIMIT 1) g) AS grants, \
             (SELECT COUNT(*) FROM (SELECT 1 AS x FROM usage_rollups WHERE org_id = $1 LIMIT 1) u) AS used",
        )
        .bind(org_id.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(FirstSteps {
            key_created: row.try_get::<i64, _>("keys")? > 0,
            credits_added: row.try_get::<i64, _>("grants")? > 0,
            first_request: row.try_get::<i64, _>("used")? > 0,
        })
    }
}

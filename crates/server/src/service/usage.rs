//! Usage reported by external inference servers with an operator token: each record priced
//! from the catalog at the price in force (nothing, plan `subscription`, when a subscription
//! of the organization covers the model), stored and debited exactly once (the record id),
//! then auto-recharge checked for the organizations it touched. Every record is checked on its
//! own against the bounds of `tollgate_domain::usage` (tokens, time) and rejected alone.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde::Deserialize;
use tollgate_domain::ledger::{usage_cost, TokenCounts, TokenPrices, UsageCost};
use tollgate_domain::secret;
use tollgate_domain::usage::check_occurred_at;
use tollgate_domain::{ApiKeyId, CallerId, OrgId, ProjectId, ValidationError};
use tollgate_store::UsageRecord;

use crate::app::App;
use crate::service::{ServiceError, ServiceResult};

/// The prefix of operator tokens, so that a leaked one is recognisable.
pub const OPERATOR_TOKEN_PREFIX: &str = "tgop_";

/// A new operator token and the digest to store.
pub fn new_operator_token() -> (String, String) {
    let token = format!("{OPERATOR_TOKEN_PREFIX}{}", secret::new_token());
    let digest = secret::digest(&token);
    (token, digest)
}

/// One record as an inference server sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordInput {
    id: String,
    key_id: String,
    model: String,
    input_tokens: i64,
    #[serde(default)]
    cached_input_tokens: i64,
    output_tokens: i64,
    /// Unix seconds, or RFC 3339.
    timestamp: serde_json::Value,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    latency_ms: Option<i64>,
}

#[derive(Debug, Default, serde::Serialize, utoipa::ToSchema)]
pub struct UsageReport {
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: Vec<Rejected>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Rejected {
    /// The record's id (empty when it had none).
    pub id: String,
    pub reason: String,
}

/// Most records in one report.
pub const MAX_RECORDS: usize = 5_000;

/// The longest `status` a record may carry.
const MAX_STATUS_LEN: usize = 64;

/// The longest `latency_ms` a record may carry: a day.
const MAX_LATENCY_MS: i64 = 86_400_000;

/// Bounds of a record's free-form details: `status` 1–64 printable ASCII characters,
/// `latency_ms` 0 to a day.
fn check_details(status: Option<&str>, latency_ms: Option<i64>) -> Result<(), ValidationError> {
    if let Some(s) = status {
        if s.is_empty() || s.len() > MAX_STATUS_LEN || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ValidationError::new(
                "status",
                format!("status must be 1 to {MAX_STATUS_LEN} printable ASCII characters"),
            ));
        }
    }
    if latency_ms.is_some_and(|l| !(0..=MAX_LATENCY_MS).contains(&l)) {
        return Err(ValidationError::new(
            "latency_ms",
            format!("latency_ms must be between 0 and {MAX_LATENCY_MS}"),
        ));
    }
    Ok(())
}

fn timestamp_ms(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => n.as_i64().and_then(|s| s.checked_mul(1000)),
        serde_json::Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|d| d.timestamp_millis()),
        _ => None,
    }
}

impl App {
    /// Checks an operator token (`Authorization: Bearer tgop_…`).
    pub async fn operator(&self, token: &str) -> ServiceResult<String> {
        if !token.starts_with(OPERATOR_TOKEN_PREFIX) {
            return Err(ServiceError::Unauthenticated);
        }
        self.store
            .operator_token_by_hash(&secret::digest(token))
            .await?
            .ok_or(ServiceError::Unauthenticated)
    }

    /// Prices and records a batch of usage; see the module documentation.
    pub async fn report_usage(
        self: &Arc<Self>,
        records: Vec<serde_json::Value>,
    ) -> ServiceResult<UsageReport> {
        if records.len() > MAX_RECORDS {
            return Err(ServiceError::BadRequest {
                code: "too_many_records",
                message: format!("At most {MAX_RECORDS} records per report."),
            });
        }
        let catalog = self.catalog.current();
        let now = self.now();
        let mut report = UsageReport::default();
        let mut owners: HashMap<ApiKeyId, Option<(OrgId, ProjectId)>> = HashMap::new();
        let mut priced = Vec::with_capacity(records.len());
        let mut seen = BTreeSet::new();
        for raw in records {
            let raw_id = raw
                .get("id")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned();
            let mut reject = |reason: String| {
                report.rejected.push(Rejected {
                    id: raw_id.clone(),
                    reason,
                })
            };
            let r: RecordInput = match serde_json::from_value(raw) {
                Ok(r) => r,
                Err(e) => {
                    reject(format!("malformed record: {e}"));
                    continue;
                }
            };
            if r.id.is_empty() || r.id.len() > 200 || !r.id.bytes().all(|b| b.is_ascii_graphic()) {
                reject("id must be 1 to 200 printable ASCII characters".into());
                continue;
            }
            if !seen.insert(r.id.clone()) {
                report.duplicates += 1;
                continue;
            }
            let Some(occurred_at) = timestamp_ms(&r.timestamp) else {
                reject("timestamp must be unix seconds or RFC 3339".into());
                continue;
            };
            if let Err(e) = check_occurred_at(occurred_at, now) {
                reject(e.message);
                continue;
            }
            if let Err(e) = check_details(r.status.as_deref(), r.latency_ms) {
                reject(e.message);
                continue;
            }
            let Some(model) = catalog.model(&r.model) else {
                reject(format!("unknown model '{}'", r.model));
                continue;
            };
            // Each record's key is read here: a malformed one rejects that record alone.
            let owner = match ApiKeyId::parse(&r.key_id) {
                Some(key_id) => match owners.get(&key_id) {
                    Some(o) => o.clone().map(|o| (key_id, o)),
                    None => {
                        let o = self.store.key_owner(&key_id).await?;
                        owners.insert(key_id.clone(), o.clone());
                        o.map(|o| (key_id, o))
                    }
                },
                None => None,
            };
            let Some((key_id, (org_id, project_id))) = owner else {
                reject(format!("unknown key '{}'", r.key_id));
                continue;
            };
            let tokens = TokenCounts {
                input: r.input_tokens,
                cached_input: r.cached_input_tokens,
                output: r.output_tokens,
            };
            let costed = tokens
                .check(model.context_length)
                .and_then(|t| usage_cost(TokenPrices::from(model.pricing), t));
            let cost = match costed {
                Ok(c) => c,
                Err(e) => {
                    reject(e.message);
                    continue;
                }
            };
            // A subscription covering the model bills nothing per token: pay-as-you-go never
            // combines with a subscription on the same model.
            let plan = self.entitlement(&org_id, &r.model).await?.plan();
            let cost = if plan == "subscription" {
                UsageCost::ZERO
            } else {
                cost
            };
            priced.push(UsageRecord {
                id: r.id,
                org_id,
                project_id,
                key_id: CallerId::ApiKey(key_id),
                model: r.model,
                input_tokens: r.input_tokens,
                cached_input_tokens: r.cached_input_tokens,
                output_tokens: r.output_tokens,
                cost,
                plan,
                status: r.status.unwrap_or_else(|| "ok".to_owned()),
                latency_ms: r.latency_ms,
                ttft_ms: None,
                estimated: false,
                occurred_at,
            });
        }
        let recorded = self.store.record_usage(&priced, now).await?;
        report.accepted = recorded.accepted;
        report.duplicates += recorded.duplicates;
        report.rejected.extend(
            recorded
                .rejected
                .into_iter()
                .map(|(id, reason)| Rejected { id, reason }),
        );
        let orgs: BTreeSet<OrgId> = priced.into_iter().map(|r| r.org_id).collect();
        self.after_usage(orgs);
        Ok(report)
    }

    /// Checks auto-recharge for organizations whose credit just went down, in the background:
    /// the inference server's report does not wait for a card charge.
    pub fn after_usage(self: &Arc<Self>, orgs: BTreeSet<OrgId>) {
        for org_id in orgs {
            let app = self.clone();
            let alerting = org_id.clone();
            self.background
                .spawn("spend alerts after usage", async move {
                    app.send_spend_alerts(&alerting)
                        .await
                        .map_err(|e| anyhow::anyhow!("org {alerting}: {e}"))
                });
            let app = self.clone();
            self.background
                .spawn("auto-recharge after usage", async move {
                    app.maybe_auto_recharge(&org_id)
                        .await
                        .map(|_| ())
                        .map_err(|e| anyhow::anyhow!("org {org_id}: {e}"))
                });
        }
    }
}

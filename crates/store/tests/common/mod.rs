//! Helpers shared by the store tests: users and organizations, audit entries, usage records.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use tollgate_domain::ledger::UsageCost;
use tollgate_domain::usage::PICOS_PER_MICRO;
use tollgate_domain::{CallerId, Email, Name, OrgId, ProjectId};
use tollgate_store::{AuditEntry, NewUser, Org, Store, UsageRecord, User};

pub const NOW: i64 = 1_790_000_000_000;

pub fn audit(action: &str) -> AuditEntry<'_> {
    AuditEntry {
        actor_id: None,
        actor_email: None,
        action,
        target_type: "project",
        target_id: "",
        details: json!({}),
        ip: None,
    }
}

pub fn name(s: &str) -> Name {
    Name::parse("name", s).unwrap()
}

pub async fn new_user(store: &Store, email: &str) -> (User, Org) {
    let email = Email::parse(email).unwrap();
    store
        .create_user(
            NewUser {
                email: &email,
                name: &name("Ada"),
                password_hash: "hash",
            },
            &name("Ada's org"),
            NOW,
        )
        .await
        .unwrap()
}

/// A pay-as-you-go usage record of `micros` µUSD for `org` (project `prj_x`, key `key_x`),
/// occurred `at`.
pub fn usage_record(org: &OrgId, id: &str, micros: i64, at: i64) -> UsageRecord {
    UsageRecord {
        id: id.into(),
        org_id: org.clone(),
        project_id: ProjectId::from_stored("prj_x".into()),
        key_id: CallerId::from_stored("key_x".into()),
        model: "m".into(),
        input_tokens: 10,
        cached_input_tokens: 0,
        output_tokens: 5,
        cost: UsageCost::from_picos(micros * PICOS_PER_MICRO).unwrap(),
        plan: "payg",
        status: "ok".into(),
        latency_ms: Some(12),
        ttft_ms: None,
        estimated: false,
        occurred_at: at,
    }
}

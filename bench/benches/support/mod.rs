//! What several benchmarks set up the same way.
#![allow(dead_code)]

use tollgate_domain::api_key::NewApiKey;
use tollgate_domain::{Email, Name};
use tollgate_store::{AuditEntry, NewKey, NewUser, Store};

/// A user with an organization and one API key in its Default project: (org id, full key).
pub async fn one_key(store: &Store) -> anyhow::Result<(tollgate_domain::OrgId, String)> {
    let (user, org) = store
        .create_user(
            NewUser {
                email: &Email::parse("bench@example.com")?,
                name: &Name::parse("name", "Bench")?,
                password_hash: "not used",
            },
            &Name::parse("name", "Bench org")?,
            0,
        )
        .await?;
    let project = store
        .default_project(&org.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no Default project"))?;
    let new = NewApiKey::generate();
    store
        .create_api_key(
            NewKey {
                org_id: &org.id,
                project_id: &project.id,
                name: &Name::parse("name", "bench")?,
                public_id: &new.public_id,
                secret_hash: &new.secret_digest,
                created_by: &user.id,
            },
            0,
            AuditEntry {
                actor_id: None,
                actor_email: None,
                action: "api_key.create",
                target_type: "api_key",
                target_id: "",
                details: serde_json::json!({}),
                ip: None,
            },
        )
        .await?;
    Ok((org.id, new.full))
}

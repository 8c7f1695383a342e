//! Helpers shared by the store tests of projects, keys and the change log.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use tollgate_domain::{Email, Name};
use tollgate_store::{AuditEntry, NewUser, Org, Store, User};

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

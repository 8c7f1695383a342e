//! The console Playground's credential (docs/decisions/0019-playground-pass.md).
//!
//! A Playground chat goes through the gateway's own admission (`gateway::chat_as`) under a
//! *pass*: a credential the server mints for one session and one project, kept in this
//! process's memory for `PASS_TTL_MS`, and never sent to the browser — the browser holds only
//! its session cookie and the page's CSRF token. Every chat checks again that the session's user
//! may use keys in the project (`ProjectAction::ManageKeys`), that the project is not archived
//! and the organization not suspended, and reads the project's model allow-list, so a pass
//! never outlives the permission it stands for. The pass's id is the `key_id` of the usage
//! records, so a sitting's requests can be told apart from an API key's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tollgate_domain::{CallerId, OrgId, PlaygroundPassId, ProjectId, RequestId};

use tollgate_domain::secret::digest;
use tollgate_domain::{ProjectAction, Timestamp};
use tollgate_store::UsageRecord;

use crate::app::App;
use crate::auth::CurrentSession;
use crate::keys::KeyIdentity;
use crate::service::{ServiceError, ServiceResult};

/// How long one pass lasts; the next chat after that mints a new one.
pub const PASS_TTL_MS: i64 = 5 * 60_000;
/// Passes kept at most; expired ones are dropped when the map grows past this.
const MAX_PASSES: usize = 10_000;

/// The passes minted by this process, by (session digest, project).
#[derive(Default)]
pub struct PlaygroundPasses {
    passes: Mutex<HashMap<(String, String), (PlaygroundPassId, Timestamp)>>,
}

impl PlaygroundPasses {
    /// The id of the live pass for `session_digest` and `project_id`, minted when there is none.
    fn pass_id(
        &self,
        session_digest: String,
        project_id: &str,
        now: Timestamp,
    ) -> PlaygroundPassId {
        let mut passes = self.passes.lock().unwrap_or_else(PoisonError::into_inner);
        if passes.len() >= MAX_PASSES {
            passes.retain(|_, (_, expires)| *expires > now);
        }
        let key = (session_digest, project_id.to_owned());
        match passes.get(&key) {
            Some((id, expires)) if *expires > now => id.clone(),
            _ => {
                let id = PlaygroundPassId::generate();
                passes.insert(key, (id.clone(), now.saturating_add(PASS_TTL_MS)));
                id
            }
        }
    }
}

impl App {
    /// The identity a Playground chat of `session` in `project_id` is admitted under.
    pub async fn playground_pass(
        &self,
        session: &CurrentSession,
        org_id: &OrgId,
        project_id: &ProjectId,
    ) -> ServiceResult<Arc<KeyIdentity>> {
        let access = self
            .project_access(&session.user, org_id, project_id, ProjectAction::ManageKeys)
            .await?;
        if access.project.is_archived() {
            return Err(ServiceError::Conflict {
                code: "project_archived",
                message: "This project is archived: it cannot call models.".to_owned(),
            });
        }
        if self.store.org_suspended_at(org_id).await?.is_some() {
            return Err(ServiceError::Denied {
                code: "org_suspended",
                message: "This organization has been suspended; contact support.".to_owned(),
            });
        }
        let allowed_models = self.store.project_models(org_id, project_id).await?;
        let key_id = self
            .playground
            .pass_id(digest(&session.token), project_id, self.now());
        Ok(Arc::new(KeyIdentity {
            key_id: CallerId::Playground(key_id),
            org_id: access.project.org_id,
            project_id: access.project.id,
            allowed_models,
        }))
    }

    /// The stored usage record of a Playground chat (`None` until metering has written it),
    /// for someone who may see its project.
    pub async fn playground_usage(
        &self,
        session: &CurrentSession,
        org_id: &OrgId,
        request_id: &RequestId,
    ) -> ServiceResult<Option<UsageRecord>> {
        self.org_access(&session.user, org_id).await?;
        let Some(record) = self.store.find_usage_record(request_id).await? else {
            return Ok(None);
        };
        if record.org_id != *org_id {
            return Err(ServiceError::NotFound("request"));
        }
        self.project_access(
            &session.user,
            org_id,
            &record.project_id,
            ProjectAction::View,
        )
        .await
        .map_err(|_| ServiceError::NotFound("request"))?;
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_lasts_its_ttl_per_session_and_project() {
        let passes = PlaygroundPasses::default();
        let a = passes.pass_id("s1".into(), "prj_a", 1_000);
        assert!(a.starts_with("pgp_"));
        assert_eq!(
            passes.pass_id("s1".into(), "prj_a", 1_000 + PASS_TTL_MS - 1),
            a
        );
        assert_ne!(
            passes.pass_id("s2".into(), "prj_a", 1_000),
            a,
            "another session"
        );
        assert_ne!(
            passes.pass_id("s1".into(), "prj_b", 1_000),
            a,
            "another project"
        );
        assert_ne!(
            passes.pass_id("s1".into(), "prj_a", 1_000 + PASS_TTL_MS),
            a,
            "expired: a new pass"
        );
    }
}

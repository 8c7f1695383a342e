//! Members of an organization: the Members page's operations, for org admins only.

use serde_json::json;
use tollgate_domain::{IdPrefix, OrgAction, OrgRole, ValidationError};
use tollgate_domain::{OrgId, UserId};
use tollgate_store::{Conflict, Member, StoreError, User};

use crate::app::App;
use crate::auth::ClientInfo;
use crate::service::{audit, keys_lost_audit, page_of, Page, ServiceError, ServiceResult};

fn last_admin() -> ServiceError {
    ServiceError::Conflict {
        code: "last_admin",
        message: "An organization must keep at least one Organization Admin: make someone else an admin first."
            .to_owned(),
    }
}

fn member_error(e: StoreError) -> ServiceError {
    match e {
        StoreError::Conflict(Conflict::LastAdmin) => last_admin(),
        StoreError::NotFound => ServiceError::NotFound("member"),
        other => other.into(),
    }
}

impl App {
    pub async fn list_members(
        &self,
        user: &User,
        org_id: &OrgId,
        search: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> ServiceResult<Page<Member>> {
        self.org_access_for(user, org_id, OrgAction::ManageMembers)
            .await?;
        if let Some(q) = search {
            if q.chars().count() > 200 || q.contains('\0') {
                return Err(ValidationError::new("q", "The search is too long.").into());
            }
        }
        page_of(after, IdPrefix::User, limit, |page| {
            self.store.list_members(org_id, search, page)
        })
        .await
    }

    pub async fn change_member_role(
        &self,
        user: &User,
        org_id: &OrgId,
        member_id: &UserId,
        role: &str,
        client: &ClientInfo,
    ) -> ServiceResult<Member> {
        self.org_access_for(user, org_id, OrgAction::ManageMembers)
            .await?;
        let role: OrgRole = role.parse()?;
        let before = self
            .store
            .member(org_id, member_id)
            .await?
            .ok_or(ServiceError::NotFound("member"))?;
        let audit = audit(
            user,
            client,
            "member.role_change",
            "user",
            member_id,
            json!({"email": before.email, "from": before.role.as_str(), "to": role.as_str()}),
        );
        self.store
            .set_member_role(org_id, member_id, role, self.now(), audit)
            .await
            .map_err(member_error)
    }

    pub async fn remove_member(
        &self,
        user: &User,
        org_id: &OrgId,
        member_id: &UserId,
        client: &ClientInfo,
    ) -> ServiceResult<Member> {
        self.org_access_for(user, org_id, OrgAction::ManageMembers)
            .await?;
        let before = self
            .store
            .member(org_id, member_id)
            .await?
            .ok_or(ServiceError::NotFound("member"))?;
        let audit = audit(
            user,
            client,
            "member.remove",
            "user",
            member_id,
            json!({"email": before.email, "role": before.role.as_str()}),
        );
        let keys_audit = keys_lost_audit(user, client, member_id, "removed_from_organization");
        let (removed, revoked) = self
            .store
            .remove_member(org_id, member_id, self.now(), audit, keys_audit)
            .await
            .map_err(member_error)?;
        self.forget_keys(&revoked);
        Ok(removed)
    }
}

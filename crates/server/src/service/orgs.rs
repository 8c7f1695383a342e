//! Organizations: access checks, creation and renaming.

use serde_json::json;
use tollgate_domain::ids::is_well_formed;
use tollgate_domain::{allows, IdPrefix, Name, OrgAction};
use tollgate_store::{Membership, Org, User};

use crate::app::App;
use crate::auth::ClientInfo;
use crate::service::{audit, not_found_as, ServiceError, ServiceResult};

impl App {
    /// The caller's membership of `org_id`. Unknown organizations and organizations the user
    /// does not belong to both answer `NotFound`, so ids of others are never confirmed.
    pub async fn org_access(&self, user: &User, org_id: &str) -> ServiceResult<Membership> {
        if !is_well_formed(IdPrefix::Org, org_id) {
            return Err(ServiceError::NotFound("organization"));
        }
        self.store
            .membership(org_id, &user.id)
            .await?
            .ok_or(ServiceError::NotFound("organization"))
    }

    /// `org_access` plus the permission check for `action`.
    pub async fn org_access_for(
        &self,
        user: &User,
        org_id: &str,
        action: OrgAction,
    ) -> ServiceResult<Membership> {
        let membership = self.org_access(user, org_id).await?;
        if allows(membership.role, action) {
            Ok(membership)
        } else {
            Err(ServiceError::Forbidden(action))
        }
    }

    pub async fn create_org(
        &self,
        user: &User,
        name: &str,
        client: &ClientInfo,
    ) -> ServiceResult<Org> {
        let name = Name::parse("name", name)?;
        let org = self
            .store
            .create_org(
                &user.id,
                &name,
                self.now(),
                audit(
                    user,
                    client,
                    "organization.create",
                    "organization",
                    "",
                    json!({ "name": name.as_str() }),
                ),
            )
            .await?;
        Ok(org)
    }

    pub async fn rename_org(
        &self,
        user: &User,
        org_id: &str,
        name: &str,
        client: &ClientInfo,
    ) -> ServiceResult<Org> {
        let membership = self
            .org_access_for(user, org_id, OrgAction::RenameOrg)
            .await?;
        let name = Name::parse("name", name)?;
        let org = self
            .store
            .rename_org(
                org_id,
                &name,
                self.now(),
                audit(
                    user,
                    client,
                    "organization.rename",
                    "organization",
                    org_id,
                    json!({ "from": membership.org.name, "to": name.as_str() }),
                ),
            )
            .await
            .map_err(not_found_as("organization"))?;
        Ok(org)
    }
}

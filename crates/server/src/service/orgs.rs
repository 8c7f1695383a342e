//! Organizations: access checks, creation and renaming.

use serde_json::json;
use tollgate_domain::OrgId;
use tollgate_domain::{allows, Name, OrgAction};
use tollgate_store::{Membership, Org, User};

use crate::app::App;
use crate::auth::ClientInfo;
use crate::service::{audit, not_found_as, ServiceError, ServiceResult};

impl App {
    /// The caller's membership of `org_id`. Unknown organizations and organizations the user
    /// does not belong to both answer `NotFound`, so ids of others are never confirmed.
    ///
    /// This is the guard of every org-scoped page and endpoint reached with a session: while
    /// the organization requires two-factor sign-in, a member without it is refused with
    /// `TwoFactorRequired` (decision 0024). Gateway keys never come through here.
    pub async fn org_access(&self, user: &User, org_id: &OrgId) -> ServiceResult<Membership> {
        let membership = self
            .store
            .membership(org_id, &user.id)
            .await?
            .ok_or(ServiceError::NotFound("organization"))?;
        if membership.org.require_2fa && !self.store.totp_enabled(&user.id).await? {
            return Err(ServiceError::TwoFactorRequired {
                org_id: membership.org.id,
                org_name: membership.org.name,
            });
        }
        Ok(membership)
    }

    /// `org_access` plus the permission check for `action`.
    pub async fn org_access_for(
        &self,
        user: &User,
        org_id: &OrgId,
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
        org_id: &OrgId,
        name: &str,
        client: &ClientInfo,
    ) -> ServiceResult<Org> {
        self.update_org(user, org_id, Some(name), None, client)
            .await
    }

    /// Turns the organization's two-factor requirement on or off (org admins). Turning it on
    /// is refused while the admin herself has no two-factor sign-in: she would lock herself
    /// out (`two_factor_not_enabled`).
    pub async fn set_org_require_2fa(
        &self,
        user: &User,
        org_id: &OrgId,
        require: bool,
        client: &ClientInfo,
    ) -> ServiceResult<Org> {
        self.update_org(user, org_id, None, Some(require), client)
            .await
    }

    /// Renames the organization and/or sets its two-factor requirement. Every check (access,
    /// permission, name, the lockout rule) passes before anything is written, so a refused
    /// request changes nothing.
    pub async fn update_org(
        &self,
        user: &User,
        org_id: &OrgId,
        name: Option<&str>,
        require_2fa: Option<bool>,
        client: &ClientInfo,
    ) -> ServiceResult<Org> {
        let membership = self.org_access(user, org_id).await?;
        let permission = |action: OrgAction| {
            if allows(membership.role, action) {
                Ok(())
            } else {
                Err(ServiceError::Forbidden(action))
            }
        };
        if name.is_some() {
            permission(OrgAction::RenameOrg)?;
        }
        if require_2fa.is_some() {
            permission(OrgAction::RequireTwoFactor)?;
        }
        let name = name.map(|n| Name::parse("name", n)).transpose()?;
        if require_2fa == Some(true) && !self.store.totp_enabled(&user.id).await? {
            return Err(ServiceError::Conflict {
                code: "two_factor_not_enabled",
                message: "Turn on two-factor sign-in for your own account first (Account → \
                          Two-factor authentication): requiring it without having it would \
                          lock you out of the organization."
                    .to_owned(),
            });
        }
        let mut org = membership.org.clone();
        if let Some(name) = name {
            org = self
                .store_rename_org(user, &membership, &name, client)
                .await?;
        }
        if let Some(require) = require_2fa {
            let on_off = |b: bool| if b { "on" } else { "off" };
            org = self
                .store
                .set_org_require_2fa(
                    org_id,
                    require,
                    self.now(),
                    audit(
                        user,
                        client,
                        "organization.require_2fa",
                        "organization",
                        org_id,
                        json!({ "from": on_off(org.require_2fa), "to": on_off(require) }),
                    ),
                )
                .await
                .map_err(not_found_as("organization"))?;
        }
        Ok(org)
    }

    async fn store_rename_org(
        &self,
        user: &User,
        membership: &Membership,
        name: &Name,
        client: &ClientInfo,
    ) -> ServiceResult<Org> {
        let org_id = &membership.org.id;
        let org = self
            .store
            .rename_org(
                org_id,
                name,
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

//! Monthly spend limits of an organization, a project and an API key (DESIGN §2 "Usage and
//! rate limits", docs/limits.md): who may set them, their bounds, and the alert emails sent
//! when a month's spend reaches a threshold. The gateway enforces them through spend leases
//! (`metering`, decision 0018).

use serde_json::json;
use tollgate_domain::limits::spend::{check_limit, period_of, SpendScope, Thresholds};
use tollgate_domain::{ApiKeyId, OrgId, ProjectId};
use tollgate_domain::{Money, OrgAction, ProjectAction};
use tollgate_store::{SpendLimit, SpendUse, User};

use crate::app::App;
use crate::auth::ClientInfo;
use crate::email::templates::SpendAlert;
use crate::service::{audit, ServiceError, ServiceResult};

/// What a spend limit applies to, as the API and the console name it.
#[derive(Debug, Clone, Copy)]
pub enum SpendTarget<'a> {
    Organization,
    Project(&'a ProjectId),
    ApiKey {
        project_id: &'a ProjectId,
        key_id: &'a ApiKeyId,
    },
}

/// A limit with this month's use.
#[derive(Debug, Clone)]
pub struct SpendLimitView {
    pub limit: SpendLimit,
    /// `YYYY-MM`, UTC.
    pub period: String,
    pub used: SpendUse,
}

impl App {
    /// Checks that `user` may see (`manage` false) or set the limit of `target`, and returns
    /// its scope and id. Org admins manage every limit; project admins their project's keys'.
    async fn spend_target(
        &self,
        user: &User,
        org_id: &OrgId,
        target: SpendTarget<'_>,
        manage: bool,
    ) -> ServiceResult<(SpendScope, String)> {
        match target {
            SpendTarget::Organization => {
                let action = if manage {
                    OrgAction::ManageBilling
                } else {
                    OrgAction::ViewSettings
                };
                self.org_access_for(user, org_id, action).await?;
                Ok((SpendScope::Organization, org_id.to_string()))
            }
            SpendTarget::Project(project_id) => {
                if manage {
                    self.managed_project(user, org_id, project_id).await?;
                } else {
                    self.project_access(user, org_id, project_id, ProjectAction::View)
                        .await?;
                }
                Ok((SpendScope::Project, project_id.to_string()))
            }
            SpendTarget::ApiKey { project_id, key_id } => {
                let action = if manage {
                    ProjectAction::ManageKeys
                } else {
                    ProjectAction::View
                };
                self.project_access(user, org_id, project_id, action)
                    .await?;
                if self.store.api_key(project_id, key_id).await?.is_none() {
                    return Err(ServiceError::NotFound("API key"));
                }
                Ok((SpendScope::ApiKey, key_id.to_string()))
            }
        }
    }

    /// The limit of `target` with this month's use; `None` when it has none.
    pub async fn spend_limit(
        &self,
        user: &User,
        org_id: &OrgId,
        target: SpendTarget<'_>,
    ) -> ServiceResult<Option<SpendLimitView>> {
        let (scope, target_id) = self.spend_target(user, org_id, target, false).await?;
        let Some(limit) = self
            .store
            .spend_limits(org_id)
            .await?
            .into_iter()
            .find(|l| l.scope == scope && l.target_id == target_id)
        else {
            return Ok(None);
        };
        let period = period_of(self.now());
        let used = self.store.spend_use(scope, &target_id, &period).await?;
        Ok(Some(SpendLimitView {
            limit,
            period,
            used,
        }))
    }

    /// Sets the monthly limit of `target` (replacing any) with its alert thresholds
    /// (`None`: 50, 80 and 100 %). Every process enforces it within a second.
    pub async fn set_spend_limit(
        &self,
        user: &User,
        org_id: &OrgId,
        target: SpendTarget<'_>,
        monthly_limit: Money,
        thresholds: Option<Thresholds>,
        client: &ClientInfo,
    ) -> ServiceResult<SpendLimitView> {
        let (scope, target_id) = self.spend_target(user, org_id, target, true).await?;
        let monthly_limit = check_limit(monthly_limit)?;
        let thresholds = thresholds.unwrap_or_else(Thresholds::default_set);
        let limit = SpendLimit {
            scope,
            target_id: target_id.clone(),
            org_id: org_id.clone(),
            monthly_limit,
            thresholds: thresholds.clone(),
            updated_at: self.now(),
        };
        self.store
            .set_spend_limit(
                &limit,
                self.now(),
                audit(
                    user,
                    client,
                    "spend_limit.set",
                    scope.as_str(),
                    &target_id,
                    json!({
                        "monthly_limit": monthly_limit.to_usd_string(),
                        "alert_thresholds": thresholds.percents(),
                    }),
                ),
            )
            .await?;
        self.limits.settings.forget_org(org_id);
        let period = period_of(self.now());
        let used = self.store.spend_use(scope, &target_id, &period).await?;
        Ok(SpendLimitView {
            limit,
            period,
            used,
        })
    }

    /// Removes the limit of `target`; 404 when it has none.
    pub async fn delete_spend_limit(
        &self,
        user: &User,
        org_id: &OrgId,
        target: SpendTarget<'_>,
        client: &ClientInfo,
    ) -> ServiceResult<()> {
        let (scope, target_id) = self.spend_target(user, org_id, target, true).await?;
        let deleted = self
            .store
            .delete_spend_limit(
                org_id,
                scope,
                &target_id,
                self.now(),
                audit(
                    user,
                    client,
                    "spend_limit.delete",
                    scope.as_str(),
                    &target_id,
                    json!({}),
                ),
            )
            .await?;
        self.limits.settings.forget_org(org_id);
        if deleted {
            Ok(())
        } else {
            Err(ServiceError::NotFound("spend limit"))
        }
    }

    /// After usage of `org_id` was stored: emails the organization's admins for each threshold
    /// a limit's month has newly reached — once per limit, month and threshold, whatever the
    /// number of processes (`spend_alerts_sent`).
    pub async fn send_spend_alerts(&self, org_id: &OrgId) -> anyhow::Result<()> {
        let settings = self.limits.settings.get(&self.store, org_id).await?;
        if settings.spend.is_empty() {
            return Ok(());
        }
        let period = period_of(self.now());
        for limit in settings.spend.values() {
            let used = self
                .store
                .spend_use(limit.scope, &limit.target_id, &period)
                .await?;
            let reached = limit.thresholds.reached(used.spent, limit.monthly_limit);
            if reached.is_empty() {
                continue;
            }
            let sent = self
                .store
                .spend_alerts_sent(limit.scope, &limit.target_id, &period)
                .await?;
            for percent in reached.into_iter().filter(|p| !sent.contains(p)) {
                let target_name = self.spend_target_name(limit).await;
                let url = self.limits_url(org_id);
                let spent = used.spent.to_usd_string();
                let monthly = limit.monthly_limit.to_usd_string();
                let emails = self
                    .admin_emails(org_id, |to, org_name| {
                        self.mailer.render(
                            to,
                            &SpendAlert {
                                org_name,
                                target: &target_name,
                                percent,
                                spent: &spent,
                                monthly_limit: &monthly,
                                month: &period,
                                limits_url: &url,
                            },
                        )
                    })
                    .await;
                self.store
                    .send_spend_alert(
                        (limit.scope, &limit.target_id, &period),
                        percent,
                        &emails,
                        self.now(),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// How an alert names what the limit applies to.
    async fn spend_target_name(&self, limit: &SpendLimit) -> String {
        match limit.scope {
            SpendScope::Organization => "the organization".to_owned(),
            SpendScope::Project => match self
                .store
                // A project limit's target is a project id the store read back.
                .project_with_role(
                    &limit.org_id,
                    &ProjectId::from_stored(limit.target_id.clone()),
                    None,
                )
                .await
            {
                Ok(Some(p)) => format!("the project \"{}\"", p.project.name),
                _ => "a project".to_owned(),
            },
            SpendScope::ApiKey => format!("the API key {}", limit.target_id),
        }
    }

    fn limits_url(&self, org_id: &str) -> String {
        format!(
            "{}/o/{org_id}/settings",
            self.config.public_url.as_deref().unwrap_or("")
        )
    }
}

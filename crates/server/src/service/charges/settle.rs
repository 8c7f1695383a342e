//! Settling a charge: a success writes the payment, its grant and the ledger entry and emails
//! the receipt; a failure marks the payment failed and tells the organization's admins when
//! auto-recharge could not top it up.

use tollgate_domain::payment::PaymentKind;
use tollgate_domain::OrgId;
use tollgate_store::{OutgoingEmail, Payment, SettleEffects, Settled, Settlement};

use crate::app::App;
use crate::config::millis;
use crate::email::templates::{Receipt, RechargeFailed, RechargeSucceeded};
use crate::service::ServiceResult;

impl App {
    pub(super) fn billing_url(&self, org_id: &str) -> String {
        format!(
            "{}/o/{org_id}/billing",
            self.config.public_url.as_deref().unwrap_or("")
        )
    }

    pub(super) fn recharge_effects(&self) -> (i64, i64) {
        (
            self.config.billing.recharge_max_failures,
            millis(self.config.billing.recharge_backoff),
        )
    }

    /// Renders one email per org admin; a rendering failure is logged and skips that email
    /// rather than leave money unaccounted.
    pub(crate) async fn admin_emails(
        &self,
        org_id: &OrgId,
        render: impl Fn(&str, &str) -> Result<OutgoingEmail, crate::email::templates::RenderError>,
    ) -> Vec<OutgoingEmail> {
        let org_name = match self.store.org(org_id).await {
            Ok(Some(org)) => org.name,
            _ => String::new(),
        };
        let admins = self
            .store
            .org_admin_emails(org_id)
            .await
            .unwrap_or_default();
        admins
            .iter()
            .filter_map(|to| match render(to, &org_name) {
                Ok(m) => Some(m),
                Err(e) => {
                    tracing::error!(error = %e, "billing email not rendered");
                    None
                }
            })
            .collect()
    }

    pub(super) async fn settle_succeeded(
        &self,
        payment: &Payment,
        provider_payment_id: &str,
    ) -> ServiceResult<Settled> {
        let now = self.now();
        let amount = payment.amount.to_usd_string();
        let url = self.billing_url(&payment.org_id);
        let emails = match payment.kind {
            PaymentKind::Purchase => {
                self.admin_emails(&payment.org_id, |to, org_name| {
                    self.mailer.render(
                        to,
                        &Receipt {
                            org_name,
                            receipt_number: &payment.id,
                            description: &payment.description,
                            amount: &amount,
                            paid_at: now,
                            payment_method: &payment.payment_method,
                            billing_url: &url,
                        },
                    )
                })
                .await
            }
            PaymentKind::AutoRecharge => {
                let balance = self.store.credit_account(&payment.org_id).await?.balance;
                let after = balance.saturating_add(payment.amount).to_usd_string();
                self.admin_emails(&payment.org_id, |to, org_name| {
                    self.mailer.render(
                        to,
                        &RechargeSucceeded {
                            org_name,
                            amount: &amount,
                            balance: &after,
                            payment_method: &payment.payment_method,
                            billing_url: &url,
                        },
                    )
                })
                .await
            }
            PaymentKind::Subscription => Vec::new(),
        };
        let (max_failures, backoff) = self.recharge_effects();
        let expires = self
            .config
            .billing
            .credit_ttl
            .map(|ttl| now.saturating_add(millis(ttl)));
        let settled = self
            .store
            .settle_payment(
                &payment.id,
                &Settlement::Succeeded {
                    provider_payment_id,
                    grant_expires_at: expires,
                },
                &SettleEffects {
                    emails: &emails,
                    recharge_max_failures: max_failures,
                    recharge_backoff_base_ms: backoff,
                },
                now,
            )
            .await?;
        if settled.changed && !emails.is_empty() {
            self.mailer.wake();
        }
        Ok(settled)
    }

    pub(super) async fn settle_failed(
        &self,
        payment: &Payment,
        code: &str,
        message: &str,
        provider_payment_id: Option<&str>,
    ) -> ServiceResult<Settled> {
        let (max_failures, backoff) = self.recharge_effects();
        let emails = if payment.kind == PaymentKind::AutoRecharge {
            let failures = self
                .store
                .billing_profile(&payment.org_id)
                .await?
                .auto_recharge
                .failures
                + 1;
            let amount = payment.amount.to_usd_string();
            let url = self.billing_url(&payment.org_id);
            let attempts = u32::try_from(failures).unwrap_or(u32::MAX);
            self.admin_emails(&payment.org_id, |to, org_name| {
                self.mailer.render(
                    to,
                    &RechargeFailed {
                        org_name,
                        amount: &amount,
                        reason: message,
                        attempts,
                        auto_recharge_disabled: failures >= max_failures,
                        billing_url: &url,
                    },
                )
            })
            .await
        } else {
            Vec::new()
        };
        let settled = self
            .store
            .settle_payment(
                &payment.id,
                &Settlement::Failed {
                    code,
                    message,
                    provider_payment_id,
                },
                &SettleEffects {
                    emails: &emails,
                    recharge_max_failures: max_failures,
                    recharge_backoff_base_ms: backoff,
                },
                self.now(),
            )
            .await?;
        if settled.changed && !emails.is_empty() {
            self.mailer.wake();
        }
        Ok(settled)
    }
}

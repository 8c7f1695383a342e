//! Billing (org admins only): the credit overview, buying credits, the card on file, the
//! billing address, grant history and receipts (auto-recharge: `auto_recharge`). Charges go through
//! `charges::charge_saved_card`.

use serde_json::json;
use tollgate_domain::country::country_name;
use tollgate_domain::ledger::GrantSource;
use tollgate_domain::payment::{parse_payment_amount, PaymentKind};
use tollgate_domain::{IdPrefix, OrgAction, ValidationError};
use tollgate_domain::{OrgId, PaymentId};
use tollgate_store::{
    BillingProfile, CreditAccount, Grant, Payment, PostalAddress, StoredCard, User,
};

use crate::app::App;
use crate::auth::ClientInfo;
use crate::payments::{CardInput, PaymentError, PaymentProvider};
use crate::service::charges::{declined, ChargeSpec};
use crate::service::{audit, page_of, Page, ServiceError, ServiceResult};

/// What the Billing overview shows.
pub struct BillingOverview {
    pub account: CreditAccount,
    pub profile: BillingProfile,
}

/// A postal address as typed.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    pub name: String,
    pub line1: String,
    #[serde(default)]
    pub line2: String,
    pub city: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, e.g. `DE`.
    pub country: String,
}

impl AddressInput {
    fn parse(&self) -> Result<PostalAddress, ValidationError> {
        let field = |name: &'static str, value: &str, required: bool, max: usize| {
            let v = value.trim();
            if required && v.is_empty() {
                return Err(ValidationError::new(name, "This field is required."));
            }
            if v.chars().count() > max || v.chars().any(char::is_control) {
                return Err(ValidationError::new(
                    name,
                    format!("At most {max} characters, on one line."),
                ));
            }
            Ok(v.to_owned())
        };
        let country = self.country.trim().to_ascii_uppercase();
        if country_name(&country).is_none() {
            return Err(ValidationError::new(
                "country",
                "Choose a country from the list (an ISO 3166 code such as DE).",
            ));
        }
        Ok(PostalAddress {
            name: field("name", &self.name, true, 200)?,
            line1: field("line1", &self.line1, true, 200)?,
            line2: field("line2", &self.line2, false, 200)?,
            city: field("city", &self.city, true, 100)?,
            state: field("state", &self.state, false, 100)?,
            postal_code: field("postal_code", &self.postal_code, false, 20)?,
            country,
        })
    }
}

/// Checks an `Idempotency-Key` header: 1–200 printable ASCII characters.
pub fn check_idempotency_key(key: &str) -> Result<(), ServiceError> {
    if key.is_empty() || key.len() > 200 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ServiceError::BadRequest {
            code: "invalid_idempotency_key",
            message: "The Idempotency-Key header must be 1 to 200 printable ASCII characters."
                .to_owned(),
        });
    }
    Ok(())
}

impl App {
    pub async fn billing_overview(
        &self,
        user: &User,
        org_id: &OrgId,
    ) -> ServiceResult<BillingOverview> {
        self.org_access_for(user, org_id, OrgAction::ManageBilling)
            .await?;
        Ok(BillingOverview {
            account: self.store.credit_account(org_id).await?,
            profile: self.store.billing_profile(org_id).await?,
        })
    }

    /// Buys credits with the saved card. `idempotency_key` makes a retry return the first
    /// result; the same key with another amount is refused.
    pub async fn buy_credits(
        &self,
        user: &User,
        org_id: &OrgId,
        amount: &str,
        idempotency_key: &str,
        client: &ClientInfo,
    ) -> ServiceResult<Payment> {
        self.org_access_for(user, org_id, OrgAction::ManageBilling)
            .await?;
        self.require_verified_email(user)?;
        check_idempotency_key(idempotency_key)?;
        let limits = &self.config.billing;
        let amount =
            parse_payment_amount("amount", amount, limits.min_purchase, limits.max_purchase)?;
        let key = format!("purchase:{idempotency_key}");
        let fingerprint = format!("credits:{}", amount.micros());
        let charge = self
            .charge(ChargeSpec {
                org_id,
                kind: PaymentKind::Purchase,
                amount,
                idempotency_key: &key,
                fingerprint: &fingerprint,
                description: "Credits",
                grant: Some(GrantSource::Purchase),
            })
            .await;
        // A retry with the same key is answered from the first purchase, which is in the log.
        let Some(payment_id) = charge.made.as_ref() else {
            return charge.result;
        };
        let outcome = match &charge.result {
            Ok(p) => p.status.as_str(),
            Err(ServiceError::PaymentRequired { code, .. }) => code,
            Err(_) => return charge.result,
        };
        self.store
            .record_audit(
                org_id,
                &audit(
                    user,
                    client,
                    "billing.credits.purchase",
                    "payment",
                    payment_id,
                    json!({"amount": amount.to_usd_string(), "outcome": outcome}),
                ),
                self.now(),
            )
            .await?;
        charge.result
    }

    /// Saves or replaces the card on file (a customer at the provider is created first).
    pub async fn save_payment_method(
        &self,
        user: &User,
        org_id: &OrgId,
        input: &CardInput,
        client: &ClientInfo,
    ) -> ServiceResult<BillingProfile> {
        let membership = self
            .org_access_for(user, org_id, OrgAction::ManageBilling)
            .await?;
        let customer = self
            .billing_customer(org_id, &user.email, &membership.org.name)
            .await?;
        let saved = self
            .payments
            .save_card(&customer, input, self.now())
            .await
            .map_err(card_failure)?;
        let card = StoredCard {
            card_ref: saved.provider_ref.as_str().to_owned(),
            brand: saved.brand.as_str().to_owned(),
            last4: saved.last4.clone(),
            exp_month: i64::from(saved.exp_month),
            exp_year: i64::from(saved.exp_year),
        };
        Ok(self
            .store
            .save_card(
                org_id,
                &card,
                self.now(),
                audit(
                    user,
                    client,
                    "billing.payment_method.set",
                    "organization",
                    org_id,
                    json!({"brand": card.brand, "last4": card.last4}),
                ),
            )
            .await?)
    }

    /// The provider's customer of an organization, created on first need.
    pub async fn billing_customer(
        &self,
        org_id: &OrgId,
        email: &str,
        name: &str,
    ) -> ServiceResult<crate::payments::CustomerRef> {
        if let Some(existing) = self.store.billing_profile(org_id).await?.customer_ref {
            return Ok(crate::payments::CustomerRef::new(existing));
        }
        let created = self
            .payments
            .ensure_customer(org_id, email, name)
            .await
            .map_err(|e| ServiceError::Internal(anyhow::anyhow!("creating the customer: {e}")))?;
        let stored = self
            .store
            .set_customer_ref(org_id, created.as_str(), self.now())
            .await?;
        Ok(crate::payments::CustomerRef::new(stored))
    }

    /// A SetupIntent for Stripe's card form (stripe provider only).
    pub async fn create_setup_intent(
        &self,
        user: &User,
        org_id: &OrgId,
    ) -> ServiceResult<crate::payments::SetupIntent> {
        let membership = self
            .org_access_for(user, org_id, OrgAction::ManageBilling)
            .await?;
        let customer = self
            .billing_customer(org_id, &user.email, &membership.org.name)
            .await?;
        self.payments
            .create_setup_intent(&customer)
            .await
            .map_err(|e| match e {
                PaymentError::Unsupported(..) => ServiceError::BadRequest {
                    code: "unsupported",
                    message: "The sandbox payment provider takes card details directly.".into(),
                },
                other => ServiceError::Internal(anyhow::anyhow!("creating a SetupIntent: {other}")),
            })
    }

    pub async fn set_billing_address(
        &self,
        user: &User,
        org_id: &OrgId,
        input: &AddressInput,
        client: &ClientInfo,
    ) -> ServiceResult<BillingProfile> {
        self.org_access_for(user, org_id, OrgAction::ManageBilling)
            .await?;
        let address = input.parse()?;
        Ok(self
            .store
            .set_billing_address(
                org_id,
                &address,
                self.now(),
                audit(
                    user,
                    client,
                    "billing.address.set",
                    "organization",
                    org_id,
                    json!({"country": address.country}),
                ),
            )
            .await?)
    }

    pub async fn list_credit_grants(
        &self,
        user: &User,
        org_id: &OrgId,
        after: Option<&str>,
        limit: i64,
    ) -> ServiceResult<Page<Grant>> {
        self.org_access_for(user, org_id, OrgAction::ManageBilling)
            .await?;
        page_of(after, IdPrefix::Grant, limit, |page| {
            self.store.credit_grants(org_id, page)
        })
        .await
    }

    pub async fn list_payments(
        &self,
        user: &User,
        org_id: &OrgId,
        after: Option<&str>,
        limit: i64,
    ) -> ServiceResult<Page<Payment>> {
        self.org_access_for(user, org_id, OrgAction::ManageBilling)
            .await?;
        page_of(after, IdPrefix::Payment, limit, |page| {
            self.store.payments(org_id, page)
        })
        .await
    }

    pub async fn payment_receipt(
        &self,
        user: &User,
        org_id: &OrgId,
        payment_id: &PaymentId,
    ) -> ServiceResult<Payment> {
        self.org_access_for(user, org_id, OrgAction::ManageBilling)
            .await?;
        let payment = self
            .store
            .payment(org_id, payment_id)
            .await?
            .ok_or(ServiceError::NotFound("payment"))?;
        Ok(payment)
    }
}

/// A card the provider would not save, as the person should see it.
fn card_failure(e: PaymentError) -> ServiceError {
    match e {
        PaymentError::InvalidCard(c) => ValidationError::new(c.field(), {
            let mut m = c.to_string();
            if let Some(f) = m.get_mut(0..1) {
                f.make_ascii_uppercase();
            }
            m.push('.');
            m
        })
        .into(),
        PaymentError::CardRejected { code, message } => declined(code.as_str(), &message),
        PaymentError::InvalidRequest(message) => ServiceError::BadRequest {
            code: "invalid_payment_method",
            message,
        },
        PaymentError::Provider {
            status: 400..=499,
            message,
            ..
        } => ServiceError::BadRequest {
            code: "invalid_payment_method",
            message,
        },
        other => ServiceError::Internal(anyhow::anyhow!("saving a card: {other}")),
    }
}

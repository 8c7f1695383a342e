//! Billing profiles: an organization's provider customer, saved card, postal address and
//! auto-recharge settings. One row per organization, created on first write.

use sqlx::{Any, Row, Transaction};
use tollgate_domain::{Money, OrgId, Timestamp};

use crate::audit::{insert_audit, AuditEntry};
use crate::{Result, Store};

/// The card on file, as shown: never the number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCard {
    pub card_ref: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PostalAddress {
    pub name: String,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub state: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AutoRechargeSettings {
    pub enabled: bool,
    pub threshold: Money,
    pub recharge_to: Money,
    /// Consecutive declined recharges.
    pub failures: i64,
    /// No recharge before this time (back-off).
    pub next_attempt_at: Option<Timestamp>,
    /// The most automatic charges may take in a calendar month (UTC); `None`: no cap beyond
    /// the purchase maximum of each charge.
    pub monthly_cap: Option<Money>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingProfile {
    pub org_id: OrgId,
    pub customer_ref: Option<String>,
    pub card: Option<StoredCard>,
    pub address: Option<PostalAddress>,
    pub auto_recharge: AutoRechargeSettings,
}

impl BillingProfile {
    /// The profile of an organization that never set anything.
    fn empty(org_id: &OrgId) -> Self {
        Self {
            org_id: org_id.clone(),
            customer_ref: None,
            card: None,
            address: None,
            auto_recharge: AutoRechargeSettings::default(),
        }
    }
}

const PROFILE_COLUMNS: &str = "org_id, customer_ref, card_ref, card_brand, card_last4, card_exp_month, card_exp_year, \
     address_name, address_line1, address_line2, address_city, address_state, address_postal_code, address_country, \
     auto_recharge_enabled, auto_recharge_threshold, auto_recharge_to, auto_recharge_failures, auto_recharge_next_at, \
     auto_recharge_monthly_cap";

fn profile_from_row(r: &sqlx::any::AnyRow) -> Result<BillingProfile> {
    let card_ref: Option<String> = r.try_get("card_ref")?;
    let card = match card_ref {
        Some(card_ref) => Some(StoredCard {
            card_ref,
            brand: r
                .try_get::<Option<String>, _>("card_brand")?
                .unwrap_or_default(),
            last4: r
                .try_get::<Option<String>, _>("card_last4")?
                .unwrap_or_default(),
            exp_month: r.try_get::<Option<i64>, _>("card_exp_month")?.unwrap_or(0),
            exp_year: r.try_get::<Option<i64>, _>("card_exp_year")?.unwrap_or(0),
        }),
        None => None,
    };
    let country: Option<String> = r.try_get("address_country")?;
    let text =
        |c: &str| -> Result<String> { Ok(r.try_get::<Option<String>, _>(c)?.unwrap_or_default()) };
    let address = match country {
        Some(country) => Some(PostalAddress {
            name: text("address_name")?,
            line1: text("address_line1")?,
            line2: text("address_line2")?,
            city: text("address_city")?,
            state: text("address_state")?,
            postal_code: text("address_postal_code")?,
            country,
        }),
        None => None,
    };
    Ok(BillingProfile {
        org_id: OrgId::from_stored(r.try_get("org_id")?),
        customer_ref: r.try_get("customer_ref")?,
        card,
        address,
        auto_recharge: AutoRechargeSettings {
            enabled: r.try_get::<i64, _>("auto_recharge_enabled")? == 1,
            threshold: Money::from_micros(r.try_get("auto_recharge_threshold")?),
            recharge_to: Money::from_micros(r.try_get("auto_recharge_to")?),
            failures: r.try_get("auto_recharge_failures")?,
            next_attempt_at: r.try_get("auto_recharge_next_at")?,
            monthly_cap: r
                .try_get::<Option<i64>, _>("auto_recharge_monthly_cap")?
                .map(Money::from_micros),
        },
    })
}

/// Creates the profile row when missing, so that the guarded updates below have a row.
pub(crate) async fn ensure_profile_in(
    tx: &mut Transaction<'static, Any>,
    org_id: &OrgId,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO billing_profiles (org_id, updated_at) VALUES ($1, $2) ON CONFLICT (org_id) DO NOTHING",
    )
    .bind(org_id.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(crate) async fn profile_in(
    tx: &mut Transaction<'static, Any>,
    org_id: &OrgId,
) -> Result<BillingProfile> {
    let row = sqlx::query(&format!(
        "SELECT {PROFILE_COLUMNS} FROM billing_profiles WHERE org_id = $1"
    ))
    .bind(org_id.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    match row {
        Some(r) => profile_from_row(&r),
        None => Ok(BillingProfile::empty(org_id)),
    }
}

impl Store {
    /// The organization's billing profile; an empty one when nothing was ever set.
    pub async fn billing_profile(&self, org_id: &OrgId) -> Result<BillingProfile> {
        let row = sqlx::query(&format!(
            "SELECT {PROFILE_COLUMNS} FROM billing_profiles WHERE org_id = $1"
        ))
        .bind(org_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => profile_from_row(&r),
            None => Ok(BillingProfile::empty(org_id)),
        }
    }

    /// Records the provider's customer unless one is recorded already; answers the one in force
    /// (two requests creating a customer at once agree on the first).
    pub async fn set_customer_ref(
        &self,
        org_id: &OrgId,
        customer_ref: &str,
        now: Timestamp,
    ) -> Result<String> {
        let row = sqlx::query(
            "INSERT INTO billing_profiles (org_id, customer_ref, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (org_id) DO UPDATE SET customer_ref = COALESCE(billing_profiles.customer_ref, excluded.customer_ref) \
             RETURNING customer_ref",
        )
        .bind(org_id.as_str())
        .bind(customer_ref)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(row
            .try_get::<Option<String>, _>("customer_ref")?
            .unwrap_or_else(|| customer_ref.to_owned()))
    }

    /// Saves (or replaces) the card on file.
    pub async fn save_card(
        &self,
        org_id: &OrgId,
        card: &StoredCard,
        now: Timestamp,
        audit: AuditEntry<'_>,
    ) -> Result<BillingProfile> {
        let mut tx = self.begin_write().await?;
        ensure_profile_in(&mut tx, org_id, now).await?;
        sqlx::query(
            "UPDATE billing_profiles SET card_ref = $1, card_brand = $2, card_last4 = $3, card_exp_month = $4, \
             card_exp_year = $5, updated_at = $6 WHERE org_id = $7",
        )
        .bind(&card.card_ref)
        .bind(&card.brand)
        .bind(&card.last4)
        .bind(card.exp_month)
        .bind(card.exp_year)
        .bind(now)
        .bind(org_id.as_str())
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, org_id, &audit, now).await?;
        let profile = profile_in(&mut tx, org_id).await?;
        tx.commit().await?;
        Ok(profile)
    }

    pub async fn set_billing_address(
        &self,
        org_id: &OrgId,
        address: &PostalAddress,
        now: Timestamp,
        audit: AuditEntry<'_>,
    ) -> Result<BillingProfile> {
        let mut tx = self.begin_write().await?;
        ensure_profile_in(&mut tx, org_id, now).await?;
        sqlx::query(
            "UPDATE billing_profiles SET address_name = $1, address_line1 = $2, address_line2 = $3, address_city = $4, \
             address_state = $5, address_postal_code = $6, address_country = $7, updated_at = $8 WHERE org_id = $9",
        )
        .bind(&address.name)
        .bind(&address.line1)
        .bind(&address.line2)
        .bind(&address.city)
        .bind(&address.state)
        .bind(&address.postal_code)
        .bind(&address.country)
        .bind(now)
        .bind(org_id.as_str())
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, org_id, &audit, now).await?;
        let profile = profile_in(&mut tx, org_id).await?;
        tx.commit().await?;
        Ok(profile)
    }

    /// Turns auto-recharge on (with its amounts and monthly cap) or off. Turning it on clears
    /// the failure count and the back-off.
    #[allow(clippy::too_many_arguments)]
    pub async fn set_auto_recharge(
        &self,
        org_id: &OrgId,
        enabled: bool,
        threshold: Money,
        recharge_to: Money,
        monthly_cap: Option<Money>,
        now: Timestamp,
        audit: AuditEntry<'_>,
    ) -> Result<BillingProfile> {
        let mut tx = self.begin_write().await?;
        ensure_profile_in(&mut tx, org_id, now).await?;
        sqlx::query(
            "UPDATE billing_profiles SET auto_recharge_enabled = $1, auto_recharge_threshold = $2, auto_recharge_to = $3, \
             auto_recharge_failures = CASE WHEN $1 = 1 THEN 0 ELSE auto_recharge_failures END, \
             auto_recharge_next_at = CASE WHEN $1 = 1 THEN NULL ELSE auto_recharge_next_at END, \
             auto_recharge_monthly_cap = $6, updated_at = $4 WHERE org_id = $5",
        )
        .bind(i64::from(enabled))
        .bind(threshold.micros())
        .bind(recharge_to.micros())
        .bind(now)
        .bind(org_id.as_str())
        .bind(monthly_cap.map(Money::micros))
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, org_id, &audit, now).await?;
        let profile = profile_in(&mut tx, org_id).await?;
        tx.commit().await?;
        Ok(profile)
    }

    /// What auto-recharge charged (or is charging) an organization since `since`: for the
    /// monthly cap.
    pub async fn auto_recharged_since(&self, org_id: &OrgId, since: Timestamp) -> Result<Money> {
        Ok(Money::from_micros(sqlx::query(
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total FROM payments \
             WHERE org_id = $1 AND kind = 'auto_recharge' AND status IN ('pending', 'succeeded') AND created_at >= $2",
        )
        .bind(org_id.as_str())
        .bind(since)
        .fetch_one(&self.pool)
        .await?
        .try_get("total")?))
    }

    /// Organizations with auto-recharge on whose available credit is below their threshold and
    /// whose back-off has passed: candidates for a recharge (at most `limit`).
    pub async fn orgs_due_for_recharge(&self, now: Timestamp, limit: i64) -> Result<Vec<OrgId>> {
        let rows = sqlx::query(
            "SELECT b.org_id FROM billing_profiles b LEFT JOIN credit_accounts a ON a.org_id = b.org_id \
             WHERE b.auto_recharge_enabled = 1 \
             AND COALESCE(a.balance, 0) - COALESCE(a.held, 0) < b.auto_recharge_threshold \
             AND (b.auto_recharge_next_at IS NULL OR b.auto_recharge_next_at <= $1) \
             ORDER BY b.org_id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(OrgId::from_stored(r.try_get("org_id")?)))
            .collect()
    }

    /// The email addresses of an organization's admins (billing emails go to them).
    pub async fn org_admin_emails(&self, org_id: &OrgId) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.org_id = $1 AND m.role = 'org_admin' ORDER BY u.email",
        )
        .bind(org_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("email")?)).collect()
    }
}

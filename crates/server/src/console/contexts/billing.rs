//! `billing.html`'s context (`console/billing_pages.rs`): what every tab shows, the tab's own
//! list, and a refused form's values and errors.

use serde::Serialize;
use tollgate_domain::PaymentId;

use crate::api::billing::AddressView;
use crate::console::charge_pages::ConfirmDialog;
use crate::console::form_fields::form_fields;
use crate::service::billing::AddressInput;

/// A billing tab.
#[derive(Serialize)]
pub struct BillingPage<'a> {
    pub tab: &'a str,
    pub balance: String,
    pub available: String,
    pub negative: bool,
    pub auto_recharge: AutoRechargeView,
    pub card: Option<CardView>,
    pub address: Option<AddressView>,
    pub min_purchase: String,
    pub max_purchase: String,
    /// A fresh key for the Add Credits form.
    pub idempotency_key: String,
    /// The tab's own content.
    #[serde(flatten)]
    pub content: TabContent,
    #[serde(flatten)]
    pub extra: BillingExtra<'a>,
}

/// The auto-recharge settings, amounts in dollars.
#[derive(Serialize)]
pub struct AutoRechargeView {
    pub enabled: bool,
    pub threshold: String,
    pub recharge_to: String,
    pub monthly_cap: Option<String>,
    /// Declined recharges in a row.
    pub failures: i64,
    /// Ever set up (a recharge-to amount is stored).
    pub configured: bool,
}

/// The card on file.
#[derive(Serialize)]
pub struct CardView {
    /// "Visa ending in 4242".
    pub label: String,
    /// `MM/YYYY`.
    pub exp: String,
}

/// What only one tab shows.
#[derive(Default, Serialize)]
pub struct TabContent {
    /// Pay as you go: the credit grants.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grants: Option<Vec<GrantRow>>,
    /// Receipts: the payments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payments: Option<Vec<PaymentRow>>,
    /// Payment: how the card form collects the card.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_form: Option<CardFormView>,
    /// Billing address: the countries to choose from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub countries: Option<Vec<Country>>,
}

#[derive(Serialize)]
pub struct GrantRow {
    pub date: String,
    pub source: &'static str,
    pub category: &'static str,
    pub amount: String,
    pub remaining: String,
    pub expires: Option<String>,
    pub description: String,
}

#[derive(Serialize)]
pub struct PaymentRow {
    pub id: PaymentId,
    pub date: String,
    pub kind: &'static str,
    pub amount: String,
    pub status: &'static str,
    pub description: String,
    pub failure: Option<String>,
}

/// The card form: the sandbox's own fields, or Stripe Elements with the publishable key.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum CardFormView {
    Sandbox,
    Stripe { publishable_key: String },
}

#[derive(Serialize)]
pub struct Country {
    pub code: &'static str,
    pub name: &'static str,
}

/// A tab's notice; a refused form's values, errors and whether its dialog opens again; the
/// confirmation of a charge; or the receipt shown.
#[derive(Default, Serialize)]
pub struct BillingExtra<'a> {
    pub notice: Option<String>,
    pub values: BillingValues,
    pub errors: BillingFields,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dialog_open: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm: Option<ConfirmDialog<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<ReceiptView>,
    /// On a receipt: the address in force when the payment was made.
    pub bill_to: Option<AddressView>,
}

/// A refused billing form's values (never the card number or CVC).
#[derive(Default, Serialize)]
pub struct BillingValues {
    #[serde(flatten)]
    pub fields: BillingFields,
    /// Add Credits' "turn on auto-recharge" checkbox.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_auto_recharge: Option<bool>,
}

impl From<BillingFields> for BillingValues {
    fn from(fields: BillingFields) -> Self {
        Self {
            fields,
            enable_auto_recharge: None,
        }
    }
}

form_fields!(
    /// The billing forms' fields, for their values and errors (`form`: the whole form's
    /// error).
    pub struct BillingFields {
        form, amount, threshold, recharge_to, monthly_cap,
        card_number, exp_month, exp_year, cvc, payment_method_id,
        name, line1, line2, city, state, postal_code, country,
    }
);

/// A typed address back into the form, to show it again beside its error.
impl From<AddressInput> for BillingFields {
    fn from(a: AddressInput) -> Self {
        Self {
            name: Some(a.name),
            line1: Some(a.line1),
            line2: Some(a.line2),
            city: Some(a.city),
            state: Some(a.state),
            postal_code: Some(a.postal_code),
            country: Some(a.country),
            ..Self::default()
        }
    }
}

/// A payment's receipt: its row, with the date to the minute, and what only the receipt shows.
#[derive(Serialize)]
pub struct ReceiptView {
    #[serde(flatten)]
    pub payment: PaymentRow,
    pub payment_method: String,
    pub settled: Option<String>,
}

//! Money never moves without a preview (issue 14, bug 7): the confirmation dialog a charging
//! form answers first, the check that the customer confirmed the amount that is charged, and
//! the sentence that says afterwards what was charged, read from the payment itself.

use serde::Serialize;
use tollgate_domain::payment::{PaymentKind, PaymentStatus};
use tollgate_domain::{OrgId, PaymentId};
use tollgate_store::Payment;

use crate::app::App;
use crate::service::previews::ChargePreview;

use crate::console::numbers::usd;

/// True when the form confirms exactly the amount about to be charged. A form without
/// `confirm=yes`, or confirming another amount (the price or the balance moved), is shown the
/// dialog again.
pub fn confirmed(confirm: &str, expected_amount: &str, preview: &ChargePreview) -> bool {
    confirm == "yes" && expected_amount.trim().parse::<i64>() == Ok(preview.amount.micros())
}

/// The confirmation dialog (`confirm` in `confirm_charge.html`).
#[derive(Serialize)]
pub struct ConfirmDialog<'a> {
    title: &'a str,
    what: &'a str,
    amount: String,
    amount_micros: i64,
    card: &'a str,
    action: &'a str,
    fields: Vec<HiddenField<'a>>,
    cancel_href: &'a str,
    changed: Option<&'static str>,
}

/// A form value posted again with the confirmation.
#[derive(Serialize)]
struct HiddenField<'a> {
    name: &'a str,
    value: &'a str,
}

/// The confirmation dialog's context. `fields` are the form's own values, posted again with
/// the confirmation.
pub fn confirm_dialog<'a>(
    title: &'a str,
    preview: &'a ChargePreview,
    action: &'a str,
    fields: &[(&'a str, &'a str)],
    cancel_href: &'a str,
    asked_before: bool,
) -> ConfirmDialog<'a> {
    ConfirmDialog {
        title,
        what: &preview.what,
        amount: usd(preview.amount),
        amount_micros: preview.amount.micros(),
        card: &preview.card,
        action,
        fields: fields
            .iter()
            .map(|&(name, value)| HiddenField { name, value })
            .collect(),
        cancel_href,
        changed: asked_before
            .then_some("The amount changed since you last saw it: check it and confirm again."),
    }
}

/// What a payment did, in one sentence: "$29.00 was charged to Visa ending in 4242."
pub async fn charged_sentence(
    app: &App,
    org_id: &OrgId,
    payment_id: Option<&str>,
) -> Option<String> {
    // From the page's query string: a malformed id names no payment.
    let payment_id = PaymentId::parse(payment_id?)?;
    let payment = app.store.payment(org_id, &payment_id).await.ok()??;
    let amount = usd(payment.amount);
    let card = &payment.payment_method;
    Some(match payment.status {
        PaymentStatus::Succeeded => format!("${amount} was charged to {card}."),
        PaymentStatus::Failed => format!(
            "The charge of ${amount} to {card} was declined{}",
            payment
                .failure_message
                .as_deref()
                .map_or_else(|| ".".to_owned(), |m| format!(": {m}"))
        ),
        PaymentStatus::Pending => format!("The charge of ${amount} to {card} is being processed."),
    })
}

/// The payment an action just made: the newest of the organization's payments since `since`
/// that `made_by` recognises (by its idempotency key or kind).
pub async fn payment_since(
    app: &App,
    org_id: &OrgId,
    since: i64,
    made_by: impl Fn(&Payment) -> bool,
) -> Option<String> {
    let recent = app
        .store
        .payments(org_id, tollgate_store::PageRequest::first(10))
        .await
        .ok()?;
    recent
        .into_iter()
        .find(|p| p.created_at >= since && made_by(p))
        .map(|p| p.id.into_string())
}

/// Recognises an auto-recharge payment.
pub fn is_auto_recharge(p: &Payment) -> bool {
    p.kind == PaymentKind::AutoRecharge
}

/// An amount as people type it, as the billing services read it: `$20` is `20`, and `1,000.50`
/// is `1000.50` when the commas group thousands. Anything else is passed on unchanged, for the
/// service to refuse with its own message (`1,5` is not read as 1.5 nor as 15).
pub fn plain_amount(raw: &str) -> String {
    let trimmed = raw.trim();
    let unsigned = trimmed.strip_prefix('$').map_or(trimmed, str::trim_start);
    let (whole, fraction) = unsigned
        .split_once('.')
        .map_or((unsigned, None), |(w, f)| (w, Some(f)));
    let groups: Vec<&str> = whole.split(',').collect();
    let grouped = groups.len() > 1
        && (1..=3).contains(&groups[0].len())
        && groups[1..].iter().all(|g| g.len() == 3)
        && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit()));
    if !grouped {
        return unsigned.to_owned();
    }
    let digits: String = groups.concat();
    match fraction {
        Some(f) => format!("{digits}.{f}"),
        None => digits,
    }
}

#[cfg(test)]
mod tests {
    use super::plain_amount;

    #[test]
    fn dollar_signs_and_thousands_separators_are_read_as_people_mean_them() {
        assert_eq!(plain_amount("$20"), "20");
        assert_eq!(plain_amount(" $ 25.50 "), "25.50");
        assert_eq!(plain_amount("1,000"), "1000");
        assert_eq!(plain_amount("$1,000.50"), "1000.50");
        assert_eq!(plain_amount("10,000,000"), "10000000");
        // Not thousands groups: left for the service to refuse.
        assert_eq!(plain_amount("1,5"), "1,5");
        assert_eq!(plain_amount("1,0000"), "1,0000");
        assert_eq!(plain_amount(",100"), ",100");
        assert_eq!(plain_amount("10.005"), "10.005");
        assert_eq!(plain_amount("-$5"), "-$5");
    }
}

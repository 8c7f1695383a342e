//! Stripe test mode's magic payment methods, as the stand-in knows them.

/// How a magic test payment method behaves when charged off-session: `None` pays, otherwise
/// Stripe's (`code`, `decline_code`, message).
pub type Decline = Option<(&'static str, Option<&'static str>, &'static str)>;

pub struct TestCard {
    pub magic: &'static str,
    pub brand: &'static str,
    pub last4: &'static str,
    pub decline: Decline,
    /// Stand-in only: the intent stays `processing` until a test settles it.
    pub processing: bool,
}

const GENERIC: Decline = Some((
    "card_declined",
    Some("generic_decline"),
    "Your card was declined.",
));

const CARDS: &[TestCard] = &[
    card("pm_card_visa", "visa", "4242", None),
    card("pm_card_mastercard", "mastercard", "4444", None),
    card("pm_card_amex", "amex", "0005", None),
    card("pm_card_discover", "discover", "1117", None),
    card("pm_card_chargeDeclined", "visa", "0002", GENERIC),
    card("pm_card_visa_chargeDeclined", "visa", "0002", GENERIC),
    card("pm_card_chargeCustomerFail", "visa", "0341", GENERIC),
    card(
        "pm_card_chargeDeclinedInsufficientFunds",
        "visa",
        "9995",
        Some((
            "card_declined",
            Some("insufficient_funds"),
            "Your card has insufficient funds.",
        )),
    ),
    card(
        "pm_card_visa_chargeDeclinedInsufficientFunds",
        "visa",
        "9995",
        Some((
            "card_declined",
            Some("insufficient_funds"),
            "Your card has insufficient funds.",
        )),
    ),
    card(
        "pm_card_chargeDeclinedExpiredCard",
        "visa",
        "0069",
        Some((
            "expired_card",
            Some("expired_card"),
            "Your card has expired.",
        )),
    ),
    card(
        "pm_card_chargeDeclinedIncorrectCvc",
        "visa",
        "0127",
        Some((
            "incorrect_cvc",
            Some("incorrect_cvc"),
            "Your card's security code is incorrect.",
        )),
    ),
    card(
        "pm_card_chargeDeclinedProcessingError",
        "visa",
        "0119",
        Some((
            "processing_error",
            Some("processing_error"),
            "An error occurred while processing your card. Try again in a little bit.",
        )),
    ),
    card(
        "pm_card_authenticationRequired",
        "visa",
        "3184",
        Some((
            "authentication_required",
            Some("authentication_required"),
            "Your card was declined. This transaction requires authentication.",
        )),
    ),
    TestCard {
        magic: "pm_standin_processing",
        brand: "visa",
        last4: "0077",
        decline: None,
        processing: true,
    },
];

const fn card(
    magic: &'static str,
    brand: &'static str,
    last4: &'static str,
    decline: Decline,
) -> TestCard {
    TestCard {
        magic,
        brand,
        last4,
        decline,
        processing: false,
    }
}

/// The magic payment method ids the stand-in knows (Stripe test mode's, and
/// `pm_standin_processing`, whose charges stay `processing` until a test settles them).
pub const MAGIC_PAYMENT_METHODS: &[&str] = &[
    "pm_card_visa",
    "pm_card_mastercard",
    "pm_card_amex",
    "pm_card_discover",
    "pm_card_chargeDeclined",
    "pm_card_visa_chargeDeclined",
    "pm_card_chargeCustomerFail",
    "pm_card_chargeDeclinedInsufficientFunds",
    "pm_card_visa_chargeDeclinedInsufficientFunds",
    "pm_card_chargeDeclinedExpiredCard",
    "pm_card_chargeDeclinedIncorrectCvc",
    "pm_card_chargeDeclinedProcessingError",
    "pm_card_authenticationRequired",
    "pm_standin_processing",
];

pub fn test_card(magic: &str) -> Option<&'static TestCard> {
    CARDS.iter().find(|c| c.magic == magic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_magic_id_is_listed() {
        let known: Vec<&str> = CARDS.iter().map(|c| c.magic).collect();
        assert_eq!(known, MAGIC_PAYMENT_METHODS);
    }
}

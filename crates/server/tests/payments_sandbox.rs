#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The sandbox provider: Stripe test-mode card behaviour, card validation, redaction, amounts
//! and idempotency. No network and no database, except for the last test.

use chrono::{Datelike, TimeZone, Utc};
use tollgate_domain::Timestamp;
use tollgate_server::payments::{
    AmountError, CardBrand, CardDetails, CardError, CardForm, CardInput, CardRef, ChargeOutcome,
    ChargeRequest, CustomerRef, DeclineCode, PaymentError, PaymentProvider, Payments,
    PaymentsConfig, ProviderKind, Sandbox, SavedCard,
};
use tollgate_server::testing::TestApp;
use tollgate_store::Engine;

/// 15 May 2026, midday UTC.
fn now() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 5, 15, 12, 0, 0)
        .unwrap()
        .timestamp_millis()
}

fn card(number: &str, exp_month: u32, exp_year: u32, cvc: &str) -> CardInput {
    CardInput::Details(CardDetails {
        card_number: number.into(),
        exp_month,
        exp_year,
        cvc: cvc.into(),
    })
}

fn good(number: &str) -> CardInput {
    let cvc = if number.starts_with("37") {
        "1234"
    } else {
        "123"
    };
    card(number, 12, 2030, cvc)
}

async fn customer(org: &str) -> CustomerRef {
    Sandbox
        .ensure_customer(org, "ada@example.com", "Ada")
        .await
        .unwrap()
}

async fn save(customer: &CustomerRef, input: CardInput) -> Result<SavedCard, PaymentError> {
    Sandbox.save_card(customer, &input, now()).await
}

fn charge_of(customer: &CustomerRef, card: &CardRef, micros: i64, key: &str) -> ChargeRequest {
    ChargeRequest {
        customer: customer.clone(),
        card: card.clone(),
        amount_micros: micros,
        idempotency_key: key.into(),
        description: "Tollgate credits".into(),
    }
}

#[tokio::test]
async fn test_cards_behave_as_in_stripe_test_mode() {
    let cus = customer("org_1").await;
    let cases: &[(&str, CardBrand, Option<DeclineCode>)] = &[
        ("4242424242424242", CardBrand::Visa, None),
        ("4242 4242 4242 4242", CardBrand::Visa, None),
        ("5555555555554444", CardBrand::Mastercard, None),
        ("2223003122003222", CardBrand::Mastercard, None),
        ("378282246310005", CardBrand::Amex, None),
        ("6011111111111117", CardBrand::Discover, None),
        ("3566002020360505", CardBrand::Jcb, None),
        (
            "4000000000000002",
            CardBrand::Visa,
            Some(DeclineCode::CardDeclined),
        ),
        (
            "4000000000000341",
            CardBrand::Visa,
            Some(DeclineCode::CardDeclined),
        ),
        (
            "4000000000009995",
            CardBrand::Visa,
            Some(DeclineCode::InsufficientFunds),
        ),
        (
            "4000000000000069",
            CardBrand::Visa,
            Some(DeclineCode::ExpiredCard),
        ),
        (
            "4000000000000127",
            CardBrand::Visa,
            Some(DeclineCode::IncorrectCvc),
        ),
        (
            "4000000000000119",
            CardBrand::Visa,
            Some(DeclineCode::ProcessingError),
        ),
        (
            "4000002760003184",
            CardBrand::Visa,
            Some(DeclineCode::AuthenticationRequired),
        ),
    ];
    for (i, (number, brand, decline)) in cases.iter().enumerate() {
        let saved = save(&cus, good(number)).await.unwrap();
        let digits: String = number.chars().filter(char::is_ascii_digit).collect();
        assert_eq!(saved.brand, *brand, "{number}");
        assert_eq!(saved.last4, digits[digits.len() - 4..], "{number}");
        assert_eq!((saved.exp_month, saved.exp_year), (12, 2030));
        assert!(saved.provider_ref.as_str().starts_with("pm_sbx_"));
        assert!(
            !saved.provider_ref.as_str().contains(&digits[..12]),
            "the reference must not carry the number: {}",
            saved.provider_ref
        );
        let outcome = Sandbox
            .charge(&charge_of(
                &cus,
                &saved.provider_ref,
                25_000_000,
                &format!("pay_{i}"),
            ))
            .await
            .unwrap();
        match (decline, &outcome) {
            (
                None,
                ChargeOutcome::Succeeded {
                    provider_payment_id,
                },
            ) => {
                assert!(provider_payment_id.starts_with("pi_sbx_"));
            }
            (
                Some(code),
                ChargeOutcome::Declined {
                    code: got,
                    message,
                    provider_payment_id,
                },
            ) => {
                assert_eq!(got, code, "{number}");
                assert_eq!(message, code.default_message());
                assert!(provider_payment_id.is_some());
            }
            _ => panic!("{number}: expected {decline:?}, got {outcome:?}"),
        }
    }
    let declined = save(&cus, good("4000000000000002")).await.unwrap();
    let ChargeOutcome::Declined { code, .. } = Sandbox
        .charge(&charge_of(&cus, &declined.provider_ref, 10_000_000, "k"))
        .await
        .unwrap()
    else {
        panic!("declined");
    };
    assert_eq!(code.as_str(), "card_declined");
    assert_eq!(
        DeclineCode::InsufficientFunds.as_str(),
        "insufficient_funds"
    );
}

#[tokio::test]
async fn bad_card_numbers_are_refused() {
    let cus = customer("org_1").await;
    for (number, error) in [
        ("4242424242424241", CardError::BadChecksum),
        ("4000000000000003", CardError::BadChecksum),
        ("424242424242", CardError::BadLength),
        ("42424242424242424242", CardError::BadLength),
        ("", CardError::BadLength),
        ("4242-4242-4242-424x", CardError::NotDigits),
        ("four two four two", CardError::NotDigits),
        ("4242424242424242\u{0}", CardError::NotDigits),
        ("٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢", CardError::NotDigits),
    ] {
        let err = save(&cus, good(number)).await.unwrap_err();
        assert!(
            matches!(err, PaymentError::InvalidCard(e) if e == error),
            "{number:?}: {err:?}"
        );
        assert_eq!(error.field(), "card_number");
    }
}

#[tokio::test]
async fn bad_expiry_dates_are_refused() {
    let cus = customer("org_1").await;
    let today = Utc.timestamp_millis_opt(now()).unwrap();
    let (y, m) = (u32::try_from(today.year()).unwrap(), today.month());
    // Good through the end of the expiry month.
    assert!(save(&cus, card("4242424242424242", m, y, "123"))
        .await
        .is_ok());
    for (month, year, error) in [
        (m - 1, y, CardError::Expired),
        (12, y - 1, CardError::Expired),
        (13, y + 1, CardError::BadExpiryMonth),
        (0, y + 1, CardError::BadExpiryMonth),
        (12, 30, CardError::BadExpiryYear),
        (12, 1999, CardError::BadExpiryYear),
        (12, 9999, CardError::BadExpiryYear),
        (12, y + 21, CardError::BadExpiryYear),
        (12, u32::MAX, CardError::BadExpiryYear),
    ] {
        let err = save(&cus, card("4242424242424242", month, year, "123"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, PaymentError::InvalidCard(e) if e == error),
            "{month}/{year}: {err:?}"
        );
    }
    // The same card is fine a year earlier: expiry is judged against the injected now.
    let a_year_ago = now() - 366 * 24 * 3600 * 1000;
    assert!(Sandbox
        .save_card(&cus, &card("4242424242424242", m, y - 1, "123"), a_year_ago)
        .await
        .is_ok());
}

#[tokio::test]
async fn bad_security_codes_are_refused() {
    let cus = customer("org_1").await;
    for cvc in ["", "1", "12", "12345", "abc", "12a", "1 2 3"] {
        let err = save(&cus, card("4242424242424242", 12, 2030, cvc))
            .await
            .unwrap_err();
        assert!(
            matches!(err, PaymentError::InvalidCard(CardError::BadCvc)),
            "{cvc:?}: {err:?}"
        );
    }
    for cvc in ["123", "1234"] {
        assert!(save(&cus, card("4242424242424242", 12, 2030, cvc))
            .await
            .is_ok());
    }
}

#[tokio::test]
async fn card_numbers_and_codes_never_show_in_debug_or_errors() {
    let details = CardDetails {
        card_number: "4000000000009995".into(),
        exp_month: 12,
        exp_year: 2030,
        cvc: "987".into(),
    };
    let input = CardInput::Details(details.clone());
    let shown = format!("{details:?} {input:?} {details:#?}");
    assert!(!shown.contains("4000000000009995"), "{shown}");
    assert!(!shown.contains("9995") && !shown.contains("987"), "{shown}");
    assert!(
        shown.contains("[redacted]") && shown.contains("2030"),
        "{shown}"
    );

    let cus = customer("org_1").await;
    let bad = CardDetails {
        card_number: "4000000000009996".into(),
        ..details
    };
    let err = save(&cus, CardInput::Details(bad)).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("4000000000009996"), "{shown}");

    // The JSON body of the sandbox card form deserializes straight into CardDetails.
    let parsed: CardDetails = serde_json::from_str(
        r#"{"card_number":"4242424242424242","exp_month":12,"exp_year":2030,"cvc":"123"}"#,
    )
    .unwrap();
    assert!(!format!("{parsed:?}").contains("4242424242424242"));
}

#[tokio::test]
async fn the_same_key_answers_the_first_outcome_and_retrieval_recomputes_it() {
    let cus = customer("org_1").await;
    let visa = save(&cus, good("4242424242424242"))
        .await
        .unwrap()
        .provider_ref;
    let request = charge_of(&cus, &visa, 25_000_000, "pay_01");
    let first = Sandbox.charge(&request).await.unwrap();
    let again = Sandbox.charge(&request).await.unwrap();
    assert_eq!(first, again);

    // After a "restart": a new provider built from the configuration recomputes the same.
    let restarted = Payments::from_config(&PaymentsConfig::Sandbox).unwrap();
    assert_eq!(restarted.charge(&request).await.unwrap(), first);
    let id = first.provider_payment_id().unwrap();
    assert_eq!(
        restarted.retrieve_charge(&request, None).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        restarted.retrieve_charge(&request, Some(id)).await.unwrap(),
        Some(first.clone())
    );
    assert!(matches!(
        restarted
            .retrieve_charge(&request, Some("pi_sbx_other"))
            .await,
        Err(PaymentError::InvalidRequest(_))
    ));

    let other_key = Sandbox
        .charge(&charge_of(&cus, &visa, 25_000_000, "pay_02"))
        .await
        .unwrap();
    assert_ne!(other_key.provider_payment_id(), first.provider_payment_id());
    let other_amount = Sandbox
        .charge(&charge_of(&cus, &visa, 30_000_000, "pay_01"))
        .await
        .unwrap();
    assert_ne!(
        other_amount.provider_payment_id(),
        first.provider_payment_id()
    );

    let declined = save(&cus, good("4000000000000002"))
        .await
        .unwrap()
        .provider_ref;
    let request = charge_of(&cus, &declined, 25_000_000, "pay_03");
    let first = Sandbox.charge(&request).await.unwrap();
    assert!(matches!(first, ChargeOutcome::Declined { .. }));
    assert_eq!(
        Sandbox.retrieve_charge(&request, None).await.unwrap(),
        Some(first)
    );
}

#[tokio::test]
async fn amounts_must_be_whole_cents_within_stripes_limits() {
    let cus = customer("org_1").await;
    let visa = save(&cus, good("4242424242424242"))
        .await
        .unwrap()
        .provider_ref;
    for (micros, expected) in [
        (25_000_001, AmountError::FractionalCent(25_000_001)),
        (10_009_999, AmountError::FractionalCent(10_009_999)),
        (0, AmountError::TooSmall),
        (-25_000_000, AmountError::TooSmall),
        (490_000, AmountError::TooSmall),
        (1_000_000_000_000, AmountError::TooLarge),
        (i64::MAX, AmountError::TooLarge),
    ] {
        let err = Sandbox
            .charge(&charge_of(&cus, &visa, micros, "k"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, PaymentError::InvalidAmount(e) if *e == expected),
            "{micros}: {err:?}"
        );
        assert!(!err.is_retryable());
    }
    for micros in [500_000, 10_000_000, 10_010_000, 999_999_990_000] {
        assert!(
            Sandbox
                .charge(&charge_of(&cus, &visa, micros, "k"))
                .await
                .is_ok(),
            "{micros}"
        );
    }
}

#[tokio::test]
async fn misuse_is_refused_before_anything_happens() {
    let ada = customer("org_ada").await;
    let bob = customer("org_bob").await;
    assert_ne!(ada, bob);
    assert_eq!(ada, customer("org_ada").await);
    let visa = save(&ada, good("4242424242424242"))
        .await
        .unwrap()
        .provider_ref;

    // Another organization's card.
    assert!(matches!(
        Sandbox
            .charge(&charge_of(&bob, &visa, 25_000_000, "k"))
            .await,
        Err(PaymentError::InvalidRequest(_))
    ));
    // A reference that is not the sandbox's.
    for bad in ["pm_1Abc", "pm_sbx_ok", "pm_sbx_bogus_00000000_00", ""] {
        assert!(
            matches!(
                Sandbox
                    .charge(&charge_of(&ada, &CardRef::new(bad), 25_000_000, "k"))
                    .await,
                Err(PaymentError::InvalidRequest(_))
            ),
            "{bad}"
        );
    }
    // Idempotency keys.
    for key in ["", "with space", &"k".repeat(201)] {
        assert!(matches!(
            Sandbox
                .charge(&charge_of(&ada, &visa, 25_000_000, key))
                .await,
            Err(PaymentError::InvalidRequest(_))
        ));
    }
    // Stripe's kind of input, and Stripe-only operations.
    let stripe_input = CardInput::PaymentMethod {
        payment_method_id: "pm_card_visa".into(),
    };
    assert!(matches!(
        save(&ada, stripe_input).await,
        Err(PaymentError::InvalidRequest(_))
    ));
    assert!(matches!(
        Sandbox.create_setup_intent(&ada).await,
        Err(PaymentError::Unsupported(..))
    ));
    assert!(Sandbox.ensure_customer("", "a@b.c", "A").await.is_err());
}

#[tokio::test]
async fn the_app_uses_the_sandbox_by_default() {
    let t = TestApp::spawn(Engine::Sqlite).await;
    assert_eq!(t.app.payments.kind(), ProviderKind::Sandbox);
    assert_eq!(t.app.payments.card_form(), CardForm::Sandbox);
    assert_eq!(t.app.payments.stripe_webhook_secret(), None);
    let cus = t
        .app
        .payments
        .ensure_customer("org_x", "ada@example.com", "Ada")
        .await
        .unwrap();
    let saved = t
        .app
        .payments
        .save_card(&cus, &good("4242424242424242"), t.app.now())
        .await
        .unwrap();
    let outcome = t
        .app
        .payments
        .charge(&charge_of(&cus, &saved.provider_ref, 25_000_000, "pay_1"))
        .await
        .unwrap();
    assert!(matches!(outcome, ChargeOutcome::Succeeded { .. }));
}

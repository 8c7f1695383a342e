#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The stripe provider end to end against the Stripe stand-in (`payments::stand_in`): what is
//! sent on the wire, card saving through a SetupIntent or an attach, charges that succeed or
//! are declined, idempotent retries, transport failures, and charge retrieval.

use tollgate_server::payments::stand_in::{
    StripeStandIn, STAND_IN_PUBLISHABLE_KEY, STAND_IN_SECRET_KEY,
};
use tollgate_server::payments::{
    CardBrand, CardDetails, CardForm, CardInput, CardRef, ChargeOutcome, ChargeRequest,
    CustomerRef, DeclineCode, PaymentError, PaymentProvider, Payments, PaymentsConfig,
    ProviderKind, StripeClient,
};

struct World {
    stand_in: StripeStandIn,
    stripe: StripeClient,
    customer: CustomerRef,
}

async fn world() -> World {
    let stand_in = StripeStandIn::start().await;
    let stripe = StripeClient::new(&stand_in.config()).unwrap();
    let customer = stripe
        .ensure_customer("org_acme", "ada@example.com", "Acme")
        .await
        .unwrap();
    World {
        stand_in,
        stripe,
        customer,
    }
}

impl World {
    async fn card(&self, magic: &str) -> CardRef {
        let input = CardInput::PaymentMethod {
            payment_method_id: magic.into(),
        };
        self.stripe
            .save_card(&self.customer, &input, 0)
            .await
            .unwrap()
            .provider_ref
    }

    fn charge(&self, card: &CardRef, micros: i64, key: &str) -> ChargeRequest {
        ChargeRequest {
            customer: self.customer.clone(),
            card: card.clone(),
            amount_micros: micros,
            idempotency_key: key.into(),
            description: "Tollgate credits".into(),
        }
    }
}

#[tokio::test]
async fn a_card_saved_through_a_setup_intent_is_charged() {
    let w = world().await;
    assert!(w.customer.as_str().starts_with("cus_"));
    let sent = &w.stand_in.requests_to("POST", "/v1/customers")[0];
    assert_eq!(
        sent.authorization.as_deref(),
        Some(&*format!("Bearer {STAND_IN_SECRET_KEY}"))
    );
    assert!(sent
        .content_type
        .as_deref()
        .unwrap()
        .starts_with("application/x-www-form-urlencoded"));
    assert_eq!(sent.stripe_version.as_deref(), Some("2024-06-20"));
    assert_eq!(sent.param("email"), Some("ada@example.com"));
    assert_eq!(sent.param("name"), Some("Acme"));
    assert_eq!(sent.param("metadata[tollgate_org_id]"), Some("org_acme"));
    assert!(sent.idempotency_key.is_some());

    // Asking again answers the same customer (Stripe replays the keyed request).
    let again = w
        .stripe
        .ensure_customer("org_acme", "ada@example.com", "Acme")
        .await
        .unwrap();
    assert_eq!(again, w.customer);

    let intent = w.stripe.create_setup_intent(&w.customer).await.unwrap();
    assert!(intent.id.starts_with("seti_"));
    assert!(intent
        .client_secret
        .starts_with(&format!("{}_secret_", intent.id)));
    let sent = &w.stand_in.requests_to("POST", "/v1/setup_intents")[0];
    assert_eq!(sent.param("customer"), Some(w.customer.as_str()));
    assert_eq!(sent.param("usage"), Some("off_session"));

    // The browser confirms it with Stripe.js, which hands back a PaymentMethod id.
    let pm = w
        .stand_in
        .confirm_setup_intent(&intent.id, "pm_card_visa")
        .unwrap();
    let input = CardInput::PaymentMethod {
        payment_method_id: pm.clone(),
    };
    let saved = w.stripe.save_card(&w.customer, &input, 0).await.unwrap();
    assert_eq!(saved.provider_ref.as_str(), pm);
    assert_eq!(saved.brand, CardBrand::Visa);
    assert_eq!(saved.last4, "4242");
    assert_eq!((saved.exp_month, saved.exp_year), (12, 2034));
    assert!(
        w.stand_in
            .requests()
            .iter()
            .all(|r| !r.path.ends_with("/attach")),
        "a card the SetupIntent attached is not attached again"
    );

    let outcome = w
        .stripe
        .charge(&w.charge(&saved.provider_ref, 25_000_000, "pay_01"))
        .await
        .unwrap();
    let ChargeOutcome::Succeeded {
        provider_payment_id,
    } = &outcome
    else {
        panic!("{outcome:?}");
    };
    assert!(provider_payment_id.starts_with("pi_"));
    let sent = &w.stand_in.requests_to("POST", "/v1/payment_intents")[0];
    for (name, value) in [
        ("amount", "2500"),
        ("currency", "usd"),
        ("customer", w.customer.as_str()),
        ("payment_method", pm.as_str()),
        ("off_session", "true"),
        ("confirm", "true"),
        ("payment_method_types[]", "card"),
        ("description", "Tollgate credits"),
        ("metadata[tollgate_idempotency_key]", "pay_01"),
    ] {
        assert_eq!(sent.param(name), Some(value), "{name}");
    }
    assert_eq!(
        sent.idempotency_key.as_deref(),
        Some(&*format!("{}:pay_01", w.customer))
    );
    assert_eq!(w.stand_in.succeeded_charges(), 1);
}

#[tokio::test]
async fn declines_are_outcomes_with_stripes_codes() {
    let w = world().await;
    let cases = [
        ("pm_card_visa", None),
        ("pm_card_mastercard", None),
        ("pm_card_amex", None),
        ("pm_card_chargeDeclined", Some(DeclineCode::CardDeclined)),
        (
            "pm_card_chargeCustomerFail",
            Some(DeclineCode::CardDeclined),
        ),
        (
            "pm_card_chargeDeclinedInsufficientFunds",
            Some(DeclineCode::InsufficientFunds),
        ),
        (
            "pm_card_chargeDeclinedExpiredCard",
            Some(DeclineCode::ExpiredCard),
        ),
        (
            "pm_card_chargeDeclinedIncorrectCvc",
            Some(DeclineCode::IncorrectCvc),
        ),
        (
            "pm_card_chargeDeclinedProcessingError",
            Some(DeclineCode::ProcessingError),
        ),
        (
            "pm_card_authenticationRequired",
            Some(DeclineCode::AuthenticationRequired),
        ),
    ];
    for (i, (magic, decline)) in cases.into_iter().enumerate() {
        let card = w.card(magic).await;
        assert!(card.as_str().starts_with("pm_") && card.as_str() != magic);
        let outcome = w
            .stripe
            .charge(&w.charge(&card, 10_000_000, &format!("pay_{i}")))
            .await
            .unwrap();
        match (decline, &outcome) {
            (None, ChargeOutcome::Succeeded { .. }) => {}
            (
                Some(code),
                ChargeOutcome::Declined {
                    code: got,
                    message,
                    provider_payment_id,
                },
            ) => {
                assert_eq!(*got, code, "{magic}");
                assert!(!message.is_empty());
                assert!(provider_payment_id.as_deref().unwrap().starts_with("pi_"));
            }
            _ => panic!("{magic}: expected {decline:?}, got {outcome:?}"),
        }
    }
    let attach = &w
        .stand_in
        .requests_to("POST", "/v1/payment_methods/pm_card_visa/attach")[0];
    assert_eq!(attach.param("customer"), Some(w.customer.as_str()));

    let insufficient = w.card("pm_card_chargeDeclinedInsufficientFunds").await;
    let outcome = w
        .stripe
        .charge(&w.charge(&insufficient, 10_000_000, "pay_x"))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        ChargeOutcome::Declined {
            code: DeclineCode::InsufficientFunds,
            message: "Your card has insufficient funds.".into(),
            provider_payment_id: outcome.provider_payment_id().map(str::to_owned),
        }
    );
    assert_eq!(w.stand_in.succeeded_charges(), 3);
}

#[tokio::test]
async fn a_retried_charge_answers_the_first_outcome_and_charges_once() {
    let w = world().await;
    let visa = w.card("pm_card_visa").await;
    let request = w.charge(&visa, 25_000_000, "pay_01");
    let first = w.stripe.charge(&request).await.unwrap();
    let second = w.stripe.charge(&request).await.unwrap();
    assert_eq!(first, second);
    assert!(matches!(first, ChargeOutcome::Succeeded { .. }));
    assert_eq!(
        w.stand_in.requests_to("POST", "/v1/payment_intents").len(),
        2
    );
    assert_eq!(w.stand_in.payment_intents_created(), 1);
    assert_eq!(w.stand_in.succeeded_charges(), 1);

    let declined = w.card("pm_card_chargeDeclined").await;
    let request = w.charge(&declined, 25_000_000, "pay_02");
    let first = w.stripe.charge(&request).await.unwrap();
    assert_eq!(w.stripe.charge(&request).await.unwrap(), first);
    assert_eq!(w.stand_in.payment_intents_created(), 2);

    // The same key with another amount is refused and charges nothing.
    let err = w
        .stripe
        .charge(&w.charge(&visa, 30_000_000, "pay_01"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PaymentError::IdempotencyConflict(_)),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_eq!(w.stand_in.payment_intents_created(), 2);

    // The same key for another organization is another charge.
    let other = w
        .stripe
        .ensure_customer("org_other", "bob@example.com", "Other")
        .await
        .unwrap();
    let other_card = w
        .stripe
        .save_card(
            &other,
            &CardInput::PaymentMethod {
                payment_method_id: "pm_card_visa".into(),
            },
            0,
        )
        .await
        .unwrap()
        .provider_ref;
    let outcome = w
        .stripe
        .charge(&ChargeRequest {
            customer: other,
            card: other_card,
            ..w.charge(&visa, 25_000_000, "pay_01")
        })
        .await
        .unwrap();
    assert!(matches!(outcome, ChargeOutcome::Succeeded { .. }));
    assert_eq!(w.stand_in.succeeded_charges(), 2);
}

#[tokio::test]
async fn transport_failures_are_retryable_errors_not_declines() {
    let w = world().await;
    let visa = w.card("pm_card_visa").await;
    let request = w.charge(&visa, 25_000_000, "pay_01");

    // Stripe has a bad moment: a 500, then the retry with the same key charges once.
    w.stand_in.fail_next_requests(1);
    let err = w.stripe.charge(&request).await.unwrap_err();
    assert!(matches!(err, PaymentError::Unavailable(_)), "{err:?}");
    assert!(err.is_retryable());
    assert!(matches!(
        w.stripe.charge(&request).await.unwrap(),
        ChargeOutcome::Succeeded { .. }
    ));
    assert_eq!(w.stand_in.payment_intents_created(), 1);

    // Nobody listening at all.
    let config = w.stand_in.config();
    w.stand_in.stop().await;
    let down = StripeClient::new(&config).unwrap();
    let err = down.charge(&request).await.unwrap_err();
    assert!(matches!(err, PaymentError::Unavailable(_)), "{err:?}");
    assert!(err.is_retryable());
    let err = down
        .ensure_customer("org_1", "a@example.com", "A")
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn refusals_that_retrying_cannot_fix() {
    let w = world().await;
    let visa = w.card("pm_card_visa").await;

    let mut wrong_key = w.stand_in.config();
    wrong_key.secret_key = "sk_test_wrong".into();
    let err = StripeClient::new(&wrong_key)
        .unwrap()
        .charge(&w.charge(&visa, 25_000_000, "pay_01"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PaymentError::Provider { status: 401, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());

    let before = w.stand_in.requests().len();
    for micros in [25_000_001, 0, -1, 100_000] {
        assert!(matches!(
            w.stripe.charge(&w.charge(&visa, micros, "pay_02")).await,
            Err(PaymentError::InvalidAmount(_))
        ));
    }
    let numbers = CardInput::Details(CardDetails {
        card_number: "4242424242424242".into(),
        exp_month: 12,
        exp_year: 2030,
        cvc: "123".into(),
    });
    assert!(matches!(
        w.stripe.save_card(&w.customer, &numbers, 0).await,
        Err(PaymentError::InvalidRequest(_))
    ));
    for bad in ["pm_../../v1/customers", "pm_a?x=1", "card_123", ""] {
        let input = CardInput::PaymentMethod {
            payment_method_id: bad.into(),
        };
        assert!(matches!(
            w.stripe.save_card(&w.customer, &input, 0).await,
            Err(PaymentError::InvalidRequest(_))
        ));
    }
    assert_eq!(
        w.stand_in.requests().len(),
        before,
        "nothing reached Stripe"
    );

    let unknown = CardInput::PaymentMethod {
        payment_method_id: "pm_doesnotexist".into(),
    };
    let err = w
        .stripe
        .save_card(&w.customer, &unknown, 0)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PaymentError::Provider { status: 404, code: Some(c), .. } if c == "resource_missing"),
        "{err:?}"
    );

    // A card another customer saved cannot be taken over.
    let intent = w.stripe.create_setup_intent(&w.customer).await.unwrap();
    let pm = w
        .stand_in
        .confirm_setup_intent(&intent.id, "pm_card_visa")
        .unwrap();
    let other = w
        .stripe
        .ensure_customer("org_other", "bob@example.com", "Other")
        .await
        .unwrap();
    let input = CardInput::PaymentMethod {
        payment_method_id: pm,
    };
    assert!(matches!(
        w.stripe.save_card(&other, &input, 0).await,
        Err(PaymentError::InvalidRequest(_))
    ));
}

#[tokio::test]
async fn charges_are_retrieved_by_id_or_by_key() {
    let w = world().await;
    let visa = w.card("pm_card_visa").await;
    let request = w.charge(&visa, 25_000_000, "pay_01");
    let outcome = w.stripe.charge(&request).await.unwrap();
    let id = outcome.provider_payment_id().unwrap().to_owned();
    assert_eq!(
        w.stripe.retrieve_charge(&request, Some(&id)).await.unwrap(),
        Some(outcome.clone())
    );
    assert_eq!(
        w.stripe.retrieve_charge(&request, None).await.unwrap(),
        Some(outcome.clone())
    );
    let never_sent = w.charge(&visa, 25_000_000, "pay_never");
    assert_eq!(
        w.stripe.retrieve_charge(&never_sent, None).await.unwrap(),
        None
    );
    assert_eq!(
        w.stripe
            .retrieve_charge(&never_sent, Some("pi_doesnotexist"))
            .await
            .unwrap(),
        None
    );
    // An id that belongs to another request is not taken for this one.
    assert!(matches!(
        w.stripe.retrieve_charge(&never_sent, Some(&id)).await,
        Err(PaymentError::InvalidRequest(_))
    ));

    let declined = w.card("pm_card_chargeDeclinedInsufficientFunds").await;
    let request = w.charge(&declined, 25_000_000, "pay_02");
    let outcome = w.stripe.charge(&request).await.unwrap();
    assert_eq!(
        w.stripe.retrieve_charge(&request, None).await.unwrap(),
        Some(outcome)
    );

    // A payment that is still processing is pending until Stripe settles it.
    let slow = w.card("pm_standin_processing").await;
    let request = w.charge(&slow, 25_000_000, "pay_03");
    let ChargeOutcome::Pending {
        provider_payment_id,
    } = w.stripe.charge(&request).await.unwrap()
    else {
        panic!("pending");
    };
    assert!(matches!(
        w.stripe.retrieve_charge(&request, None).await.unwrap(),
        Some(ChargeOutcome::Pending { .. })
    ));
    assert!(w
        .stand_in
        .set_payment_intent_status(&provider_payment_id, "succeeded"));
    assert_eq!(
        w.stripe
            .retrieve_charge(&request, Some(&provider_payment_id))
            .await
            .unwrap(),
        Some(ChargeOutcome::Succeeded {
            provider_payment_id
        })
    );
}

#[tokio::test]
async fn lookup_by_key_reads_past_the_first_page() {
    let w = world().await;
    let visa = w.card("pm_card_visa").await;
    let first = w.charge(&visa, 1_000_000, "pay_first");
    let outcome = w.stripe.charge(&first).await.unwrap();
    for i in 0..105 {
        w.stripe
            .charge(&w.charge(&visa, 1_000_000, &format!("pay_{i}")))
            .await
            .unwrap();
    }
    assert_eq!(
        w.stripe.retrieve_charge(&first, None).await.unwrap(),
        Some(outcome)
    );
    let pages = w.stand_in.requests_to("GET", "/v1/payment_intents");
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0].param("customer"), Some(w.customer.as_str()));
    assert_eq!(pages[0].param("limit"), Some("100"));
    assert!(pages[1].param("starting_after").unwrap().starts_with("pi_"));
}

#[tokio::test]
async fn the_configured_provider_is_stripe() {
    let stand_in = StripeStandIn::start().await;
    let payments = Payments::from_config(&PaymentsConfig::Stripe(stand_in.config())).unwrap();
    assert_eq!(payments.kind(), ProviderKind::Stripe);
    assert_eq!(
        payments.card_form(),
        CardForm::Stripe {
            publishable_key: STAND_IN_PUBLISHABLE_KEY.into()
        }
    );
    assert!(payments.stripe_webhook_secret().is_some());
    let customer = payments
        .ensure_customer("org_1", "ada@example.com", "Ada")
        .await
        .unwrap();
    let intent = payments.create_setup_intent(&customer).await.unwrap();
    let pm = stand_in
        .confirm_setup_intent(&intent.id, "pm_card_mastercard")
        .unwrap();
    let card = payments
        .save_card(
            &customer,
            &CardInput::PaymentMethod {
                payment_method_id: pm,
            },
            0,
        )
        .await
        .unwrap();
    assert_eq!(
        (card.brand, card.last4.as_str()),
        (CardBrand::Mastercard, "4444")
    );
    let outcome = payments
        .charge(&ChargeRequest {
            customer,
            card: card.provider_ref,
            amount_micros: 10_000_000,
            idempotency_key: "pay_1".into(),
            description: "Tollgate credits".into(),
        })
        .await
        .unwrap();
    assert!(matches!(outcome, ChargeOutcome::Succeeded { .. }));
}

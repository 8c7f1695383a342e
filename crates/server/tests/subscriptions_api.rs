#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Subscriptions through the JSON API, on both engines: subscribe, upgrade (prorated),
//! downgrade and cancel at the period end (undoable), bad input, permissions, sold-out tiers.

mod subscriptions_common;

use serde_json::{json, Value};
use subscriptions_common::*;
use tollgate_domain::{Money, ProjectRole};
use tollgate_server::testing::{send, TestApp};
use tollgate_store::{on_both_engines, Engine};

const DAY: i64 = 86_400_000;

async fn tier_of(
    t: &TestApp,
    user: &tollgate_server::testing::TestUser,
    model: &str,
    tier: &str,
) -> Value {
    let (s, models) = send(user.client.get(t.url("/api/v1/models?limit=100"))).await;
    assert_eq!(s, 200);
    models["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == model)
        .unwrap()["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == tier)
        .unwrap()
        .clone()
}

async fn subscribe_upgrade_downgrade_and_cancel(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let model = "llama-3.1-8b-instruct";

    // No card: a clear 4xx, nothing created.
    let (s, e) = subscribe(&t, &ada, model, "starter").await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("no_payment_method")),
        "{e}"
    );
    assert!(e["error"]["message"].as_str().unwrap().contains("Payment"));

    save_card(&t, &ada.org_id, GOOD_CARD).await;
    let (s, sub) = subscribe(&t, &ada, model, "starter").await;
    assert_eq!(s, 201, "{sub}");
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["tier"], "starter");
    assert_eq!(sub["monthly_price"], "29.00");
    assert!(sub["id"].as_str().unwrap().starts_with("sub_"));
    assert_eq!(sub["changes_on"], Value::Null);
    let id = sub["id"].as_str().unwrap().to_owned();
    let payments = subscription_payments(&t, &ada.org_id).await;
    assert_eq!(payments.len(), 1);
    assert_eq!(
        (payments[0].0, payments[0].1.as_str()),
        (29_000_000, "succeeded")
    );
    assert_eq!(tier_of(&t, &ada, model, "starter").await["sold_out"], false);

    // Subscribing twice to one model.
    let (s, e) = subscribe(&t, &ada, model, "pro").await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("already_subscribed"))
    );

    // Upgrade a third of the way into the period: two thirds of the difference, in cents.
    let start = chrono::DateTime::parse_from_rfc3339(sub["current_period_start"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    let end = chrono::DateTime::parse_from_rfc3339(sub["current_period_end"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    assert!(
        (28 * DAY..=31 * DAY).contains(&(end - start)),
        "one calendar month"
    );
    t.clock.advance_ms(10 * DAY);
    // Sessions idle out long before that: sign in again.
    let (s, _) = send(
        ada.client
            .post(t.url("/api/v1/auth/login"))
            .json(&json!({"email": ada.email, "password": tollgate_server::testing::PASSWORD})),
    )
    .await;
    assert_eq!(s, 200);
    let url = format!("{}/{id}", subs_url(&t, &ada.org_id));
    let (s, up) = send(ada.client.patch(&url).json(&json!({"tier": "pro"}))).await;
    assert_eq!(s, 200, "{up}");
    assert_eq!(
        (up["tier"].as_str(), up["status"].as_str()),
        (Some("pro"), Some("active"))
    );
    assert_eq!(
        up["current_period_end"], sub["current_period_end"],
        "the period is kept"
    );
    let now = t.app.now();
    let prorated = tollgate_domain::ledger::prorated_difference(
        Money::from_micros(29_000_000),
        Money::from_micros(199_000_000),
        start,
        end,
        now,
    )
    .micros();
    let expected = (prorated + 5_000) / 10_000 * 10_000;
    let payments = subscription_payments(&t, &ada.org_id).await;
    assert_eq!(payments.len(), 2, "{payments:?}");
    assert!(
        payments
            .iter()
            .any(|p| p.0 == expected && p.1 == "succeeded"),
        "{payments:?} {expected}"
    );
    assert!(expected > 100_000_000 && expected < 170_000_000);

    // Downgrade: at the period end, shown as a change, undoable.
    let (s, e) = send(ada.client.patch(&url).json(&json!({"tier": "pro"}))).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("same_tier")),
        "downgrading to the current tier"
    );
    let (s, down) = send(ada.client.patch(&url).json(&json!({"tier": "starter"}))).await;
    assert_eq!(s, 200, "{down}");
    assert_eq!(
        (down["tier"].as_str(), down["pending_tier"].as_str()),
        (Some("pro"), Some("starter"))
    );
    assert_eq!(down["changes_on"], sub["current_period_end"]);
    let (s, undone) = send(ada.client.patch(&url).json(&json!({"tier": "pro"}))).await;
    assert_eq!(s, 200, "{undone}");
    assert_eq!(
        (undone["pending_tier"].clone(), undone["changes_on"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(
        subscription_payments(&t, &ada.org_id).await.len(),
        2,
        "no charge for downgrades"
    );

    // Cancel at the period end, undo, cancel again.
    let (s, c) = send(ada.client.delete(&url)).await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(
        (c["status"].as_str(), c["cancel_at_period_end"].as_bool()),
        (Some("active"), Some(true))
    );
    assert_eq!(c["changes_on"], sub["current_period_end"]);
    let (s, e) = send(ada.client.delete(&url)).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("cancel_pending"))
    );
    let (s, r) = send(
        ada.client
            .patch(&url)
            .json(&json!({"cancel_at_period_end": false})),
    )
    .await;
    assert_eq!((s, r["cancel_at_period_end"].as_bool()), (200, Some(false)));
    let (s, _) = send(ada.client.delete(&url)).await;
    assert_eq!(s, 200);

    let (s, list) = send(ada.client.get(subs_url(&t, &ada.org_id))).await;
    assert_eq!(s, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["id"], id.as_str());
    let audit = t
        .app
        .store
        .audit_log(&ada.org_id, tollgate_store::PageRequest::first(50))
        .await
        .unwrap();
    for action in [
        "subscription.create",
        "subscription.upgrade",
        "subscription.downgrade",
        "subscription.cancel",
        "subscription.resume",
    ] {
        assert!(audit.iter().any(|a| a.action == action), "{action} audited");
    }
}

async fn bad_input_permissions_and_other_orgs(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let eve = t.sign_up("eve@example.com").await;
    save_card(&t, &ada.org_id, GOOD_CARD).await;
    save_card(&t, &eve.org_id, GOOD_CARD).await;
    let model = "llama-3.1-8b-instruct";

    for (body, code) in [
        (json!({"model": "gpt-9", "tier": "pro"}), 422),
        (json!({"model": model, "tier": "platinum"}), 422),
        (json!({"model": model}), 422),
        (json!({"model": model, "tier": 5}), 422),
    ] {
        let (s, e) = send(ada.client.post(subs_url(&t, &ada.org_id)).json(&body)).await;
        assert_eq!(s, code, "{body}: {e}");
        assert!(e["error"]["message"].is_string());
    }
    let (s, _) = send(
        ada.client
            .post(subs_url(&t, &ada.org_id))
            .header("content-type", "application/json")
            .body("{"),
    )
    .await;
    assert_eq!(s, 400);
    assert!(subscription_payments(&t, &ada.org_id).await.is_empty());

    let (_, sub) = subscribe(&t, &ada, model, "starter").await;
    let url = format!(
        "{}/{}",
        subs_url(&t, &ada.org_id),
        sub["id"].as_str().unwrap()
    );
    let (s, e) = send(ada.client.patch(&url).json(&json!({"tier": "nope"}))).await;
    assert_eq!(s, 422, "{e}");
    let (s, _) = send(ada.client.patch(&url).json(&json!({}))).await;
    assert_eq!(s, 422);
    let (s, _) = send(
        ada.client
            .patch(&url)
            .json(&json!({"tier": "pro", "cancel_at_period_end": true})),
    )
    .await;
    assert_eq!(s, 422);

    // A member of Ada's organization who is not an admin: 403 on everything.
    let bob = t.sign_up("bob@example.com").await;
    let default = t.default_project(&ada.org_id).await;
    t.add_member(
        &ada.org_id,
        &bob.id,
        &[(&default, ProjectRole::ProjectAdmin)],
    )
    .await;
    for (s, e) in [
        send(bob.client.get(subs_url(&t, &ada.org_id))).await,
        send(
            bob.client
                .post(subs_url(&t, &ada.org_id))
                .json(&json!({"model": "llama-3.1-70b-instruct", "tier": "pro"})),
        )
        .await,
        send(bob.client.patch(&url).json(&json!({"tier": "pro"}))).await,
        send(bob.client.delete(&url)).await,
    ] {
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{e}"
        );
    }
    // Another organization's admin: 404, as if it did not exist.
    for (s, _) in [
        send(eve.client.get(subs_url(&t, &ada.org_id))).await,
        send(eve.client.patch(&url).json(&json!({"tier": "pro"}))).await,
        send(eve.client.delete(&url)).await,
        send(eve.client.delete(format!(
            "{}/{}",
            subs_url(&t, &eve.org_id),
            sub["id"].as_str().unwrap()
        )))
        .await,
        send(
            eve.client
                .delete(format!("{}/sub_nonsense", subs_url(&t, &eve.org_id))),
        )
        .await,
    ] {
        assert_eq!(s, 404);
    }
    let (_, unchanged) = send(ada.client.get(subs_url(&t, &ada.org_id))).await;
    assert_eq!(unchanged["data"][0]["tier"], "starter");
    assert_eq!(unchanged["data"][0]["cancel_at_period_end"], false);
    assert_eq!(subscription_payments(&t, &ada.org_id).await.len(), 1);

    // A declined card: 402, no subscription, a failed payment on record.
    let carl = t.sign_up("carl@example.com").await;
    save_card(&t, &carl.org_id, DECLINED_CARD).await;
    let (s, e) = subscribe(&t, &carl, model, "starter").await;
    assert_eq!(s, 402, "{e}");
    let (_, none) = send(carl.client.get(subs_url(&t, &carl.org_id))).await;
    assert_eq!(none["data"], json!([]));
    assert_eq!(subscription_payments(&t, &carl.org_id).await[0].1, "failed");
    assert_eq!(
        tier_of(&t, &carl, model, "starter").await["sold_out"],
        false
    );
    assert_eq!(
        t.app
            .tier_availability()
            .await
            .unwrap()
            .taken(model, "starter"),
        1,
        "the declined seat was given back"
    );
}

async fn sold_out_tiers_refuse_new_subscribers_and_keep_old_ones(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let bob = t.sign_up("bob@example.com").await;
    save_card(&t, &ada.org_id, GOOD_CARD).await;
    save_card(&t, &bob.org_id, GOOD_CARD).await;
    // Marked in the catalog file.
    let dedicated = tier_of(&t, &ada, "llama-3.1-70b-instruct", "dedicated").await;
    assert_eq!(dedicated["sold_out"], true);
    let (s, e) = subscribe(&t, &ada, "llama-3.1-70b-instruct", "dedicated").await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("tier_sold_out"))
    );
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Temporarily Sold Out"));

    // Marked by an operator (in the database), after Ada subscribed: Ada keeps it.
    let model = "llama-3.1-8b-instruct";
    let (s, sub) = subscribe(&t, &ada, model, "starter").await;
    assert_eq!(s, 201);
    t.app
        .store
        .set_tier_sold_out(model, "starter", Some(true), t.app.now())
        .await
        .unwrap();
    assert_eq!(tier_of(&t, &bob, model, "starter").await["sold_out"], true);
    let (s, _) = subscribe(&t, &bob, model, "starter").await;
    assert_eq!(s, 409);
    let (_, list) = send(ada.client.get(subs_url(&t, &ada.org_id))).await;
    assert_eq!(list["data"][0]["status"], "active");
    assert_eq!(list["data"][0]["id"], sub["id"]);
    // A downgrade to a sold-out tier is refused too.
    let (_, up) = send(
        ada.client
            .patch(format!(
                "{}/{}",
                subs_url(&t, &ada.org_id),
                sub["id"].as_str().unwrap()
            ))
            .json(&json!({"tier": "pro"})),
    )
    .await;
    assert_eq!(up["tier"], "pro");
    let (s, e) = send(
        ada.client
            .patch(format!(
                "{}/{}",
                subs_url(&t, &ada.org_id),
                sub["id"].as_str().unwrap()
            ))
            .json(&json!({"tier": "starter"})),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("tier_sold_out"))
    );

    // The operator opens it again; and opens the file-marked tier too.
    t.app
        .store
        .set_tier_sold_out(model, "starter", Some(false), t.app.now())
        .await
        .unwrap();
    t.app
        .store
        .set_tier_sold_out(
            "llama-3.1-70b-instruct",
            "dedicated",
            Some(false),
            t.app.now(),
        )
        .await
        .unwrap();
    assert_eq!(
        tier_of(&t, &bob, "llama-3.1-70b-instruct", "dedicated").await["sold_out"],
        false
    );
    let (s, _) = subscribe(&t, &bob, model, "starter").await;
    assert_eq!(s, 201);
    // Capacity 2: two subscribers fill Dedicated; a third is refused, and the tier shows it.
    let (s, _) = subscribe(&t, &bob, "llama-3.1-70b-instruct", "dedicated").await;
    assert_eq!(s, 201);
    let (s, _) = subscribe(&t, &ada, "llama-3.1-70b-instruct", "dedicated").await;
    assert_eq!(s, 201);
    assert_eq!(
        tier_of(&t, &ada, "llama-3.1-70b-instruct", "dedicated").await["sold_out"],
        true
    );
    let carl = t.sign_up("carl@example.com").await;
    save_card(&t, &carl.org_id, GOOD_CARD).await;
    let (s, e) = subscribe(&t, &carl, "llama-3.1-70b-instruct", "dedicated").await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("tier_sold_out"))
    );
}

async fn entitlement_follows_the_subscription(engine: Engine) {
    use tollgate_server::service::entitlement::Entitlement;
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let model = "llama-3.1-8b-instruct";
    let catalog = t.app.catalog.current();
    let m = catalog.model(model).unwrap();
    assert_eq!(
        t.app.entitlement(&ada.org_id, model).await.unwrap(),
        Entitlement::PayAsYouGo { limits: m.limits }
    );
    assert!(t.app.entitlement(&ada.org_id, "gpt-9").await.is_err());
    save_card(&t, &ada.org_id, GOOD_CARD).await;
    let (_, sub) = subscribe(&t, &ada, model, "starter").await;
    let e = t.app.entitlement(&ada.org_id, model).await.unwrap();
    assert_eq!(
        e,
        Entitlement::Subscription {
            tier: "starter".into(),
            limits: m.tiers[0].limits
        }
    );
    assert_eq!(e.plan(), "subscription");
    // Another model of the same organization stays pay-as-you-go.
    assert_eq!(
        t.app
            .entitlement(&ada.org_id, "llama-3.1-70b-instruct")
            .await
            .unwrap()
            .plan(),
        "payg"
    );
    // A second process sees an upgrade made by the first within a second.
    let other = t.spawn_sharing().await;
    assert_eq!(
        other
            .app
            .entitlement(&ada.org_id, model)
            .await
            .unwrap()
            .plan(),
        "subscription"
    );
    send(
        ada.client
            .patch(format!(
                "{}/{}",
                subs_url(&t, &ada.org_id),
                sub["id"].as_str().unwrap()
            ))
            .json(&json!({"tier": "pro"})),
    )
    .await;
    assert_eq!(
        t.app.entitlement(&ada.org_id, model).await.unwrap(),
        Entitlement::Subscription {
            tier: "pro".into(),
            limits: m.tiers[1].limits
        }
    );
    // Within the second, the other process still answers what it read.
    assert_eq!(
        other.app.entitlement(&ada.org_id, model).await.unwrap(),
        Entitlement::Subscription {
            tier: "starter".into(),
            limits: m.tiers[0].limits
        }
    );
    other.clock.advance_ms(1_001);
    assert_eq!(
        other.app.entitlement(&ada.org_id, model).await.unwrap(),
        Entitlement::Subscription {
            tier: "pro".into(),
            limits: m.tiers[1].limits
        }
    );
}

on_both_engines!(
    subscribe_upgrade_downgrade_and_cancel,
    bad_input_permissions_and_other_orgs,
    sold_out_tiers_refuse_new_subscribers_and_keep_old_ones,
    entitlement_follows_the_subscription,
);

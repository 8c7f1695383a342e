#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Every list of the API answers a bad `after` one way (docs/projects-and-keys.md, "Lists"):
//! garbage, a well-formed id that names nothing, and an id of the same kind from another
//! organization are each 400 `invalid_cursor`, on both engines. A real cursor pages on.

mod common;

use common::{create_key, create_project};
use serde_json::{json, Value};
use tollgate_domain::ProjectRole;
use tollgate_server::testing::{send, TestApp, TestUser};
use tollgate_store::{on_both_engines, Engine};

/// A list of Ada's organization, and one of its ids for a cursor.
struct Listed {
    path: String,
    /// The prefix of the list's ids (empty for the audit log's numbers).
    prefix: &'static str,
    /// An id of the same kind in Bob's organization.
    foreign: String,
}

async fn first_id(t: &TestApp, user: &TestUser, path: &str) -> String {
    let (s, v) = send(user.client.get(t.url(&format!("{path}?limit=1")))).await;
    assert_eq!(s, 200, "{path}: {v}");
    let item = &v["data"][0];
    match &item["id"] {
        Value::String(id) => id.clone(),
        Value::Number(n) => n.to_string(),
        _ => item["user_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: no id in {v}"))
            .to_owned(),
    }
}

async fn a_bad_cursor_is_400_on_every_list(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let bob = t.sign_up("bob@example.com").await;

    // Something in every list of both organizations: a project, a key, an invitation, a grant
    // and a payment (a purchase); each of them wrote an audit entry.
    let mut ids = Vec::new();
    for user in [&ada, &bob] {
        let org = &user.org_id;
        let project = create_project(&t, user, org, "Research").await;
        create_key(&t, user, org, &project).await;
        let (s, v) = send(
            user.client
                .post(t.url(&format!("/api/v1/orgs/{org}/invites")))
                .json(&json!({"emails": ["cy@example.com"], "role": "org_admin"})),
        )
        .await;
        assert_eq!(s, 201, "{v}");
        let billing = format!("/api/v1/orgs/{org}/billing");
        let (s, v) = send(
            user.client
                .put(t.url(&format!("{billing}/payment-method")))
                .json(&json!({"card_number": "4242424242424242", "exp_month": 12,
                              "exp_year": 2034, "cvc": "123"})),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let (s, v) = send(
            user.client
                .post(t.url(&format!("{billing}/credits")))
                .header("Idempotency-Key", "first")
                .json(&json!({"amount": "25"})),
        )
        .await;
        assert!(s == 200 || s == 201, "{s} {v}");
        ids.push(project);
    }
    // A member of each organization, in its project.
    for (org, project, email) in [
        (&ada.org_id, &ids[0], "cy@example.net"),
        (&bob.org_id, &ids[1], "dee@example.net"),
    ] {
        let member = t.sign_up(email).await;
        t.add_member(org, &member.id, &[(project, ProjectRole::ProjectMember)])
            .await;
    }
    let (ada_project, bob_project) = (&ids[0], &ids[1]);

    let lists = |org: &str, project: &str| {
        [
            (format!("/api/v1/orgs/{org}/projects"), "prj"),
            (
                format!("/api/v1/orgs/{org}/projects/{project}/api-keys"),
                "key",
            ),
            (
                format!("/api/v1/orgs/{org}/projects/{project}/members"),
                "usr",
            ),
            (format!("/api/v1/orgs/{org}/members"), "usr"),
            (format!("/api/v1/orgs/{org}/invites"), "inv"),
            (format!("/api/v1/orgs/{org}/billing/credit-grants"), "grt"),
            (format!("/api/v1/orgs/{org}/billing/payments"), "pay"),
            (format!("/api/v1/orgs/{org}/audit-log"), ""),
        ]
    };
    let mut listed = Vec::new();
    for ((path, prefix), (bob_path, _)) in lists(&ada.org_id, ada_project)
        .into_iter()
        .zip(lists(&bob.org_id, bob_project))
    {
        let foreign = first_id(&t, &bob, &bob_path).await;
        listed.push(Listed {
            path,
            prefix,
            foreign,
        });
    }

    for list in &listed {
        // A real cursor pages on.
        let first = first_id(&t, &ada, &list.path).await;
        let (s, v) = send(
            ada.client
                .get(t.url(&format!("{}?limit=1&after={first}", list.path))),
        )
        .await;
        assert_eq!(s, 200, "{} after its own {first}: {v}", list.path);

        let unknown = if list.prefix.is_empty() {
            "999999999".to_owned()
        } else {
            format!("{}_0123456789abcdef01234567", list.prefix)
        };
        for after in [
            "nope".to_owned(),
            "%00".to_owned(),
            format!("{}_%00", list.prefix),
            "-1".to_owned(),
            unknown,
            list.foreign.clone(),
        ] {
            let (s, v) = send(
                ada.client
                    .get(t.url(&format!("{}?after={after}", list.path))),
            )
            .await;
            assert_eq!(
                (s, v["error"]["code"].as_str()),
                (400, Some("invalid_cursor")),
                "{}?after={after}: {v}",
                list.path
            );
        }
    }
}

on_both_engines!(a_bad_cursor_is_400_on_every_list);

#![allow(clippy::unwrap_used, clippy::expect_used)]

//! DESIGN.md §2's permission table, run on the JSON API: every action, for every kind of
//! caller, answers what the table says — allowed, 403 (not allowed), 404 (not theirs to see)
//! or 401 (not signed in).

mod common;

use common::{create_key, create_project};
use serde_json::json;
use tollgate_domain::ProjectRole;
use tollgate_server::testing::{send, TestApp, TestUser};
use tollgate_store::{on_both_engines, Engine};

/// The callers: an org admin, the admin and a member of project P, the admin of another
/// project Q, a member of another organization, and someone not signed in.
const CALLERS: [&str; 6] = [
    "org admin",
    "admin of P",
    "member of P",
    "admin of Q",
    "other org",
    "anonymous",
];

#[derive(Debug, Clone, Copy)]
enum Action {
    ViewOrgSettings,
    RenameOrg,
    SetRequire2fa,
    ListMembers,
    Invite,
    ViewAuditLog,
    ListProjects,
    CreateProject,
    RenameProject,
    ArchiveProject,
    ViewProject,
    ListKeys,
    CreateKey,
    RevokeKey,
    RevokeKeyOfMemberOfP,
    ListProjectMembers,
    AddProjectMember,
    RemoveProjectMember,
    ListModels,
    ViewUsage,
    ViewProjectUsage,
    ViewRequestLog,
    ViewProjectRequests,
    ViewOrgSpendLimit,
    SetOrgSpendLimit,
    ViewProjectSpendLimit,
    SetProjectSpendLimit,
    SetKeySpendLimit,
    DeleteKeySpendLimit,
    ViewOrgLimits,
    ViewProjectLimits,
    SetProjectLimits,
}

/// Expected status per caller, in `CALLERS` order.
const TABLE: [(Action, [u16; 6]); 32] = {
    use Action::*;
    [
        // view organization settings: everyone in it
        (ViewOrgSettings, [200, 200, 200, 200, 404, 401]),
        // settings: rename organization — org admins
        (RenameOrg, [200, 403, 403, 403, 404, 401]),
        // settings: require two-factor sign-in of all members — org admins (turning it off:
        // turning it on also needs the admin's own two-factor, see tests/org_two_factor.rs)
        (SetRequire2fa, [200, 403, 403, 403, 404, 401]),
        // see Members page, invite, change roles, remove members — org admins
        (ListMembers, [200, 403, 403, 403, 404, 401]),
        (Invite, [201, 403, 403, 403, 404, 401]),
        // audit log — org admins
        (ViewAuditLog, [200, 403, 403, 403, 404, 401]),
        // projects are listed to everyone in the organization (filtered to their own)
        (ListProjects, [200, 200, 200, 200, 404, 401]),
        // create / rename / archive projects — org admins
        (CreateProject, [201, 403, 403, 403, 404, 401]),
        (RenameProject, [200, 403, 403, 403, 404, 401]),
        (ArchiveProject, [200, 403, 403, 403, 404, 401]),
        // view a project, its keys (masked): all / assigned / assigned
        (ViewProject, [200, 200, 200, 404, 404, 401]),
        (ListKeys, [200, 200, 200, 404, 404, 401]),
        (ListProjectMembers, [200, 200, 200, 404, 404, 401]),
        // create / revoke API keys: all / assigned / own keys, assigned projects (the key to
        // revoke is the org admin's, then one the member of P created)
        (CreateKey, [201, 201, 201, 404, 404, 401]),
        (RevokeKey, [204, 204, 403, 404, 404, 401]),
        (RevokeKeyOfMemberOfP, [204, 204, 204, 404, 404, 401]),
        // add / remove project members: all / assigned / no
        (AddProjectMember, [200, 200, 403, 404, 404, 401]),
        (RemoveProjectMember, [204, 204, 403, 404, 404, 401]),
        // the model catalog: anyone signed in
        (ListModels, [200, 200, 200, 200, 200, 401]),
        // usage and the request log: everyone in the organization, for the projects they see
        // (org-wide questions answer for those only; another project is not found)
        (ViewUsage, [200, 200, 200, 200, 404, 401]),
        (ViewProjectUsage, [200, 200, 200, 404, 404, 401]),
        (ViewRequestLog, [200, 200, 200, 200, 404, 401]),
        (ViewProjectRequests, [200, 200, 200, 404, 404, 401]),
        // monthly spend limits: seen by whoever sees their target; the organization's and a
        // project's set by org admins, a key's by the project's admins too
        (ViewOrgSpendLimit, [200, 200, 200, 200, 404, 401]),
        (SetOrgSpendLimit, [200, 403, 403, 403, 404, 401]),
        (ViewProjectSpendLimit, [200, 200, 200, 404, 404, 401]),
        (SetProjectSpendLimit, [200, 403, 403, 403, 404, 401]),
        (SetKeySpendLimit, [200, 200, 403, 404, 404, 401]),
        (DeleteKeySpendLimit, [204, 204, 403, 404, 404, 401]),
        // rate limits: the organization's seen by everyone in it, a project's by whoever sees
        // the project; a project's set by org admins
        (ViewOrgLimits, [200, 200, 200, 200, 404, 401]),
        (ViewProjectLimits, [200, 200, 200, 404, 404, 401]),
        (SetProjectLimits, [200, 403, 403, 403, 404, 401]),
    ]
};

struct Fixture {
    t: TestApp,
    admin: TestUser,
    member_of_p: TestUser,
    org: tollgate_domain::OrgId,
    p: tollgate_domain::ProjectId,
    /// An organization member the project-member actions are done to.
    spare: String,
}

impl Fixture {
    fn url(&self, path: &str) -> String {
        self.t.url(&format!("/api/v1/orgs/{}{path}", self.org))
    }

    /// Sets a spend limit as the org admin.
    async fn set_limit(&self, path: &str) {
        let (s, body) = send(
            self.admin
                .client
                .put(self.url(path))
                .json(&json!({"monthly_limit": "10"})),
        )
        .await;
        assert_eq!(s, 200, "{body}");
    }

    /// Prepares what the action acts on (with the admin's client, so it always works) and
    /// returns the status of the action done by `client`.
    async fn run(&self, action: Action, client: &reqwest::Client) -> u16 {
        use Action::*;
        let (p, spare) = (&self.p, &self.spare);
        let request = match action {
            ViewOrgSettings => client.get(self.url("")),
            RenameOrg => client.patch(self.url("")).json(&json!({"name": "Renamed"})),
            SetRequire2fa => client
                .patch(self.url(""))
                .json(&json!({"require_2fa": false})),
            ListMembers => client.get(self.url("/members")),
            Invite => client
                .post(self.url("/invites"))
                .json(&json!({"emails": ["new@example.com"], "role": "project_member", "project_ids": [p]})),
            ViewAuditLog => client.get(self.url("/audit-log")),
            ListProjects => client.get(self.url("/projects")),
            CreateProject => client
                .post(self.url("/projects"))
                .json(&json!({"name": "New"})),
            RenameProject => client
                .patch(self.url(&format!("/projects/{p}")))
                .json(&json!({"name": "P again"})),
            ArchiveProject => {
                let x = create_project(&self.t, &self.admin, &self.org, "To archive").await;
                client.post(self.url(&format!("/projects/{x}/archive")))
            }
            ViewProject => client.get(self.url(&format!("/projects/{p}"))),
            ListKeys => client.get(self.url(&format!("/projects/{p}/api-keys"))),
            ListProjectMembers => client.get(self.url(&format!("/projects/{p}/members"))),
            CreateKey => client
                .post(self.url(&format!("/projects/{p}/api-keys")))
                .json(&json!({"name": "k"})),
            RevokeKey => {
                let (key, _) = create_key(&self.t, &self.admin, &self.org, p).await;
                client.delete(self.url(&format!("/projects/{p}/api-keys/{key}")))
            }
            RevokeKeyOfMemberOfP => {
                let (key, _) = create_key(&self.t, &self.member_of_p, &self.org, p).await;
                client.delete(self.url(&format!("/projects/{p}/api-keys/{key}")))
            }
            AddProjectMember => {
                send(
                    self.admin
                        .client
                        .delete(self.url(&format!("/projects/{p}/members/{spare}"))),
                )
                .await;
                client
                    .put(self.url(&format!("/projects/{p}/members/{spare}")))
                    .json(&json!({"role": "project_member"}))
            }
            RemoveProjectMember => {
                let (s, _) = send(
                    self.admin
                        .client
                        .put(self.url(&format!("/projects/{p}/members/{spare}")))
                        .json(&json!({"role": "project_member"})),
                )
                .await;
                assert_eq!(s, 200);
                client.delete(self.url(&format!("/projects/{p}/members/{spare}")))
            }
            ListModels => client.get(self.t.url("/api/v1/models")),
            ViewUsage => client.get(self.url("/usage?group_by=day,project")),
            ViewProjectUsage => client.get(self.url(&format!("/usage?project_id={p}"))),
            ViewRequestLog => client.get(self.url("/requests")),
            ViewProjectRequests => client.get(self.url(&format!("/requests?project_id={p}"))),
            ViewOrgLimits => client.get(self.url("/limits")),
            ViewProjectLimits => client.get(self.url(&format!("/projects/{p}/limits"))),
            SetProjectLimits => {
                let model = self.t.app.catalog.current().models()[0].id.clone();
                client
                    .put(self.url(&format!("/projects/{p}/limits/{model}")))
                    .json(&json!({"rpm": 1}))
            }
            ViewOrgSpendLimit => {
                self.set_limit("/spend-limit").await;
                client.get(self.url("/spend-limit"))
            }
            SetOrgSpendLimit => client
                .put(self.url("/spend-limit"))
                .json(&json!({"monthly_limit": "100"})),
            ViewProjectSpendLimit => {
                self.set_limit(&format!("/projects/{p}/spend-limit")).await;
                client.get(self.url(&format!("/projects/{p}/spend-limit")))
            }
            SetProjectSpendLimit => client
                .put(self.url(&format!("/projects/{p}/spend-limit")))
                .json(&json!({"monthly_limit": "100", "alert_thresholds": [90]})),
            SetKeySpendLimit => {
                let (key, _) = create_key(&self.t, &self.admin, &self.org, p).await;
                client
                    .put(self.url(&format!("/projects/{p}/api-keys/{key}/spend-limit")))
                    .json(&json!({"monthly_limit": "5.50"}))
            }
            DeleteKeySpendLimit => {
                let (key, _) = create_key(&self.t, &self.admin, &self.org, p).await;
                let path = format!("/projects/{p}/api-keys/{key}/spend-limit");
                self.set_limit(&path).await;
                client.delete(self.url(&path))
            }
        };
        send(request).await.0
    }
}

async fn the_permission_table_holds_on_the_api(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let admin = t.sign_up("admin@example.com").await;
    let pa_p = t.sign_up("pa-p@example.com").await;
    let pm_p = t.sign_up("pm-p@example.com").await;
    let pa_q = t.sign_up("pa-q@example.com").await;
    let other = t.sign_up("other@example.com").await;
    let spare = t.sign_up("spare@example.com").await;
    let org = admin.org_id.clone();
    let default = t.default_project(&org).await;
    let p = create_project(&t, &admin, &org, "P").await;
    let q = create_project(&t, &admin, &org, "Q").await;
    t.add_member(&org, &pa_p.id, &[(&p, ProjectRole::ProjectAdmin)])
        .await;
    t.add_member(&org, &pm_p.id, &[(&p, ProjectRole::ProjectMember)])
        .await;
    t.add_member(&org, &pa_q.id, &[(&q, ProjectRole::ProjectAdmin)])
        .await;
    t.add_member(&org, &spare.id, &[(&default, ProjectRole::ProjectMember)])
        .await;
    let anonymous = t.client();
    let fixture = Fixture {
        spare: spare.id.to_string(),
        t,
        admin,
        member_of_p: pm_p,
        org,
        p,
    };
    let clients = [
        &fixture.admin.client,
        &pa_p.client,
        &fixture.member_of_p.client,
        &pa_q.client,
        &other.client,
        &anonymous,
    ];

    let mut wrong = Vec::new();
    for (action, expected) in TABLE {
        for ((caller, client), want) in CALLERS.iter().zip(clients).zip(expected) {
            let got = fixture.run(action, client).await;
            if got != want {
                wrong.push(format!(
                    "{action:?} by {caller}: expected {want}, got {got}"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the permission table is not enforced:\n{}",
        wrong.join("\n")
    );
}

/// DESIGN §2 "Accounts' security": creating keys and buying credits also need a verified email
/// address. Where the table says yes, an unverified caller gets 403 `email_not_verified`; where
/// it says no, the table's own answer comes first (403 `forbidden`, or 404 for another
/// organization).
async fn an_unverified_address_may_not_create_keys_or_buy_credits(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let admin = t.sign_up("admin@example.com").await;
    let default = t.default_project(&admin.org_id).await;
    let outsider = t.sign_up("outsider@example.com").await;
    let c = t.client();
    let (status, body) = send(c.post(t.url("/api/v1/auth/signup")).json(
        &json!({"email": "new@example.com", "password": "correct horse battery", "name": "New"}),
    ))
    .await;
    assert_eq!(status, 201);
    let (id, own_org) = (
        tollgate_domain::UserId::parse(body["user"]["id"].as_str().unwrap()).unwrap(),
        tollgate_domain::OrgId::parse(body["organization"]["id"].as_str().unwrap()).unwrap(),
    );
    let own_default = t.default_project(&own_org).await;
    t.add_member(&admin.org_id, &id, &[(&default, ProjectRole::ProjectAdmin)])
        .await;
    let key = |org: &str, project: &str| {
        c.post(t.url(&format!("/api/v1/orgs/{org}/projects/{project}/api-keys")))
            .json(&json!({"name": "k"}))
    };
    let buy = |org: &str| {
        c.post(t.url(&format!("/api/v1/orgs/{org}/billing/credits")))
            .header("Idempotency-Key", "k-1")
            .json(&json!({"amount": "20.00"}))
    };
    let outsider_default = t.default_project(&outsider.org_id).await;
    let cases = [
        (
            "key in own org",
            key(&own_org, &own_default),
            403,
            "email_not_verified",
        ),
        (
            "key as project admin",
            key(&admin.org_id, &default),
            403,
            "email_not_verified",
        ),
        (
            "credits in own org",
            buy(&own_org),
            403,
            "email_not_verified",
        ),
        ("credits as a member", buy(&admin.org_id), 403, "forbidden"),
        (
            "key in another org",
            key(&outsider.org_id, &outsider_default),
            404,
            "not_found",
        ),
    ];
    for (what, request, status, code) in cases {
        let (got, body) = send(request).await;
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{what}"
        );
    }
}

on_both_engines!(
    the_permission_table_holds_on_the_api,
    an_unverified_address_may_not_create_keys_or_buy_credits,
);

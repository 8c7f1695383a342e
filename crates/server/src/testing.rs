//! `TestApp`: the whole server on a loopback port, with a fresh database and a clock that
//! tests move, and HTTP clients that keep cookies like a browser. Email goes to the memory
//! transport and is delivered only when a test says so (`deliver_emails`), so that what was
//! sent is deterministic; no background worker runs unless a test starts one.

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::header::{HeaderMap, HeaderValue, ORIGIN};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tollgate_domain::ManualClock;
use tollgate_store::testing::TestDb;
use tollgate_store::Engine;

use crate::email::{DeliveryReport, SentEmail};
use crate::{App, ServerConfig};

pub struct TestApp {
    pub app: Arc<App>,
    pub clock: Arc<ManualClock>,
    pub base: String,
    pub engine: Engine,
    shutdown: Option<oneshot::Sender<()>>,
    /// The database, owned by the first app on it (`None` for apps made by `spawn_sharing`).
    db: Option<TestDb>,
    db_url: String,
}

/// A signed-up user with their own cookie-keeping client.
pub struct TestUser {
    pub client: reqwest::Client,
    pub id: tollgate_domain::UserId,
    pub email: String,
    /// Their personal organization.
    pub org_id: tollgate_domain::OrgId,
}

pub const PASSWORD: &str = "correct horse battery";

#[allow(clippy::expect_used)]
impl TestApp {
    pub async fn spawn(engine: Engine) -> Self {
        Self::spawn_with(engine, |_| {}).await
    }

    pub async fn spawn_with(engine: Engine, configure: impl FnOnce(&mut ServerConfig)) -> Self {
        let db = TestDb::new(engine).await;
        let store = db.store().await;
        let url = db.url.clone();
        Self::start(engine, store, Some(db), url, configure).await
    }

    /// A second server on this one's database, as another process would be: its own caches,
    /// its own clock, the same data.
    pub async fn spawn_sharing(&self) -> Self {
        self.spawn_sharing_with(|_| {}).await
    }

    /// `spawn_sharing` with its own configuration (e.g. the same catalog file).
    pub async fn spawn_sharing_with(&self, configure: impl FnOnce(&mut ServerConfig)) -> Self {
        let store =
            tollgate_store::Store::connect(&self.db_url, tollgate_store::StoreOptions::default())
                .await
                .expect("connect to the shared database");
        Self::start(self.engine, store, None, self.db_url.clone(), configure).await
    }

    async fn start(
        engine: Engine,
        store: tollgate_store::Store,
        db: Option<TestDb>,
        db_url: String,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> Self {
        let mut config = ServerConfig::default();
        configure(&mut config);
        let clock = Arc::new(ManualClock::starting_now());
        let app = Arc::new(App::with_clock(store, config, clock.clone()).expect("app"));
        crate::metering::spawn(app.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let served = app.clone();
        tokio::spawn(async move {
            let _ = crate::serve(listener, served, async move {
                let _ = rx.await;
            })
            .await;
        });
        Self {
            app,
            clock,
            base: format!("http://{addr}"),
            engine,
            shutdown: Some(tx),
            db,
            db_url,
        }
    }

    /// Every message the memory transport has sent, oldest first. Messages reach it only
    /// through the worker: call `deliver_emails` first.
    pub fn sent_emails(&self) -> Vec<SentEmail> {
        self.app
            .mailer
            .memory_outbox()
            .expect("sent_emails needs the memory transport (the TestApp default)")
            .messages()
    }

    /// Runs the email worker once, now: delivers every message due at the test clock's time.
    pub async fn deliver_emails(&self) -> DeliveryReport {
        crate::email::deliver_due(&self.app)
            .await
            .expect("deliver emails")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A client that keeps cookies and sends this site's `Origin`, as a browser on the
    /// console would.
    pub fn client(&self) -> reqwest::Client {
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN, HeaderValue::from_str(&self.base).expect("origin"));
        reqwest::Client::builder()
            .cookie_store(true)
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// A client that keeps cookies but sends no `Origin` (like curl, or a forged request).
    pub fn bare_client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    pub async fn sign_up(&self, email: &str) -> TestUser {
        let client = self.client();
        let r = client
            .post(self.url("/api/v1/auth/signup"))
            .json(&json!({"email": email, "password": PASSWORD, "name": "Test User"}))
            .send()
            .await
            .expect("signup");
        assert_eq!(r.status(), 201, "sign-up of {email}");
        let body: Value = r.json().await.expect("json");
        let id = body["user"]["id"]
            .as_str()
            .and_then(tollgate_domain::UserId::parse)
            .expect("sign-up answers a user id");
        // Most tests act as a settled customer: the address is verified as following the
        // emailed link would (tests of verification itself sign up without this helper).
        self.verify_email_of(email.trim().to_lowercase().as_str())
            .await;
        TestUser {
            client,
            id,
            email: email.to_owned(),
            org_id: body["organization"]["id"]
                .as_str()
                .and_then(tollgate_domain::OrgId::parse)
                .expect("sign-up answers an organization id"),
        }
    }
}

#[allow(clippy::expect_used)]
impl TestApp {
    /// Verifies the address of a user who just signed up, as they would: follows the link of
    /// the verification email sent to `email`, then removes that email from the outbox so that
    /// tests counting emails see only their own.
    pub async fn verify_email_of(&self, email: &str) {
        let messages = self.app.store.outbox_messages(1000).await.expect("outbox");
        let message = messages
            .iter()
            .find(|m| m.kind == "email_verification" && m.to == email)
            .expect("a verification email for the new account");
        let link = crate::email::transport::first_link(&message.text_body).expect("a link");
        let token = link.rsplit('/').next().expect("a token");
        self.app
            .verify_email(token, &crate::auth::ClientInfo::default())
            .await
            .expect("verify the email address");
        self.app
            .store
            .discard_email(message.id)
            .await
            .expect("discard the verification email");
    }

    /// The id of an organization's Default project.
    pub async fn default_project(
        &self,
        org_id: &tollgate_domain::OrgId,
    ) -> tollgate_domain::ProjectId {
        self.app
            .store
            .default_project(org_id)
            .await
            .expect("query")
            .expect("every organization has a Default project")
            .id
    }

    /// Makes `user_id` a member of `org_id` with `projects` assigned (a member needs at least
    /// one active project to have access).
    pub async fn add_member(
        &self,
        org_id: &tollgate_domain::OrgId,
        user_id: &tollgate_domain::UserId,
        projects: &[(&tollgate_domain::ProjectId, tollgate_domain::ProjectRole)],
    ) {
        let now = self.app.now();
        self.app
            .store
            .add_membership(org_id, user_id, tollgate_domain::OrgRole::Member, now)
            .await
            .expect("add membership");
        for (project_id, role) in projects {
            self.app
                .store
                .set_project_member(
                    org_id,
                    project_id,
                    user_id,
                    *role,
                    now,
                    tollgate_store::AuditEntry {
                        actor_id: None,
                        actor_email: None,
                        action: "project.member.set",
                        target_type: "project",
                        target_id: project_id,
                        details: json!({"user_id": user_id, "role": role.as_str()}),
                        ip: None,
                    },
                )
                .await
                .expect("assign project");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // The database goes last, after the server that uses it was told to stop.
        drop(self.db.take());
    }
}

/// Sends a request and returns its status and JSON body (`Null` when the body is not JSON).
pub async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    #[allow(clippy::expect_used)]
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

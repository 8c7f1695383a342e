//! The binary as operators use it: `serve` on SQLite with defaults, two `serve` processes on one
//! PostgreSQL, `migrate`, `admin org`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{json, Value};
use support::{run, Server, TempDir};
use tollgate_store::testing::TestDb;
use tollgate_store::Engine;

fn client(origin: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("origin", origin.parse().unwrap());
    reqwest::Client::builder()
        .cookie_store(true)
        .default_headers(headers)
        .build()
        .unwrap()
}

async fn json(r: reqwest::RequestBuilder) -> (u16, Value) {
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_creates_and_migrates_the_sqlite_database_in_the_data_dir() {
    let data = TempDir::new("serve-sqlite");
    let dir = data.path().join("nested");
    let server = Server::start(&["--data-dir", dir.to_str().unwrap()], &[]);
    assert!(dir.join("tollgate.db").exists());
    let (s, health) = json(reqwest::Client::new().get(server.url("/healthz"))).await;
    assert_eq!((s, health["database"].as_str()), (200, Some("sqlite")));
    let page = reqwest::get(server.url("/login")).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("/assets/app.css"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_variables_configure_the_server() {
    let data = TempDir::new("serve-env");
    let db = data.path().join("via-env.db");
    let url = format!("sqlite:{}", db.display());
    let server = Server::start(&[], &[("TOLLGATE_DATABASE_URL", url.as_str())]);
    assert!(db.exists(), "TOLLGATE_DATABASE_URL was used");
    assert_eq!(
        reqwest::get(server.url("/healthz")).await.unwrap().status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_share_writes_and_sessions() {
    let db = TestDb::new(Engine::Postgres).await;
    let a = Server::start(&["--database-url", &db.url], &[]);
    let b = Server::start(&["--database-url", &db.url], &[]);
    assert_ne!(a.base, b.base);

    // Sign up on A; the session cookie works on B (cookies are per host, so copy it by hand).
    let on_a = client(&a.base);
    let r = on_a
        .post(a.url("/api/v1/auth/signup"))
        .json(&json!({"email": "ada@example.com", "password": "correct horse", "name": "Ada"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let org: Value = r.json().await.unwrap();
    let org_id = org["organization"]["id"].as_str().unwrap().to_owned();

    let on_b = client(&b.base);
    let (s, me) = json(on_b.get(b.url("/api/v1/me")).header("cookie", &cookie)).await;
    assert_eq!(
        (s, me["user"]["email"].as_str()),
        (200, Some("ada@example.com"))
    );

    // A write on B is seen on A.
    let (s, _) = json(
        on_b.patch(b.url(&format!("/api/v1/orgs/{org_id}")))
            .header("cookie", &cookie)
            .json(&json!({"name": "Renamed on B"})),
    )
    .await;
    assert_eq!(s, 200);
    let (_, seen) = json(on_a.get(a.url(&format!("/api/v1/orgs/{org_id}")))).await;
    assert_eq!(seen["name"], "Renamed on B");

    // The email is taken on both.
    let (s, _) =
        json(client(&b.base).post(b.url("/api/v1/auth/signup")).json(
            &json!({"email": "ada@example.com", "password": "correct horse", "name": "Ada"}),
        ))
        .await;
    assert_eq!(s, 409);

    // Logging out on A ends the session on B.
    let (s, _) = json(on_a.post(a.url("/api/v1/auth/logout"))).await;
    assert_eq!(s, 204);
    let (s, _) = json(on_b.get(b.url("/api/v1/me")).header("cookie", &cookie)).await;
    assert_eq!(s, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_and_admin_org_commands() {
    for engine in [Engine::Sqlite, Engine::Postgres] {
        let db = TestDb::new(engine).await;
        let (ok, _, err) = run(&["--database-url", &db.url, "migrate"]);
        assert!(ok, "{err}");
        let store = db.store().await;
        let email = tollgate_domain::Email::parse("ada@example.com").unwrap();
        let name = tollgate_domain::Name::parse("name", "Ada").unwrap();
        let (_, org) = store
            .create_user(
                tollgate_store::NewUser {
                    email: &email,
                    name: &name,
                    password_hash: "x",
                },
                &name,
                0,
            )
            .await
            .unwrap();

        let (ok, out, err) = run(&["--database-url", &db.url, "admin", "org", "show", &org.id]);
        assert!(ok, "{err}");
        assert!(
            out.contains(org.id.as_str())
                && out.contains("type:    personal")
                && out.contains("members: 1"),
            "{out}"
        );

        let (ok, out, err) = run(&[
            "--database-url",
            &db.url,
            "admin",
            "org",
            "set-type",
            &org.id,
            "enterprise",
        ]);
        assert!(ok, "{err}");
        assert!(out.contains("enterprise"), "{out}");
        assert_eq!(
            store.org(&org.id).await.unwrap().unwrap().org_type,
            tollgate_domain::OrgType::Enterprise
        );

        let (ok, _, err) = run(&[
            "--database-url",
            &db.url,
            "admin",
            "org",
            "set-type",
            &org.id,
            "galactic",
        ]);
        assert!(!ok && err.contains("galactic"), "{err}");
        let (ok, _, err) = run(&[
            "--database-url",
            &db.url,
            "admin",
            "org",
            "show",
            "org_0123456789abcdef01234567",
        ]);
        assert!(!ok && err.contains("no organization"), "{err}");
        // A malformed id is answered as an unknown one, by every org command, and a bad
        // type is still named before it.
        for command in [
            &["show", "org_nope"][..],
            &["suspend", "org_nope"],
            &["resume", "org_nope"],
            &["set-type", "org_nope", "team"],
        ] {
            let mut args = vec!["--database-url", &db.url, "admin", "org"];
            args.extend_from_slice(command);
            let (ok, _, err) = run(&args);
            assert!(
                !ok && err.contains("no organization org_nope"),
                "{command:?}: {err}"
            );
        }
        let (ok, _, err) = run(&[
            "--database-url",
            &db.url,
            "admin",
            "org",
            "set-type",
            "org_nope",
            "galactic",
        ]);
        assert!(!ok && err.contains("galactic"), "{err}");
    }
}

#[test]
fn bad_configuration_is_refused_with_a_reason() {
    let (ok, _, err) = run(&["--database-url", "mysql://x", "migrate"]);
    assert!(!ok && err.contains("not supported"), "{err}");
    let dir = TempDir::new("bad-config");
    let file = dir.path().join("t.toml");
    std::fs::write(&file, "lisen = 1\n").unwrap();
    let (ok, _, err) = run(&["--config", file.to_str().unwrap(), "migrate"]);
    assert!(!ok && err.contains("lisen"), "{err}");
}

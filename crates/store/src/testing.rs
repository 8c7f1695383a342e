//! Fresh databases for tests: a new SQLite file or a new PostgreSQL database per test.
//!
//! PostgreSQL is found through `TOLLGATE_TEST_POSTGRES_URL`. When it is not set, PostgreSQL
//! tests fail with a message saying so: a run that skipped half its storage tests must never
//! look green (`scripts/test` sets it).

use std::path::PathBuf;

use sqlx::{Connection, Executor, PgConnection};

use crate::{Conflict, Engine, Store, StoreError, StoreOptions};

pub const POSTGRES_URL_VAR: &str = "TOLLGATE_TEST_POSTGRES_URL";

/// A hold's id, or `None` when it was refused for lack of credit; any other error fails the
/// test.
#[allow(clippy::panic)]
pub fn held(placed: Result<String, StoreError>) -> Option<String> {
    match placed {
        Ok(id) => Some(id),
        Err(StoreError::Conflict(Conflict::InsufficientCredit)) => None,
        Err(e) => panic!("placing a hold failed: {e}"),
    }
}

/// Generates, for each named `async fn(Engine)`, a test on SQLite and a test on PostgreSQL.
#[macro_export]
macro_rules! on_both_engines {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$test($crate::Engine::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$test($crate::Engine::Postgres).await
            }
        }
    )*};
}

/// A database that exists for one test and is removed when dropped.
pub struct TestDb {
    pub url: String,
    pub engine: Engine,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Database { admin_url: String, name: String },
}

fn random_suffix() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().gen();
    format!("{n:016x}")
}

/// The PostgreSQL server URL for tests; panics with instructions when it is not configured.
#[allow(clippy::panic)]
pub fn postgres_admin_url() -> String {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{POSTGRES_URL_VAR} is not set: PostgreSQL tests need a server, e.g. \
             {POSTGRES_URL_VAR}=postgres://postgres@127.0.0.1:5432/postgres (scripts/test sets it)"
        ),
    }
}

/// `url` with its database name replaced.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map(|i| i + authority_start);
    let root = path_start.map_or(base, |i| &base[..i]);
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

#[allow(clippy::expect_used)]
impl TestDb {
    pub async fn new(engine: Engine) -> Self {
        match engine {
            Engine::Sqlite => {
                let dir = std::env::temp_dir().join(format!("tollgate-test-{}", random_suffix()));
                std::fs::create_dir_all(&dir).expect("create test dir");
                let url = format!("sqlite:{}", dir.join("tollgate.db").display());
                Self {
                    url,
                    engine,
                    cleanup: Cleanup::Dir(dir),
                }
            }
            Engine::Postgres => {
                let admin_url = postgres_admin_url();
                let name = format!("tollgate_test_{}", random_suffix());
                let mut conn = PgConnection::connect(&admin_url)
                    .await
                    .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {admin_url}: {e}"));
                conn.execute(format!("CREATE DATABASE {name}").as_str())
                    .await
                    .expect("create test database");
                conn.close().await.ok();
                Self {
                    url: with_database(&admin_url, &name),
                    engine,
                    cleanup: Cleanup::Database { admin_url, name },
                }
            }
        }
    }

    /// A store on this database, migrated.
    pub async fn store(&self) -> Store {
        let store = self.unmigrated_store().await;
        store.migrate().await.expect("migrate test store");
        store
    }

    /// A store on this database with no migration applied yet.
    pub async fn unmigrated_store(&self) -> Store {
        Store::connect(
            &self.url,
            StoreOptions {
                max_connections: 8,
                ..StoreOptions::default()
            },
        )
        .await
        .expect("connect test store")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Database { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime; a thread with its own runtime can block.
                let _ = std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    rt.block_on(async {
                        if let Ok(mut conn) = PgConnection::connect(&admin_url).await {
                            let _ = conn
                                .execute(
                                    format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
                                )
                                .await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_replaced() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h:5432", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/postgres?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}

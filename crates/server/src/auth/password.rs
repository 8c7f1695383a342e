//! Password hashing with argon2id (the argon2 crate's defaults: 19 MiB, 2 passes).
//! Hashing is slow on purpose, so it runs on the blocking pool, and only a few at once
//! ([`Passwords`]): unbounded, a burst of logins holds 19 MiB each until it is done.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Turns at hashing: at most `concurrency` hashes run at once; a caller that cannot get a turn
/// within `wait` is told so (and answers 503) instead of queueing without bound.
pub struct Passwords {
    permits: Arc<Semaphore>,
    wait: Duration,
    stats: Arc<Stats>,
}

#[derive(Default)]
struct Stats {
    verifications: AtomicU64,
    running: AtomicUsize,
    most_running: AtomicUsize,
}

/// One turn at hashing; it ends when the hash is done, even if the request was dropped.
pub struct Turn {
    _permit: OwnedSemaphorePermit,
    stats: Arc<Stats>,
}

impl Passwords {
    pub fn new(concurrency: usize, wait: Duration) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            wait,
            stats: Arc::default(),
        }
    }

    /// A turn, or `None` when none came free within the configured wait.
    pub async fn turn(&self) -> Option<Turn> {
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .ok()?
            .ok()?;
        let running = self.stats.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.stats.most_running.fetch_max(running, Ordering::SeqCst);
        Some(Turn {
            _permit: permit,
            stats: self.stats.clone(),
        })
    }

    /// Passwords checked so far (each one an argon2 computation).
    pub fn verifications(&self) -> u64 {
        self.stats.verifications.load(Ordering::SeqCst)
    }

    /// The most hashes that ran at once so far.
    pub fn most_at_once(&self) -> usize {
        self.stats.most_running.load(Ordering::SeqCst)
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.stats.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Turn {
    pub async fn hash(self, password: String) -> anyhow::Result<String> {
        tokio::task::spawn_blocking(move || {
            let _turn = self;
            hash_now(&password)
        })
        .await?
    }

    pub async fn verify(self, password: String, stored: Option<String>) -> anyhow::Result<bool> {
        self.stats.verifications.fetch_add(1, Ordering::SeqCst);
        tokio::task::spawn_blocking(move || {
            let _turn = self;
            verify_now(&password, stored)
        })
        .await?
    }
}

fn hash_now(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

/// Checks `password` against `stored`; with no stored hash (unknown email) it checks against a
/// dummy hash, so that both cases take the same time and get the same answer.
fn verify_now(password: &str, stored: Option<String>) -> anyhow::Result<bool> {
    let known = stored.is_some();
    let stored = match stored {
        Some(s) => s,
        None => dummy_hash()?.to_owned(),
    };
    let parsed =
        PasswordHash::new(&stored).map_err(|e| anyhow::anyhow!("stored password hash: {e}"))?;
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    Ok(known && ok)
}

fn dummy_hash() -> anyhow::Result<&'static str> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(h) = DUMMY.get() {
        return Ok(h);
    }
    let salt = SaltString::generate(&mut OsRng);
    let h = Argon2::default()
        .hash_password(b"not a real password", &salt)
        .map_err(|e| anyhow::anyhow!("hashing the dummy password: {e}"))?
        .to_string();
    Ok(DUMMY.get_or_init(|| h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let p = Passwords::new(1, Duration::from_secs(5));
        let h = p
            .turn()
            .await
            .unwrap()
            .hash("correct horse".into())
            .await
            .unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        let check = |pw: &'static str, stored: Option<String>| {
            let p = &p;
            async move {
                p.turn()
                    .await
                    .unwrap()
                    .verify(pw.into(), stored)
                    .await
                    .unwrap()
            }
        };
        assert!(check("correct horse", Some(h.clone())).await);
        assert!(!check("wrong horse", Some(h)).await);
        assert!(!check("not a real password", None).await);
        assert_eq!(p.verifications(), 3);
        assert_eq!(p.most_at_once(), 1);
    }

    #[tokio::test]
    async fn a_turn_not_free_within_the_wait_is_refused() {
        let p = Passwords::new(1, Duration::from_millis(50));
        let held = p.turn().await.unwrap();
        assert!(p.turn().await.is_none(), "the only turn is taken");
        drop(held);
        assert!(p.turn().await.is_some());
    }
}

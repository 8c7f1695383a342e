//! The in-memory part of key authentication: what is known about each key seen so far.
//!
//! - Entries are found by public id and hold the secret's digest, never the secret.
//! - `forget_*` drops entries when a key, project or organization changes; every drop bumps a
//!   generation, and an answer read from the database before a drop is not cached after it, so
//!   a slow look-up cannot put back what an invalidation just removed.
//! - Unknown public ids are remembered in a bounded set, so that repeated garbage costs no
//!   query and a flood of distinct garbage costs no more than `NEGATIVE_CAPACITY` entries.
//! - Entries are trusted only while the change log has been read recently (`mark_synced`):
//!   if this process stops hearing about changes, it stops answering from memory.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tollgate_domain::{CallerId, OrgId, ProjectId, Timestamp};

/// Who a valid key speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyIdentity {
    /// The API key, or the Playground's pass that stands in for one.
    pub key_id: CallerId,
    pub org_id: OrgId,
    pub project_id: ProjectId,
    /// The models the project may call; `None`: all.
    pub allowed_models: Option<Vec<String>>,
}

impl KeyIdentity {
    pub fn may_use_model(&self, model: &str) -> bool {
        self.allowed_models
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|m| m == model))
    }
}

/// Whether a known key may be used now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Revoked,
    ProjectArchived,
    OrgSuspended,
}

#[derive(Debug)]
pub struct Entry {
    pub digest: [u8; 32],
    pub identity: Arc<KeyIdentity>,
    pub status: KeyStatus,
    /// When "last used" was last written (or found written) for this key.
    pub last_used_written: AtomicI64,
}

pub enum Lookup {
    Known(Arc<Entry>),
    Unknown,
    /// Not in memory, or memory cannot be trusted right now: ask the database.
    Miss,
}

pub const NEGATIVE_CAPACITY: usize = 10_000;

/// How long entries stay trusted without news from the change log. Below the 1-second
/// promise (DESIGN §2: revocation reaches every process) with room for one late poll.
pub const TRUST_WITHOUT_SYNC: Duration = Duration::from_millis(800);

pub struct KeyCache {
    entries: RwLock<HashMap<String, Arc<Entry>>>,
    unknown: RwLock<HashSet<String>>,
    generation: AtomicU64,
    started: Instant,
    /// Milliseconds after `started` of the last successful read of the change log.
    synced_at_ms: AtomicU64,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyCache {
    pub fn new() -> Self {
        Self {
            entries: RwLock::default(),
            unknown: RwLock::default(),
            generation: AtomicU64::new(0),
            started: Instant::now(),
            synced_at_ms: AtomicU64::new(0),
        }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Records that every change up to now has been applied.
    pub fn mark_synced(&self) {
        self.synced_at_ms
            .store(self.elapsed_ms().max(1), Ordering::Release);
    }

    /// True while the change log has been read within `TRUST_WITHOUT_SYNC`.
    pub fn is_trusted(&self) -> bool {
        let synced = self.synced_at_ms.load(Ordering::Acquire);
        let limit = u64::try_from(TRUST_WITHOUT_SYNC.as_millis()).unwrap_or(u64::MAX);
        synced > 0 && self.elapsed_ms().saturating_sub(synced) <= limit
    }

    pub fn lookup(&self, public_id: &str) -> Lookup {
        if !self.is_trusted() {
            return Lookup::Miss;
        }
        if let Some(entry) = read(&self.entries).get(public_id) {
            return Lookup::Known(entry.clone());
        }
        if read(&self.unknown).contains(public_id) {
            return Lookup::Unknown;
        }
        Lookup::Miss
    }

    /// The generation to hand back to `insert` after a database read.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches what the database said, unless something was invalidated since `generation`.
    pub fn insert(&self, public_id: &str, entry: Arc<Entry>, generation: u64) {
        let mut entries = write(&self.entries);
        if self.generation.load(Ordering::Acquire) == generation {
            entries.insert(public_id.to_owned(), entry);
        }
    }

    /// Remembers that no key has this public id (bounded: when full, forget them all).
    pub fn insert_unknown(&self, public_id: &str) {
        let mut unknown = write(&self.unknown);
        if unknown.len() >= NEGATIVE_CAPACITY {
            unknown.clear();
        }
        unknown.insert(public_id.to_owned());
    }

    pub fn forget_key(&self, key_id: &str) {
        self.forget(|id| id.key_id.as_str() == key_id);
    }

    pub fn forget_project(&self, project_id: &str) {
        self.forget(|id| id.project_id == project_id);
    }

    pub fn forget_org(&self, org_id: &str) {
        self.forget(|id| id.org_id == org_id);
    }

    /// Drops everything, e.g. after the change log could not be read for a while.
    pub fn forget_all(&self) {
        self.forget(|_| true);
        write(&self.unknown).clear();
    }

    fn forget(&self, matches: impl Fn(&KeyIdentity) -> bool) {
        let mut entries = write(&self.entries);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.retain(|_, e| !matches(&e.identity));
    }

    pub fn len(&self) -> usize {
        read(&self.entries).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn unknown_len(&self) -> usize {
        read(&self.unknown).len()
    }
}

impl Entry {
    pub fn new(
        digest: [u8; 32],
        identity: KeyIdentity,
        status: KeyStatus,
        last_used: Option<Timestamp>,
    ) -> Self {
        Self {
            digest,
            identity: Arc::new(identity),
            status,
            last_used_written: AtomicI64::new(last_used.unwrap_or(i64::MIN)),
        }
    }

    /// True for the one caller that should write "last used" now: at most once per `every_ms`.
    pub fn claim_last_used_write(&self, now: Timestamp, every_ms: i64) -> bool {
        let previous = self.last_used_written.load(Ordering::Acquire);
        now.saturating_sub(previous) >= every_ms
            && self
                .last_used_written
                .compare_exchange(previous, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }
}

// A poisoned lock only means another thread panicked mid-update of a cache; the map is still
// a valid map, and the worst case is a stale entry that the next invalidation removes.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, project: &str, org: &str) -> Arc<Entry> {
        Arc::new(Entry::new(
            [0; 32],
            KeyIdentity {
                key_id: CallerId::from_stored(key.into()),
                org_id: OrgId::from_stored(org.into()),
                project_id: ProjectId::from_stored(project.into()),
                allowed_models: None,
            },
            KeyStatus::Active,
            None,
        ))
    }

    #[test]
    fn nothing_is_trusted_before_the_change_log_is_read() {
        let c = KeyCache::new();
        c.insert("p1", entry("k1", "p", "o"), c.generation());
        assert!(matches!(c.lookup("p1"), Lookup::Miss));
        c.mark_synced();
        assert!(matches!(c.lookup("p1"), Lookup::Known(_)));
    }

    #[test]
    fn invalidations_drop_by_key_project_and_org() {
        let c = KeyCache::new();
        c.mark_synced();
        for (p, k, proj, org) in [
            ("a", "k1", "p1", "o1"),
            ("b", "k2", "p1", "o1"),
            ("c", "k3", "p2", "o1"),
            ("d", "k4", "p3", "o2"),
        ] {
            c.insert(p, entry(k, proj, org), c.generation());
        }
        c.forget_key("k1");
        assert!(matches!(c.lookup("a"), Lookup::Miss));
        assert_eq!(c.len(), 3);
        c.forget_project("p1");
        assert_eq!(c.len(), 2);
        c.forget_org("o1");
        assert_eq!(c.len(), 1);
        assert!(matches!(c.lookup("d"), Lookup::Known(_)));
    }

    #[test]
    fn a_read_from_before_an_invalidation_is_not_cached() {
        let c = KeyCache::new();
        c.mark_synced();
        let generation = c.generation();
        // The key is revoked while the database read is in flight.
        c.forget_key("k1");
        c.insert("a", entry("k1", "p", "o"), generation);
        assert!(matches!(c.lookup("a"), Lookup::Miss));
        c.insert("a", entry("k1", "p", "o"), c.generation());
        assert!(matches!(c.lookup("a"), Lookup::Known(_)));
    }

    #[test]
    fn unknown_ids_are_bounded() {
        let c = KeyCache::new();
        c.mark_synced();
        for i in 0..(NEGATIVE_CAPACITY * 3) {
            c.insert_unknown(&format!("{i:016x}"));
            assert!(c.unknown_len() <= NEGATIVE_CAPACITY);
        }
        c.insert_unknown("x");
        assert!(matches!(c.lookup("x"), Lookup::Unknown));
        c.forget_all();
        assert_eq!(c.unknown_len(), 0);
    }

    #[test]
    fn last_used_is_claimed_once_per_interval() {
        let e = entry("k", "p", "o");
        assert!(e.claim_last_used_write(1_000_000, 60_000));
        assert!(!e.claim_last_used_write(1_000_001, 60_000));
        assert!(!e.claim_last_used_write(1_059_999, 60_000));
        assert!(e.claim_last_used_write(1_060_000, 60_000));
    }
}

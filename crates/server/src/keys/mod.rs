//! Key authentication: the one function the gateway calls for every request.
//!
//! `authenticate` turns `tg-<public id>-<secret>` into (organization, project, key), from memory
//! after the first look-up of a key. How memory is kept honest — invalidation here at once and,
//! through the database's change log, in every other process within a second — is in
//! `cache.rs` and docs/decisions/0004-key-cache.md.

pub mod cache;

use std::sync::Arc;

use tollgate_domain::api_key::{digests_match, KeyFormatError, PresentedKey};
use tollgate_domain::{CallerId, Clock};
use tollgate_store::{KeyCredentials, Store, StoreError};

use cache::{Entry, Lookup};
pub use cache::{KeyCache, KeyIdentity, KeyStatus};

/// "Last used" is written at most this often per key.
pub const LAST_USED_EVERY_MS: i64 = 60_000;

#[derive(Debug, thiserror::Error)]
pub enum KeyAuthError {
    #[error("no API key was given: send `Authorization: Bearer tg-…`")]
    Missing,
    #[error("the API key is malformed: {0}")]
    Malformed(#[from] KeyFormatError),
    /// No such key, or the secret does not match: one answer for both.
    #[error("the API key is not valid")]
    Unknown,
    #[error("this API key has been revoked")]
    Revoked,
    #[error("this API key's project has been archived")]
    ProjectArchived,
    #[error("this API key's organization has been suspended; contact support")]
    OrgSuspended,
    #[error("the stored digest of key {0} is not 32 bytes of hex")]
    CorruptDigest(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct KeyAuthenticator {
    store: Store,
    clock: Arc<dyn Clock>,
    cache: KeyCache,
}

impl KeyAuthenticator {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            cache: KeyCache::new(),
        }
    }

    /// The organization, project and key a presented key speaks for.
    pub async fn authenticate(&self, raw: &str) -> Result<Arc<KeyIdentity>, KeyAuthError> {
        let presented = PresentedKey::parse(raw)?;
        let digest = presented.secret_digest();
        let entry = match self.cache.lookup(presented.public_id) {
            Lookup::Known(entry) => entry,
            Lookup::Unknown => return Err(KeyAuthError::Unknown),
            Lookup::Miss => self.load(presented.public_id).await?,
        };
        if !digests_match(&entry.digest, &digest) {
            return Err(KeyAuthError::Unknown);
        }
        match entry.status {
            KeyStatus::Active => {}
            KeyStatus::Revoked => return Err(KeyAuthError::Revoked),
            KeyStatus::ProjectArchived => return Err(KeyAuthError::ProjectArchived),
            KeyStatus::OrgSuspended => return Err(KeyAuthError::OrgSuspended),
        }
        self.note_use(&entry);
        Ok(entry.identity.clone())
    }

    async fn load(&self, public_id: &str) -> Result<Arc<Entry>, KeyAuthError> {
        let generation = self.cache.generation();
        let Some(creds) = self.store.key_credentials(public_id).await? else {
            self.cache.insert_unknown(public_id);
            return Err(KeyAuthError::Unknown);
        };
        let entry = Arc::new(entry_from(creds)?);
        self.cache.insert(public_id, entry.clone(), generation);
        Ok(entry)
    }

    /// Writes "last used" in the background, at most once a minute per key.
    fn note_use(&self, entry: &Entry) {
        let now = self.clock.now_ms();
        if !entry.claim_last_used_write(now, LAST_USED_EVERY_MS) {
            return;
        }
        let store = self.store.clone();
        // Only API keys are cached here (`entry_from`); a Playground pass is never.
        let Some(key_id) = entry.identity.key_id.api_key().cloned() else {
            return;
        };
        tokio::spawn(async move {
            if let Err(e) = store.touch_api_key(&key_id, now, LAST_USED_EVERY_MS).await {
                tracing::warn!(error = %e, key = %key_id, "could not record an API key's last use");
            }
        });
    }

    pub fn forget_key(&self, key_id: &str) {
        self.cache.forget_key(key_id);
    }

    pub fn forget_project(&self, project_id: &str) {
        self.cache.forget_project(project_id);
    }

    pub fn forget_org(&self, org_id: &str) {
        self.cache.forget_org(org_id);
    }

    pub fn cache(&self) -> &KeyCache {
        &self.cache
    }
}

fn entry_from(c: KeyCredentials) -> Result<Entry, KeyAuthError> {
    let mut digest = [0u8; 32];
    hex::decode_to_slice(&c.secret_hash, &mut digest)
        .map_err(|_| KeyAuthError::CorruptDigest(c.key_id.to_string()))?;
    let status = if c.revoked {
        KeyStatus::Revoked
    } else if c.project_archived {
        KeyStatus::ProjectArchived
    } else if c.org_suspended {
        KeyStatus::OrgSuspended
    } else {
        KeyStatus::Active
    };
    Ok(Entry::new(
        digest,
        KeyIdentity {
            key_id: CallerId::ApiKey(c.key_id),
            org_id: c.org_id,
            project_id: c.project_id,
            allowed_models: c.allowed_models,
        },
        status,
        c.last_used_at,
    ))
}

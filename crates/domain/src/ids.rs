//! Prefixed random identifiers (`org_…`, `usr_…`): the prefix tells a reader what an id names.

use rand::RngCore;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdPrefix {
    User,
    Org,
    Project,
    ApiKey,
    Invite,
    Grant,
    Hold,
    Subscription,
    Payment,
    OperatorToken,
    /// A gateway request, and its usage record.
    Request,
    /// The console Playground's short-lived credential (the `key_id` of its usage records).
    PlaygroundPass,
    /// A signed-in session (its public id; the cookie holds a separate secret token).
    Session,
    /// A batch of usage records debited as one ledger entry (its idempotency key).
    UsageBatch,
}

impl IdPrefix {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "usr",
            Self::Org => "org",
            Self::Project => "prj",
            Self::ApiKey => "key",
            Self::Invite => "inv",
            Self::Grant => "grt",
            Self::Hold => "hld",
            Self::Subscription => "sub",
            Self::Payment => "pay",
            Self::OperatorToken => "opt",
            Self::Request => "req",
            Self::PlaygroundPass => "pgp",
            Self::Session => "ses",
            Self::UsageBatch => "ubt",
        }
    }
}

/// A new id: the prefix, `_`, and 96 random bits in lower-case hex.
pub fn new_id(prefix: IdPrefix) -> String {
    let mut bytes = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{}_{}", prefix.as_str(), hex::encode(bytes))
}

/// A new id that sorts by time: the prefix, `_`, the milliseconds since 1970 in 48 bits and 48
/// random bits, in the same 24 lower-case hex digits as `new_id` (so `is_well_formed` and the
/// typed ids' `parse` take it). For rows written in bulk and keyed by their id, the gateway's
/// usage records and their batches' ledger entries: in time order each batch lands at the end of
/// the id indexes (the records' primary key, the entries' keys) instead of on a random page of
/// them, which is
/// most of what a batch cost the database (docs/gateway.md, Benchmark; the ledger then had one
/// `usage:{id}` entry per record, and has one per batch since decision 0025). 48 random bits keep
/// ids of one millisecond apart; the time is not a secret, nor is it trusted for anything.
pub fn new_time_ordered_id(prefix: IdPrefix, unix_ms: i64) -> String {
    let mut random = [0u8; 6];
    rand::thread_rng().fill_bytes(&mut random);
    // Before 1970 counts as 1970; 48 bits of milliseconds last until the year 10889.
    let ms = u64::try_from(unix_ms).unwrap_or(0) & 0xffff_ffff_ffff;
    format!("{}_{ms:012x}{}", prefix.as_str(), hex::encode(random))
}

/// True when `id` has the shape `new_id(prefix)` produces. Lets handlers answer 404 for
/// garbage ids without a database round trip.
pub fn is_well_formed(prefix: IdPrefix, id: &str) -> bool {
    id.strip_prefix(prefix.as_str())
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|hex| {
            hex.len() == 24
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// Defines a typed id: a `String` newtype that is only ever built from an id of its own prefix,
/// so that one kind of id cannot be passed where another is expected.
///
/// - `generate()`: a new id (`new_id(prefix)`).
/// - `parse(&str)`: `Some` only for the shape `new_id` produces (`is_well_formed`); this is
///   how an id from outside (a path, a form, a query string, a JSON body) comes in.
/// - `from_stored(String)`: an id read back from the database. It is not checked again: the
///   database only holds ids this code generated (or a value read from a row that names
///   this kind of thing), and re-validating every row read would turn a harmless legacy value
///   into an error far from where it came from.
/// - `Deref<Target = str>`, `AsRef<str>`, `Display`, and comparisons with `str`, so a typed id
///   goes wherever a `&str` is taken (the store's functions).
/// - serde: serializes as the bare string; deserializing refuses a malformed id.
macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident, $prefix:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with.
            pub const PREFIX: IdPrefix = $prefix;

            /// A new, random id.
            pub fn generate() -> Self {
                Self(new_id($prefix))
            }

            /// The id, if `s` has the shape `generate` produces.
            pub fn parse(s: &str) -> Option<Self> {
                is_well_formed($prefix, s).then(|| Self(s.to_owned()))
            }

            /// An id read back from the database, taken as it is (see `typed_id!`).
            pub fn from_stored(s: String) -> Self {
                Self(s)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<&$name> for String {
            fn eq(&self, other: &&$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                if is_well_formed($prefix, &s) {
                    Ok(Self(s))
                } else {
                    Err(serde::de::Error::custom(concat!(
                        "not a well-formed ",
                        stringify!($name)
                    )))
                }
            }
        }
    };
}

typed_id!(
    /// An organization (`org_…`).
    OrgId,
    IdPrefix::Org
);
typed_id!(
    /// A project (`prj_…`).
    ProjectId,
    IdPrefix::Project
);
typed_id!(
    /// An API key (`key_…`), the public id of a key (not its secret).
    ApiKeyId,
    IdPrefix::ApiKey
);
typed_id!(
    /// A user (`usr_…`).
    UserId,
    IdPrefix::User
);
typed_id!(
    /// An invitation (`inv_…`).
    InviteId,
    IdPrefix::Invite
);
typed_id!(
    /// A subscription (`sub_…`).
    SubscriptionId,
    IdPrefix::Subscription
);
typed_id!(
    /// A payment (`pay_…`).
    PaymentId,
    IdPrefix::Payment
);
typed_id!(
    /// A signed-in session's public id (`ses_…`).
    SessionId,
    IdPrefix::Session
);
typed_id!(
    /// A gateway request and its usage record (`req_…`).
    RequestId,
    IdPrefix::Request
);

typed_id!(
    /// The console Playground's short-lived pass (`pgp_…`), which calls models in a key's place.
    PlaygroundPassId,
    IdPrefix::PlaygroundPass
);

/// What a gateway request was made with, and what its usage record's `key_id` names: an API
/// key, or the console Playground's pass (DESIGN §2: the Playground's usage is recorded like a
/// key's, under its own id). Stored and serialized as the bare id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(untagged)]
pub enum CallerId {
    ApiKey(ApiKeyId),
    Playground(PlaygroundPassId),
}

impl CallerId {
    pub fn as_str(&self) -> &str {
        match self {
            Self::ApiKey(id) => id.as_str(),
            Self::Playground(id) => id.as_str(),
        }
    }

    /// The API key, when it was one.
    pub fn api_key(&self) -> Option<&ApiKeyId> {
        match self {
            Self::ApiKey(id) => Some(id),
            Self::Playground(_) => None,
        }
    }

    /// A caller's id read back from the database (see `typed_id!`): a Playground pass by its
    /// prefix, anything else as the API key it names.
    pub fn from_stored(s: String) -> Self {
        if s.starts_with(IdPrefix::PlaygroundPass.as_str())
            && s.as_bytes().get(IdPrefix::PlaygroundPass.as_str().len()) == Some(&b'_')
        {
            Self::Playground(PlaygroundPassId::from_stored(s))
        } else {
            Self::ApiKey(ApiKeyId::from_stored(s))
        }
    }
}

impl From<ApiKeyId> for CallerId {
    fn from(id: ApiKeyId) -> Self {
        Self::ApiKey(id)
    }
}

impl From<PlaygroundPassId> for CallerId {
    fn from(id: PlaygroundPassId) -> Self {
        Self::Playground(id)
    }
}

impl std::fmt::Display for CallerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for CallerId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_is_a_key_or_a_playground_pass() {
        let key = ApiKeyId::generate();
        let pass = PlaygroundPassId::generate();
        let stored_key = CallerId::from_stored(key.to_string());
        let stored_pass = CallerId::from_stored(pass.to_string());
        assert_eq!(stored_key, CallerId::ApiKey(key.clone()));
        assert_eq!(stored_key.api_key(), Some(&key));
        assert_eq!(stored_pass, CallerId::Playground(pass.clone()));
        assert_eq!(stored_pass.api_key(), None);
        assert_eq!(stored_pass.as_str(), pass.as_str());
        assert_eq!(
            serde_json::to_value(&stored_pass).unwrap(),
            serde_json::json!(pass.as_str())
        );
    }

    #[test]
    fn ids_are_prefixed_and_distinct() {
        let a = new_id(IdPrefix::Org);
        let b = new_id(IdPrefix::Org);
        assert!(a.starts_with("org_"));
        assert_ne!(a, b);
        assert!(is_well_formed(IdPrefix::Org, &a));
        assert!(!is_well_formed(IdPrefix::User, &a));
        assert!(!is_well_formed(IdPrefix::Org, "org_xyz"));
        assert!(!is_well_formed(IdPrefix::Org, &a.to_uppercase()));
    }

    #[test]
    fn time_ordered_ids_sort_by_time_and_keep_the_shape() {
        let times = [
            0,
            1,
            999,
            1_733_300_000_000,
            1_733_300_000_001,
            4_102_444_800_000,
        ];
        let ids: Vec<String> = times
            .iter()
            .map(|t| new_time_ordered_id(IdPrefix::Request, *t))
            .collect();
        for id in &ids {
            assert!(is_well_formed(IdPrefix::Request, id), "{id}");
            assert!(RequestId::parse(id).is_some(), "{id}");
        }
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(sorted, ids, "in time order");
        assert!(ids[3].starts_with("req_0193"), "{}", ids[3]);
        // One millisecond: still distinct. Before 1970: as 1970.
        let same = new_time_ordered_id(IdPrefix::Request, 5);
        assert_ne!(same, new_time_ordered_id(IdPrefix::Request, 5));
        assert!(new_time_ordered_id(IdPrefix::Request, -1).starts_with("req_000000000000"));
    }

    #[test]
    fn typed_ids_parse_only_their_own_shape() {
        let org = OrgId::generate();
        assert!(org.starts_with("org_"));
        assert_eq!(OrgId::parse(org.as_str()), Some(org.clone()));
        assert_ne!(OrgId::generate(), org);
        // Another kind's id, upper case, wrong length, wrong alphabet, empty.
        let project = ProjectId::generate();
        assert_eq!(OrgId::parse(&project), None);
        assert_eq!(ProjectId::parse(&org), None);
        assert_eq!(OrgId::parse(&org.to_uppercase()), None);
        assert_eq!(OrgId::parse(&org[..org.len() - 1]), None);
        assert_eq!(OrgId::parse(&format!("{org}0")), None);
        assert_eq!(OrgId::parse("org_zzzzzzzzzzzzzzzzzzzzzzzz"), None);
        assert_eq!(OrgId::parse(""), None);
        assert_eq!(
            ApiKeyId::parse(&ApiKeyId::generate()).map(|k| k.starts_with("key_")),
            Some(true)
        );
        for id in [
            UserId::generate().into_string(),
            InviteId::generate().into_string(),
            SubscriptionId::generate().into_string(),
            PaymentId::generate().into_string(),
            SessionId::generate().into_string(),
            RequestId::generate().into_string(),
        ] {
            assert!(OrgId::parse(&id).is_none(), "{id}");
        }
    }

    #[test]
    fn typed_ids_read_like_strings() {
        let org = OrgId::generate();
        let s: &str = &org;
        assert_eq!(org, s);
        assert_eq!(org, *s);
        assert_eq!(org.to_string(), s);
        assert_eq!(org.as_ref(), s);
        assert_eq!(OrgId::from_stored(s.to_owned()), org);
    }

    #[test]
    fn typed_ids_serialize_as_strings_and_refuse_garbage() {
        let org = OrgId::generate();
        let json = serde_json::to_string(&org).unwrap();
        assert_eq!(json, format!("\"{org}\""));
        let back: OrgId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, org);
        assert!(serde_json::from_str::<OrgId>("\"org_xyz\"").is_err());
        assert!(serde_json::from_str::<OrgId>(
            &serde_json::to_string(&ProjectId::generate()).unwrap()
        )
        .is_err());
        assert!(serde_json::from_str::<OrgId>(&json.to_uppercase()).is_err());
        assert!(serde_json::from_str::<OrgId>("42").is_err());
    }
}

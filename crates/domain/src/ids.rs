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
        }
    }
}

/// A new id: the prefix, `_`, and 96 random bits in lower-case hex.
pub fn new_id(prefix: IdPrefix) -> String {
    let mut bytes = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{}_{}", prefix.as_str(), hex::encode(bytes))
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

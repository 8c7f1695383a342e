//! Typed ids read back from the database (decision 0011): a column is decoded as text and
//! wrapped with the id type's `from_stored`, unchecked (the database holds only ids the code
//! made). `#[sqlx(try_from = "StoredId")]` on a `FromRow` field of a typed id does this
//! (`TryFrom` through `From`, never failing).

use sqlx::any::{Any, AnyTypeInfo, AnyValueRef};
use sqlx::error::BoxDynError;
use sqlx::{Decode, Type};
use tollgate_domain::{ApiKeyId, OrgId, ProjectId, SessionId, UserId};

/// An id column as text, on its way to a typed id.
pub(crate) struct StoredId(String);

impl Type<Any> for StoredId {
    fn type_info() -> AnyTypeInfo {
        <String as Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        <String as Type<Any>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Any> for StoredId {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        <String as Decode<'r, Any>>::decode(value).map(Self)
    }
}

macro_rules! stored {
    ($($id:ty),+) => {$(
        impl From<StoredId> for $id {
            fn from(s: StoredId) -> Self {
                <$id>::from_stored(s.0)
            }
        }
    )+};
}

stored!(ApiKeyId, OrgId, ProjectId, SessionId, UserId);

//! The `after` cursor of a list: the id of the last item of the previous page. Every list reads
//! it the same way before reading a page: one query finds the item the cursor names within the
//! list's scope (the organization, the project) and returns its place in the list's order (its
//! sort key), which the page query then starts after. A cursor that names no item of the list
//! is `NotFound`, which the service answers as 400 `invalid_cursor`: an unknown cursor never
//! silently reads as page 1 or as an empty page.

use sqlx::any::AnyRow;
use sqlx::{Any, Encode, Executor, FromRow, Type};

use crate::{Result, StoreError};

/// How a list finds the item a cursor names and its sort key:
/// `SELECT <sort key> FROM … WHERE <scope> = $1 AND <id> = $2`, fixed by the code.
pub(crate) struct Listed(pub &'static str);

/// The sort key of the item `after` names in `listed` within `scope`; `None` without a cursor,
/// `NotFound` when it names nothing there.
pub(crate) async fn position<'e, 'q, E, T, K>(
    executor: E,
    listed: Listed,
    scope: &'q str,
    after: Option<T>,
) -> Result<Option<K>>
where
    E: Executor<'e, Database = Any>,
    T: 'q + Send + Encode<'q, Any> + Type<Any>,
    K: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
{
    let Some(after) = after else {
        return Ok(None);
    };
    sqlx::query_as::<_, K>(listed.0)
        .bind(scope)
        .bind(after)
        .fetch_optional(executor)
        .await?
        .map(Some)
        .ok_or(StoreError::NotFound)
}

//! The `after` cursor of a list: the id of the last item of the previous page. Every list checks
//! it the same way before reading a page: it must name an item of this list's scope (the
//! organization, the project), else `NotFound`, which the service answers as 400
//! `invalid_cursor`. An unknown cursor never silently reads as page 1 or as an empty page.

use sqlx::{Any, Encode, Executor, Type};

use crate::{Result, StoreError};

/// How a list finds the item a cursor names: `SELECT 1 … WHERE <scope> = $1 AND <id> = $2`,
/// fixed by the code.
pub(crate) struct Listed(pub &'static str);

/// `Ok` when `after` is absent or names an item of `listed` within `scope`; `NotFound`
/// otherwise.
pub(crate) async fn require<'e, 'q, E, T>(
    executor: E,
    listed: Listed,
    scope: &'q str,
    after: Option<T>,
) -> Result<()>
where
    E: Executor<'e, Database = Any>,
    T: 'q + Send + Encode<'q, Any> + Type<Any>,
{
    let Some(after) = after else {
        return Ok(());
    };
    sqlx::query(listed.0)
        .bind(scope)
        .bind(after)
        .fetch_optional(executor)
        .await?
        .map(|_| ())
        .ok_or(StoreError::NotFound)
}

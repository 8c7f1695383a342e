//! Members of an organization: listing, role changes, removal — always keeping at least one
//! Organization Admin.

use std::str::FromStr;

use sqlx::{Any, Row, Transaction};
use tollgate_domain::{ApiKeyId, OrgId, OrgRole, Timestamp, UserId};

use crate::api_keys::{revoke_keys_of_in, KeysOf};
use crate::audit::{insert_audit, AuditEntry};
use crate::cursor::{self, PageRequest};
use crate::error::corrupt;
use crate::{Conflict, Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user_id: UserId,
    pub name: String,
    pub email: String,
    pub role: OrgRole,
    pub joined_at: Timestamp,
    /// Whether the member signs in with a second factor (shown to admins before they require
    /// it: decision 0024).
    pub totp_enabled: bool,
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    user_id: String,
    name: String,
    email: String,
    role: String,
    joined_at: Timestamp,
    totp_enabled: i64,
}

impl TryFrom<MemberRow> for Member {
    type Error = StoreError;

    fn try_from(r: MemberRow) -> Result<Self> {
        Ok(Member {
            role: OrgRole::from_str(&r.role).map_err(|e| corrupt(e.to_string()))?,
            user_id: UserId::from_stored(r.user_id),
            name: r.name,
            email: r.email,
            joined_at: r.joined_at,
            totp_enabled: r.totp_enabled > 0,
        })
    }
}

const MEMBER_SELECT: &str =
    "SELECT u.id AS user_id, u.name, u.email, m.role, m.created_at AS joined_at, \
     (SELECT COUNT(*) FROM user_totp t WHERE t.user_id = u.id AND t.enabled_at IS NOT NULL) \
     AS totp_enabled \
     FROM memberships m JOIN users u ON u.id = m.user_id";

/// `LIKE` pattern matching `needle` anywhere, with the wildcards in it escaped.
fn contains_pattern(needle: &str) -> String {
    let escaped = needle
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// The `LIKE` pattern of a search (`''`: none), as [`members_page_sql`] takes it in `$2`.
pub(crate) fn search_pattern(search: Option<&str>) -> String {
    search
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(contains_pattern)
        .unwrap_or_default()
}

/// One page of [`Store::list_members`]: `$1` organization, `$2` search pattern (`''`: none),
/// `$3` the user id ending the previous page (`''`: the first page), `$4` rows wanted.
///
/// The organization's memberships drive it, in email order, as a range of
/// `memberships_by_org_email (org_id, user_email, user_name_lower, user_id)` (migration 0022)
/// that starts after the cursor's email; the search tests the columns copied into the
/// membership (email, lower-cased name) so the walk stops once the page is full, and a
/// member's user row is read only for the rows of the page.
pub(crate) fn members_page_sql() -> String {
    format!(
        "{MEMBER_SELECT} WHERE m.org_id = $1 \
         AND m.user_email > CASE WHEN $3 = '' THEN '' \
             ELSE (SELECT c.user_email FROM memberships c WHERE c.org_id = $1 AND c.user_id = $3) END \
         AND ($2 = '' OR m.user_name_lower LIKE $2 ESCAPE '\\' \
             OR m.user_email LIKE $2 ESCAPE '\\') \
         ORDER BY m.user_email LIMIT $4"
    )
}

/// The cursor of a page of members: `after` as the page query takes it (`""` for the first
/// page); `NotFound` when it is not a member of the organization. The page query resolves the
/// member's email itself, in a sub-query: with the email bound as a value PostgreSQL plans a
/// sort of the organization's members instead of walking `memberships_by_org_email`
/// (`list_plans.rs`), so that one primary-key read is done twice on purpose.
pub(crate) async fn members_cursor<'a>(
    pool: &sqlx::Pool<Any>,
    org_id: &OrgId,
    after: Option<&'a str>,
) -> Result<&'a str> {
    let members = "SELECT user_id FROM memberships WHERE org_id = $1 AND user_id = $2";
    cursor::position::<_, _, (String,)>(pool, members, org_id, None, after).await?;
    Ok(after.unwrap_or_default())
}

/// Serialises changes to one organization's memberships: on PostgreSQL the no-op update takes
/// the organization row's lock until commit; on SQLite `BEGIN IMMEDIATE` already serialises.
/// Without it, two admins demoting each other at once could both see "another admin remains".
pub(crate) async fn lock_org(tx: &mut Transaction<'static, Any>, org_id: &OrgId) -> Result<bool> {
    let done = sqlx::query("UPDATE organizations SET id = id WHERE id = $1")
        .bind(org_id.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

impl Store {
    /// How many Organization Admins the organization has (one: that admin cannot leave).
    pub async fn org_admin_count(&self, org_id: &OrgId) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        let n = admin_count(&mut tx, org_id).await?;
        tx.commit().await?;
        Ok(n)
    }
}

async fn admin_count(tx: &mut Transaction<'static, Any>, org_id: &OrgId) -> Result<i64> {
    Ok(sqlx::query(
        "SELECT COUNT(*) AS n FROM memberships WHERE org_id = $1 AND role = 'org_admin'",
    )
    .bind(org_id.as_str())
    .fetch_one(&mut **tx)
    .await?
    .try_get("n")?)
}

async fn member_in(
    tx: &mut Transaction<'static, Any>,
    org_id: &OrgId,
    user_id: &UserId,
) -> Result<Option<Member>> {
    sqlx::query_as::<_, MemberRow>(&format!(
        "{MEMBER_SELECT} WHERE m.org_id = $1 AND m.user_id = $2"
    ))
    .bind(org_id.as_str())
    .bind(user_id.as_str())
    .fetch_optional(&mut **tx)
    .await?
    .map(Member::try_from)
    .transpose()
}

impl Store {
    /// One page of members ordered by email, optionally filtered by a case-insensitive search
    /// of name and email. `after` is the user id ending the previous page. Returns up to
    /// `limit + 1` rows: the extra one says there is more. `NotFound` when `after` is not a
    /// member of the organization.
    pub async fn list_members(
        &self,
        org_id: &OrgId,
        search: Option<&str>,
        page: PageRequest<'_>,
    ) -> Result<Vec<Member>> {
        let after_email = members_cursor(&self.pool, org_id, page.after).await?;
        sqlx::query_as::<_, MemberRow>(&members_page_sql())
            .bind(org_id.as_str())
            .bind(search_pattern(search))
            .bind(after_email)
            .bind(page.rows())
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(Member::try_from)
            .collect()
    }

    pub async fn member(&self, org_id: &OrgId, user_id: &UserId) -> Result<Option<Member>> {
        sqlx::query_as::<_, MemberRow>(&format!(
            "{MEMBER_SELECT} WHERE m.org_id = $1 AND m.user_id = $2"
        ))
        .bind(org_id.as_str())
        .bind(user_id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .map(Member::try_from)
        .transpose()
    }

    /// Changes a member's organization role. Demoting the last Organization Admin answers
    /// `Conflict::LastAdmin`; an unknown member `NotFound`.
    pub async fn set_member_role(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        role: OrgRole,
        now: Timestamp,
        audit: AuditEntry<'_>,
    ) -> Result<Member> {
        let mut tx = self.begin_write().await?;
        lock_org(&mut tx, org_id).await?;
        let current = member_in(&mut tx, org_id, user_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        if current.role == role {
            return Ok(current);
        }
        if current.role == OrgRole::OrgAdmin && admin_count(&mut tx, org_id).await? <= 1 {
            return Err(StoreError::Conflict(Conflict::LastAdmin));
        }
        sqlx::query("UPDATE memberships SET role = $1 WHERE org_id = $2 AND user_id = $3")
            .bind(role.as_str())
            .bind(org_id.as_str())
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await?;
        if role == OrgRole::Member {
            // A member needs an active project to have access (DESIGN §2).
            crate::project_members::keep_access_in(&mut tx, org_id, user_id, now).await?;
        }
        insert_audit(&mut tx, org_id, &audit, now).await?;
        tx.commit().await?;
        Ok(Member { role, ..current })
    }

    /// Removes a member (and, through the schema, their project assignments in this
    /// organization). Removing the last Organization Admin answers `Conflict::LastAdmin`.
    /// A member (not an org admin) loses the keys they created, revoked in the same
    /// transaction with `key_audit` as the cause; their ids are returned.
    pub async fn remove_member(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        now: Timestamp,
        audit: AuditEntry<'_>,
        key_audit: AuditEntry<'_>,
    ) -> Result<(Member, Vec<ApiKeyId>)> {
        let mut tx = self.begin_write().await?;
        lock_org(&mut tx, org_id).await?;
        let current = member_in(&mut tx, org_id, user_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        if current.role == OrgRole::OrgAdmin && admin_count(&mut tx, org_id).await? <= 1 {
            return Err(StoreError::Conflict(Conflict::LastAdmin));
        }
        sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org_id.as_str())
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await?;
        insert_audit(&mut tx, org_id, &audit, now).await?;
        let revoked = if current.role == OrgRole::Member {
            revoke_keys_of_in(
                &mut tx,
                org_id,
                user_id,
                KeysOf::Organization,
                now,
                &key_audit,
            )
            .await?
        } else {
            Vec::new()
        };
        tx.commit().await?;
        Ok((current, revoked))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_wildcards_are_escaped() {
        assert_eq!(contains_pattern("Ada"), "%ada%");
        assert_eq!(contains_pattern("100%_x\\"), "%100\\%\\_x\\\\%");
    }
}

use std::str::FromStr;

use sqlx::{Any, Transaction};
use tollgate_domain::{Name, OrgId, OrgRole, OrgType, Timestamp, UserId};

use crate::audit::{insert_audit, AuditEntry};
use crate::changes::{record_change, ChangeKind};
use crate::error::corrupt;
use crate::projects::insert_default_project;
use crate::stored_id::StoredId;
use crate::{Conflict, Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    pub id: OrgId,
    pub name: String,
    pub org_type: OrgType,
    pub created_at: Timestamp,
    /// Members must have two-factor sign-in on to reach the organization with a session
    /// (decision 0024).
    pub require_2fa: bool,
}

/// An organization as seen by one of its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub org: Org,
    pub role: OrgRole,
}

#[derive(sqlx::FromRow)]
struct OrgRow {
    #[sqlx(try_from = "StoredId")]
    id: OrgId,
    name: String,
    org_type: String,
    created_at: Timestamp,
    require_2fa: i64,
}

#[derive(sqlx::FromRow)]
struct MembershipRow {
    #[sqlx(flatten)]
    org: OrgRow,
    role: String,
}

impl TryFrom<OrgRow> for Org {
    type Error = StoreError;

    fn try_from(row: OrgRow) -> Result<Self> {
        Ok(Org {
            org_type: OrgType::from_str(&row.org_type).map_err(|e| corrupt(e.to_string()))?,
            id: row.id,
            name: row.name,
            created_at: row.created_at,
            require_2fa: row.require_2fa == 1,
        })
    }
}

impl TryFrom<MembershipRow> for Membership {
    type Error = StoreError;

    fn try_from(row: MembershipRow) -> Result<Self> {
        Ok(Membership {
            role: OrgRole::from_str(&row.role).map_err(|e| corrupt(e.to_string()))?,
            org: row.org.try_into()?,
        })
    }
}

/// Inserts an organization with its Default project.
pub(crate) async fn insert_org(
    tx: &mut Transaction<'static, Any>,
    name: &Name,
    org_type: OrgType,
    now: Timestamp,
) -> Result<Org> {
    let org = Org {
        id: OrgId::generate(),
        name: name.as_str().to_owned(),
        org_type,
        created_at: now,
        require_2fa: false,
    };
    sqlx::query(
        "INSERT INTO organizations (id, name, org_type, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(org.id.as_str())
    .bind(&org.name)
    .bind(org.org_type.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    insert_default_project(tx, &org.id, now).await?;
    Ok(org)
}

pub(crate) async fn insert_membership(
    tx: &mut Transaction<'static, Any>,
    org_id: &OrgId,
    user_id: &UserId,
    role: OrgRole,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(org_id.as_str())
    .bind(user_id.as_str())
    .bind(role.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(|e| StoreError::unique(e, Conflict::Membership))?;
    Ok(())
}

const ORG_COLUMNS: &str = "id, name, org_type, created_at, require_2fa";

const MEMBERSHIP_SELECT: &str =
    "SELECT o.id, o.name, o.org_type, o.created_at, o.require_2fa, m.role \
     FROM memberships m JOIN organizations o ON o.id = m.org_id";

/// DESIGN §2: a member (not an org admin) has access to an organization only through at least
/// one assigned project that is not archived. A member whose last project is archived loses
/// access until an org admin assigns another.
const GRANTS_ACCESS: &str = "(m.role = 'org_admin' OR EXISTS (SELECT 1 FROM project_members pm \
     JOIN projects p ON p.id = pm.project_id \
     WHERE pm.org_id = m.org_id AND pm.user_id = m.user_id AND p.archived_at IS NULL))";

impl Store {
    /// Creates a team organization with `creator` as its Organization Admin. The audit entry's
    /// target is set to the new organization.
    pub async fn create_org(
        &self,
        creator: &UserId,
        name: &Name,
        now: Timestamp,
        audit: AuditEntry<'_>,
    ) -> Result<Org> {
        let mut tx = self.begin_write().await?;
        let org = insert_org(&mut tx, name, OrgType::Team, now).await?;
        insert_membership(&mut tx, &org.id, creator, OrgRole::OrgAdmin, now).await?;
        let audit = AuditEntry {
            target_id: &org.id,
            ..audit
        };
        insert_audit(&mut tx, &org.id, &audit, now).await?;
        tx.commit().await?;
        Ok(org)
    }

    pub async fn org(&self, org_id: &OrgId) -> Result<Option<Org>> {
        sqlx::query_as::<_, OrgRow>(&format!(
            "SELECT {ORG_COLUMNS} FROM organizations WHERE id = $1"
        ))
        .bind(org_id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .map(Org::try_from)
        .transpose()
    }

    /// The organization and the user's role in it, or `None` when the user has no access to it:
    /// not a member, a member without an active project (`GRANTS_ACCESS`), or no such
    /// organization. Callers answer all of these with 404.
    pub async fn membership(&self, org_id: &OrgId, user_id: &UserId) -> Result<Option<Membership>> {
        sqlx::query_as::<_, MembershipRow>(&format!(
            "{MEMBERSHIP_SELECT} WHERE m.org_id = $1 AND m.user_id = $2 AND {GRANTS_ACCESS}"
        ))
        .bind(org_id.as_str())
        .bind(user_id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .map(Membership::try_from)
        .transpose()
    }

    /// Every organization the user has access to (see `membership`), oldest membership first.
    pub async fn memberships(&self, user_id: &UserId) -> Result<Vec<Membership>> {
        sqlx::query_as::<_, MembershipRow>(&format!(
            "{MEMBERSHIP_SELECT} WHERE m.user_id = $1 AND {GRANTS_ACCESS} ORDER BY m.created_at, o.id"
        ))
        .bind(user_id.as_str())
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(Membership::try_from)
        .collect()
    }

    /// Renames an organization and records who did it. `NotFound` if it does not exist.
    pub async fn rename_org(
        &self,
        org_id: &OrgId,
        name: &Name,
        now: Timestamp,
        audit: AuditEntry<'_>,
    ) -> Result<Org> {
        let mut tx = self.begin_write().await?;
        let row: Option<OrgRow> = sqlx::query_as(&format!(
            "UPDATE organizations SET name = $1 WHERE id = $2 RETURNING {ORG_COLUMNS}"
        ))
        .bind(name.as_str())
        .bind(org_id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let org = Org::try_from(row.ok_or(StoreError::NotFound)?)?;
        insert_audit(&mut tx, org_id, &audit, now).await?;
        tx.commit().await?;
        Ok(org)
    }

    /// Turns the organization's two-factor requirement on or off and records who did it.
    /// `NotFound` if it does not exist. Setting the value it already has changes nothing and
    /// writes no audit entry.
    pub async fn set_org_require_2fa(
        &self,
        org_id: &OrgId,
        require: bool,
        now: Timestamp,
        audit: AuditEntry<'_>,
    ) -> Result<Org> {
        let mut tx = self.begin_write().await?;
        let row: Option<OrgRow> = sqlx::query_as(&format!(
            "UPDATE organizations SET require_2fa = $1 WHERE id = $2 AND require_2fa <> $1 \
             RETURNING {ORG_COLUMNS}"
        ))
        .bind(i64::from(require))
        .bind(org_id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let org = match row {
            Some(row) => {
                insert_audit(&mut tx, org_id, &audit, now).await?;
                Org::try_from(row)?
            }
            None => {
                let unchanged: Option<OrgRow> = sqlx::query_as(&format!(
                    "SELECT {ORG_COLUMNS} FROM organizations WHERE id = $1"
                ))
                .bind(org_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                Org::try_from(unchanged.ok_or(StoreError::NotFound)?)?
            }
        };
        tx.commit().await?;
        Ok(org)
    }

    /// Changes an organization's type: an operator action (`tollgate admin org set-type`).
    pub async fn set_org_type(&self, org_id: &OrgId, org_type: OrgType) -> Result<Org> {
        let row: Option<OrgRow> = sqlx::query_as(&format!(
            "UPDATE organizations SET org_type = $1 WHERE id = $2 RETURNING {ORG_COLUMNS}"
        ))
        .bind(org_type.as_str())
        .bind(org_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Org::try_from(row.ok_or(StoreError::NotFound)?)
    }

    /// Suspends (`Some(now)`) or resumes (`None`) an organization's gateway access: an operator
    /// action. Its keys stop (or start again) working in every process through the change log.
    pub async fn set_org_suspended(
        &self,
        org_id: &OrgId,
        suspended_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE organizations SET suspended_at = $1 WHERE id = $2")
            .bind(suspended_at)
            .bind(org_id.as_str())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        record_change(&mut tx, ChangeKind::Organization, org_id, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// When the organization's gateway access was suspended, if it is.
    pub async fn org_suspended_at(&self, org_id: &OrgId) -> Result<Option<Timestamp>> {
        use sqlx::Row;
        match sqlx::query("SELECT suspended_at FROM organizations WHERE id = $1")
            .bind(org_id.as_str())
            .fetch_optional(&self.pool)
            .await?
        {
            Some(row) => Ok(row.try_get("suspended_at")?),
            None => Err(StoreError::NotFound),
        }
    }

    /// Adds a user to an organization (invitation acceptance, operator tooling).
    pub async fn add_membership(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        role: OrgRole,
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        insert_membership(&mut tx, org_id, user_id, role, now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn count_members(&self, org_id: &OrgId) -> Result<i64> {
        use sqlx::Row;
        Ok(
            sqlx::query("SELECT COUNT(*) AS n FROM memberships WHERE org_id = $1")
                .bind(org_id.as_str())
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?,
        )
    }
}

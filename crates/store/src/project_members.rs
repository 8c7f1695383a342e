//! Project roles of organization members: assigned by org admins and the project's admins, and
//! by invitations (`assign_projects_in`).

use std::str::FromStr;

use sqlx::{Any, Row, Transaction};
use tollgate_domain::{ApiKeyId, OrgId, OrgRole, ProjectId, ProjectRole, Timestamp, UserId};

use crate::api_keys::{revoke_keys_of_in, KeysOf};
use crate::audit::{insert_audit, AuditEntry};
use crate::cursor::{Keyset, Order, PageRequest};
use crate::error::corrupt;
use crate::{Result, Store, StoreError};

/// A member of a project, as the project's member list shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectMember {
    pub user_id: UserId,
    pub email: String,
    pub name: String,
    pub role: ProjectRole,
    pub created_at: Timestamp,
}

fn member_from_row(row: &sqlx::any::AnyRow) -> Result<ProjectMember> {
    let role: String = row.try_get("role")?;
    Ok(ProjectMember {
        user_id: UserId::from_stored(row.try_get("user_id")?),
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        role: ProjectRole::from_str(&role).map_err(|e| corrupt(e.to_string()))?,
        created_at: row.try_get("created_at")?,
    })
}

/// Gives `user_id` (already a member of `org_id`) `role` in each project, inside the caller's
/// transaction; an existing role in one of them is replaced. Every project must belong to the
/// organization and not be archived: otherwise `NotFound` and the caller's transaction should
/// be dropped. Invitation acceptance calls this in the transaction that creates the membership.
pub(crate) async fn assign_projects_in(
    tx: &mut Transaction<'static, Any>,
    org_id: &OrgId,
    user_id: &UserId,
    assignments: &[(&ProjectId, ProjectRole)],
    now: Timestamp,
) -> Result<()> {
    for (project_id, role) in assignments {
        // INSERT … SELECT: the row exists only if the project is this organization's and active.
        let done = sqlx::query(
            "INSERT INTO project_members (project_id, org_id, user_id, role, created_at) \
             SELECT p.id, p.org_id, $3, $4, $5 FROM projects p \
             WHERE p.id = $1 AND p.org_id = $2 AND p.archived_at IS NULL \
             ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(project_id.as_str())
        .bind(org_id.as_str())
        .bind(user_id.as_str())
        .bind(role.as_str())
        .bind(now)
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
    }
    Ok(())
}

/// Gives a member with no active project the Default project (as `project_member`), inside the
/// caller's transaction: an org admin demoted to member keeps access to the organization.
pub(crate) async fn keep_access_in(
    tx: &mut Transaction<'static, Any>,
    org_id: &OrgId,
    user_id: &UserId,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO project_members (project_id, org_id, user_id, role, created_at) \
         SELECT p.id, p.org_id, $2, 'project_member', $3 FROM projects p \
         WHERE p.org_id = $1 AND p.is_default = 1 AND NOT EXISTS ( \
           SELECT 1 FROM project_members pm JOIN projects q ON q.id = pm.project_id \
           WHERE pm.org_id = $1 AND pm.user_id = $2 AND q.archived_at IS NULL) \
         ON CONFLICT (project_id, user_id) DO NOTHING",
    )
    .bind(org_id.as_str())
    .bind(user_id.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A project's members in the order they were added.
const MEMBERS: Keyset = Keyset::by_time(
    "SELECT created_at, user_id FROM project_members WHERE project_id = $1 AND user_id = $2",
    Order::Ascending,
);

impl Store {
    /// `assign_projects_in` in a transaction of its own, with an audit entry.
    pub async fn set_project_member(
        &self,
        org_id: &OrgId,
        project_id: &ProjectId,
        user_id: &UserId,
        role: ProjectRole,
        now: Timestamp,
        audit: AuditEntry<'_>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        assign_projects_in(&mut tx, org_id, user_id, &[(project_id, role)], now).await?;
        insert_audit(&mut tx, org_id, &audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a project role. `NotFound` when the user holds none in that project. A member
    /// (org admins keep every project) loses the keys they created in the project, revoked in
    /// the same transaction with `key_audit` as the cause; their ids are returned.
    pub async fn remove_project_member(
        &self,
        org_id: &OrgId,
        project_id: &ProjectId,
        user_id: &UserId,
        now: Timestamp,
        audit: AuditEntry<'_>,
        key_audit: AuditEntry<'_>,
    ) -> Result<Vec<ApiKeyId>> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "DELETE FROM project_members WHERE org_id = $1 AND project_id = $2 AND user_id = $3",
        )
        .bind(org_id.as_str())
        .bind(project_id.as_str())
        .bind(user_id.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, org_id, &audit, now).await?;
        let role: Option<String> =
            sqlx::query("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
                .bind(org_id.as_str())
                .bind(user_id.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .map(|row| row.try_get("role"))
                .transpose()?;
        let revoked = if role.as_deref() == Some(OrgRole::Member.as_str()) {
            let which = KeysOf::Project(project_id);
            revoke_keys_of_in(&mut tx, org_id, user_id, which, now, &key_audit).await?
        } else {
            Vec::new()
        };
        tx.commit().await?;
        Ok(revoked)
    }

    /// The active projects each of `user_ids` is assigned to in the organization, as
    /// (user id, project name), by name.
    pub async fn assigned_project_names(
        &self,
        org_id: &OrgId,
        user_ids: &[UserId],
    ) -> Result<Vec<(UserId, String)>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (2..user_ids.len() + 2).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT pm.user_id, p.name FROM project_members pm JOIN projects p ON p.id = pm.project_id \
             WHERE pm.org_id = $1 AND p.archived_at IS NULL AND pm.user_id IN ({}) \
             ORDER BY p.name, p.id",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(org_id.as_str());
        for id in user_ids {
            query = query.bind(id.as_str());
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok((
                    UserId::from_stored(row.try_get("user_id")?),
                    row.try_get("name")?,
                ))
            })
            .collect()
    }

    /// One member's role in a project.
    pub async fn project_member(
        &self,
        project_id: &ProjectId,
        user_id: &UserId,
    ) -> Result<Option<ProjectMember>> {
        sqlx::query(
            "SELECT pm.user_id, u.email, u.name, pm.role, pm.created_at \
             FROM project_members pm JOIN users u ON u.id = pm.user_id \
             WHERE pm.project_id = $1 AND pm.user_id = $2",
        )
        .bind(project_id.as_str())
        .bind(user_id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(member_from_row)
        .transpose()
    }

    /// A project's members in the order they were added, after the member `page.after`; up
    /// to `page.limit + 1`. `NotFound` when `after` is not a member of the project.
    pub async fn project_members(
        &self,
        project_id: &ProjectId,
        page: PageRequest<'_>,
    ) -> Result<Vec<ProjectMember>> {
        const ORDER: &str = "pm.created_at, pm.user_id";
        let (after_time, after_id) = MEMBERS.start(&self.pool, project_id, None, page).await?;
        let rows = sqlx::query(&format!(
            "SELECT pm.user_id, u.email, u.name, pm.role, pm.created_at \
             FROM project_members pm JOIN users u ON u.id = pm.user_id \
             WHERE pm.project_id = $1 AND {} {} LIMIT $4",
            MEMBERS.after_sql(ORDER, 2),
            MEMBERS.order_sql(ORDER),
        ))
        .bind(project_id.as_str())
        .bind(after_time)
        .bind(after_id)
        .bind(page.rows())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(member_from_row).collect()
    }
}

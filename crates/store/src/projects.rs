//! Projects: every organization has a Default one; org admins create, rename and archive others.

use std::str::FromStr;

use sqlx::{Any, Row, Transaction};
use tollgate_domain::project::DEFAULT_PROJECT_NAME;
use tollgate_domain::{Name, OrgId, ProjectId, ProjectRole, Timestamp, UserId};

use crate::audit::{insert_audit, AuditEntry};
use crate::changes::{record_change, ChangeKind};
use crate::cursor::{Keyset, Order, PageRequest};
use crate::error::corrupt;
use crate::{Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: ProjectId,
    pub org_id: OrgId,
    pub name: String,
    pub is_default: bool,
    pub archived_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl Project {
    pub fn is_archived(&self) -> bool {
        self.archived_at.is_some()
    }
}

/// A project with the role a given user holds in it (`None`: no assignment; org admins hold none
/// and need none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectWithRole {
    pub project: Project,
    pub role: Option<ProjectRole>,
}

/// Projects are listed oldest first.
const PROJECT_ORDER: &str = "p.created_at, p.id";
/// Every project of an organization (what an org admin sees).
const ALL_PROJECTS: Keyset = Keyset::by_time(
    "SELECT created_at, id FROM projects WHERE org_id = $1 AND id = $2",
    Order::Ascending,
);
/// The projects of an organization assigned to the user bound as `$3`.
const ASSIGNED_PROJECTS: Keyset = Keyset::by_time(
    "SELECT p.created_at, p.id FROM projects p \
     JOIN project_members pm ON pm.project_id = p.id AND pm.user_id = $3 \
     WHERE p.org_id = $1 AND p.id = $2",
    Order::Ascending,
);

const PROJECT_COLUMNS: &str = "p.id, p.org_id, p.name, p.is_default, p.archived_at, p.created_at";

pub(crate) fn project_from_row(row: &sqlx::any::AnyRow) -> Result<Project> {
    let is_default: i64 = row.try_get("is_default")?;
    Ok(Project {
        id: ProjectId::from_stored(row.try_get("id")?),
        org_id: OrgId::from_stored(row.try_get("org_id")?),
        name: row.try_get("name")?,
        is_default: is_default == 1,
        archived_at: row.try_get("archived_at")?,
        created_at: row.try_get("created_at")?,
    })
}

fn with_role_from_row(row: &sqlx::any::AnyRow) -> Result<ProjectWithRole> {
    let role: Option<String> = row.try_get("project_role")?;
    Ok(ProjectWithRole {
        project: project_from_row(row)?,
        role: role
            .map(|r| ProjectRole::from_str(&r).map_err(|e| corrupt(e.to_string())))
            .transpose()?,
    })
}

/// Every organization is created with its Default project, in the same transaction.
pub(crate) async fn insert_default_project(
    tx: &mut Transaction<'static, Any>,
    org_id: &OrgId,
    now: Timestamp,
) -> Result<Project> {
    insert_project(tx, org_id, DEFAULT_PROJECT_NAME, true, now).await
}

async fn insert_project(
    tx: &mut Transaction<'static, Any>,
    org_id: &OrgId,
    name: &str,
    is_default: bool,
    now: Timestamp,
) -> Result<Project> {
    let project = Project {
        id: ProjectId::generate(),
        org_id: org_id.clone(),
        name: name.to_owned(),
        is_default,
        archived_at: None,
        created_at: now,
    };
    sqlx::query(
        "INSERT INTO projects (id, org_id, name, is_default, archived_at, created_at) \
         VALUES ($1, $2, $3, $4, NULL, $5)",
    )
    .bind(project.id.as_str())
    .bind(org_id.as_str())
    .bind(name)
    .bind(i64::from(is_default))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(project)
}

/// Why an archive was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveRefusal {
    IsDefault,
    AlreadyArchived,
}

impl Store {
    /// Creates a project. The audit entry's target is set to the new project.
    pub async fn create_project(
        &self,
        org_id: &OrgId,
        name: &Name,
        now: Timestamp,
        audit: AuditEntry<'_>,
    ) -> Result<Project> {
        let mut tx = self.begin_write().await?;
        let project = insert_project(&mut tx, org_id, name.as_str(), false, now).await?;
        let audit = AuditEntry {
            target_id: &project.id,
            ..audit
        };
        insert_audit(&mut tx, org_id, &audit, now).await?;
        tx.commit().await?;
        Ok(project)
    }

    /// A project of `org_id` with `user_id`'s role in it (none without a user); `None` when
    /// the organization has no such project.
    pub async fn project_with_role(
        &self,
        org_id: &OrgId,
        project_id: &ProjectId,
        user_id: Option<&UserId>,
    ) -> Result<Option<ProjectWithRole>> {
        sqlx::query(&format!(
            "SELECT {PROJECT_COLUMNS}, pm.role AS project_role FROM projects p \
             LEFT JOIN project_members pm ON pm.project_id = p.id AND pm.user_id = $3 \
             WHERE p.org_id = $1 AND p.id = $2"
        ))
        .bind(org_id.as_str())
        .bind(project_id.as_str())
        .bind(user_id.map(UserId::as_str))
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(with_role_from_row)
        .transpose()
    }

    /// The organization's projects that `user_id` can see — all of them when `all` (org admins),
    /// otherwise those assigned to the user — oldest first, after the project `after`. Returns
    /// up to `limit + 1` so that callers know whether there are more. `NotFound` when `after`
    /// is not one of them.
    pub async fn visible_projects(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        all: bool,
        page: PageRequest<'_>,
    ) -> Result<Vec<ProjectWithRole>> {
        // The cursor must be a project this user sees: any of the organization's for an org
        // admin, an assigned one otherwise.
        let listed = if all {
            &ALL_PROJECTS
        } else {
            &ASSIGNED_PROJECTS
        };
        let seer = (!all).then_some(user_id.as_str());
        let (after_time, after_id) = listed.start(&self.pool, org_id, seer, page).await?;
        let rows = sqlx::query(&format!(
            "SELECT {PROJECT_COLUMNS}, pm.role AS project_role FROM projects p \
             LEFT JOIN project_members pm ON pm.project_id = p.id AND pm.user_id = $2 \
             WHERE p.org_id = $1 AND ($3 = 1 OR pm.role IS NOT NULL) \
               AND {} {} LIMIT $6",
            listed.after_sql(PROJECT_ORDER, 4),
            listed.order_sql(PROJECT_ORDER),
        ))
        .bind(org_id.as_str())
        .bind(user_id.as_str())
        .bind(i64::from(all))
        .bind(after_time)
        .bind(after_id)
        .bind(page.rows())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(with_role_from_row).collect()
    }

    /// Renames a project that is not archived. `NotFound` when the organization has no such
    /// active project.
    pub async fn rename_project(
        &self,
        org_id: &OrgId,
        project_id: &ProjectId,
        name: &Name,
        now: Timestamp,
        audit: AuditEntry<'_>,
    ) -> Result<Project> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE projects SET name = $1 WHERE org_id = $2 AND id = $3 AND archived_at IS NULL \
             RETURNING id, org_id, name, is_default, archived_at, created_at",
        )
        .bind(name.as_str())
        .bind(org_id.as_str())
        .bind(project_id.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let project = project_from_row(&row)?;
        insert_audit(&mut tx, org_id, &audit, now).await?;
        tx.commit().await?;
        Ok(project)
    }

    /// Archives a project: its keys stop working at once, here and, through the change log, in
    /// every other process. The Default project cannot be archived.
    pub async fn archive_project(
        &self,
        org_id: &OrgId,
        project_id: &ProjectId,
        now: Timestamp,
        audit: AuditEntry<'_>,
    ) -> Result<std::result::Result<Project, ArchiveRefusal>> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE projects SET archived_at = $1 \
             WHERE org_id = $2 AND id = $3 AND archived_at IS NULL AND is_default = 0 \
             RETURNING id, org_id, name, is_default, archived_at, created_at",
        )
        .bind(now)
        .bind(org_id.as_str())
        .bind(project_id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            // Nothing changed: say why.
            let current = sqlx::query(
                "SELECT is_default, archived_at FROM projects WHERE org_id = $1 AND id = $2",
            )
            .bind(org_id.as_str())
            .bind(project_id.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
            let is_default: i64 = current.try_get("is_default")?;
            return Ok(Err(if is_default == 1 {
                ArchiveRefusal::IsDefault
            } else {
                ArchiveRefusal::AlreadyArchived
            }));
        };
        let project = project_from_row(&row)?;
        record_change(&mut tx, ChangeKind::Project, project_id, now).await?;
        insert_audit(&mut tx, org_id, &audit, now).await?;
        tx.commit().await?;
        Ok(Ok(project))
    }

    /// The organization's Default project.
    pub async fn default_project(&self, org_id: &OrgId) -> Result<Option<Project>> {
        sqlx::query(&format!(
            "SELECT {PROJECT_COLUMNS} FROM projects p WHERE p.org_id = $1 AND p.is_default = 1"
        ))
        .bind(org_id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(project_from_row)
        .transpose()
    }
}

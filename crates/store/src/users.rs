use sqlx::{Any, Row, Transaction};
use tollgate_domain::{Email, Name, OrgRole, OrgType, Timestamp, UserId};

use crate::audit::{insert_audit, AuditEntry};
use crate::orgs::{insert_membership, insert_org, Org};
use crate::stored_id::StoredId;
use crate::{Conflict, Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    #[sqlx(try_from = "StoredId")]
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub created_at: Timestamp,
    /// When the email address was proven (the emailed link, or an accepted invitation);
    /// `None` until then.
    pub email_verified_at: Option<Timestamp>,
}

impl User {
    pub fn email_verified(&self) -> bool {
        self.email_verified_at.is_some()
    }
}

/// The columns of `User`, for `SELECT` and `RETURNING`.
pub(crate) const USER_COLUMNS: &str = "id, email, name, created_at, email_verified_at";

/// A user with the stored password hash, for login only.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserCredentials {
    #[sqlx(try_from = "StoredId")]
    pub id: UserId,
    pub password_hash: String,
}

pub struct NewUser<'a> {
    pub email: &'a Email,
    pub name: &'a Name,
    pub password_hash: &'a str,
}

async fn insert_user_with_org(
    tx: &mut Transaction<'static, Any>,
    new: &NewUser<'_>,
    org_name: &Name,
    now: Timestamp,
) -> Result<(User, Org)> {
    let user = User {
        id: UserId::generate(),
        email: new.email.as_str().to_owned(),
        name: new.name.as_str().to_owned(),
        created_at: now,
        email_verified_at: None,
    };
    sqlx::query("INSERT INTO users (id, email, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(user.id.as_str())
        .bind(&user.email)
        .bind(&user.name)
        .bind(new.password_hash)
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(|e| StoreError::unique(e, Conflict::Email))?;
    let org = insert_org(tx, org_name, OrgType::Personal, now).await?;
    insert_membership(tx, &org.id, &user.id, OrgRole::OrgAdmin, now).await?;
    Ok((user, org))
}

impl Store {
    /// Creates a user with their personal organization, in which they are Organization Admin.
    /// A taken email answers `Conflict::Email` and writes nothing.
    pub async fn create_user(
        &self,
        new: NewUser<'_>,
        org_name: &Name,
        now: Timestamp,
    ) -> Result<(User, Org)> {
        let mut tx = self.begin_write().await?;
        let created = insert_user_with_org(&mut tx, &new, org_name, now).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// `create_user` for a person signing up from `ip`: the personal organization's audit log
    /// starts with its `organization.create` entry, by the new user.
    pub async fn sign_up_user(
        &self,
        new: NewUser<'_>,
        org_name: &Name,
        now: Timestamp,
        ip: Option<&str>,
    ) -> Result<(User, Org)> {
        let mut tx = self.begin_write().await?;
        let (user, org) = insert_user_with_org(&mut tx, &new, org_name, now).await?;
        let entry = AuditEntry {
            actor_id: Some(&user.id),
            actor_email: Some(&user.email),
            action: "organization.create",
            target_type: "organization",
            target_id: &org.id,
            details: serde_json::json!({"name": org.name, "type": "personal"}),
            ip,
        };
        insert_audit(&mut tx, &org.id, &entry, now).await?;
        tx.commit().await?;
        Ok((user, org))
    }

    pub async fn user(&self, user_id: &UserId) -> Result<Option<User>> {
        Ok(
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
                .bind(user_id.as_str())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn user_by_email(&self, email: &Email) -> Result<Option<User>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
        ))
        .bind(email.as_str())
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn credentials(&self, email: &Email) -> Result<Option<UserCredentials>> {
        Ok(
            sqlx::query_as("SELECT id, password_hash FROM users WHERE email = $1")
                .bind(email.as_str())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn count_users(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }
}

/// Account changes a user makes to themselves.
impl Store {
    /// The stored password hash of `user_id`, to check their current password.
    pub async fn password_hash(&self, user_id: &UserId) -> Result<Option<String>> {
        let row = sqlx::query("SELECT password_hash FROM users WHERE id = $1")
            .bind(user_id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => Some(row.try_get("password_hash")?),
            None => None,
        })
    }

    /// Renames `user_id`; `NotFound` when there is no such user.
    pub async fn rename_user(&self, user_id: &UserId, name: &Name) -> Result<User> {
        let user = sqlx::query_as(&format!(
            "UPDATE users SET name = $1 WHERE id = $2 RETURNING {USER_COLUMNS}"
        ))
        .bind(name.as_str())
        .bind(user_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        user.ok_or(StoreError::NotFound)
    }

    /// Replaces the password of `user_id` and, in the same transaction, ends every session of
    /// theirs but `keep_session_id`: a stolen session does not outlive a password change.
    /// Returns how many sessions were ended.
    pub async fn change_password(
        &self,
        user_id: &UserId,
        password_hash: &str,
        keep_session_id: Option<&str>,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let ended =
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND (id IS NULL OR id <> $2)")
                .bind(user_id.as_str())
                .bind(keep_session_id.unwrap_or(""))
                .execute(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(ended.rows_affected())
    }
}

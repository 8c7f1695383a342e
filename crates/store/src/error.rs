use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// A uniqueness rule refused the write; the string names what was duplicated.
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("not found")]
    NotFound,
    #[error("database URL '{0}' is not supported: use sqlite:… or postgres://…")]
    UnsupportedUrl(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A ledger amount would leave `±LEDGER_LIMIT`: nothing was written.
    #[error(transparent)]
    OutOfRange(#[from] tollgate_domain::ledger::OutOfRange),
}

impl StoreError {
    /// True when the database refused the data itself (a constraint, a value out of range):
    /// the same write would fail again, unlike a lost connection or a timeout.
    pub fn is_refused_data(&self) -> bool {
        let Self::Database(sqlx::Error::Database(db)) = self else {
            return false;
        };
        db.kind() != sqlx::error::ErrorKind::Other
            || db.code().is_some_and(|code| code.starts_with("22"))
    }

    /// Maps a unique violation to `Conflict(what)`, leaving other errors as they are.
    pub(crate) fn unique(err: sqlx::Error, what: &'static str) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict(what),
            _ => Self::Database(err),
        }
    }
}

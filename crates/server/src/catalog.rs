//! The model catalog in force: read from the configured TOML file (or the built-in example),
//! replaced as a whole on reload — by SIGHUP, or by `tollgate admin catalog reload` through the
//! change log — and kept as it was when the new file is invalid.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use tollgate_domain::catalog::CatalogError;
use tollgate_domain::Catalog;

#[derive(Debug, thiserror::Error)]
pub enum CatalogLoadError {
    // The cause is part of the message, not a `source`: error chains would print it twice.
    #[error("catalog {path}: {error}")]
    Unreadable { path: String, error: std::io::Error },
    #[error("catalog {path}: {error}")]
    Invalid { path: String, error: CatalogError },
}

/// Reads and validates a catalog file.
pub fn read_catalog(path: &Path) -> Result<Catalog, CatalogLoadError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| CatalogLoadError::Unreadable {
        path: shown.clone(),
        error,
    })?;
    Catalog::parse(&text).map_err(|error| CatalogLoadError::Invalid { path: shown, error })
}

pub struct CatalogHandle {
    /// `None`: the built-in example catalog.
    path: Option<PathBuf>,
    current: RwLock<Arc<Catalog>>,
}

impl CatalogHandle {
    /// Loads the catalog at `path`, or the example when `None`. An invalid file is an error, so
    /// that a server never starts with a catalog it could not read.
    pub fn load(path: Option<&Path>) -> Result<Self, CatalogLoadError> {
        let catalog = match path {
            Some(p) => read_catalog(p)?,
            None => Catalog::example(),
        };
        Ok(Self {
            path: path.map(Path::to_path_buf),
            current: RwLock::new(Arc::new(catalog)),
        })
    }

    pub fn current(&self) -> Arc<Catalog> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Re-reads the catalog file. On error the catalog in force stays, and the error says why.
    pub fn reload(&self) -> Result<Arc<Catalog>, CatalogLoadError> {
        let Some(path) = &self.path else {
            return Ok(self.current());
        };
        let fresh = Arc::new(read_catalog(path)?);
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh.clone();
        Ok(fresh)
    }

    /// `reload`, with the outcome logged: for signal and change-log triggers, which have no one
    /// to answer.
    pub fn reload_and_log(&self, trigger: &str) {
        match self.reload() {
            Ok(c) => tracing::info!(
                trigger,
                models = c.models().len(),
                tiers = c.tier_count(),
                "model catalog reloaded"
            ),
            Err(e) => tracing::error!(
                trigger,
                "model catalog not reloaded, the previous one stays: {e}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_reload_keeps_the_catalog_in_force() {
        let dir = std::env::temp_dir().join(format!("tollgate-catalog-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("catalog.toml");
        std::fs::write(&path, tollgate_domain::catalog::EXAMPLE_TOML).unwrap();
        let handle = CatalogHandle::load(Some(&path)).unwrap();
        let before = handle.current();
        std::fs::write(&path, "[[models]]\nid = 1\n").unwrap();
        let err = handle.reload().unwrap_err().to_string();
        assert!(err.contains("catalog.toml: line 2:"), "{err}");
        assert_eq!(handle.current(), before);
        let trimmed = tollgate_domain::catalog::EXAMPLE_TOML
            .split("[[models]]\nid = \"llama-3.1-70b-instruct\"")
            .next()
            .unwrap();
        std::fs::write(&path, trimmed).unwrap();
        assert_eq!(handle.reload().unwrap().models().len(), 1);
        assert_eq!(handle.current().models().len(), 1);
        std::fs::remove_dir_all(dir).ok();
        assert!(CatalogHandle::load(Some(&path)).is_err(), "missing file");
        assert_eq!(
            CatalogHandle::load(None).unwrap().current().models().len(),
            3
        );
    }
}

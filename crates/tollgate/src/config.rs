//! Configuration: flags, then `TOLLGATE_*` environment variables (both through clap), then an
//! optional TOML file, then defaults (DESIGN.md §1).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use tollgate_server::{CookieSecure, ServerConfig};
use tollgate_store::{Store, StoreOptions};

use crate::cli::GlobalArgs;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The TOML file. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub database_max_connections: Option<u32>,
    /// The URL users reach Tollgate at, e.g. `https://console.example.com`.
    pub public_url: Option<String>,
    pub cookie_secure: Option<CookieSecure>,
    pub trust_proxy_headers: Option<bool>,
    pub session_idle_hours: Option<u64>,
    pub session_absolute_days: Option<u64>,
    pub max_body_bytes: Option<usize>,
    pub login_failures_per_email: Option<i64>,
    pub login_failures_per_ip: Option<i64>,
    pub login_window_minutes: Option<u64>,
    pub signups_per_ip_per_hour: Option<i64>,
    /// The model catalog (TOML); the built-in example when unset.
    pub catalog: Option<PathBuf>,
}

#[derive(Debug)]
pub struct Config {
    pub file: FileConfig,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub catalog: Option<PathBuf>,
}

impl Config {
    pub fn load(args: &GlobalArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let data_dir = args
            .data_dir
            .clone()
            .or_else(|| file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("./data"));
        let database_url = args
            .database_url
            .clone()
            .or_else(|| file.database_url.clone())
            .unwrap_or_else(|| format!("sqlite:{}", data_dir.join("tollgate.db").display()));
        tollgate_store::Engine::from_url(&database_url)?;
        let catalog = args.catalog.clone().or_else(|| file.catalog.clone());
        Ok(Self {
            file,
            data_dir,
            database_url,
            catalog,
        })
    }

    pub fn listen(&self, flag: Option<&str>) -> String {
        flag.map(str::to_owned)
            .or_else(|| self.file.listen.clone())
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned())
    }

    pub fn database_url_redacted(&self) -> String {
        tollgate_store::redact(&self.database_url)
    }

    /// Opens the database, creating the data directory for SQLite.
    pub async fn open_store(&self) -> anyhow::Result<Store> {
        if self.database_url.starts_with("sqlite:") {
            std::fs::create_dir_all(&self.data_dir)
                .with_context(|| format!("creating data directory {}", self.data_dir.display()))?;
        }
        let mut options = StoreOptions::default();
        if let Some(n) = self.file.database_max_connections {
            options.max_connections = n;
        }
        Store::connect(&self.database_url, options)
            .await
            .with_context(|| format!("opening database {}", self.database_url_redacted()))
    }

    pub fn server(&self) -> anyhow::Result<ServerConfig> {
        let d = ServerConfig::default();
        let f = &self.file;
        if let Some(url) = &f.public_url {
            anyhow::ensure!(
                url.starts_with("http://") || url.starts_with("https://"),
                "public_url must start with http:// or https://"
            );
        }
        Ok(ServerConfig {
            public_url: f
                .public_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_owned()),
            cookie_secure: f.cookie_secure.unwrap_or(d.cookie_secure),
            trust_proxy_headers: f.trust_proxy_headers.unwrap_or(d.trust_proxy_headers),
            session_idle: f
                .session_idle_hours
                .map_or(d.session_idle, |h| Duration::from_secs(h * 3600)),
            session_absolute: f.session_absolute_days.map_or(d.session_absolute, |days| {
                Duration::from_secs(days * 86_400)
            }),
            max_body_bytes: f.max_body_bytes.unwrap_or(d.max_body_bytes),
            login_failures_per_email: f
                .login_failures_per_email
                .unwrap_or(d.login_failures_per_email),
            login_failures_per_ip: f.login_failures_per_ip.unwrap_or(d.login_failures_per_ip),
            login_window: f
                .login_window_minutes
                .map_or(d.login_window, |m| Duration::from_secs(m * 60)),
            signups_per_ip_per_hour: f
                .signups_per_ip_per_hour
                .unwrap_or(d.signups_per_ip_per_hour),
            catalog_path: self.catalog.clone(),
        })
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_design() {
        let c = Config::load(&GlobalArgs::default()).unwrap();
        assert_eq!(c.database_url, "sqlite:./data/tollgate.db");
        assert_eq!(c.listen(None), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./data"));
    }

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let dir = std::env::temp_dir().join(format!("tollgate-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tollgate.toml");
        std::fs::write(
            &path,
            "listen = \"0.0.0.0:9000\"\ndata_dir = \"/srv/tg\"\nsession_idle_hours = 2\n",
        )
        .unwrap();
        let args = GlobalArgs {
            config: Some(path.clone()),
            data_dir: None,
            database_url: Some("postgres://u@h/db".into()),
            catalog: None,
        };
        let c = Config::load(&args).unwrap();
        assert_eq!(c.database_url, "postgres://u@h/db");
        assert_eq!(c.data_dir, PathBuf::from("/srv/tg"));
        assert_eq!(c.listen(None), "0.0.0.0:9000");
        assert_eq!(c.listen(Some("127.0.0.1:0")), "127.0.0.1:0");
        assert_eq!(c.server().unwrap().session_idle, Duration::from_secs(7200));
        assert_eq!(c.catalog, None);

        std::fs::write(&path, "catalog = \"/etc/tollgate/models.toml\"\n").unwrap();
        let c = Config::load(&args).unwrap();
        assert_eq!(c.catalog, Some(PathBuf::from("/etc/tollgate/models.toml")));
        let flagged = GlobalArgs {
            catalog: Some("flag.toml".into()),
            config: Some(path.clone()),
            ..GlobalArgs::default()
        };
        let c = Config::load(&flagged).unwrap();
        assert_eq!(
            c.server().unwrap().catalog_path,
            Some(PathBuf::from("flag.toml"))
        );

        std::fs::write(&path, "listne = \"typo\"\n").unwrap();
        let err = Config::load(&args).unwrap_err();
        assert!(format!("{err:#}").contains("listne"), "{err:#}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn unknown_database_schemes_are_refused() {
        let args = GlobalArgs {
            database_url: Some("mysql://x".into()),
            ..GlobalArgs::default()
        };
        assert!(Config::load(&args).is_err());
    }
}

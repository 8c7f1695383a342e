//! Tollgate's HTTP surfaces. Three routers, each rendering its own errors: the console
//! (HTML pages), the JSON API under `/api/v1`, the OpenAI-compatible gateway under `/v1` — and,
//! beside them, `/healthz` and `/metrics`.

pub mod api;
pub mod app;
pub mod auth;
pub mod catalog;
pub mod changes;
pub mod config;
mod connections;
pub mod console;
pub mod email;
pub mod gateway;
mod health;
pub mod jobs;
pub mod keys;
pub mod limits;
pub mod metering;
pub mod metrics;
pub mod path_ids;
pub mod payments;
mod router;
pub mod service;
#[cfg(feature = "testing")]
pub mod testing;
mod time;

pub use app::App;
pub use config::{BillingConfig, ConnectionLimits, CookieSecure, ServerConfig};
pub use email::EmailConfig;
pub use router::{router, serve};

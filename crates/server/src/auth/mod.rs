//! Who is asking: passwords, sessions and their cookie, CSRF, and the client's address.

pub mod client;
pub mod csrf;
pub mod password;
pub mod session;

pub use client::ClientInfo;
pub use session::{CurrentSession, SESSION_COOKIE};

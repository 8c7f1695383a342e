//! Typed contexts of the console's larger pages, kept beside the handlers that fill them so
//! that each page module stays short. Smaller pages declare theirs in their own module.

pub mod billing;
pub mod keys;
pub mod project;
pub mod usage;

//! Typed contexts of the console's larger pages, kept beside the handlers that fill them so
//! that each page module stays short. Smaller pages declare theirs in their own module.

use serde::Serialize;
use tollgate_store::ProjectWithRole;

pub mod billing;
pub mod keys;
pub mod project;
pub mod usage;

/// A project to choose in a form's select (keys, members, usage, the Playground).
#[derive(Serialize)]
pub struct ProjectOption<'a> {
    pub id: &'a str,
    pub name: &'a str,
}

impl<'a> ProjectOption<'a> {
    /// The projects of `projects` that are not archived, as options.
    pub fn active(projects: &'a [ProjectWithRole]) -> Vec<Self> {
        projects
            .iter()
            .filter(|p| !p.project.is_archived())
            .map(|p| Self {
                id: &p.project.id,
                name: &p.project.name,
            })
            .collect()
    }
}

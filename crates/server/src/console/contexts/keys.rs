//! `api_keys.html`'s context (`console/key_pages.rs`).

use serde::Serialize;

pub use super::ProjectOption;

use crate::console::form_fields::form_fields;

/// The API Keys page.
#[derive(Serialize)]
pub struct KeysPage<'a> {
    pub keys: Vec<KeyRow<'a>>,
    pub all_projects: bool,
    pub current_project: Option<CurrentProject<'a>>,
    /// `all`, or the project's id: the `project=` of the page's links and forms.
    pub view: &'a str,
    pub can_create: bool,
    pub create_projects: Vec<ProjectOption<'a>>,
    pub next_href: Option<String>,
    pub project_switcher: ProjectSwitcher<'a>,
    pub notice: Option<&'static str>,
    /// The key just created, shown once.
    pub created: Option<CreatedKey<'a>>,
    /// Absent (null) unless a form was refused.
    pub values: Option<KeyFields>,
    pub errors: Option<KeyErrors>,
}

/// A row of the key table.
#[derive(Serialize)]
pub struct KeyRow<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub preview: String,
    pub project_id: &'a str,
    pub project_name: String,
    pub creator: Option<&'a str>,
    pub created: String,
    pub last_used: Option<String>,
    pub spend_this_month: String,
    pub can_revoke: bool,
    pub can_limit: bool,
    pub spend_limit: Option<&'a str>,
}

/// The project the page shows (none on "All projects").
#[derive(Serialize)]
pub struct CurrentProject<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub archived: bool,
}

/// The layout's project switcher (`project_switcher` in `layout.html`).
#[derive(Serialize)]
pub struct ProjectSwitcher<'a> {
    pub label: &'a str,
    /// "All projects", for those who see every project.
    pub all: Option<SwitcherEntry<'a>>,
    pub items: Vec<SwitcherEntry<'a>>,
}

#[derive(Serialize)]
pub struct SwitcherEntry<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    pub href: String,
    pub current: bool,
}

#[derive(Serialize)]
pub struct CreatedKey<'a> {
    pub name: &'a str,
    /// The full key.
    pub key: &'a str,
}

form_fields!(
    /// The create form's values and errors.
    pub struct KeyFields { name, project }
);

/// The create form's errors, or a key's refused spend limit.
#[derive(Default, Serialize)]
pub struct KeyErrors {
    #[serde(flatten)]
    pub fields: KeyFields,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spend: Option<KeySpendError>,
}

/// A key row's spend limit form, drawn open again with what was typed and why it was refused.
#[derive(Serialize)]
pub struct KeySpendError {
    pub key: String,
    pub monthly_limit: String,
    pub message: String,
}

//! The Limits page: per model, the organization's rate limits in each dimension, where each
//! comes from (pay-as-you-go, the subscribed tier, or a custom override) and how much of its
//! bucket is in use now.

use crate::console::PagePath;
use std::sync::Arc;
use tollgate_domain::OrgId;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use tollgate_domain::limits::{Dimension, LimitSource};

use crate::app::App;
use crate::console::page::org_page;
use crate::console::page::Section;
use crate::console::service_error_page;
use crate::console::PageSession;

/// `limits.html`.
#[derive(Serialize)]
struct LimitsPage<'a> {
    models: Vec<ModelRow<'a>>,
    glossary: Vec<GlossaryEntry>,
}

/// A model with its limit in each dimension.
#[derive(Serialize)]
struct ModelRow<'a> {
    id: &'a str,
    name: &'a str,
    plan: String,
    limits: Vec<LimitRow>,
}

#[derive(Serialize)]
struct LimitRow {
    abbr: String,
    meaning: String,
    limit: u64,
    used: u64,
    remaining: u64,
    source: &'static str,
    source_label: String,
}

/// An abbreviation ("RPM") and what it means.
#[derive(Serialize)]
pub struct GlossaryEntry {
    abbr: String,
    meaning: String,
}

/// What each abbreviation means, in the order the page explains them.
pub fn glossary() -> Vec<GlossaryEntry> {
    Dimension::ALL
        .iter()
        .map(|d| GlossaryEntry {
            abbr: d.to_string(),
            meaning: d.describe(),
        })
        .collect()
}

fn source_label(source: &LimitSource, tier_name: Option<&str>) -> String {
    match source {
        LimitSource::PayAsYouGo => "Pay-as-you-go".to_owned(),
        LimitSource::Tier(id) => format!("{} tier", tier_name.unwrap_or(id)),
        LimitSource::Custom => "Custom".to_owned(),
    }
}

pub async fn page(
    State(app): State<Arc<App>>,
    PageSession(session): PageSession,
    PagePath(org_id): PagePath<OrgId>,
) -> Response {
    let (membership, models) = match app.org_limits(&session.user, &org_id).await {
        Ok(found) => found,
        Err(e) => return service_error_page(&app, e),
    };
    let catalog = app.catalog.current();
    let rows = models
        .iter()
        .map(|m| {
            let tier_name = m.tier.as_deref().and_then(|t| {
                catalog
                    .model(&m.model)
                    .and_then(|cm| cm.tiers.iter().find(|x| x.id == t))
                    .map(|x| x.name.as_str())
            });
            let limits = m
                .limits
                .iter()
                .map(|l| LimitRow {
                    abbr: l.dimension.to_string(),
                    meaning: l.dimension.describe(),
                    limit: l.limit,
                    used: l.limit.saturating_sub(l.remaining),
                    remaining: l.remaining,
                    source: l.source.as_str(),
                    source_label: source_label(&l.source, tier_name),
                })
                .collect();
            ModelRow {
                id: &m.model,
                name: &m.name,
                plan: tier_name.map_or_else(|| "Pay-as-you-go".to_owned(), |t| format!("{t} tier")),
                limits,
            }
        })
        .collect();
    org_page(
        &app,
        &session,
        &membership,
        Section::Limits,
        "limits.html",
        StatusCode::OK,
        &LimitsPage {
            models: rows,
            glossary: glossary(),
        },
    )
    .await
}

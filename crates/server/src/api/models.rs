//! `GET /api/v1/models`: the catalog, with prices, limits and tiers.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use tollgate_domain::catalog::{Limits, Model, Tier};
use utoipa::ToSchema;

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiQuery, ApiSession};
use crate::api::pagination::{List, ListParams};
use crate::app::App;
use crate::service::subscriptions::Availability;
use crate::service::{invalid_cursor, Page};

/// USD per million tokens, as decimal strings.
#[derive(Serialize, ToSchema)]
pub struct PricingView {
    #[schema(example = "0.59")]
    pub input: String,
    #[schema(example = "0.295")]
    pub cached_input: String,
    #[schema(example = "0.79")]
    pub output: String,
}

/// Requests and tokens per minute and per day.
#[derive(Serialize, ToSchema)]
pub struct LimitsView {
    pub rpm: u64,
    pub tpm: u64,
    pub rpd: u64,
    pub tpd: u64,
}

impl From<&Limits> for LimitsView {
    fn from(l: &Limits) -> Self {
        Self {
            rpm: l.rpm,
            tpm: l.tpm,
            rpd: l.rpd,
            tpd: l.tpd,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TierView {
    pub id: String,
    pub name: String,
    /// USD per month, a decimal string.
    #[schema(example = "199.00")]
    pub monthly_price: String,
    pub limits: LimitsView,
    /// The most active subscriptions; `null`: no limit.
    pub capacity: Option<u64>,
    /// Temporarily Sold Out — every seat taken, or marked so by the operator: new
    /// subscriptions are refused, existing ones continue.
    pub sold_out: bool,
}

impl TierView {
    /// `sold_out`: from the catalog's flag, the operator's override and the seats taken.
    fn new(t: &Tier, sold_out: bool) -> Self {
        Self {
            id: t.id.clone(),
            name: t.name.clone(),
            monthly_price: t.monthly_price.to_usd_string(),
            limits: LimitsView::from(&t.limits),
            capacity: t.capacity,
            sold_out,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ModelView {
    #[schema(example = "llama-3.1-70b-instruct")]
    pub id: String,
    pub name: String,
    pub context_length: u64,
    pub pricing: PricingView,
    /// Pay-as-you-go limits.
    pub limits: LimitsView,
    pub tiers: Vec<TierView>,
}

impl ModelView {
    fn new(m: &Model, availability: &Availability) -> Self {
        Self {
            id: m.id.clone(),
            name: m.name.clone(),
            context_length: m.context_length,
            pricing: PricingView {
                input: m.pricing.input.to_usd_string(),
                cached_input: m.pricing.cached_input.to_usd_string(),
                output: m.pricing.output.to_usd_string(),
            },
            limits: LimitsView::from(&m.limits),
            tiers: m
                .tiers
                .iter()
                .map(|t| TierView::new(t, availability.sold_out(m, t)))
                .collect(),
        }
    }
}

/// The models on offer, in catalog order, with prices, limits and subscription tiers.
#[utoipa::path(get, path = "/api/v1/models", tag = "models",
    params(ListParams),
    responses(
        (status = 200, body = List<ModelView>),
        (status = 401, body = ErrorBody),
    ))]
pub async fn list(
    State(app): State<Arc<App>>,
    ApiSession(_session): ApiSession,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<List<ModelView>>> {
    let limit = params.limit()?;
    let catalog = app.catalog.current();
    let models = catalog.models();
    let start = match params.after.as_deref() {
        Some(id) => {
            models
                .iter()
                .position(|m| m.id == id)
                .ok_or_else(invalid_cursor)?
                + 1
        }
        None => 0,
    };
    let rows = models[start..]
        .iter()
        .take(usize::try_from(limit).unwrap_or(0) + 1);
    let page = Page::from_rows(rows.collect(), limit);
    let availability = app.tier_availability().await?;
    Ok(Json(List::from_page(page, |m| {
        ModelView::new(m, &availability)
    })))
}

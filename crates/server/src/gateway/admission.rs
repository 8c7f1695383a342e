//! Admission: whether a chat or text completion request goes to the upstream, decided in one
//! place and in one order (DESIGN §2 "Usage and rate limits", docs/gateway.md):
//!
//! 1. the API key (401),
//! 2. the body (400; 413 was answered while reading it),
//! 3. the model: in the catalog (404) and enabled for the key's project (403),
//! 4. the context length: input and `max_tokens` fit the model (400),
//! 5. the plan: an active subscription covers the model (no credit), else pay-as-you-go,
//! 6. credit: pay-as-you-go reserves the most the request can cost, first under each monthly
//!    spend limit of the key, the project and the organization (402 `spend_limit_reached`),
//!    then in the organization's credit (402 `insufficient_quota`),
//! 7. rate limits: the organization's and the project's buckets for the model (429),
//!
//! and only then the request is forwarded. Everything here answers from memory; the database
//! is touched only when a cache is cold (key, subscription) or a credit lease must grow.

use std::sync::Arc;
use std::time::Instant;

use axum::http::HeaderMap;
use tollgate_domain::catalog::Upstream;
use tollgate_domain::ledger::TokenPrices;
use tollgate_domain::limits::spend::{period_of, SpendScope};
use tollgate_domain::Money;
use tollgate_store::SpendPeriod;

use crate::app::App;
use crate::gateway::request::{Endpoint, InferenceRequest};
use crate::gateway::{authenticate, tokens, GatewayError};
use crate::keys::KeyIdentity;
use crate::limits::{RateAdmission, RateRefusal, RateRequest};
use crate::metering::{CreditRefusal, CreditReservation};
use crate::service::entitlement::Entitlement;

/// A request let through, with what it holds until its usage is recorded.
pub struct Admitted {
    /// The usage record's id, sent back as `x-request-id`.
    pub request_id: String,
    pub key: Arc<KeyIdentity>,
    pub request: InferenceRequest,
    /// The catalog's model id (what the client asked for and what is billed).
    pub model: String,
    pub upstream: Upstream,
    pub prices: TokenPrices,
    /// `payg` or `subscription`.
    pub plan: &'static str,
    /// The most the request can cost (what was reserved, under pay-as-you-go).
    pub max_cost: Money,
    /// `None` under a subscription.
    pub reservation: Option<CreditReservation>,
    /// The request's place in the rate buckets, corrected by its real tokens when recorded.
    pub rate: Option<RateAdmission>,
    pub started: Instant,
    /// When it arrived, by the app's clock (the usage record's `occurred_at`).
    pub arrived_at: i64,
}

pub async fn admit(
    app: &Arc<App>,
    request_id: String,
    headers: &HeaderMap,
    endpoint: Endpoint,
    body: &[u8],
) -> Result<Admitted, GatewayError> {
    let started = Instant::now();
    let arrived_at = app.now();

    // 1. Who is calling.
    let key = authenticate(app, headers).await?;
    admit_as(app, request_id, key, endpoint, body, started, arrived_at).await
}

/// Steps 2 to 7 for a caller already known: an API key's, or the console Playground's pass
/// (`service/playground.rs`), so that both go through the same admission.
pub async fn admit_as(
    app: &Arc<App>,
    request_id: String,
    key: Arc<KeyIdentity>,
    endpoint: Endpoint,
    body: &[u8],
    started: Instant,
    arrived_at: i64,
) -> Result<Admitted, GatewayError> {
    // 2. What they ask for.
    let request = InferenceRequest::parse(endpoint, body)?;

    // 3. Which model, and whether the project may use it.
    let catalog = app.catalog.current();
    let model = catalog
        .model(&request.model)
        .ok_or_else(|| GatewayError::model_not_found(&request.model))?;
    if !key.may_use_model(&model.id) {
        return Err(GatewayError::model_not_allowed(&model.id));
    }

    // 4. Whether it fits the model's context; the most it can cost.
    let max_output = tokens::max_output(&request, model.context_length)?;
    let prices = tokens::prices(&model.pricing);
    // Rounded up: the reservation must cover the exact cost.
    let max_cost = tokens::cost(prices, request.input_tokens, 0, max_output)
        .map(|c| c.ceil())
        .ok_or_else(|| {
            GatewayError::invalid_request("max_tokens is too large.", Some("max_tokens"))
        })?;

    // 5. The plan.
    let entitlement = app.entitlement(&key.org_id, &model.id).await.map_err(|e| {
        tracing::error!(error = %e, "entitlement look-up failed");
        GatewayError::unavailable(
            "service_unavailable",
            "Your plan cannot be checked right now; try again shortly.",
        )
    })?;

    // 6. Spend limits and credit, for pay-as-you-go only.
    let reservation = match entitlement {
        Entitlement::Subscription { .. } => None,
        Entitlement::PayAsYouGo { .. } => {
            let limited = spend_limited(app, &key, arrived_at).await?;
            Some(
                app.metering
                    .reserve(&key.org_id, max_cost, &limited)
                    .await
                    .map_err(|refusal| match refusal {
                        CreditRefusal::Insufficient { .. } => GatewayError::insufficient_quota(),
                        CreditRefusal::SpendLimit {
                            scope, available, ..
                        } => GatewayError::spend_limit_reached(scope, available),
                        CreditRefusal::Unavailable => GatewayError::unavailable(
                            "service_unavailable",
                            "Credit cannot be checked right now; try again shortly.",
                        ),
                    })?,
            )
        }
    };

    // 7. Rate limits: one request and the estimated tokens (input + the most output), in the
    //    organization's and the project's buckets; a refusal drops `reservation`, which
    //    returns the credit.
    let rate = app
        .limits
        .admit(RateRequest {
            org_id: &key.org_id,
            project_id: &key.project_id,
            model: &model.id,
            entitlement: &entitlement,
            estimated_tokens: request.input_tokens.saturating_add(max_output),
        })
        .await
        .map_err(|refusal| match refusal {
            RateRefusal::Limited(limited) => GatewayError::from(*limited),
            RateRefusal::Unavailable(e) => {
                tracing::error!(error = %e, "rate limits cannot be checked");
                GatewayError::unavailable(
                    "service_unavailable",
                    "Rate limits cannot be checked right now; try again shortly.",
                )
            }
        })?;

    Ok(Admitted {
        request_id,
        key,
        model: model.id.clone(),
        upstream: model.upstream.clone(),
        prices,
        plan: entitlement.plan(),
        max_cost,
        reservation,
        rate: Some(rate),
        request,
        started,
        arrived_at,
    })
}

/// The months of the spend limits a request of `key` falls under: its key's, its project's and
/// its organization's, those that have one (from memory; read once per organization).
async fn spend_limited(
    app: &Arc<App>,
    key: &KeyIdentity,
    arrived_at: i64,
) -> Result<Vec<SpendPeriod>, GatewayError> {
    let settings = app
        .limits
        .settings
        .get(&app.store, &key.org_id)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "spend limits cannot be read");
            GatewayError::unavailable(
                "service_unavailable",
                "Spend limits cannot be checked right now; try again shortly.",
            )
        })?;
    let period = period_of(arrived_at);
    Ok([
        (SpendScope::ApiKey, key.key_id.as_str()),
        (SpendScope::Project, key.project_id.as_str()),
        (SpendScope::Organization, key.org_id.as_str()),
    ]
    .into_iter()
    .filter(|(scope, target)| settings.spend.contains_key(&(*scope, (*target).to_owned())))
    .map(|(scope, target)| SpendPeriod {
        scope,
        target_id: target.to_owned(),
        period: period.clone(),
    })
    .collect())
}

//! The Playground: chat with a model of a project from the console, streamed, with each
//! answer's tokens and cost. The page posts to `/o/{org}/playground/chat` with `fetch` and
//! reads the server-sent events as they come (`assets/playground.js`); the chat goes through
//! the gateway's own admission and metering under a pass the browser never sees
//! (`service/playground.rs`, docs/decisions/0019-playground-pass.md).

use crate::console::PagePath;
use std::sync::Arc;
use tollgate_domain::OrgId;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_domain::catalog::Catalog;
use tollgate_domain::{allows_in_project, ProjectAction};

use crate::app::App;
use crate::auth::csrf;
use crate::auth::CurrentSession;
use crate::console::contexts::ProjectOption;
use crate::console::numbers::dollars;
use crate::console::page::org_page;
use crate::console::page::Section;
use crate::console::service_error_page;
use crate::console::PageSession;
use crate::gateway;
use crate::service::ServiceError;

/// Most messages one chat sends (the conversation so far).
const MAX_MESSAGES: usize = 200;
/// Most output tokens one answer may ask for.
const MAX_OUTPUT_TOKENS: u64 = 32_768;
/// Projects listed in the picker.
const MAX_PROJECTS: i64 = 500;

#[derive(Deserialize)]
pub struct PageQuery {
    project: Option<String>,
    model: Option<String>,
}

pub async fn page(
    State(app): State<Arc<App>>,
    PageSession(session): PageSession,
    PagePath(org_id): PagePath<OrgId>,
    Query(q): Query<PageQuery>,
) -> Response {
    let (membership, projects) = match app
        .list_projects(&session.user, &org_id, None, MAX_PROJECTS)
        .await
    {
        Ok(found) => found,
        Err(e) => return service_error_page(&app, e),
    };
    // Only projects where the user may use keys, and that can still call models.
    let usable: Vec<_> = projects
        .data
        .iter()
        .filter(|p| {
            !p.project.is_archived()
                && allows_in_project(membership.role, p.role, ProjectAction::ManageKeys)
        })
        .collect();
    let selected = usable
        .iter()
        .find(|p| q.project.as_deref() == Some(p.project.id.as_str()))
        .or(usable.first());
    let catalog = app.catalog.current();
    let models = match selected {
        Some(p) => match app.store.project_models(&org_id, &p.project.id).await {
            Ok(allowed) => model_options(&catalog, allowed.as_deref()),
            Err(e) => return service_error_page(&app, e.into()),
        },
        None => Vec::new(),
    };
    let model = models
        .iter()
        .find(|m| Some(m.id) == q.model.as_deref())
        .or(models.first())
        .map(|m| m.id.to_owned());
    let page = PlaygroundPage {
        projects: usable
            .iter()
            .map(|p| ProjectOption {
                id: &p.project.id,
                name: &p.project.name,
            })
            .collect(),
        project_id: selected.map(|p| p.project.id.as_str()),
        models,
        model,
    };
    org_page(
        &app,
        &session,
        &membership,
        Section::Playground,
        "playground.html",
        StatusCode::OK,
        &page,
    )
    .await
}

/// `playground.html`.
#[derive(Serialize)]
struct PlaygroundPage<'a> {
    /// The projects where the user may use keys.
    projects: Vec<ProjectOption<'a>>,
    project_id: Option<&'a str>,
    models: Vec<ModelOption<'a>>,
    model: Option<String>,
}

/// A model the chosen project may call, with its prices per million tokens.
#[derive(Serialize)]
struct ModelOption<'a> {
    id: &'a str,
    name: &'a str,
    input_price: String,
    output_price: String,
}

/// The catalog's models a project may call, with their prices per million tokens.
fn model_options<'a>(catalog: &'a Catalog, allowed: Option<&[String]>) -> Vec<ModelOption<'a>> {
    catalog
        .models()
        .iter()
        .filter(|m| allowed.is_none_or(|list| list.contains(&m.id)))
        .map(|m| ModelOption {
            id: &m.id,
            name: &m.name,
            input_price: dollars(m.pricing.input),
            output_price: dollars(m.pricing.output),
        })
        .collect()
}

/// The chat request the Playground sends through the gateway.
#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
    stream: bool,
    stream_options: StreamOptions,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u64>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

/// The gateway's error shape: `{"error": {"message", "type", "code", "param"}}`.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    code: &'a str,
    param: Option<&'static str>,
}

/// A Playground answer's usage, as the page's script reads it.
#[derive(Serialize)]
struct UsageBody {
    id: String,
    model: String,
    plan: &'static str,
    status: String,
    input_tokens: i64,
    output_tokens: i64,
    cost: String,
    estimated: bool,
}

#[derive(Deserialize, Serialize)]
struct ChatMessage {
    role: String,
    content: String,
}

#[derive(Deserialize)]
struct ChatForm {
    project: String,
    model: String,
    messages: Vec<ChatMessage>,
    max_tokens: Option<u64>,
}

/// A refusal of the Playground's own checks, in the gateway's error shape (the page shows
/// `error.message` whatever refused).
fn refusal(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(ErrorBody {
            error: ErrorDetail {
                message,
                kind: "invalid_request_error",
                code,
                param: None,
            },
        }),
    )
        .into_response()
}

fn service_refusal(e: ServiceError) -> Response {
    match e {
        ServiceError::ProjectForbidden(_) => refusal(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Only project admins can use the Playground in this project.",
        ),
        ServiceError::Internal(inner) => {
            tracing::error!(error = ?inner, "playground");
            refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "Something went wrong on our side; it has been logged.",
            )
        }
        other => refusal(other.status(), other.code(), &other.public_message()),
    }
}

/// The CSRF token of the page (`x-csrf-token`) and this site's `Origin` are both required.
fn check_csrf(app: &App, headers: &HeaderMap, session: &CurrentSession) -> Result<(), Response> {
    let submitted = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !csrf::same_origin(headers, &app.config)
        || !csrf::matches(submitted, &csrf::token_for(&session.token))
    {
        return Err(refusal(
            StatusCode::FORBIDDEN,
            "csrf",
            "This page has expired or did not come from this site. Reload it and try again.",
        ));
    }
    Ok(())
}

/// One chat turn: the conversation so far in, the model's answer streamed out (server-sent
/// events as `/v1/chat/completions` sends them, usage included), `x-request-id` naming the
/// usage record.
pub async fn chat(
    State(app): State<Arc<App>>,
    PageSession(session): PageSession,
    headers: HeaderMap,
    PagePath(org_id): PagePath<OrgId>,
    body: Bytes,
) -> Response {
    if let Err(refused) = check_csrf(&app, &headers, &session) {
        return refused;
    }
    let form: ChatForm = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(_) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The chat could not be read: reload the page and try again.",
            )
        }
    };
    if form.messages.is_empty() || form.messages.len() > MAX_MESSAGES {
        return refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("A chat has from 1 to {MAX_MESSAGES} messages: start a new chat."),
        );
    }
    if let Some(bad) = form
        .messages
        .iter()
        .find(|m| !matches!(m.role.as_str(), "system" | "user" | "assistant"))
    {
        return refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!(
                "'{}' is not a role of a chat message.",
                bad.role.chars().take(40).collect::<String>()
            ),
        );
    }
    if form
        .max_tokens
        .is_some_and(|n| n == 0 || n > MAX_OUTPUT_TOKENS)
    {
        return refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("Maximum tokens must be from 1 to {MAX_OUTPUT_TOKENS}."),
        );
    }
    let pass = async {
        let project_id = app
            .project_id_in(&session.user, &org_id, &form.project)
            .await?;
        app.playground_pass(&session, &org_id, &project_id).await
    };
    let pass = match pass.await {
        Ok(p) => p,
        Err(e) => return service_refusal(e),
    };
    let request = ChatRequest {
        model: &form.model,
        messages: &form.messages,
        stream: true,
        stream_options: StreamOptions {
            include_usage: true,
        },
        max_tokens: form.max_tokens,
    };
    let body = match serde_json::to_vec(&request) {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "playground request not encoded");
            return refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Something went wrong on our side; it has been logged.",
            );
        }
    };
    let id = gateway::new_request_id(&app);
    let header = HeaderValue::from_str(&id).ok();
    let mut response = gateway::chat_as(app, id, pass, &body).await;
    if let Some(v) = header {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// A Playground answer's usage record: its tokens and cost, once metering has stored it
/// (404 until then).
pub async fn usage(
    State(app): State<Arc<App>>,
    PageSession(session): PageSession,
    PagePath((org_id, request_id)): PagePath<(OrgId, tollgate_domain::RequestId)>,
) -> Response {
    match app.playground_usage(&session, &org_id, &request_id).await {
        Ok(Some(r)) => Json(UsageBody {
            cost: dollars(r.cost.rounded()),
            id: r.id,
            model: r.model,
            plan: r.plan,
            status: r.status,
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            estimated: r.estimated,
        })
        .into_response(),
        Ok(None) => refusal(
            StatusCode::NOT_FOUND,
            "not_recorded_yet",
            "This answer's usage is not recorded yet.",
        ),
        Err(e) => service_refusal(e),
    }
}

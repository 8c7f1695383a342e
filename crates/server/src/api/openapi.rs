//! The statuses every operation can answer through the API's shared machinery, added to the
//! OpenAPI document so that it lists all of them (issue 9), whoever writes the next endpoint:
//!
//! - a JSON body (`ApiJson`): 400 not JSON, 413 too large, 415 not `application/json`, 422 not
//!   the body's shape;
//! - query parameters (`ApiQuery`): 400 unreadable, or an `after` that names no item of the
//!   list (`invalid_cursor`); `limit` is 1–100 (`page_limit`), so its
//!   schema says so and 422 is listed;
//! - path parameters: 404 unknown or not the caller's, 400 not UTF-8 once decoded;
//! - a session (every operation but the public ones): 401 signed out;
//! - any write sent with a session cookie: 403 from another origin (`same_origin_writes`);
//! - an organization's operations (`/api/v1/orgs/{org}…`): 403 `two_factor_required` while it
//!   requires two-factor sign-in and the caller has none (`App::org_access`, decision 0024).
//!
//! Each handler's annotation lists what its own rules answer (403 by role, 409, 402, …); an
//! entry already there is kept.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

/// Operations that need no session: `(method, path)`.
const PUBLIC: &[(&str, &str)] = &[
    ("post", "/api/v1/auth/signup"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/logout"),
    ("post", "/api/v1/auth/forgot-password"),
    ("post", "/api/v1/auth/reset-password"),
    ("post", "/api/v1/auth/verify-email"),
    ("get", "/api/v1/invites/{token}"),
    // The operator token, not a session (its 401 is in its annotation).
    ("post", "/api/v1/usage"),
];

/// Largest page (`service::page_limit`).
const MAX_LIMIT: i64 = 100;

pub fn complete(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [
            ("get", &mut item.get),
            ("post", &mut item.post),
            ("put", &mut item.put),
            ("patch", &mut item.patch),
            ("delete", &mut item.delete),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation.as_mut() {
                let public = PUBLIC.contains(&(method, path.as_str()));
                complete_operation(operation, method, public);
                if path.starts_with("/api/v1/orgs/{org}") {
                    add(
                        operation,
                        403,
                        "The organization requires two-factor sign-in and the caller has none \
                         (`two_factor_required`)",
                    );
                }
            }
        }
    }
}

fn complete_operation(op: &mut Operation, method: &str, public: bool) {
    if op.request_body.is_some() {
        add(op, 400, "The body is not valid JSON (`invalid_json`)");
        add(
            op,
            413,
            "The body is larger than the server accepts (`body_too_large`)",
        );
        add(op, 415, "The body is not sent as `application/json`");
        add(op, 422, "The body is not what this operation takes");
    }
    let mut params = op.parameters.take().unwrap_or_default();
    let mut has_query = false;
    let mut has_path = false;
    for param in &mut params {
        match param.parameter_in {
            ParameterIn::Query => has_query = true,
            ParameterIn::Path => has_path = true,
            _ => {}
        }
        if param.name == "limit" && matches!(param.parameter_in, ParameterIn::Query) {
            if let Some(RefOr::T(Schema::Object(schema))) = param.schema.as_mut() {
                schema.minimum = Some(1.into());
                schema.maximum = Some(MAX_LIMIT.into());
            }
        }
    }
    let has_limit = params.iter().any(|p| p.name == "limit");
    let has_cursor = params.iter().any(|p| p.name == "after");
    op.parameters = (!params.is_empty()).then_some(params);
    if has_cursor {
        add(
            op,
            400,
            "A query parameter cannot be read (`invalid_query`), or `after` names no item of \
             this list (`invalid_cursor`)",
        );
    }
    if has_query {
        add(
            op,
            400,
            "A query parameter cannot be read (`invalid_query`)",
        );
    }
    if has_limit {
        add(op, 422, "`limit` is outside 1–100");
    }
    if has_path {
        add(
            op,
            400,
            "The path is not valid UTF-8 once decoded (`invalid_path`)",
        );
        add(op, 404, "Unknown, or not the caller's");
    }
    if !public {
        add(op, 401, "Not signed in (`unauthenticated`)");
    }
    if method != "get" {
        add(
            op,
            403,
            "Sent with a session cookie from another origin (`cross_origin_request`)",
        );
    }
}

/// Adds `status` with the API's error body, unless the operation lists it already.
fn add(op: &mut Operation, status: u16, description: &str) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        });
}

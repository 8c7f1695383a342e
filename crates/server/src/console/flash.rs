//! One-time messages carried across a POST/redirect/GET: the full secret of a key just created
//! travels from the create form's redirect to the page that shows it, in a short-lived cookie
//! scoped to the API Keys page, and never in a URL (URLs end up in history and logs). The page
//! that shows it clears the cookie, so a reload does not show it again (docs/decisions/0016).

use axum::http::{HeaderMap, HeaderValue};
use tollgate_domain::api_key::{digests_match, PresentedKey};
use tollgate_store::ApiKey;

use crate::app::App;
use crate::auth::session::cookie;
use crate::auth::{ClientInfo, CurrentSession};
use crate::console::urlencode;

const NEW_KEY_COOKIE: &str = "tg_new_key";
/// Long enough for a slow redirect, short enough that a forgotten one does not linger.
const NEW_KEY_MAX_AGE_SECS: u64 = 120;

/// A key created by this user a moment ago, with its full secret, to be shown once.
pub struct NewKeyFlash {
    pub key: ApiKey,
    pub secret: String,
}

fn new_key_path(org_id: &str) -> String {
    format!("/o/{}/api-keys", urlencode(org_id))
}

pub(crate) fn flash_cookie(
    app: &App,
    name: &str,
    value: &str,
    path: &str,
    max_age: u64,
    client: &ClientInfo,
) -> HeaderValue {
    let secure = if app.cookie_is_secure(client) {
        "; Secure"
    } else {
        ""
    };
    // Every byte comes from ids, hex keys and fixed ASCII text.
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` carrying key `key_id`'s full secret to the page the create form redirects to.
pub fn new_key_flash_cookie(
    app: &App,
    org_id: &str,
    key_id: &str,
    secret: &str,
    client: &ClientInfo,
) -> HeaderValue {
    flash_cookie(
        app,
        NEW_KEY_COOKIE,
        &format!("{key_id}.{secret}"),
        &new_key_path(org_id),
        NEW_KEY_MAX_AGE_SECS,
        client,
    )
}

/// `Set-Cookie` that removes the new-key cookie once its page has shown it.
pub fn clear_new_key_flash_cookie(app: &App, org_id: &str, client: &ClientInfo) -> HeaderValue {
    flash_cookie(app, NEW_KEY_COOKIE, "", &new_key_path(org_id), 0, client)
}

/// The key the cookie names, when the cookie is genuine: the secret matches the stored
/// digest of a live key of organization `org_id`, created by the signed-in user. Anything
/// else (a forged, stale or foreign cookie) shows nothing.
pub async fn take_new_key_flash(
    app: &App,
    headers: &HeaderMap,
    session: &CurrentSession,
    org_id: &str,
) -> Option<NewKeyFlash> {
    let (key_id, secret) = cookie(headers, NEW_KEY_COOKIE)?.split_once('.')?;
    let presented = PresentedKey::parse(secret).ok()?;
    let credentials = app
        .store
        .key_credentials(presented.public_id)
        .await
        .ok()
        .flatten()?;
    let stored: [u8; 32] = hex::decode(&credentials.secret_hash)
        .ok()?
        .try_into()
        .ok()?;
    let genuine = credentials.key_id == key_id
        && credentials.org_id == org_id
        && !credentials.revoked
        && digests_match(&presented.secret_digest(), &stored);
    if !genuine {
        return None;
    }
    let key = app
        .store
        .api_key(&credentials.project_id, &credentials.key_id)
        .await
        .ok()
        .flatten()?;
    let own = key
        .created_by
        .as_ref()
        .is_some_and(|c| c.id == session.user.id);
    own.then(|| NewKeyFlash {
        key,
        secret: secret.to_owned(),
    })
}

//! The console's form guard: one extractor for every signed-in form post. It answers, in
//! this order, as the handlers used to answer one by one:
//!
//! 1. no session: a redirect to `/login?next=<this path>` ([`PageSession`]);
//! 2. a body that is not a readable form: an error page with the body's status ([`PageForm`]);
//! 3. a CSRF token that does not match the session, or a foreign `Origin`: the 403 page
//!    ([`App::check_form`]).
//!
//! Signed-out forms (log in, sign up, password reset) check against the `tg_csrf` cookie
//! ([`super::AnonCsrf`]) and log out accepts a missing session; they do not use this guard.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::Response;
use serde::Deserialize;

use crate::app::App;
use crate::auth::CurrentSession;
use crate::console::check_form;
use crate::console::{PageForm, PageSession};

/// A form that carries the CSRF token of the page it came from.
pub trait CsrfField {
    /// The submitted token; empty when the form had none.
    fn csrf(&self) -> &str;
}

/// Implements [`CsrfField`] for forms whose token is their `csrf: String` field.
macro_rules! csrf_field {
    ($($form:ty),+ $(,)?) => {
        $(impl $crate::console::form_guard::CsrfField for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        })+
    };
}
pub(crate) use csrf_field;

/// Forms read as a list of fields (repeated names): the token is the first `csrf` field.
impl CsrfField for Vec<(String, String)> {
    fn csrf(&self) -> &str {
        self.iter()
            .find(|(k, _)| k == "csrf")
            .map_or("", |(_, v)| v.as_str())
    }
}

/// A form with nothing but its token (archive, remove, cancel, sign out, ...).
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// A form that names something (an organization, a project).
#[derive(Deserialize)]
pub struct NameForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub name: String,
}

csrf_field!(CsrfForm, NameForm);

/// A signed-in form post that passed the guard: the session and the form. Take it as the
/// handler's last argument (it reads the body).
pub struct CheckedForm<T> {
    pub session: CurrentSession,
    pub form: T,
}

impl<T> FromRequest<Arc<App>> for CheckedForm<T>
where
    T: serde::de::DeserializeOwned + CsrfField,
{
    type Rejection = Response;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let PageSession(session) = PageSession::from_request_parts(&mut parts, app).await?;
        let headers = parts.headers.clone();
        let PageForm(form) =
            PageForm::<T>::from_request(Request::from_parts(parts, body), app).await?;
        check_form(app, &headers, &session.token, form.csrf())?;
        Ok(Self { session, form })
    }
}

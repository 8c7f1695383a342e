//! The emails Tollgate sends, each a subject, a plain-text body and an HTML body rendered from
//! files under `crates/server/templates/email/`. Each email is a struct: its fields are the
//! template's variables, so a caller cannot forget one.

use minijinja::{AutoEscape, Environment, Error, ErrorKind, Output, State, Value};
use serde::Serialize;
use tollgate_domain::clock::to_datetime;
use tollgate_domain::Timestamp;
use tollgate_store::OutgoingEmail;

/// An email's variables. `KIND` names its templates (`KIND.subject.txt`, `KIND.txt`,
/// `KIND.html`) and is stored with the message.
pub trait EmailTemplate: Serialize {
    const KIND: &'static str;
}

/// An invitation to join an organization (DESIGN §2 "Invitations").
#[derive(Debug, Serialize)]
pub struct Invitation<'a> {
    pub org_name: &'a str,
    pub inviter_name: &'a str,
    pub inviter_email: &'a str,
    /// As people read it: "Organization Admin", "Project Member", …
    pub role: &'a str,
    /// Names of the projects a project role applies to; empty for an organization role.
    pub projects: &'a [String],
    /// The absolute `/invites/{token}` link.
    pub accept_url: &'a str,
    pub expires_at: Timestamp,
}

impl EmailTemplate for Invitation<'_> {
    const KIND: &'static str = "invitation";
}

/// Amounts in these emails are USD decimal strings as the API shows them ("25.00").
#[derive(Debug, Serialize)]
pub struct RechargeSucceeded<'a> {
    pub org_name: &'a str,
    pub amount: &'a str,
    pub balance: &'a str,
    /// As shown in the console, e.g. "Visa ending in 4242".
    pub payment_method: &'a str,
    pub billing_url: &'a str,
}

impl EmailTemplate for RechargeSucceeded<'_> {
    const KIND: &'static str = "recharge_succeeded";
}

#[derive(Debug, Serialize)]
pub struct RechargeFailed<'a> {
    pub org_name: &'a str,
    pub amount: &'a str,
    /// Why the charge failed, as a sentence ("The card was declined.").
    pub reason: &'a str,
    /// Consecutive failures so far.
    pub attempts: u32,
    /// True when this failure turned auto-recharge off.
    pub auto_recharge_disabled: bool,
    pub billing_url: &'a str,
}

impl EmailTemplate for RechargeFailed<'_> {
    const KIND: &'static str = "recharge_failed";
}

#[derive(Debug, Serialize)]
pub struct Receipt<'a> {
    pub org_name: &'a str,
    pub receipt_number: &'a str,
    /// What was paid for ("Credits", "gpt-x Pro subscription, May 2026").
    pub description: &'a str,
    pub amount: &'a str,
    pub paid_at: Timestamp,
    pub payment_method: &'a str,
    pub billing_url: &'a str,
}

impl EmailTemplate for Receipt<'_> {
    const KIND: &'static str = "receipt";
}

#[derive(Debug, Serialize)]
pub struct RenewalFailed<'a> {
    pub org_name: &'a str,
    pub model_name: &'a str,
    pub tier_name: &'a str,
    pub amount: &'a str,
    pub reason: &'a str,
    /// When the past-due subscription will be canceled if no retry succeeds.
    pub retry_until: Timestamp,
    pub billing_url: &'a str,
}

impl EmailTemplate for RenewalFailed<'_> {
    const KIND: &'static str = "renewal_failed";
}

/// A monthly spend limit reached one of its alert thresholds.
#[derive(Debug, Serialize)]
pub struct SpendAlert<'a> {
    pub org_name: &'a str,
    /// What the limit applies to: "the organization", "the project \"Web\"", …
    pub target: &'a str,
    pub percent: u8,
    pub spent: &'a str,
    pub monthly_limit: &'a str,
    /// `YYYY-MM`.
    pub month: &'a str,
    pub limits_url: &'a str,
}

impl EmailTemplate for SpendAlert<'_> {
    const KIND: &'static str = "spend_alert";
}

/// A forgot-password link (docs/account-security.md).
#[derive(Debug, Serialize)]
pub struct PasswordReset<'a> {
    pub name: &'a str,
    /// The absolute `/reset-password/{token}` link.
    pub reset_url: &'a str,
    pub expires_at: Timestamp,
}

impl EmailTemplate for PasswordReset<'_> {
    const KIND: &'static str = "password_reset";
}

/// The link that verifies a new account's email address.
#[derive(Debug, Serialize)]
pub struct EmailVerification<'a> {
    pub name: &'a str,
    /// The absolute `/verify-email/{token}` link.
    pub verify_url: &'a str,
    pub expires_at: Timestamp,
}

impl EmailTemplate for EmailVerification<'_> {
    const KIND: &'static str = "email_verification";
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("'{0}' is not an email address a message can be sent to")]
    InvalidRecipient(String),
    #[error("rendering the {kind} email: {source}")]
    Template {
        kind: &'static str,
        #[source]
        source: Error,
    },
}

/// Templates by name, read at compile time.
macro_rules! email_templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/email/", $name)))),*]
    };
}

const TEMPLATES: &[(&str, &str)] = email_templates!(
    "layout.txt",
    "layout.html",
    "button.html",
    "invitation.subject.txt",
    "invitation.txt",
    "invitation.html",
    "recharge_succeeded.subject.txt",
    "recharge_succeeded.txt",
    "recharge_succeeded.html",
    "recharge_failed.subject.txt",
    "recharge_failed.txt",
    "recharge_failed.html",
    "receipt.subject.txt",
    "receipt.txt",
    "receipt.html",
    "renewal_failed.subject.txt",
    "renewal_failed.txt",
    "renewal_failed.html",
    "spend_alert.subject.txt",
    "spend_alert.txt",
    "spend_alert.html",
    "password_reset.subject.txt",
    "password_reset.txt",
    "password_reset.html",
    "email_verification.subject.txt",
    "email_verification.txt",
    "email_verification.html",
);

pub struct EmailTemplates {
    env: Environment<'static>,
}

impl EmailTemplates {
    /// Parses every template; a syntax error fails start-up rather than an email.
    pub fn load() -> Result<Self, Error> {
        let mut env = Environment::new();
        // A missing variable is a bug in the caller; an email must not go out with a hole.
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_formatter(html_formatter);
        env.add_filter("datetime", datetime);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        Ok(Self { env })
    }

    pub fn render<T: EmailTemplate>(
        &self,
        to: &str,
        email: &T,
    ) -> Result<OutgoingEmail, RenderError> {
        let to = to.trim();
        if to.parse::<lettre::Address>().is_err() {
            return Err(RenderError::InvalidRecipient(to.to_owned()));
        }
        let context = Value::from_serialize(email);
        let render = |suffix: &str| -> Result<String, RenderError> {
            self.env
                .get_template(&format!("{}.{suffix}", T::KIND))
                .and_then(|t| t.render(&context))
                .map_err(|source| RenderError::Template {
                    kind: T::KIND,
                    source,
                })
        };
        // A header cannot span lines; a name with a line break must not be able to add one.
        let subject = render("subject.txt")?
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        Ok(OutgoingEmail {
            to: to.to_owned(),
            subject,
            text_body: format!("{}\n", render("txt")?.trim()),
            html_body: render("html")?,
            kind: T::KIND.to_owned(),
        })
    }
}

/// "May 8, 2026, 14:05 UTC": unambiguous wherever the reader lives.
fn datetime(ms: Timestamp) -> String {
    to_datetime(ms).format("%B %-d, %Y, %H:%M UTC").to_string()
}

/// HTML escaping without minijinja's escaping of `/`, which would print links in attributes
/// and text as `https:&#x2f;&#x2f;…`: valid HTML, but unreadable in the source of a message and
/// mangled by some mail clients.
fn html_formatter(out: &mut Output, state: &State, value: &Value) -> Result<(), Error> {
    if state.auto_escape() == AutoEscape::Html && !value.is_safe() {
        if let Some(s) = value.as_str() {
            let mut escaped = String::with_capacity(s.len());
            for c in s.chars() {
                match c {
                    '&' => escaped.push_str("&amp;"),
                    '<' => escaped.push_str("&lt;"),
                    '>' => escaped.push_str("&gt;"),
                    '"' => escaped.push_str("&quot;"),
                    '\'' => escaped.push_str("&#x27;"),
                    c => escaped.push(c),
                }
            }
            return out
                .write_str(&escaped)
                .map_err(|e| Error::new(ErrorKind::WriteFailure, e.to_string()));
        }
    }
    minijinja::escape_formatter(out, state, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAY_8_2026_1405: Timestamp = 1_778_249_100_000;

    fn invitation<'a>(org_name: &'a str, projects: &'a [String]) -> Invitation<'a> {
        Invitation {
            org_name,
            inviter_name: "Ada Lovelace",
            inviter_email: "ada@example.com",
            role: "Project Member",
            projects,
            accept_url: "https://console.example.com/invites/abc123?x=1&y=2",
            expires_at: MAY_8_2026_1405,
        }
    }

    #[test]
    fn an_invitation_has_every_part() {
        let t = EmailTemplates::load().unwrap();
        let projects = vec!["Alpha".to_owned(), "Beta".to_owned()];
        let m = t
            .render(" bob@example.com ", &invitation("Acme", &projects))
            .unwrap();
        assert_eq!(m.to, "bob@example.com");
        assert_eq!(m.kind, "invitation");
        assert_eq!(
            m.subject,
            "Ada Lovelace invited you to join Acme on Tollgate"
        );
        assert!(m
            .text_body
            .contains("as Project Member of the projects Alpha, Beta."));
        assert!(m
            .text_body
            .contains("\nhttps://console.example.com/invites/abc123?x=1&y=2\n"));
        assert!(m.text_body.contains("expires on May 8, 2026, 14:05 UTC"));
        assert!(m
            .html_body
            .contains("href=\"https://console.example.com/invites/abc123?x=1&amp;y=2\""));
        assert!(m.html_body.contains("<title>Invitation to Acme</title>"));
        assert!(m
            .html_body
            .contains("<strong>Project Member</strong> of the projects"));
        assert!(!m.text_body.contains("{{") && !m.html_body.contains("{{"));
    }

    #[test]
    fn names_cannot_inject_markup_or_headers() {
        let t = EmailTemplates::load().unwrap();
        let m = t
            .render(
                "bob@example.com",
                &invitation("<script>x</script>\r\nBcc: eve@example.com", &[]),
            )
            .unwrap();
        assert!(!m.subject.contains('\n') && !m.subject.contains('\r'));
        assert!(m.html_body.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(!m.html_body.contains("<script>"));
        assert!(m.text_body.contains("as Project Member."), "no projects");
    }

    #[test]
    fn bad_recipients_are_refused_before_anything_is_stored() {
        let t = EmailTemplates::load().unwrap();
        for to in [
            "",
            "not-an-address",
            "a@b@c",
            "bob@example.com\r\nBcc: x@y.z",
        ] {
            assert!(
                matches!(
                    t.render(to, &invitation("Acme", &[])),
                    Err(RenderError::InvalidRecipient(_))
                ),
                "{to:?}"
            );
        }
    }

    #[test]
    fn every_email_renders() {
        let t = EmailTemplates::load().unwrap();
        let to = "admin@example.com";
        let url = "https://console.example.com/o/org_1/billing";
        let rendered = [
            t.render(
                to,
                &RechargeSucceeded {
                    org_name: "Acme",
                    amount: "50.00",
                    balance: "62.50",
                    payment_method: "Visa ending in 4242",
                    billing_url: url,
                },
            ),
            t.render(
                to,
                &RechargeFailed {
                    org_name: "Acme",
                    amount: "50.00",
                    reason: "The card was declined.",
                    attempts: 3,
                    auto_recharge_disabled: true,
                    billing_url: url,
                },
            ),
            t.render(
                to,
                &Receipt {
                    org_name: "Acme",
                    receipt_number: "rcpt_0001",
                    description: "Credits",
                    amount: "25.00",
                    paid_at: MAY_8_2026_1405,
                    payment_method: "Visa ending in 4242",
                    billing_url: url,
                },
            ),
            t.render(
                to,
                &RenewalFailed {
                    org_name: "Acme",
                    model_name: "Llama 3 70B",
                    tier_name: "Pro",
                    amount: "99.00",
                    reason: "The card was declined.",
                    retry_until: MAY_8_2026_1405,
                    billing_url: url,
                },
            ),
        ];
        let kinds = [
            "recharge_succeeded",
            "recharge_failed",
            "receipt",
            "renewal_failed",
        ];
        for (m, kind) in rendered.into_iter().zip(kinds) {
            let m = m.unwrap();
            assert_eq!(m.kind, kind);
            assert!(!m.subject.is_empty());
            assert!(m.text_body.contains(url), "{kind} text links to billing");
            assert!(m.html_body.contains(&format!("href=\"{url}\"")), "{kind}");
            assert!(m.text_body.contains("Acme") && m.html_body.contains("Acme"));
        }
    }

    #[test]
    fn recharge_failure_says_whether_auto_recharge_is_off() {
        let t = EmailTemplates::load().unwrap();
        let email = |off| RechargeFailed {
            org_name: "Acme",
            amount: "50.00",
            reason: "The card was declined.",
            attempts: if off { 3 } else { 1 },
            auto_recharge_disabled: off,
            billing_url: "https://x.example/billing",
        };
        let off = t.render("a@example.com", &email(true)).unwrap();
        let retrying = t.render("a@example.com", &email(false)).unwrap();
        assert_eq!(off.subject, "Acme: auto-recharge was turned off");
        assert!(off.text_body.contains("After 3 failed attempts"));
        assert_eq!(retrying.subject, "Acme: auto-recharge failed");
        assert!(retrying.text_body.contains("We will try again later"));
    }
}

//! Where a message goes once the worker has claimed it: an SMTP server, a directory of `.eml`
//! files, or a list in memory. Every transport sends the same RFC 5322 message, built here.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use lettre::message::header::ContentTransferEncoding;
use lettre::message::{Body, Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tollgate_store::OutboxMessage;

use crate::email::config::{SmtpConfig, SmtpSecurity, TransportConfig};

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The message itself is unusable (e.g. its address): no retry can help.
    #[error("invalid message: {0}")]
    Invalid(String),
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("writing {path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl SendError {
    /// True when trying again later cannot succeed. SMTP errors are always retried, even
    /// permanent (5xx) ones: a relay that refuses credentials or a sender is usually a
    /// configuration fix away, and giving up would lose every message in the meantime.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Invalid(_))
    }
}

/// A message as the memory transport keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentEmail {
    pub outbox_id: i64,
    pub to: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub kind: String,
    /// The full message as an SMTP server would have received it.
    pub raw: String,
}

impl SentEmail {
    /// The first link of the plain-text body: the one the reader is meant to follow.
    pub fn first_link(&self) -> Option<&str> {
        first_link(&self.text_body)
    }
}

/// The sent messages of a memory transport; clones share the list.
#[derive(Debug, Clone, Default)]
pub struct MemoryOutbox(Arc<Mutex<Vec<SentEmail>>>);

impl MemoryOutbox {
    pub fn messages(&self) -> Vec<SentEmail> {
        match self.0.lock() {
            Ok(list) => list.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn push(&self, email: SentEmail) {
        match self.0.lock() {
            Ok(mut list) => list.push(email),
            Err(poisoned) => poisoned.into_inner().push(email),
        }
    }
}

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(PathBuf),
    Memory(MemoryOutbox),
}

impl Transport {
    /// Builds the transport; nothing is contacted until the first message.
    pub fn new(config: &TransportConfig) -> Result<Self, SendError> {
        Ok(match config {
            TransportConfig::Smtp(smtp) => Self::Smtp(smtp_transport(smtp)?),
            TransportConfig::File { dir } => Self::File(dir.clone()),
            TransportConfig::Memory => Self::Memory(MemoryOutbox::default()),
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Smtp(_) => "smtp",
            Self::File(_) => "file",
            Self::Memory(_) => "memory",
        }
    }

    pub async fn send(
        &self,
        message: &OutboxMessage,
        from: &Mailbox,
        date: SystemTime,
    ) -> Result<(), SendError> {
        let email = build_message(message, from, date)?;
        match self {
            Self::Smtp(smtp) => {
                smtp.send(email).await?;
            }
            Self::File(dir) => {
                let path = write_eml(dir, message, email.formatted()).await?;
                tracing::info!(
                    to = %message.to,
                    kind = %message.kind,
                    file = %path.display(),
                    link = first_link(&message.text_body).unwrap_or("(none)"),
                    "email written to the outbox directory",
                );
            }
            Self::Memory(outbox) => outbox.push(SentEmail {
                outbox_id: message.id,
                to: message.to.clone(),
                subject: message.subject.clone(),
                text_body: message.text_body.clone(),
                html_body: message.html_body.clone(),
                kind: message.kind.clone(),
                raw: String::from_utf8_lossy(&email.formatted()).into_owned(),
            }),
        }
        Ok(())
    }
}

fn smtp_transport(config: &SmtpConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
    let tls = || TlsParameters::new(config.host.clone());
    let tls = match config.security {
        SmtpSecurity::Starttls => Tls::Required(tls()?),
        SmtpSecurity::Tls => Tls::Wrapper(tls()?),
        SmtpSecurity::None => Tls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
        .port(config.port)
        .tls(tls)
        .timeout(Some(config.timeout));
    if let Some(username) = &config.username {
        builder = builder.credentials(Credentials::new(
            username.clone(),
            config.password.clone().unwrap_or_default(),
        ));
    }
    Ok(builder.build())
}

/// The message as sent: `multipart/alternative` with the text part first, so that clients
/// that prefer HTML show it and the others show the text. The Message-ID is derived from the
/// outbox row, so that a message delivered twice (a worker that died after sending but before
/// recording it) carries the same id both times and receivers can tell.
pub fn build_message(
    message: &OutboxMessage,
    from: &Mailbox,
    date: SystemTime,
) -> Result<Message, SendError> {
    let to: Mailbox = message
        .to
        .parse()
        .map_err(|e| SendError::Invalid(format!("recipient '{}': {e}", message.to)))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(message.subject.clone())
        .date(date)
        .message_id(Some(format!(
            "<outbox.{}.{}@{}>",
            message.id,
            message.created_at,
            from.email.domain()
        )))
        .multipart(MultiPart::alternative_plain_html(
            body(&message.text_body),
            body(&message.html_body),
        ))
        .map_err(|e| SendError::Invalid(e.to_string()))
}

/// A part's body, left as it is (`7bit`) whenever the standard allows it: ASCII with lines of
/// at most 998 octets (RFC 5322 §2.1.1). lettre would wrap lines at 76 characters with
/// quoted-printable, cutting the long links of invitations in two in a saved `.eml` file and
/// in any tool that reads the message raw. Other text is encoded by lettre as usual.
fn body(text: &str) -> Body {
    let unix = text.replace("\r\n", "\n").replace('\r', "\n");
    let plain = unix.is_ascii() && !unix.contains('\0') && unix.lines().all(|l| l.len() <= 998);
    if plain {
        Body::dangerous_pre_encoded(
            unix.replace('\n', "\r\n").into_bytes(),
            ContentTransferEncoding::SevenBit,
        )
    } else {
        Body::new(unix)
    }
}

/// Writes `<dir>/<created>-<id>-<kind>.eml` whole or not at all (a temporary file renamed
/// into place), so that whoever watches the directory never reads half a message.
async fn write_eml(
    dir: &Path,
    message: &OutboxMessage,
    bytes: Vec<u8>,
) -> Result<PathBuf, SendError> {
    // The kind comes from the database: keep it from naming a path outside `dir`.
    let kind: String = message
        .kind
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        .collect();
    let path = dir.join(format!(
        "{}-{:06}-{kind}.eml",
        message.created_at, message.id
    ));
    let tmp = dir.join(format!(".{}.tmp", message.id));
    let (dir, target) = (dir.to_owned(), path.clone());
    let written = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)?;
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &target)
    })
    .await
    .unwrap_or_else(|e| Err(std::io::Error::other(e)));
    written.map_err(|source| SendError::File {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// The first `http://` or `https://` link in `text`.
pub fn first_link(text: &str) -> Option<&str> {
    let start = [text.find("http://"), text.find("https://")]
        .into_iter()
        .flatten()
        .min()?;
    let rest = &text[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | ')'))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// How long an SMTP conversation may take at most, so that a lease outlives it.
pub fn max_send_time(config: &TransportConfig) -> Duration {
    match config {
        // Connect, greeting, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, the message, QUIT: each
        // step is bounded by the timeout.
        TransportConfig::Smtp(smtp) => smtp.timeout * 12,
        TransportConfig::File { .. } | TransportConfig::Memory => Duration::from_secs(60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox_message(to: &str) -> OutboxMessage {
        OutboxMessage {
            id: 7,
            to: to.to_owned(),
            subject: "Hello — café".to_owned(),
            text_body: "See https://x.example/invites/t0k?a=1 now.\n".to_owned(),
            html_body: "<p><a href=\"https://x.example/invites/t0k?a=1\">Go</a></p>".to_owned(),
            kind: "invitation".to_owned(),
            created_at: 1_700_000_000_000,
            attempts: 1,
            next_attempt_at: 1_700_000_000_000,
            locked_until: None,
            sent_at: None,
            last_error: None,
            failed_at: None,
        }
    }

    #[test]
    fn links_are_found_and_cut_at_their_end() {
        assert_eq!(
            first_link("Go to\nhttps://a.example/x?y=1\nor http://b"),
            Some("https://a.example/x?y=1")
        );
        assert_eq!(
            first_link("(http://a.example/p) x"),
            Some("http://a.example/p")
        );
        assert_eq!(first_link("no link here"), None);
    }

    #[test]
    fn messages_are_multipart_alternative_with_a_stable_id() {
        let from: Mailbox = "Tollgate <no-reply@tollgate.example>".parse().unwrap();
        let m =
            build_message(&outbox_message("bob@example.com"), &from, SystemTime::now()).unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        assert!(
            raw.contains("From: Tollgate <no-reply@tollgate.example>"),
            "{raw}"
        );
        assert!(raw.contains("To: bob@example.com"), "{raw}");
        assert!(raw.contains("Message-ID: <outbox.7.1700000000000@tollgate.example>"));
        assert!(raw.contains("Content-Type: multipart/alternative"), "{raw}");
        let text_at = raw.find("Content-Type: text/plain").unwrap();
        let html_at = raw.find("Content-Type: text/html").unwrap();
        assert!(text_at < html_at, "text first, HTML preferred");
        // Non-ASCII subjects are encoded, never sent raw.
        assert!(raw.contains("Subject: Hello =?utf-8?"), "{raw}");
        assert!(raw.is_ascii());
    }

    #[test]
    fn long_ascii_lines_stay_whole_and_other_text_is_encoded() {
        let link = format!("https://x.example/invites/{}", "a".repeat(120));
        let from: Mailbox = "no-reply@tollgate.example".parse().unwrap();
        let mut message = outbox_message("bob@example.com");
        message.text_body = format!("Accept:\n{link}\n");
        message.html_body = format!("<p>Caf\u{e9} <a href=\"{link}\">go</a></p>");
        let raw = String::from_utf8(
            build_message(&message, &from, SystemTime::now())
                .unwrap()
                .formatted(),
        )
        .unwrap();
        assert!(raw.contains(&format!("Accept:\r\n{link}\r\n")), "{raw}");
        assert!(raw.contains("Content-Transfer-Encoding: 7bit"), "{raw}");
        // The HTML part is not ASCII: lettre encodes it.
        assert!(
            raw.contains("Content-Transfer-Encoding: quoted-printable"),
            "{raw}"
        );
        assert!(raw.is_ascii());
        assert!(raw.lines().all(|l| l.len() <= 998));
    }

    #[test]
    fn an_unusable_recipient_is_permanent() {
        let from: Mailbox = "no-reply@tollgate.example".parse().unwrap();
        let err =
            build_message(&outbox_message("not an address"), &from, SystemTime::now()).unwrap_err();
        assert!(err.is_permanent());
    }
}

//! Sign-up, log-in and log-out.

use tollgate_domain::{secret, Email, Name, Password};
use tollgate_store::{Conflict, NewUser, Org, StoreError, User};

use crate::app::App;
use crate::auth::{password, ClientInfo};
use crate::config::millis;
use crate::service::{ServiceError, ServiceResult};

pub struct SignupInput<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub name: &'a str,
    /// Email a link that verifies the address. Off when the sign-up accepts an invitation
    /// sent to that address, which verifies it.
    pub send_verification: bool,
}

pub struct SignedIn {
    pub user: User,
    /// The raw session token for the cookie.
    pub session_token: String,
}

const HOUR_MS: i64 = 3_600_000;

impl App {
    /// Creates an account with its personal organization and signs it in.
    pub async fn sign_up(
        &self,
        input: SignupInput<'_>,
        client: &ClientInfo,
    ) -> ServiceResult<(SignedIn, Org)> {
        let email = Email::parse(input.email)?;
        let name = Name::parse("name", input.name)?;
        let pw = Password::parse(input.password)?;
        let ip = client.ip.as_deref().unwrap_or("unknown");
        let hits = self
            .store
            .rate_hit(&format!("signup:ip:{ip}"), HOUR_MS, self.now())
            .await?;
        if hits > self.config.signups_per_ip_per_hour {
            return Err(self.too_many(HOUR_MS));
        }
        let org_name = Name::parse(
            "name",
            &format!("{}'s organization", truncate(name.as_str(), 80)),
        )?;
        let hash = self
            .password_turn()
            .await?
            .hash(pw.expose().to_owned())
            .await?;
        let (user, org) = self
            .store
            .sign_up_user(
                NewUser {
                    email: &email,
                    name: &name,
                    password_hash: &hash,
                },
                &org_name,
                self.now(),
                client.ip.as_deref(),
            )
            .await
            .map_err(|e| match e {
                StoreError::Conflict(Conflict::Email) => ServiceError::EmailTaken,
                other => other.into(),
            })?;
        if input.send_verification {
            self.send_verification_email(&user, client).await?;
        }
        let session_token = self.start_session(&user.id, client).await?;
        tracing::info!(user = %user.id, org = %org.id, "account created");
        Ok((
            SignedIn {
                user,
                session_token,
            },
            org,
        ))
    }

    /// Checks an email and password, and for users with two-factor sign-in the code (a TOTP
    /// code or a recovery code): without one the answer is 401 `totp_required`, a wrong one 401
    /// `totp_invalid`. A wrong email and a wrong password get the same answer; repeated
    /// failures (wrong codes too) for one email or from one address are refused for a while.
    pub async fn log_in(
        &self,
        email: &str,
        pw: &str,
        second_factor: Option<&str>,
        client: &ClientInfo,
    ) -> ServiceResult<SignedIn> {
        let window = millis(self.config.login_window);
        let now = self.now();
        // An unparseable email is checked like an unknown one: same answer, same cost.
        let email = Email::parse(email).ok();
        let email_bucket = format!("login:email:{}", email.as_ref().map_or("", |e| e.as_str()));
        let ip_bucket = format!("login:ip:{}", client.ip.as_deref().unwrap_or("unknown"));
        // The attempt takes its place in both counters before its password is checked, each
        // only while below its limit (checked and counted at once), so concurrent attempts
        // check at most the limit and exactly as many as there are places. An attempt
        // refused before its check, or a successful one, gives its places back; a failed one
        // keeps them.
        let give_back = || async {
            self.store.rate_release(&email_bucket, window, now).await?;
            self.store.rate_release(&ip_bucket, window, now).await
        };
        if !self
            .store
            .rate_take(
                &email_bucket,
                self.config.login_failures_per_email,
                window,
                now,
            )
            .await?
        {
            return Err(self.too_many(window));
        }
        if !self
            .store
            .rate_take(&ip_bucket, self.config.login_failures_per_ip, window, now)
            .await?
        {
            self.store.rate_release(&email_bucket, window, now).await?;
            return Err(self.too_many(window));
        }
        let creds = match &email {
            Some(e) => self.store.credentials(e).await?,
            None => None,
        };
        let turn = match self.password_turn().await {
            Ok(turn) => turn,
            Err(busy) => {
                give_back().await?;
                return Err(busy);
            }
        };
        let ok = turn
            .verify(
                pw.to_owned(),
                creds.as_ref().map(|c| c.password_hash.clone()),
            )
            .await?;
        let user = match (ok, creds) {
            (true, Some(c)) => self.store.user(&c.id).await?,
            _ => None,
        };
        let Some(user) = user else {
            return Err(ServiceError::InvalidCredentials);
        };
        if self.totp_enabled(&user.id).await? {
            match second_factor.filter(|c| !c.trim().is_empty()) {
                None => {
                    give_back().await?;
                    return Err(ServiceError::SecondFactor {
                        code: "totp_required",
                        message: "Enter the code from your authenticator app.".to_owned(),
                    });
                }
                // A wrong code keeps its place in both counters, like a wrong password.
                Some(code) => self.use_second_factor(&user.id, code).await?,
            }
        }
        // Success forgets this email's failures; the address keeps its other ones.
        self.store.rate_release(&ip_bucket, window, now).await?;
        self.store.rate_reset(&email_bucket).await?;
        let session_token = self.start_session(&user.id, client).await?;
        Ok(SignedIn {
            user,
            session_token,
        })
    }

    /// Ends the session named by `token` (a no-op for unknown tokens).
    pub async fn log_out(&self, token: &str) -> ServiceResult<()> {
        if secret::is_well_formed_token(token) {
            self.store.delete_session(&secret::digest(token)).await?;
        }
        Ok(())
    }

    /// A turn at password hashing, or 503 when none comes free soon (see `Passwords`).
    pub(crate) async fn password_turn(&self) -> ServiceResult<password::Turn> {
        self.passwords.turn().await.ok_or(ServiceError::Busy {
            retry_after_secs: 1,
        })
    }

    pub(crate) fn too_many(&self, window_ms: i64) -> ServiceError {
        let now = self.now();
        let left = window_ms - now.rem_euclid(window_ms);
        ServiceError::TooManyRequests {
            retry_after_secs: u64::try_from(left / 1000 + 1).unwrap_or(1),
        }
    }
}

fn truncate(s: &str, chars: usize) -> &str {
    s.char_indices().nth(chars).map_or(s, |(i, _)| &s[..i])
}

//! The stripe provider: Stripe's REST API over HTTPS. Requests are form-encoded (Stripe's
//! `a[b]=c` convention), answers are JSON, the secret key is the bearer token, and every call
//! that creates something that must not be created twice carries an `Idempotency-Key`.

use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::Method;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tollgate_domain::Timestamp;

use super::amount::Cents;
use super::card::CardBrand;
use super::config::StripeConfig;
use super::stripe_wire::{
    Customer, ErrorEnvelope, ErrorObject, Failure, List, PaymentIntent, PaymentMethod,
    SetupIntentObject, IDEMPOTENCY_METADATA_KEY,
};
use super::types::{
    check_idempotency_key, CardInput, CardRef, ChargeOutcome, ChargeRequest, CustomerRef,
    PaymentError, SavedCard, SetupIntent,
};
use super::PaymentProvider;

/// The API version Tollgate was written against, sent with every request so that an account's
/// default version cannot change the shapes we read.
pub const STRIPE_API_VERSION: &str = "2024-06-20";

/// How many pages of a customer's PaymentIntents (100 each, newest first) a lookup by
/// idempotency key reads before concluding the charge was never made.
const LOOKUP_PAGES: usize = 10;

type Form = Vec<(&'static str, String)>;

pub struct StripeClient {
    http: reqwest::Client,
    api_base: String,
    auth: HeaderValue,
    publishable_key: String,
    webhook_secret: Option<String>,
}

impl std::fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeClient")
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

impl StripeClient {
    pub fn new(config: &StripeConfig) -> Result<Self, PaymentError> {
        config.check().map_err(PaymentError::InvalidRequest)?;
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {}", config.secret_key)).map_err(|_| {
                PaymentError::InvalidRequest("the Stripe secret key is malformed".into())
            })?;
        auth.set_sensitive(true);
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("Tollgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PaymentError::Unavailable(format!("building the HTTP client: {e}")))?;
        Ok(Self {
            http,
            api_base: config.api_base.trim_end_matches('/').to_owned(),
            auth,
            publishable_key: config.publishable_key.clone(),
            webhook_secret: config.webhook_secret.clone(),
        })
    }

    pub fn publishable_key(&self) -> &str {
        &self.publishable_key
    }

    pub fn webhook_secret(&self) -> Option<&str> {
        self.webhook_secret.as_deref()
    }

    async fn find_by_key(
        &self,
        customer: &str,
        key: &str,
    ) -> Result<Option<PaymentIntent>, PaymentError> {
        let mut after: Option<String> = None;
        for _ in 0..LOOKUP_PAGES {
            let mut query = vec![
                ("customer", customer.to_owned()),
                ("limit", "100".to_owned()),
            ];
            if let Some(id) = after.take() {
                query.push(("starting_after", id));
            }
            let page: List<PaymentIntent> = self
                .send(Method::GET, "/v1/payment_intents", query, None)
                .await
                .map_err(Failure::into_error)?;
            let last = page.data.last().map(|pi| pi.id.clone());
            if let Some(found) = page.data.into_iter().find(|pi| {
                pi.metadata
                    .get(IDEMPOTENCY_METADATA_KEY)
                    .map(String::as_str)
                    == Some(key)
            }) {
                return Ok(Some(found));
            }
            match last {
                Some(id) if page.has_more => after = Some(id),
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    /// One call: the form goes in the query string for GET and in the body otherwise.
    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        form: Form,
        idempotency_key: Option<&str>,
    ) -> Result<T, Failure> {
        let url = format!("{}{path}", self.api_base);
        let mut builder = self
            .http
            .request(method.clone(), url)
            .header(AUTHORIZATION, self.auth.clone())
            .header("Stripe-Version", STRIPE_API_VERSION);
        builder = if method == Method::GET {
            builder.query(&form)
        } else {
            builder.form(&form)
        };
        if let Some(key) = idempotency_key {
            builder = builder.header("Idempotency-Key", key);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| Failure::Transport(format!("calling Stripe {method} {path}: {e}")))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| Failure::Transport(format!("reading Stripe's answer to {path}: {e}")))?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                Failure::Transport(format!(
                    "Stripe's answer to {method} {path} is not what we expect: {e}"
                ))
            });
        }
        let error = serde_json::from_slice::<ErrorEnvelope>(&body)
            .map(|e| e.error)
            .unwrap_or_else(|_| ErrorObject {
                message: Some(format!("HTTP {status} without a Stripe error body")),
                ..ErrorObject::default()
            });
        tracing::debug!(
            %status,
            path,
            kind = error.kind.as_deref().unwrap_or(""),
            code = error.code.as_deref().unwrap_or(""),
            "Stripe refused a call"
        );
        Err(Failure::Stripe {
            status: status.as_u16(),
            error,
        })
    }
}

impl PaymentProvider for StripeClient {
    /// Creates the organization's Customer. The idempotency key is derived from the inputs, so
    /// a retry (or a second caller racing the first) within Stripe's 24 hours gets the same
    /// customer back instead of a duplicate.
    async fn ensure_customer(
        &self,
        org_id: &str,
        email: &str,
        name: &str,
    ) -> Result<CustomerRef, PaymentError> {
        if org_id.is_empty() {
            return Err(PaymentError::InvalidRequest(
                "an organization id is required".into(),
            ));
        }
        let digest = Sha256::digest(format!("{org_id}\0{email}\0{name}").as_bytes());
        let key = format!("tollgate-customer-{}", hex::encode(&digest[..16]));
        let form = vec![
            ("email", email.to_owned()),
            ("name", name.to_owned()),
            ("metadata[tollgate_org_id]", org_id.to_owned()),
        ];
        let customer: Customer = self
            .send(Method::POST, "/v1/customers", form, Some(&key))
            .await
            .map_err(Failure::into_error)?;
        Ok(CustomerRef::new(customer.id))
    }

    /// A SetupIntent for Stripe.js to confirm in the browser, saving a card for off-session use.
    async fn create_setup_intent(
        &self,
        customer: &CustomerRef,
    ) -> Result<SetupIntent, PaymentError> {
        let form = vec![
            ("customer", customer.as_str().to_owned()),
            ("usage", "off_session".to_owned()),
            ("payment_method_types[]", "card".to_owned()),
        ];
        let intent: SetupIntentObject = self
            .send(Method::POST, "/v1/setup_intents", form, None)
            .await
            .map_err(Failure::into_error)?;
        let client_secret = intent.client_secret.ok_or_else(|| {
            PaymentError::Unavailable(
                "Stripe returned a SetupIntent without a client_secret".into(),
            )
        })?;
        Ok(SetupIntent {
            id: intent.id,
            client_secret,
        })
    }

    /// Saves the PaymentMethod made by Stripe's card form to the customer (attaching it unless
    /// the SetupIntent already did) and reads back its brand, last 4 and expiry.
    async fn save_card(
        &self,
        customer: &CustomerRef,
        input: &CardInput,
        _now: Timestamp,
    ) -> Result<SavedCard, PaymentError> {
        let CardInput::PaymentMethod { payment_method_id } = input else {
            return Err(PaymentError::InvalidRequest(
                "Stripe takes a payment_method_id from its card form, never card numbers".into(),
            ));
        };
        let pm_id = path_id(payment_method_id, "pm_", "payment_method_id")?;
        path_id(customer.as_str(), "cus_", "customer")?;
        let found: PaymentMethod = self
            .send(
                Method::GET,
                &format!("/v1/payment_methods/{pm_id}"),
                vec![],
                None,
            )
            .await
            .map_err(Failure::into_error)?;
        let method = match found.customer.as_deref() {
            Some(owner) if owner == customer.as_str() => found,
            Some(_) => {
                return Err(PaymentError::InvalidRequest(
                    "this payment method belongs to another customer".into(),
                ))
            }
            None => {
                let form = vec![("customer", customer.as_str().to_owned())];
                let path = format!("/v1/payment_methods/{pm_id}/attach");
                self.send(Method::POST, &path, form, None)
                    .await
                    .map_err(Failure::into_error)?
            }
        };
        let card = match (method.kind.as_str(), method.card) {
            ("card", Some(card)) => card,
            _ => {
                return Err(PaymentError::InvalidRequest(
                    "the payment method is not a card".into(),
                ))
            }
        };
        Ok(SavedCard {
            provider_ref: CardRef::new(method.id),
            brand: CardBrand::from_stripe(&card.brand),
            last4: card.last4,
            exp_month: card.exp_month,
            exp_year: card.exp_year,
        })
    }

    /// An off-session PaymentIntent, created and confirmed in one call. A card error (402) is a
    /// `Declined` outcome; everything else that fails is an error.
    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, PaymentError> {
        let cents = Cents::from_micros(request.amount_micros)?;
        check_idempotency_key(&request.idempotency_key)?;
        path_id(request.customer.as_str(), "cus_", "customer")?;
        path_id(request.card.as_str(), "pm_", "card")?;
        let form = vec![
            ("amount", cents.get().to_string()),
            ("currency", "usd".to_owned()),
            ("customer", request.customer.as_str().to_owned()),
            ("payment_method", request.card.as_str().to_owned()),
            ("payment_method_types[]", "card".to_owned()),
            ("off_session", "true".to_owned()),
            ("confirm", "true".to_owned()),
            ("description", request.description.clone()),
            (
                "metadata[tollgate_idempotency_key]",
                request.idempotency_key.clone(),
            ),
        ];
        // Stripe's keys are per account; the customer prefix keeps two organizations' keys apart.
        let key = format!("{}:{}", request.customer, request.idempotency_key);
        match self
            .send::<PaymentIntent>(Method::POST, "/v1/payment_intents", form, Some(&key))
            .await
        {
            Ok(intent) => Ok(intent.outcome()),
            Err(Failure::Stripe { error, .. }) if error.is_card_error() => Ok(declined(&error)),
            Err(failure) => Err(failure.into_error()),
        }
    }

    /// Finds the charge `request` made: by its PaymentIntent id when known, otherwise among the
    /// customer's recent PaymentIntents by the idempotency key in their metadata. `None` when
    /// Stripe has no such charge: it was never made.
    async fn retrieve_charge(
        &self,
        request: &ChargeRequest,
        provider_payment_id: Option<&str>,
    ) -> Result<Option<ChargeOutcome>, PaymentError> {
        let cents = Cents::from_micros(request.amount_micros)?;
        check_idempotency_key(&request.idempotency_key)?;
        let customer = path_id(request.customer.as_str(), "cus_", "customer")?;
        let intent = match provider_payment_id {
            Some(id) => {
                let id = path_id(id, "pi_", "provider_payment_id")?;
                match self
                    .send::<PaymentIntent>(
                        Method::GET,
                        &format!("/v1/payment_intents/{id}"),
                        vec![],
                        None,
                    )
                    .await
                {
                    Ok(intent) => Some(intent),
                    Err(f) if f.is_missing_resource() => None,
                    Err(f) => return Err(f.into_error()),
                }
            }
            None => self.find_by_key(customer, &request.idempotency_key).await?,
        };
        let Some(intent) = intent else {
            return Ok(None);
        };
        if intent.idempotency_key() != Some(request.idempotency_key.as_str())
            || intent.amount != cents.get()
            || intent.customer.as_deref() != Some(customer)
        {
            return Err(PaymentError::InvalidRequest(format!(
                "PaymentIntent {} was not made by this request",
                intent.id
            )));
        }
        Ok(Some(intent.outcome()))
    }
}

fn declined(error: &ErrorObject) -> ChargeOutcome {
    ChargeOutcome::Declined {
        code: error.decline_code(),
        message: error.customer_message(),
        provider_payment_id: error.payment_intent.as_ref().map(|pi| pi.id.clone()),
    }
}

/// An id that goes into a URL path: Stripe's ids are a prefix and letters, digits and `_`.
/// Anything else (a `/`, a `?`) is refused before it can change which resource is called.
fn path_id<'a>(id: &'a str, prefix: &str, what: &str) -> Result<&'a str, PaymentError> {
    let well_formed = id.len() > prefix.len()
        && id.len() <= 255
        && id.starts_with(prefix)
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if well_formed {
        Ok(id)
    } else {
        Err(PaymentError::InvalidRequest(format!(
            "{what} must be a Stripe id starting with {prefix}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_could_change_the_path_are_refused() {
        assert!(path_id("pm_1AbC", "pm_", "pm").is_ok());
        for bad in [
            "pm_",
            "pm_../../v1/charges",
            "pm_a?b=c",
            "cus_1",
            "pm_a/b",
            "",
        ] {
            assert!(path_id(bad, "pm_", "pm").is_err(), "{bad}");
        }
    }
}

//! The stand-in's Stripe objects (customers, SetupIntents, PaymentMethods, PaymentIntents) and
//! what each endpoint does to them, in Stripe's JSON.

use std::collections::HashMap;

use axum::http::{Method, StatusCode};
use rand::RngCore;
use serde_json::{json, Value};

use super::cards::{test_card, TestCard};

pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}_{}", hex::encode(bytes))
}

struct PaymentMethod {
    card: &'static TestCard,
    customer: Option<String>,
}

#[derive(Default)]
pub struct Objects {
    customers: HashMap<String, Value>,
    setup_intents: HashMap<String, Value>,
    payment_methods: HashMap<String, PaymentMethod>,
    /// Oldest first.
    payment_intents: Vec<Value>,
    clock: i64,
}

type Answer = (StatusCode, Value);

fn err(status: StatusCode, kind: &str, code: &str, message: String) -> Answer {
    (
        status,
        json!({"error": {"type": kind, "code": code, "message": message}}),
    )
}

fn missing(what: &str, id: &str) -> Answer {
    err(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        "resource_missing",
        format!("No such {what}: '{id}'"),
    )
}

fn param_missing(name: &str) -> Answer {
    err(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        "parameter_missing",
        format!("Missing required param: {name}."),
    )
}

fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

impl Objects {
    pub fn route(&mut self, method: &Method, path: &str, params: &[(String, String)]) -> Answer {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method.as_str(), segments.as_slice()) {
            ("POST", ["v1", "customers"]) => self.create_customer(params),
            ("POST", ["v1", "setup_intents"]) => self.create_setup_intent(params),
            ("GET", ["v1", "payment_methods", id]) => match self.payment_method_json(id) {
                Some(pm) => (StatusCode::OK, pm),
                None => missing("payment_method", id),
            },
            ("POST", ["v1", "payment_methods", id, "attach"]) => self.attach(id, params),
            ("POST", ["v1", "payment_intents"]) => self.create_payment_intent(params),
            ("GET", ["v1", "payment_intents", id]) => match self.payment_intent(id) {
                Some(pi) => (StatusCode::OK, pi.clone()),
                None => missing("payment_intent", id),
            },
            ("GET", ["v1", "payment_intents"]) => self.list_payment_intents(params),
            _ => err(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "resource_missing",
                format!("Unrecognized request URL ({method} {path})."),
            ),
        }
    }

    fn tick(&mut self) -> i64 {
        self.clock += 1;
        1_700_000_000 + self.clock
    }

    fn create_customer(&mut self, params: &[(String, String)]) -> Answer {
        let id = new_id("cus");
        let metadata: serde_json::Map<String, Value> = params
            .iter()
            .filter_map(|(k, v)| {
                let name = k.strip_prefix("metadata[")?.strip_suffix(']')?;
                Some((name.to_owned(), json!(v)))
            })
            .collect();
        let customer = json!({
            "id": id, "object": "customer", "created": self.tick(),
            "email": get(params, "email"), "name": get(params, "name"), "metadata": metadata,
        });
        self.customers.insert(id, customer.clone());
        (StatusCode::OK, customer)
    }

    fn create_setup_intent(&mut self, params: &[(String, String)]) -> Answer {
        let customer = get(params, "customer");
        if let Some(c) = customer {
            if !self.customers.contains_key(c) {
                return missing("customer", c);
            }
        }
        let id = new_id("seti");
        let intent = json!({
            "id": id, "object": "setup_intent", "created": self.tick(),
            "client_secret": format!("{id}_secret_{}", new_id("x")),
            "customer": customer, "status": "requires_payment_method",
            "usage": get(params, "usage").unwrap_or("off_session"),
            "payment_method": null,
        });
        self.setup_intents.insert(id, intent.clone());
        (StatusCode::OK, intent)
    }

    pub fn confirm_setup_intent(&mut self, id: &str, magic: &str) -> Result<String, String> {
        let card =
            test_card(magic).ok_or_else(|| format!("unknown test payment method {magic}"))?;
        let intent = self
            .setup_intents
            .get_mut(id)
            .ok_or_else(|| format!("no SetupIntent {id}"))?;
        let customer = intent["customer"].as_str().map(str::to_owned);
        let pm_id = new_id("pm");
        intent["status"] = json!("succeeded");
        intent["payment_method"] = json!(pm_id);
        self.payment_methods
            .insert(pm_id.clone(), PaymentMethod { card, customer });
        Ok(pm_id)
    }

    fn payment_method_json(&self, id: &str) -> Option<Value> {
        let (card, customer) = match self.payment_methods.get(id) {
            Some(pm) => (pm.card, pm.customer.clone()),
            None => (test_card(id)?, None),
        };
        Some(json!({
            "id": id, "object": "payment_method", "type": "card", "customer": customer,
            "card": {
                "brand": card.brand, "last4": card.last4, "exp_month": 12, "exp_year": 2034,
                "funding": "credit", "country": "US",
            },
            "livemode": false,
        }))
    }

    fn attach(&mut self, id: &str, params: &[(String, String)]) -> Answer {
        let Some(customer) = get(params, "customer") else {
            return param_missing("customer");
        };
        if !self.customers.contains_key(customer) {
            return missing("customer", customer);
        }
        // A magic id stands for a fresh PaymentMethod each time it is used.
        let id = match test_card(id) {
            Some(card) => {
                let pm_id = new_id("pm");
                self.payment_methods.insert(
                    pm_id.clone(),
                    PaymentMethod {
                        card,
                        customer: None,
                    },
                );
                pm_id
            }
            None => id.to_owned(),
        };
        let Some(pm) = self.payment_methods.get_mut(&id) else {
            return missing("payment_method", &id);
        };
        match &pm.customer {
            Some(owner) if owner != customer => {
                return err(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    "payment_method_unexpected_state",
                    "The payment method you provided has already been attached to a customer."
                        .into(),
                )
            }
            _ => pm.customer = Some(customer.to_owned()),
        }
        match self.payment_method_json(&id) {
            Some(pm) => (StatusCode::OK, pm),
            None => missing("payment_method", &id),
        }
    }

    fn create_payment_intent(&mut self, params: &[(String, String)]) -> Answer {
        for name in ["amount", "currency"] {
            if get(params, name).is_none() {
                return param_missing(name);
            }
        }
        let Some(amount) = get(params, "amount").and_then(|a| a.parse::<i64>().ok()) else {
            return err(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "parameter_invalid_integer",
                "Invalid integer: amount".into(),
            );
        };
        if amount < 50 {
            return err(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "amount_too_small",
                "Amount must be at least $0.50 usd".into(),
            );
        }
        if get(params, "currency") != Some("usd") {
            return err(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "parameter_invalid",
                "The stand-in only charges usd.".into(),
            );
        }
        let customer = get(params, "customer").unwrap_or_default().to_owned();
        if !self.customers.contains_key(&customer) {
            return missing("customer", &customer);
        }
        let pm_id = get(params, "payment_method").unwrap_or_default().to_owned();
        let Some(pm) = self.payment_methods.get(&pm_id) else {
            return missing("payment_method", &pm_id);
        };
        if pm.customer.as_deref() != Some(customer.as_str()) {
            return err(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "payment_method_not_available",
                "The provided PaymentMethod does not belong to this customer.".into(),
            );
        }
        let card = pm.card;
        let confirm = get(params, "confirm") == Some("true");
        let off_session = get(params, "off_session") == Some("true");
        let metadata: serde_json::Map<String, Value> = params
            .iter()
            .filter_map(|(k, v)| {
                let name = k.strip_prefix("metadata[")?.strip_suffix(']')?;
                Some((name.to_owned(), json!(v)))
            })
            .collect();
        let id = new_id("pi");
        let mut intent = json!({
            "id": id, "object": "payment_intent", "amount": amount, "currency": "usd",
            "created": self.tick(), "customer": customer, "payment_method": pm_id,
            "description": get(params, "description"), "metadata": metadata,
            "status": "requires_confirmation", "last_payment_error": null,
            "latest_charge": null, "livemode": false,
        });
        let mut answer = None;
        if confirm {
            match (card.decline, card.processing) {
                (_, true) => intent["status"] = json!("processing"),
                (None, false) => {
                    intent["status"] = json!("succeeded");
                    intent["latest_charge"] = json!(new_id("ch"));
                }
                (Some((code, decline_code, message)), false) => {
                    // 3-D Secure: off-session it is a decline; on-session the customer acts.
                    if code == "authentication_required" && !off_session {
                        intent["status"] = json!("requires_action");
                    } else {
                        let error = json!({
                            "type": "card_error", "code": code, "decline_code": decline_code,
                            "message": message, "charge": new_id("ch"),
                        });
                        intent["status"] = json!("requires_payment_method");
                        intent["last_payment_error"] = error.clone();
                        let mut body = error;
                        body["payment_intent"] = intent.clone();
                        answer = Some((StatusCode::PAYMENT_REQUIRED, json!({"error": body})));
                    }
                }
            }
        }
        self.payment_intents.push(intent.clone());
        answer.unwrap_or((StatusCode::OK, intent))
    }

    fn list_payment_intents(&self, params: &[(String, String)]) -> Answer {
        let limit = get(params, "limit")
            .and_then(|l| l.parse::<usize>().ok())
            .unwrap_or(10)
            .clamp(1, 100);
        let customer = get(params, "customer");
        let mut newest_first = self
            .payment_intents
            .iter()
            .rev()
            .filter(|pi| customer.is_none_or(|c| pi["customer"] == json!(c)));
        if let Some(after) = get(params, "starting_after") {
            if !newest_first.any(|pi| pi["id"] == json!(after)) {
                return missing("payment_intent", after);
            }
        }
        let rest: Vec<&Value> = newest_first.collect();
        let page: Vec<Value> = rest.iter().take(limit).map(|v| (*v).clone()).collect();
        (
            StatusCode::OK,
            json!({
                "object": "list", "url": "/v1/payment_intents",
                "has_more": rest.len() > limit, "data": page,
            }),
        )
    }

    pub fn payment_intent(&self, id: &str) -> Option<&Value> {
        self.payment_intents.iter().find(|pi| pi["id"] == json!(id))
    }

    pub fn set_status(&mut self, id: &str, status: &str) -> bool {
        match self
            .payment_intents
            .iter_mut()
            .find(|pi| pi["id"] == json!(id))
        {
            Some(pi) => {
                pi["status"] = json!(status);
                true
            }
            None => false,
        }
    }

    pub fn payment_intent_count(&self) -> usize {
        self.payment_intents.len()
    }

    pub fn succeeded_count(&self) -> usize {
        self.payment_intents
            .iter()
            .filter(|pi| pi["status"] == json!("succeeded"))
            .count()
    }
}

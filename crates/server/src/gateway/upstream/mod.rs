//! Sending a request to a model's upstream — the in-process mock, or an OpenAI-compatible
//! server's replicas over pooled keep-alive HTTP — and reading its answer under the upstream's
//! timeouts (connect, first byte, between chunks).
//!
//! One `reqwest::Client` (one connection pool) per distinct connect timeout, which in practice
//! is one for the whole process: reqwest sets that timeout per client, not per request. A
//! request is retried on another replica only when it could not connect, so nothing was sent.

mod replicas;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use serde_json::{Map, Value};
use tollgate_domain::catalog::{HttpUpstream, Timeouts, Upstream};

use crate::gateway::mock;
use crate::gateway::request::Endpoint;
use replicas::{InFlight, Pool};

/// Why an upstream gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No replica could be connected to: nothing was sent (503).
    #[error("the model's server cannot be reached: {0}")]
    Unreachable(String),
    /// No answer, or no next chunk, in time (504).
    #[error("the model's server did not answer in time")]
    Timeout,
    /// Broken off or unreadable (502).
    #[error("the model's server failed: {0}")]
    Failed(String),
}

/// The models' upstreams, built on first use and rebuilt when the catalog changes one.
#[derive(Default)]
pub struct Upstreams {
    clients: Mutex<HashMap<u64, reqwest::Client>>,
    pools: RwLock<HashMap<String, Arc<Pool>>>,
}

/// An upstream's answer: its status and a body read chunk by chunk.
pub struct Answer {
    pub status: StatusCode,
    body: AnswerBody,
    between_chunks: Duration,
    /// Keeps the replica counted as busy until the answer is dropped.
    in_flight: Option<InFlight>,
}

enum AnswerBody {
    Http(reqwest::Response),
    Mock {
        pieces: VecDeque<Bytes>,
        delay: Duration,
        first: bool,
    },
}

impl Upstreams {
    fn client(&self, connect_ms: u64) -> Result<reqwest::Client, UpstreamError> {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = clients.get(&connect_ms) {
            return Ok(c.clone());
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(connect_ms))
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            // Upstreams are addressed directly; a proxy from the environment is not for them.
            .no_proxy()
            // An upstream's redirect is its error, not a place to send the prompt and the
            // upstream's key to: answered as it came (a 3xx is not success, so 502).
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| UpstreamError::Failed(format!("HTTP client: {e}")))?;
        clients.insert(connect_ms, client.clone());
        Ok(client)
    }

    fn pool(&self, model_id: &str, config: &HttpUpstream) -> Arc<Pool> {
        if let Some(p) = self
            .pools
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(model_id)
            .filter(|p| p.config == *config)
        {
            return p.clone();
        }
        let mut pools = self
            .pools
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match pools.get(model_id) {
            Some(p) if p.config == *config => p.clone(),
            _ => {
                let p = Pool::new(config.clone());
                pools.insert(model_id.to_owned(), p.clone());
                p
            }
        }
    }

    /// Sends `body` to `model_id`'s upstream and waits for the answer's head.
    pub async fn send(
        &self,
        model_id: &str,
        upstream: &Upstream,
        endpoint: Endpoint,
        body: Map<String, Value>,
    ) -> Result<Answer, UpstreamError> {
        match upstream {
            Upstream::Mock => Ok(mock_answer(endpoint, &body).await),
            Upstream::Http(config) => {
                let bytes = Bytes::from(
                    serde_json::to_vec(&Value::Object(body))
                        .map_err(|e| UpstreamError::Failed(e.to_string()))?,
                );
                self.send_http(model_id, config, endpoint, bytes).await
            }
        }
    }

    async fn send_http(
        &self,
        model_id: &str,
        config: &HttpUpstream,
        endpoint: Endpoint,
        body: Bytes,
    ) -> Result<Answer, UpstreamError> {
        let timeouts = config.timeouts;
        let client = self.client(timeouts.connect_ms)?;
        let pool = self.pool(model_id, config);
        let mut tried = Vec::new();
        let mut last_error = String::new();
        while let Some(in_flight) = pool.pick(&tried) {
            let replica = in_flight.replica();
            let request = match replica.url(endpoint) {
                Some(url) => client.post(url.clone()),
                None => client.post(format!("{}{}", replica.base_url, endpoint.path())),
            };
            let mut request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            if let Some(authorization) = &pool.authorization {
                request = request.header(reqwest::header::AUTHORIZATION, authorization.clone());
            } else if let Some(key) = &config.api_key {
                request = request.bearer_auth(key);
            }
            let sent = tokio::time::timeout(
                Duration::from_millis(timeouts.first_byte_ms),
                request.send(),
            )
            .await;
            match sent {
                Ok(Ok(response)) => {
                    let status = response.status();
                    if status.is_server_error() {
                        in_flight.failed();
                    } else {
                        in_flight.succeeded();
                    }
                    return Ok(Answer {
                        status,
                        body: AnswerBody::Http(response),
                        between_chunks: Duration::from_millis(timeouts.between_chunks_ms),
                        in_flight: Some(in_flight),
                    });
                }
                Ok(Err(e)) if e.is_connect() => {
                    tracing::warn!(replica = %replica.base_url, error = %e, "upstream connect failed");
                    last_error = format!("{}: {e}", replica.base_url);
                    in_flight.failed();
                    tried.push(in_flight.index());
                }
                Ok(Err(e)) => {
                    in_flight.failed();
                    return Err(UpstreamError::Failed(e.to_string()));
                }
                Err(_) => {
                    in_flight.failed();
                    return Err(UpstreamError::Timeout);
                }
            }
        }
        Err(UpstreamError::Unreachable(last_error))
    }
}

async fn mock_answer(endpoint: Endpoint, body: &Map<String, Value>) -> Answer {
    let answer = mock::answer(endpoint, body);
    if !answer.hang.is_zero() {
        tokio::time::sleep(answer.hang).await;
    }
    Answer {
        status: answer.status,
        body: AnswerBody::Mock {
            pieces: answer.pieces.into(),
            delay: answer.chunk_delay,
            first: true,
        },
        between_chunks: Duration::from_millis(Timeouts::default().between_chunks_ms),
        in_flight: None,
    }
}

impl Answer {
    /// The next piece of the body; `None` at its end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, UpstreamError> {
        match &mut self.body {
            AnswerBody::Http(response) => {
                match tokio::time::timeout(self.between_chunks, response.chunk()).await {
                    Ok(Ok(chunk)) => Ok(chunk),
                    Ok(Err(e)) => Err(UpstreamError::Failed(e.to_string())),
                    Err(_) => {
                        if let Some(f) = &self.in_flight {
                            f.failed();
                        }
                        Err(UpstreamError::Timeout)
                    }
                }
            }
            AnswerBody::Mock {
                pieces,
                delay,
                first,
            } => {
                if !*first && !delay.is_zero() && !pieces.is_empty() {
                    tokio::time::sleep(*delay).await;
                }
                *first = false;
                Ok(pieces.pop_front())
            }
        }
    }

    /// The whole body, refused past `max` bytes.
    pub async fn read_all(&mut self, max: usize) -> Result<Vec<u8>, UpstreamError> {
        let mut all = Vec::new();
        while let Some(chunk) = self.next_chunk().await? {
            if all.len() + chunk.len() > max {
                return Err(UpstreamError::Failed(format!(
                    "the answer is larger than {max} bytes"
                )));
            }
            all.extend_from_slice(&chunk);
        }
        Ok(all)
    }
}

//! Relaying a stream: the upstream's events passed to the client as they come, the usage chunk
//! (always asked of the upstream) passed on only when the client asked for it, and the usage
//! recorded when the stream ends — at `[DONE]`, on an upstream failure or timeout (an error
//! event is sent), or when the client goes away (the upstream connection is dropped, which
//! stops generation, and what was generated is billed).

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::app::App;
use crate::gateway::admission::Admitted;
use crate::gateway::forward::failure;
use crate::gateway::record::{generated_bytes, record, Ending, Seen, Tokens};
use crate::gateway::sse::{self, EventSplitter};
use crate::gateway::upstream::{Answer, UpstreamError};
use crate::gateway::GatewayError;

/// Events buffered towards a slow client before the upstream is read no further.
const BUFFERED_EVENTS: usize = 32;

pub fn relay(
    app: Arc<App>,
    admitted: Admitted,
    answer: Answer,
    rename: Option<String>,
) -> Response {
    let (tx, body) = sse::body_channel(BUFFERED_EVENTS);
    tokio::spawn(async move {
        let mut relay = Relay {
            tx,
            seen: Seen::default(),
            wants_usage: admitted.request.include_usage,
            rename,
            started: admitted.started,
        };
        let ending = relay.run(answer).await;
        record(&app, admitted, ending, relay.seen);
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

struct Relay {
    tx: mpsc::Sender<Bytes>,
    seen: Seen,
    wants_usage: bool,
    rename: Option<String>,
    started: std::time::Instant,
}

/// Why relaying stopped early.
enum Stop {
    ClientGone,
    Upstream(UpstreamError),
}

impl Relay {
    async fn run(&mut self, mut answer: Answer) -> Ending {
        let mut splitter = EventSplitter::default();
        let stop = loop {
            let chunk = tokio::select! {
                // A client that went away is noticed even while the upstream is quiet.
                () = self.tx.closed() => break Stop::ClientGone,
                chunk = answer.next_chunk() => chunk,
            };
            let (events, ended) = match chunk {
                Ok(Some(bytes)) => match splitter.push(&bytes) {
                    Ok(events) => (events, false),
                    Err(_) => {
                        break Stop::Upstream(UpstreamError::Failed("an event is too long".into()))
                    }
                },
                Ok(None) => (splitter.finish().into_iter().collect(), true),
                Err(e) => break Stop::Upstream(e),
            };
            for data in events {
                match self.pass(data).await {
                    Ok(true) => return Ending::Ok,
                    Ok(false) => {}
                    Err(stop) => return self.stopped(stop).await,
                }
            }
            if ended {
                // The upstream closed without `[DONE]`: end the client's stream properly.
                return match self.send(sse::data_event(sse::DONE)).await {
                    Ok(()) => Ending::Ok,
                    Err(stop) => self.stopped(stop).await,
                };
            }
        };
        // Dropping `answer` closes the upstream connection: the model stops generating.
        drop(answer);
        self.stopped(stop).await
    }

    async fn stopped(&mut self, stop: Stop) -> Ending {
        match stop {
            Stop::ClientGone => Ending::ClientDisconnected,
            Stop::Upstream(e) => {
                let (ending, error) = failure(e);
                let _ = self.send(error_event(&error)).await;
                ending
            }
        }
    }

    /// Passes one event on; true at `[DONE]`.
    async fn pass(&mut self, data: Vec<u8>) -> Result<bool, Stop> {
        if data == sse::DONE {
            self.send(sse::data_event(sse::DONE)).await?;
            return Ok(true);
        }
        let Ok(mut chunk) = serde_json::from_slice::<Value>(&data) else {
            // Not JSON: not ours to judge; the client gets it as it came.
            self.send(sse::data_event(&data)).await?;
            return Ok(false);
        };
        if chunk.get("error").is_some() {
            self.send(sse::data_event(&data)).await?;
            return Err(Stop::Upstream(UpstreamError::Failed(
                "the stream carried an error".into(),
            )));
        }
        if let Some(usage) = chunk.get("usage").and_then(Tokens::from_usage) {
            self.seen.usage = Some(usage);
        }
        let usage_only = chunk
            .get("choices")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
            && chunk.get("usage").is_some_and(Value::is_object);
        if usage_only && !self.wants_usage {
            return Ok(false);
        }
        let generated = generated_bytes(&chunk);
        if generated > 0 && self.seen.ttft_ms.is_none() {
            self.seen.ttft_ms =
                Some(i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX));
        }
        let event = match &self.rename {
            Some(model) => {
                chunk["model"] = json!(model);
                sse::data_event(chunk.to_string().as_bytes())
            }
            None => sse::data_event(&data),
        };
        self.send(event).await?;
        self.seen.delivered_bytes = self.seen.delivered_bytes.saturating_add(generated);
        Ok(false)
    }

    async fn send(&self, event: Bytes) -> Result<(), Stop> {
        self.tx.send(event).await.map_err(|_| Stop::ClientGone)
    }
}

fn error_event(error: &GatewayError) -> Bytes {
    sse::data_event(error.json().to_string().as_bytes())
}

//! What a forwarded request used, turned into its usage record and handed to metering, which
//! writes it (once, by id) and settles the credit reservation at its cost.

use std::sync::Arc;

use serde_json::Value;
use tollgate_domain::usage::{UsageCost, PICOS_PER_MICRO};
use tollgate_store::UsageRecord;

use crate::app::App;
use crate::gateway::admission::Admitted;
use crate::gateway::tokens;

/// Tokens as an upstream's `usage` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tokens {
    pub input: u64,
    pub cached_input: u64,
    pub output: u64,
}

/// Most tokens one usage object may claim (the domain's bound of a record): anything above is
/// nonsense, not usage.
const MAX_TOKENS: u64 = 10_000_000;

impl Tokens {
    /// Reads OpenAI's `usage` object; `None` when absent or unreadable (then the gateway counts
    /// for itself).
    pub fn from_usage(usage: &Value) -> Option<Self> {
        let count = |v: Option<&Value>| v.and_then(Value::as_u64).filter(|n| *n <= MAX_TOKENS);
        let input = count(usage.get("prompt_tokens"))?;
        let output = count(usage.get("completion_tokens"))?;
        let cached_input = count(
            usage
                .get("prompt_tokens_details")
                .and_then(|d| d.get("cached_tokens")),
        )
        .unwrap_or(0)
        .min(input);
        Some(Self {
            input,
            cached_input,
            output,
        })
    }
}

/// How a forwarded request ended, as its usage record's `status` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Ok,
    /// The upstream answered with an error status (passed on, or mapped to 502).
    UpstreamError,
    /// No replica could be reached.
    UpstreamUnavailable,
    UpstreamTimeout,
    ClientDisconnected,
}

impl Ending {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::UpstreamError => "upstream_error",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::ClientDisconnected => "client_disconnected",
        }
    }
}

/// Bytes of generated text in an answer or a stream chunk: each choice's message or delta
/// (content, reasoning, tool call arguments) or text.
pub fn generated_bytes(answer: &Value) -> u64 {
    let len = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map_or(0, |s| u64::try_from(s.len()).unwrap_or(u64::MAX))
    };
    let Some(choices) = answer.get("choices").and_then(Value::as_array) else {
        return 0;
    };
    let mut total = 0u64;
    for choice in choices {
        total = total.saturating_add(len(choice.get("text")));
        for part in ["message", "delta"] {
            let Some(m) = choice.get(part) else { continue };
            total = total
                .saturating_add(len(m.get("content")))
                .saturating_add(len(m.get("reasoning_content")));
            for call in m
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                total = total
                    .saturating_add(len(call.get("function").and_then(|f| f.get("arguments"))));
            }
        }
    }
    total
}

/// What the gateway saw of one forwarded request.
#[derive(Debug, Default)]
pub struct Seen {
    /// The upstream's `usage`, when it gave one.
    pub usage: Option<Tokens>,
    /// Bytes of generated text passed to the client.
    pub delivered_bytes: u64,
    /// Milliseconds from arrival to the first generated text of a stream.
    pub ttft_ms: Option<i64>,
}

/// Builds the usage record of `admitted` and hands it, with its reservation, to metering.
///
/// Without the upstream's `usage`, tokens are counted: nothing when nothing was generated (the
/// upstream failed before writing), else the prompt's estimate and the delivered text at 4
/// bytes a token — and the record says `estimated`.
pub fn record(app: &Arc<App>, admitted: Admitted, ending: Ending, seen: Seen) {
    let (tokens, estimated) = match seen.usage {
        Some(t) => (t, false),
        None if seen.delivered_bytes == 0 && ending != Ending::Ok => (Tokens::default(), false),
        None => (
            Tokens {
                input: admitted.request.input_tokens,
                cached_input: 0,
                output: tokens::of_text(seen.delivered_bytes),
            },
            true,
        ),
    };
    let cost = if admitted.plan == "subscription" {
        UsageCost::ZERO
    } else {
        tokens::cost(
            admitted.prices,
            tokens.input,
            tokens.cached_input,
            tokens.output,
        )
        // Counts within MAX_TOKENS are far from overflowing; should one ever, the request
        // is billed the most it could cost.
        .or_else(|| {
            admitted
                .max_cost
                .micros()
                .checked_mul(PICOS_PER_MICRO)
                .and_then(UsageCost::from_picos)
        })
        .unwrap_or(UsageCost::ZERO)
    };
    let signed = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let latency_ms = i64::try_from(admitted.started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let record = UsageRecord {
        id: admitted.request_id,
        org_id: admitted.key.org_id.clone(),
        project_id: admitted.key.project_id.clone(),
        key_id: admitted.key.key_id.clone(),
        model: admitted.model,
        input_tokens: signed(tokens.input),
        cached_input_tokens: signed(tokens.cached_input),
        output_tokens: signed(tokens.output),
        cost,
        plan: admitted.plan,
        status: ending.as_str().to_owned(),
        latency_ms: Some(latency_ms),
        occurred_at: admitted.arrived_at,
        ttft_ms: seen.ttft_ms,
        estimated,
    };
    app.metering.record(record, admitted.reservation);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn usage_objects_are_read_and_nonsense_is_not() {
        assert_eq!(
            Tokens::from_usage(&json!({"prompt_tokens": 10, "completion_tokens": 5,
                "prompt_tokens_details": {"cached_tokens": 20}})),
            Some(Tokens {
                input: 10,
                cached_input: 10,
                output: 5
            }),
            "cached is part of the prompt"
        );
        assert_eq!(Tokens::from_usage(&json!({"prompt_tokens": 10})), None);
        assert_eq!(
            Tokens::from_usage(&json!({"prompt_tokens": -1, "completion_tokens": 5})),
            None
        );
        assert_eq!(
            Tokens::from_usage(&json!({"prompt_tokens": 10_000_001, "completion_tokens": 5})),
            None
        );
        assert_eq!(Tokens::from_usage(&Value::Null), None);
    }

    #[test]
    fn generated_text_is_measured_in_every_shape() {
        let answer = json!({"choices": [
            {"message": {"content": "abcd", "tool_calls": [{"function": {"arguments": "{}"}}]}},
            {"delta": {"content": "ef", "reasoning_content": "g"}},
            {"text": "hij"},
        ]});
        assert_eq!(generated_bytes(&answer), 4 + 2 + 2 + 1 + 3);
        assert_eq!(generated_bytes(&json!({"choices": []})), 0);
    }
}

//! Token counts the gateway must know before the upstream has said anything — the prompt's size
//! for the context-length check and the credit reservation — and after, when the upstream gave
//! no `usage`: estimated, never tokenized (the gateway does not know each model's tokenizer).
//!
//! The rule, in docs/gateway.md: one token per 4 bytes of UTF-8 text, rounded up. For chat, the
//! text is the JSON of `messages` (and of `tools` / `functions`, which the model also reads)
//! plus 3 tokens per message for the chat template's framing; for completions, the prompt's
//! text, or its exact length when the prompt is given as token ids.

use std::io;

use serde_json::{Map, Value};
use tollgate_domain::catalog::Pricing;
use tollgate_domain::ledger::{usage_cost, TokenCounts, TokenPrices, UsageCost};

use crate::gateway::request::InferenceRequest;
use crate::gateway::GatewayError;

pub const BYTES_PER_TOKEN: u64 = 4;
/// The chat template's tokens around each message (role markers, separators).
pub const TOKENS_PER_MESSAGE: u64 = 3;

/// Tokens of `bytes` bytes of text.
pub fn of_text(bytes: u64) -> u64 {
    bytes.div_ceil(BYTES_PER_TOKEN)
}

/// Counts what is written, keeping nothing.
struct Counter(u64);

impl io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 = self
            .0
            .saturating_add(u64::try_from(buf.len()).unwrap_or(u64::MAX));
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn json_bytes(v: &Value) -> u64 {
    let mut c = Counter(0);
    // Writing a `Value` into a writer that never fails cannot fail.
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

/// A chat request's input tokens (its `messages` were checked to be a list).
pub fn chat_input(body: &Map<String, Value>) -> u64 {
    let messages = body.get("messages");
    let framing = messages
        .and_then(Value::as_array)
        .map_or(0, |m| u64::try_from(m.len()).unwrap_or(u64::MAX))
        .saturating_mul(TOKENS_PER_MESSAGE);
    let text = ["messages", "tools", "functions"]
        .iter()
        .filter_map(|f| body.get(*f))
        .map(json_bytes)
        .fold(0u64, u64::saturating_add);
    of_text(text).saturating_add(framing)
}

/// A text completion's input tokens: `prompt` is a string, a list of strings, a list of token
/// ids, or a list of lists of token ids.
pub fn prompt_input(prompt: Option<&Value>) -> Result<u64, GatewayError> {
    let bad = || {
        GatewayError::invalid_request(
            "`prompt` must be a string, a list of strings, or token ids.",
            Some("prompt"),
        )
    };
    let len = |s: &str| of_text(u64::try_from(s.len()).unwrap_or(u64::MAX));
    let ids = |list: &[Value]| -> Result<u64, GatewayError> {
        if list.iter().all(Value::is_u64) {
            Ok(u64::try_from(list.len()).unwrap_or(u64::MAX))
        } else {
            Err(bad())
        }
    };
    match prompt {
        None | Some(Value::Null) => Err(GatewayError::invalid_request(
            "You must provide a prompt parameter.",
            Some("prompt"),
        )),
        Some(Value::String(s)) => Ok(len(s)),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(items
            .iter()
            .filter_map(Value::as_str)
            .map(len)
            .fold(0, u64::saturating_add)),
        Some(Value::Array(items)) if items.iter().all(Value::is_array) => {
            let mut total = 0u64;
            for item in items {
                total = total.saturating_add(ids(item.as_array().map_or(&[], Vec::as_slice))?);
            }
            Ok(total)
        }
        Some(Value::Array(items)) => ids(items),
        Some(_) => Err(bad()),
    }
}

/// The most output tokens the request can produce in all its choices: `max_tokens` (or what
/// the context leaves after the input) times `n`. Refuses a request whose input and
/// `max_tokens` cannot fit the model's context.
pub fn max_output(request: &InferenceRequest, context_length: u64) -> Result<u64, GatewayError> {
    let input = request.input_tokens;
    let per_choice = match request.max_output {
        Some(max) if input.saturating_add(max) > context_length => {
            return Err(GatewayError::context_length_exceeded(format!(
                "This model's maximum context length is {context_length} tokens. However, you \
                 requested about {} tokens ({input} in the messages, {max} in the completion). \
                 Please reduce the length of the messages or completion.",
                input.saturating_add(max)
            )))
        }
        Some(max) => max,
        None if input >= context_length => {
            return Err(GatewayError::context_length_exceeded(format!(
                "This model's maximum context length is {context_length} tokens. However, your \
                 messages resulted in about {input} tokens. Please reduce the length of the \
                 messages."
            )))
        }
        None => context_length - input,
    };
    Ok(per_choice.saturating_mul(request.choices))
}

pub fn prices(p: &Pricing) -> TokenPrices {
    TokenPrices::from(*p)
}

/// The exact cost of a token count at the catalog's prices; `None` when the counts are absurd.
pub fn cost(prices: TokenPrices, input: u64, cached_input: u64, output: u64) -> Option<UsageCost> {
    let t = |n: u64| i64::try_from(n).ok();
    let tokens = TokenCounts {
        input: t(input)?,
        cached_input: t(cached_input)?,
        output: t(output)?,
    };
    usage_cost(prices, tokens).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::request::Endpoint;
    use serde_json::json;

    #[test]
    fn text_is_four_bytes_a_token_rounded_up() {
        assert_eq!(of_text(0), 0);
        assert_eq!(of_text(1), 1);
        assert_eq!(of_text(8), 2);
        assert_eq!(of_text(9), 3);
        // {"role":"user","content":"hi"} is 30 bytes, in [ ] 32: 8 tokens, and 3 of framing.
        let body = json!({"messages": [{"role": "user", "content": "hi"}]});
        assert_eq!(chat_input(body.as_object().unwrap()), 8 + 3);
        assert_eq!(prompt_input(Some(&json!("abcdefgh"))).unwrap(), 2);
        assert_eq!(prompt_input(Some(&json!(["abcd", "abcde"]))).unwrap(), 3);
        assert_eq!(prompt_input(Some(&json!([1, 2, 3]))).unwrap(), 3);
        assert_eq!(prompt_input(Some(&json!([[1, 2], [3]]))).unwrap(), 3);
        assert!(prompt_input(Some(&json!([[1, "x"]]))).is_err());
    }

    fn request(input: u64, max: Option<u64>, n: u64) -> InferenceRequest {
        InferenceRequest {
            endpoint: Endpoint::Chat,
            body: Map::new(),
            model: "m".into(),
            stream: false,
            include_usage: false,
            max_output: max,
            choices: n,
            input_tokens: input,
        }
    }

    #[test]
    fn the_context_bounds_input_and_output() {
        assert_eq!(max_output(&request(100, Some(50), 1), 1000).unwrap(), 50);
        assert_eq!(max_output(&request(100, Some(50), 3), 1000).unwrap(), 150);
        assert_eq!(max_output(&request(100, None, 1), 1000).unwrap(), 900);
        assert_eq!(max_output(&request(100, Some(900), 1), 1000).unwrap(), 900);
        let e = max_output(&request(100, Some(901), 1), 1000).unwrap_err();
        assert_eq!(e.code, Some("context_length_exceeded"));
        assert!(max_output(&request(1000, None, 1), 1000).is_err());
        assert!(max_output(&request(1, Some(u64::MAX), 1), 1000).is_err());
    }

    #[test]
    fn costs_are_exact_and_bounded() {
        let p = TokenPrices {
            input: 1_000_000,
            cached_input: 500_000,
            output: 2_000_000,
        };
        let micros = |c: Option<UsageCost>| c.map(|c| c.rounded().micros());
        assert_eq!(micros(cost(p, 10, 4, 5)), Some(6 + 2 + 10));
        assert_eq!(cost(p, u64::MAX, 0, 0), None);
        let big = u64::try_from(i64::MAX).unwrap();
        assert_eq!(cost(p, big, 0, big), None);
    }
}

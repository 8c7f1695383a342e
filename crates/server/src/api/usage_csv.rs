//! The usage answer as CSV, streamed: a header naming the grouped dimensions then the sums, one
//! line per group as the database yields it, CRLF line ends (RFC 4180). The body is sent in
//! chunks as it is written, never built whole; a database error midway aborts the response
//! (the client sees a broken transfer, not a short file that looks complete).

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use tollgate_store::{UsageDim, UsageGroup};

use crate::time::rfc3339;

/// Bytes gathered before a chunk is sent.
const CHUNK: usize = 16 * 1024;

/// One CSV field: quoted when it holds a comma, quote or line break; a text that a spreadsheet
/// would run as a formula (`=`, `+`, `-`, `@`) is prefixed with `'`.
pub fn csv_field(value: &str, text: bool) -> String {
    let value = if text && value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// The header line.
pub fn csv_header(dims: &[UsageDim]) -> String {
    let mut header: Vec<&str> = dims.iter().map(|d| d.as_str()).collect();
    header.extend([
        "requests",
        "errors",
        "input_tokens",
        "cached_input_tokens",
        "output_tokens",
        "cost_usd",
    ]);
    let mut line = header.join(",");
    line.push_str("\r\n");
    line
}

/// One group's line.
pub fn csv_line(g: &UsageGroup, dims: &[UsageDim]) -> String {
    let mut fields: Vec<String> = Vec::with_capacity(dims.len() + 6);
    for dim in dims {
        fields.push(match dim {
            UsageDim::Hour | UsageDim::Day => g.time.map(rfc3339).unwrap_or_default(),
            UsageDim::Model => csv_field(g.model.as_deref().unwrap_or_default(), true),
            UsageDim::Project => csv_field(g.project_id.as_deref().unwrap_or_default(), true),
            UsageDim::Key => csv_field(g.key_id.as_deref().unwrap_or_default(), true),
            UsageDim::Plan => csv_field(g.plan.as_deref().unwrap_or_default(), true),
        });
    }
    let t = &g.totals;
    fields.extend([
        t.requests.to_string(),
        t.errors.to_string(),
        t.input_tokens.to_string(),
        t.cached_input_tokens.to_string(),
        t.output_tokens.to_string(),
        t.cost().to_usd_string(),
    ]);
    let mut line = fields.join(",");
    line.push_str("\r\n");
    line
}

/// A body fed from a channel whose error ends the response abnormally.
struct CsvChunks(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl futures_core::Stream for CsvChunks {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// A `text/csv` attachment named `filename`, written from `groups` as they come.
pub fn csv_response(
    filename: &str,
    dims: Vec<UsageDim>,
    mut groups: mpsc::Receiver<tollgate_store::Result<UsageGroup>>,
) -> Response {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let mut buf = csv_header(&dims);
        while let Some(group) = groups.recv().await {
            match group {
                Ok(g) => buf.push_str(&csv_line(&g, &dims)),
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            }
            if buf.len() >= CHUNK
                && tx
                    .send(Ok(Bytes::from(std::mem::take(&mut buf))))
                    .await
                    .is_err()
            {
                return;
            }
        }
        if !buf.is_empty() {
            let _ = tx.send(Ok(Bytes::from(buf))).await;
        }
    });
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        Body::from_stream(CsvChunks(rx)),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("llama", true), "llama");
        assert_eq!(csv_field("a,b", true), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\"", true), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines", true), "\"two\nlines\"");
        assert_eq!(csv_field("=SUM(A1)", true), "'=SUM(A1)");
        assert_eq!(csv_field("-1.00", false), "-1.00");
    }
}

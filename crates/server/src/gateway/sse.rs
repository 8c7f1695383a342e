//! Server-sent events both ways: a response body fed from a channel (so that the task feeding
//! it learns when the client has gone), and the splitting of an upstream's byte stream into
//! events.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use tokio::sync::mpsc;

/// The receiving end of a body channel, as the `Stream` axum's `Body` is made of.
struct ChunkStream(mpsc::Receiver<Bytes>);

impl futures_core::Stream for ChunkStream {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|chunk| chunk.map(Ok))
    }
}

/// A response body and the sender that feeds it. When the client goes away the body is
/// dropped, and `send` fails / `closed` resolves: that is how a stream learns of a disconnect.
pub fn body_channel(capacity: usize) -> (mpsc::Sender<Bytes>, Body) {
    let (tx, rx) = mpsc::channel(capacity);
    (tx, Body::from_stream(ChunkStream(rx)))
}

/// One `data:` event, framed for the wire.
pub fn data_event(payload: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

pub const DONE: &[u8] = b"[DONE]";

/// Longest event accepted from an upstream: a bound on what one stream can make us buffer.
pub const MAX_EVENT_BYTES: usize = 4 << 20;

#[derive(Debug, PartialEq, Eq)]
pub struct EventTooLong;

/// Cuts an upstream's bytes into events, whatever the chunking; yields each event's `data`
/// (lines joined by `\n`, as the SSE specification says). Events without data (comments,
/// keep-alives) yield nothing.
#[derive(Default)]
pub struct EventSplitter {
    buf: Vec<u8>,
}

impl EventSplitter {
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Vec<u8>>, EventTooLong> {
        self.buf.extend(chunk.iter().filter(|b| **b != b'\r'));
        let mut events = Vec::new();
        while let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = self.buf.drain(..end + 2).collect();
            if let Some(data) = data_of(&event[..end]) {
                events.push(data);
            }
        }
        if self.buf.len() > MAX_EVENT_BYTES {
            return Err(EventTooLong);
        }
        Ok(events)
    }

    /// What is left when the upstream ends: a last event without its blank line.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        let rest = std::mem::take(&mut self.buf);
        data_of(&rest)
    }
}

fn data_of(event: &[u8]) -> Option<Vec<u8>> {
    let mut data: Option<Vec<u8>> = None;
    for line in event.split(|b| *b == b'\n') {
        if let Some(rest) = line.strip_prefix(b"data:") {
            let rest = rest.strip_prefix(b" ").unwrap_or(rest);
            match &mut data {
                Some(d) => {
                    d.push(b'\n');
                    d.extend_from_slice(rest);
                }
                None => data = Some(rest.to_vec()),
            }
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_found_across_any_chunking() {
        let wire = b"data: {\"a\":1}\n\n: keep-alive\n\ndata: {\"b\":2}\r\n\r\ndata: [DONE]\n\n";
        for size in 1..wire.len() {
            let mut s = EventSplitter::default();
            let mut events = Vec::new();
            for chunk in wire.chunks(size) {
                events.extend(s.push(chunk).unwrap());
            }
            assert_eq!(
                events,
                [b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec(), DONE.to_vec()],
                "chunks of {size}"
            );
            assert_eq!(s.finish(), None);
        }
        let mut s = EventSplitter::default();
        assert_eq!(s.push(b"data: x\ndata: y").unwrap(), Vec::<Vec<u8>>::new());
        assert_eq!(s.finish(), Some(b"x\ny".to_vec()));
        assert_eq!(
            EventSplitter::default().push(&vec![b'x'; MAX_EVENT_BYTES + 1]),
            Err(EventTooLong)
        );
    }
}

//! The accept loop: hyper's HTTP/1 server on each connection, with the timeouts and the cap
//! that `axum::serve` has no knobs for (docs/decisions/0008-connection-and-login-limits.md).
//!
//! - header read: hyper's own timer, running from the connection's start (or the end of the
//!   previous response) until the request's headers are complete;
//! - body read: [`DeadlineBody`], one deadline for the whole body from the end of the headers;
//! - idle keep-alive: [`Activity`], the time of the last byte either way and the requests in
//!   progress; a connection with none in progress and no byte for `idle_timeout` is closed;
//! - the cap: one semaphore permit per connection, taken before `accept`, so that beyond it
//!   clients wait in the kernel's backlog instead of taking file descriptors and tasks.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::Router;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::config::ConnectionLimits;

/// Serves `router` on `listener` until `shutdown` resolves, then lets every open connection
/// finish its request in progress.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let max = limits.max_connections.clamp(1, u32::MAX as usize >> 3);
    let permits = Arc::new(Semaphore::new(max));
    let (stop, stopping) = watch::channel(false);
    let limits = Arc::new(limits);
    let mut shutdown = pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
        };
        tokio::spawn(connection(
            stream,
            remote,
            router.clone(),
            limits.clone(),
            permit,
            stopping.clone(),
        ));
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a permit until it ends: having them all back means all ended.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = permits.acquire_many(all).await;
    Ok(())
}

/// Per-connection errors (the client went away) are the client's business; others (out of
/// file descriptors) are logged and waited out briefly rather than spun on.
async fn accept_failed(e: &io::Error) {
    use io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset | Interrupted
    ) {
        return;
    }
    tracing::error!("accept error: {e}");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    router: Router,
    limits: Arc<ConnectionLimits>,
    _permit: OwnedSemaphorePermit,
    mut stopping: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let body_timeout = limits.body_read_timeout;
    let in_service = activity.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let in_progress = in_service.begin_request();
        request.extensions_mut().insert(ConnectInfo(remote));
        let request = request.map(|body| Body::new(DeadlineBody::new(body, body_timeout)));
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await;
            drop(in_progress);
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let mut conn = pin!(builder.serve_connection(io, service));
    let mut closing = false;
    loop {
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(%remote, "connection ended: {e}");
                }
                return;
            }
            _ = stopping.wait_for(|stop| *stop), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            () = activity.idle_for(limits.idle_timeout), if !closing => {
                closing = true;
                tracing::debug!(%remote, "closing an idle connection");
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// What an idle-timeout needs to know about a connection.
struct Activity {
    start: Instant,
    /// Milliseconds after `start` of the last byte read or written.
    last_byte_ms: AtomicU64,
    requests_in_progress: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_byte_ms: AtomicU64::new(0),
            requests_in_progress: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_byte_ms.store(ms, Ordering::Relaxed);
    }

    fn begin_request(self: &Arc<Self>) -> InProgress {
        self.requests_in_progress.fetch_add(1, Ordering::Relaxed);
        InProgress(self.clone())
    }

    /// Resolves once no request is in progress and no byte has moved for `timeout`.
    async fn idle_for(&self, timeout: Duration) {
        loop {
            let last =
                self.start + Duration::from_millis(self.last_byte_ms.load(Ordering::Relaxed));
            let deadline = last + timeout;
            if Instant::now() >= deadline && self.requests_in_progress.load(Ordering::Relaxed) == 0
            {
                return;
            }
            // A request in progress: look again a timeout later (its bytes move `last` on).
            tokio::time::sleep_until(deadline.max(Instant::now() + timeout / 4)).await;
        }
    }
}

struct InProgress(Arc<Activity>);

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.touch();
        self.0.requests_in_progress.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The socket, noting each byte's time in [`Activity`].
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A request body that must arrive in full within one deadline; after it, reading fails (the
/// handler answers 400 and hyper closes the connection).
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<Sleep>>,
}

impl DeadlineBody {
    fn new(inner: Incoming, timeout: Duration) -> Self {
        Self {
            inner,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimedOut;

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(BodyTimedOut.into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

//! How [`super::serve`] drains a connection without losing a request the client has sent.
//!
//! hyper's own graceful shutdown closes an idle HTTP/1 connection at once, and "idle" means
//! that no request head has been parsed yet: a keep-alive client's next request, already in
//! the socket buffer, is dropped unread (wrk counted one read error per connection). So,
//! once the drain begins:
//!
//! - every HTTP/1 response carries `Connection: close`, and hyper closes the connection
//!   once it is written: a busy client learns, between two requests, to reconnect;
//! - a connection is shut down only after it has gone [`QUIET`] without a request starting
//!   or ending, with nothing in flight: long enough for a request already on the wire to
//!   arrive, and be answered (with `Connection: close`);
//! - an HTTP/2 connection is shut down at once: its GOAWAY lets the streams in flight
//!   finish and tells the client which ones it may safely retry.

use http::HeaderValue;
use hyper_util::server::graceful::GracefulConnection;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// How long a draining connection must go without a request before it is closed.
pub const QUIET: Duration = Duration::from_millis(500);

/// One connection as its drain sees it, kept up to date by the connection's service.
pub struct Activity {
    /// Set, for every connection of one `serve`, when the drain begins.
    draining: Arc<AtomicBool>,
    in_flight: AtomicUsize,
    /// Requests started plus requests ended.
    events: AtomicUsize,
    h2: AtomicBool,
}

impl Activity {
    pub fn new(draining: &Arc<AtomicBool>) -> Arc<Self> {
        Arc::new(Self {
            draining: draining.clone(),
            in_flight: AtomicUsize::new(0),
            events: AtomicUsize::new(0),
            h2: AtomicBool::new(false),
        })
    }

    /// A request has started; it ends when the returned guard is dropped.
    pub fn start(self: &Arc<Self>, version: http::Version) -> InFlight {
        if version == http::Version::HTTP_2 {
            self.h2.store(true, Ordering::Relaxed);
        }
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.events.fetch_add(1, Ordering::AcqRel);
        InFlight {
            activity: self.clone(),
            version,
        }
    }

    /// Resolves once the drain has begun and the connection may be shut down.
    async fn closable(&self, drain: &CancellationToken) {
        drain.cancelled().await;
        while !self.h2.load(Ordering::Relaxed) {
            let seen = self.events.load(Ordering::Acquire);
            tokio::time::sleep(QUIET).await;
            let idle = self.in_flight.load(Ordering::Acquire) == 0;
            if idle && self.events.load(Ordering::Acquire) == seen {
                return;
            }
        }
    }
}

/// A request in flight. Dropping it (its response is ready, or its client went away) ends
/// it.
pub struct InFlight {
    activity: Arc<Activity>,
    version: http::Version,
}

impl InFlight {
    /// Marks `response` as its connection's last once the drain has begun (HTTP/1 only:
    /// the header is illegal in HTTP/2, and a 101 hands the connection over).
    pub fn finish<B>(self, response: &mut http::Response<B>) {
        if self.version < http::Version::HTTP_2
            && response.status() != http::StatusCode::SWITCHING_PROTOCOLS
            && self.activity.draining.load(Ordering::Acquire)
        {
            response
                .headers_mut()
                .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.activity.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.activity.events.fetch_add(1, Ordering::AcqRel);
    }
}

/// Whether the first byte of a new connection arrives within `idle`, or, once the drain
/// has begun, within [`QUIET`]: a client that connected just before the listener closed
/// may have its first request on the wire.
pub async fn first_byte(stream: &TcpStream, idle: Duration, begun: &CancellationToken) -> bool {
    let mut first = [0u8; 1];
    let peeked = tokio::select! {
        peeked = tokio::time::timeout(idle, stream.peek(&mut first)) => peeked,
        () = begun.cancelled() => tokio::time::timeout(QUIET, stream.peek(&mut first)).await,
    };
    matches!(peeked, Ok(Ok(n)) if n > 0)
}

/// Runs `conn` to its end, shutting it down gracefully once the drain has begun and the
/// connection is closable.
pub async fn drive<C: GracefulConnection>(
    conn: C,
    activity: Arc<Activity>,
    drain: CancellationToken,
) {
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        () = activity.closable(&drain) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

#[cfg(test)]
mod tests {
    use crate::serve::{HttpLimits, serve};
    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::body::Incoming;
    use std::convert::Infallible;
    use std::net::SocketAddr;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::oneshot;

    const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: test\r\n\r\n";

    /// A server answering `ok` (after 300 ms on `/slow`) until the returned sender fires.
    async fn server() -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let make = |_peer: SocketAddr| {
            hyper::service::service_fn(|req: http::Request<Incoming>| async move {
                if req.uri().path() == "/slow" {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"ok"))))
            })
        };
        let shutdown = async {
            let _ = stopped.await;
        };
        let grace = Duration::from_secs(10);
        let served = tokio::spawn(serve(
            listener,
            make,
            shutdown,
            grace,
            HttpLimits::default(),
        ));
        (addr, stop, served)
    }

    /// One whole response's head, lower-cased; an error when the connection ends first.
    async fn response(stream: &mut TcpStream) -> Result<String, String> {
        let (mut seen, mut chunk) = (Vec::new(), [0u8; 1024]);
        loop {
            if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                if seen.len() >= end + 4 + length {
                    return Ok(head);
                }
            }
            match stream.read(&mut chunk).await {
                Ok(0) => return Err(format!("closed after {} bytes", seen.len())),
                Ok(n) => seen.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    async fn closed(stream: &mut TcpStream) -> bool {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut byte));
        matches!(read.await, Ok(Ok(0)))
    }

    /// On a current-thread runtime the drain begins before the connection task has read
    /// the request sitting in its socket: exactly the keep-alive request wrk lost.
    #[tokio::test]
    async fn a_request_on_the_wire_when_the_drain_begins_is_answered() {
        let (addr, stop, served) = server().await;
        let mut client = TcpStream::connect(addr).await.unwrap();
        client.write_all(GET).await.unwrap();
        assert!(
            response(&mut client)
                .await
                .unwrap()
                .starts_with("http/1.1 200")
        );
        client.write_all(GET).await.unwrap();
        stop.send(()).unwrap();
        let second = response(&mut client).await;
        assert!(
            second
                .as_deref()
                .is_ok_and(|h| h.starts_with("http/1.1 200")),
            "{second:?}"
        );
        assert!(closed(&mut client).await, "then the connection is closed");
        served.await.unwrap();
    }

    #[tokio::test]
    async fn in_flight_requests_end_their_connection_and_idle_ones_are_closed() {
        let (addr, stop, served) = server().await;
        let mut busy = TcpStream::connect(addr).await.unwrap();
        let mut idle = TcpStream::connect(addr).await.unwrap();
        idle.write_all(GET).await.unwrap();
        response(&mut idle).await.unwrap();
        busy.write_all(b"GET /slow HTTP/1.1\r\nhost: test\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        stop.send(()).unwrap();
        let last = response(&mut busy).await.unwrap();
        assert!(last.contains("connection: close"), "{last}");
        assert!(closed(&mut busy).await);
        assert!(
            closed(&mut idle).await,
            "an idle connection is closed once quiet"
        );
        tokio::time::timeout(Duration::from_secs(3), served)
            .await
            .expect("the drain ends long before the grace period")
            .unwrap();
    }

    /// What wrk does: keep-alive clients in a tight loop when the drain begins. Each must
    /// get every answer, the last one saying `Connection: close`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_drain_under_load_fails_no_request() {
        let (addr, stop, served) = server().await;
        let clients: Vec<_> = (0..32)
            .map(|_| {
                tokio::spawn(async move {
                    let mut stream = TcpStream::connect(addr).await.unwrap();
                    let mut answered = 0;
                    loop {
                        stream.write_all(GET).await.map_err(|e| e.to_string())?;
                        let head = response(&mut stream).await?;
                        answered += 1;
                        if head.contains("connection: close") {
                            return Ok::<_, String>(answered);
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.send(()).unwrap();
        let mut failed = Vec::new();
        for client in clients {
            match client.await.unwrap() {
                Ok(answered) => assert!(answered > 1),
                Err(e) => failed.push(e),
            }
        }
        assert!(
            failed.is_empty(),
            "{} failed requests: {failed:?}",
            failed.len()
        );
        served.await.unwrap();
    }
}

//! A meeting's media on one node of a cluster: the signaling connections of a
//! meeting that land on another node are relayed to the node hosting it.
//!
//! On PostgreSQL every node may receive any signaling WebSocket (the load
//! balancer need not know about meetings). The node that receives one asks
//! [`Hosting`] who hosts the meeting: itself (it just took the meeting, or
//! already had it) and it serves the connection as a single node would; or
//! another live node, and it opens a WebSocket to that node's own URL with the
//! client's path, query and JoinToken, and pipes the frames both ways, close
//! codes included. The hosting node checks the token exactly as for a client,
//! and its SDP answer names its own media address, so media goes straight to
//! it. When the hosting node dies the relay closes the client's socket with
//! [`CLOSE_GOING_AWAY`] (4503), which the SDK answers by reconnecting to the
//! same SignalingUrl; once the dead node's heartbeat is older than the node
//! TTL, the node that receives the reconnection takes the meeting over.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as UpMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::observe::CLOSE_GOING_AWAY;
use super::{base_token, signaling, MediaPlane};
use crate::store::BoxFuture;

/// Set on a relayed connection (to the relaying node's id). A relayed
/// connection is never relayed again: the node receiving it serves it or,
/// when the meeting moved meanwhile, closes it so the client comes back
/// through the front door. It grants nothing: the JoinToken is checked as
/// for any client.
pub const RELAY_HEADER: &str = "x-convene-relayed-by";

/// How long a relay waits for the hosting node to accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Between two looks at who hosts a meeting, while its host is unreachable.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// Who hosts a meeting's media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// This node: it held the meeting already or has just taken it.
    Here,
    /// Another live node, reachable at `url` (`http://host:port`).
    There { node_id: String, url: String },
}

/// The cluster's register of meeting hosts.
pub trait Hosting: Send + Sync {
    /// Who hosts `meeting_id`; this node takes it when no live node does.
    fn host<'a>(&'a self, meeting_id: &'a str) -> BoxFuture<'a, Result<Host, String>>;
    /// This node's id.
    fn node_id(&self) -> &str;
    /// How long a connection waits for a silent host to be declared gone
    /// (the node TTL and a margin), before it is closed to come back later.
    fn takeover_wait(&self) -> Duration;
}

/// The relays running on this node, so that a shutdown closes them too.
pub struct Relays {
    stop: tokio::sync::watch::Sender<bool>,
    open: AtomicUsize,
}

impl Default for Relays {
    fn default() -> Self {
        Relays {
            stop: tokio::sync::watch::channel(false).0,
            open: AtomicUsize::new(0),
        }
    }
}

impl Relays {
    /// Closes every relayed client socket (4503, so that clients reconnect);
    /// returns how many there were.
    pub fn close_all(&self) -> usize {
        self.stop.send_replace(true);
        self.open.load(Ordering::Relaxed)
    }

    /// Relays still open.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

/// Counts a relay while it runs.
struct Counted<'a>(&'a AtomicUsize);

impl<'a> Counted<'a> {
    fn new(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::Relaxed);
        Counted(n)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a signaling connection needs besides its socket.
pub struct Routed {
    pub meeting_id: String,
    pub token: Option<String>,
    /// The request's query string, passed on to the hosting node as it came.
    pub query: Option<String>,
    /// The connection was relayed here by another node.
    pub relayed: bool,
}

/// Serves a signaling connection on this node, or relays it to the node
/// hosting its meeting.
pub async fn route(
    hosting: Arc<dyn Hosting>,
    plane: Arc<MediaPlane>,
    mut socket: WebSocket,
    r: Routed,
) {
    // A connection the store refuses is refused here, as on one node, without
    // taking or looking up any meeting.
    let Some(token) = r.token.clone() else {
        return signaling::serve(plane, socket, r.meeting_id, r.token).await;
    };
    if plane
        .service
        .authorize_join(&r.meeting_id, base_token(&token))
        .await
        .is_err()
    {
        return signaling::serve(plane, socket, r.meeting_id, r.token).await;
    }
    let deadline = Instant::now() + hosting.takeover_wait();
    let mut unreachable = None;
    loop {
        match hosting.host(&r.meeting_id).await {
            Ok(Host::Here) => {
                if let Some(node) = unreachable.take() {
                    tracing::info!(meeting_id = %r.meeting_id, previous = %node, "took the meeting's media over from a node that is gone");
                }
                return signaling::serve(plane, socket, r.meeting_id, r.token).await;
            }
            Ok(Host::There { node_id, .. }) if r.relayed => {
                tracing::info!(meeting_id = %r.meeting_id, host = %node_id, "relayed connection for a meeting hosted elsewhere; the client comes back");
                close(&mut socket, CLOSE_GOING_AWAY, "meeting moved").await;
                return;
            }
            Ok(Host::There { node_id, url }) => {
                let started = Instant::now();
                match connect(&url, &r, &token, hosting.node_id()).await {
                    Ok(upstream) => {
                        tracing::info!(meeting_id = %r.meeting_id, host = %node_id, connect_ms = started.elapsed().as_millis() as u64, "signaling relayed to the hosting node");
                        let _counted = Counted::new(&plane.relays.open);
                        let stop = plane.relays.stop.subscribe();
                        pipe(socket, upstream, stop).await;
                        tracing::info!(meeting_id = %r.meeting_id, host = %node_id, "relay closed");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(meeting_id = %r.meeting_id, host = %node_id, error = %e, "hosting node unreachable; waiting for it, or for its heartbeat to expire");
                        unreachable = Some(node_id);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(meeting_id = %r.meeting_id, error = %e, "cannot tell who hosts the meeting");
            }
        }
        if Instant::now() + RETRY_PAUSE > deadline {
            close(&mut socket, CLOSE_GOING_AWAY, "no media host; try again").await;
            return;
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}

type Upstream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens the same signaling connection on the hosting node.
async fn connect(url: &str, r: &Routed, token: &str, me: &str) -> Result<Upstream, String> {
    let base = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("node URL {url:?} is not http://"))?;
    let mut target = format!("ws://{base}/control/{}", r.meeting_id);
    if let Some(q) = &r.query {
        target.push('?');
        target.push_str(q);
    }
    let mut req = target.into_client_request().map_err(|e| e.to_string())?;
    let headers = req.headers_mut();
    headers.insert(
        "sec-websocket-protocol",
        format!("{}, {token}", signaling::SUBPROTOCOL)
            .parse()
            .map_err(|_| "the JoinToken is not a header value".to_string())?,
    );
    headers.insert(
        RELAY_HEADER,
        me.parse()
            .map_err(|_| "the node id is not a header value".to_string())?,
    );
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(signaling::MAX_MESSAGE_BYTES))
        .max_frame_size(Some(signaling::MAX_MESSAGE_BYTES));
    let connecting = tokio_tungstenite::connect_async_with_config(req, Some(config), true);
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

fn to_upstream(m: Message) -> Option<UpMessage> {
    Some(match m {
        Message::Binary(b) => UpMessage::Binary(b),
        Message::Text(t) => UpMessage::Text(t.as_str().into()),
        Message::Close(c) => {
            UpMessage::Close(
                c.map(|c| tokio_tungstenite::tungstenite::protocol::CloseFrame {
                    code: CloseCode::from(c.code),
                    reason: c.reason.as_str().into(),
                }),
            )
        }
        // Each hop answers its own pings.
        Message::Ping(_) | Message::Pong(_) => return None,
    })
}

fn to_client(m: UpMessage) -> Option<Message> {
    Some(match m {
        UpMessage::Binary(b) => Message::Binary(b),
        UpMessage::Text(t) => Message::Text(t.as_str().into()),
        UpMessage::Close(c) => Message::Close(c.map(|c| CloseFrame {
            code: u16::from(c.code),
            reason: c.reason.as_str().into(),
        })),
        UpMessage::Ping(_) | UpMessage::Pong(_) | UpMessage::Frame(_) => return None,
    })
}

/// Pipes frames both ways until either side ends. A close from either side
/// is passed on; the hosting node going away without one (killed, cut off)
/// closes the client with [`CLOSE_GOING_AWAY`], as does this node's shutdown.
async fn pipe(
    mut client: WebSocket,
    mut upstream: Upstream,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut closing = false;
    loop {
        tokio::select! {
            m = client.recv() => {
                // The client is gone: so is its connection on the hosting node.
                let Some(Ok(m)) = m else { break };
                closing |= matches!(m, Message::Close(_));
                let Some(up) = to_upstream(m) else { continue };
                if upstream.send(up).await.is_err() && !closing {
                    close(&mut client, CLOSE_GOING_AWAY, "media host gone").await;
                    return;
                }
            }
            m = upstream.next() => {
                let Some(Ok(m)) = m else {
                    host_gone(&mut client, closing).await;
                    return;
                };
                closing |= matches!(m, UpMessage::Close(_));
                let Some(down) = to_client(m) else { continue };
                if client.send(down).await.is_err() {
                    break;
                }
            }
            () = stopped(&mut stop) => {
                close(&mut client, CLOSE_GOING_AWAY, "server shutting down").await;
                break;
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), upstream.close(None)).await;
}

/// The hosting node's side ended: after its close frame was passed on, the
/// client's answer is awaited; without one (the node died or was cut off),
/// the client is told to reconnect.
async fn host_gone(client: &mut WebSocket, closing: bool) {
    if !closing {
        close(client, CLOSE_GOING_AWAY, "media host gone").await;
        return;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(m)) = client.recv().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Resolves once this node shuts down.
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    loop {
        let now = *stop.borrow_and_update();
        if now {
            return;
        }
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Sends a close frame and waits briefly for the client's answer.
async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }));
    if tokio::time::timeout(Duration::from_secs(5), socket.send(frame))
        .await
        .is_err()
    {
        return;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(m)) = socket.recv().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

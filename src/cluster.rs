//! Several nodes on one PostgreSQL database behaving as one service.
//!
//! - Domain events travel between nodes by `NOTIFY convene_events` (each
//!   payload names the node it came from, so a node skips its own); every
//!   node `LISTEN`s on a connection of its own and hands the others' events to
//!   its in-process bus, where the media plane follows them (a DeleteAttendee
//!   on one node closes the attendee's socket on another).
//! - Nodes register in `nodes` with their media address and their own URL
//!   (`--node-url`, where the others relay signaling to them) and send a
//!   heartbeat every second; a node silent for [`NODE_TTL_MS`] counts as
//!   gone (its row is removed after twelve times that).
//! - Each meeting's media is hosted by one node at a time (`meeting_hosts`):
//!   a signaling connection for a meeting takes it when no live node holds
//!   it, and is relayed to the holder otherwise (see `media::relay`). The
//!   rows of nodes that are gone are removed with them, and a node that
//!   finds one of its meetings taken over sends its clients there. Only the
//!   hosting node knows who is connected, so only it applies the idle rule to
//!   the meeting ([`HostedElsewhere`]).
//! - Request-rate buckets live in `throttle_buckets`: one row per (account,
//!   operation), refilled and taken in a single statement on the database's
//!   clock, so an account gets its configured rate once across all nodes
//!   whichever node its requests land on (a load balancer that pins a
//!   keep-alive connection to one node does not change that). When the
//!   database cannot be reached the node counts in its own buckets.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::AsyncMessage;

use crate::auth::throttle::{Rate, SharedBuckets};
use crate::events::{DomainEvent, EventBus};
use crate::media::relay::{Host, Hosting};
use crate::media::MediaPlane;
use crate::ops::lifecycle::HostedElsewhere;
use crate::store::postgres::{describe, pool_error, PgStore};
use crate::store::BoxFuture;

/// The channel domain events travel on.
pub const CHANNEL: &str = "convene_events";
/// A node whose last heartbeat is older than this is taken as gone.
pub const NODE_TTL_MS: i64 = 5_000;

#[derive(serde::Serialize, serde::Deserialize)]
struct Envelope {
    origin: String,
    event: DomainEvent,
}

/// This node's part in the cluster.
pub struct Node {
    pub id: String,
    store: Arc<PgStore>,
}

impl Node {
    /// Joins the cluster: registers the node (`node_url`: where the other
    /// nodes reach it), starts its heartbeat and the event relay in both
    /// directions.
    pub async fn join(
        store: Arc<PgStore>,
        bus: &EventBus,
        node_url: &str,
        media_addr: &str,
    ) -> Result<Arc<Node>, String> {
        let node = Arc::new(Node {
            id: uuid::Uuid::new_v4().to_string(),
            store,
        });
        node.heartbeat(node_url, media_addr)
            .await
            .map_err(|e| format!("cannot register this node in the database: {e}"))?;
        {
            let node = node.clone();
            let (http, media) = (node_url.to_string(), media_addr.to_string());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    if let Err(e) = node.heartbeat(&http, &media).await {
                        tracing::warn!(error = %e, "node heartbeat failed");
                    }
                }
            });
        }
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        bus.relay_to(tx);
        tokio::spawn(node.clone().publish_loop(rx));
        let ready = Arc::new(tokio::sync::Notify::new());
        tokio::spawn(node.clone().listen_loop(bus.clone(), ready.clone()));
        // Wait (briefly) for the first LISTEN so events sent right after start arrive.
        let _ = tokio::time::timeout(Duration::from_secs(5), ready.notified()).await;
        tracing::info!(node = %node.id, "joined the cluster (PostgreSQL)");
        Ok(node)
    }

    /// A pooled connection, or why there is none.
    async fn client(&self) -> Result<deadpool_postgres::Object, String> {
        self.store
            .pool()
            .get()
            .await
            .map_err(|e| pool_error(e).to_string())
    }

    async fn heartbeat(&self, http_addr: &str, media_addr: &str) -> Result<(), String> {
        let client = self.client().await?;
        let now = crate::now_ms();
        client
            .execute(
                "INSERT INTO nodes (node_id, media_addr, http_addr, started_at_ms, heartbeat_ms) \
                 VALUES ($1, $2, $3, $4, $4) \
                 ON CONFLICT (node_id) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms",
                &[&self.id, &media_addr, &http_addr, &now],
            )
            .await
            .map_err(|e| describe(&e))?;
        client
            .execute(
                "DELETE FROM nodes WHERE heartbeat_ms < $1",
                &[&(now - 12 * NODE_TTL_MS)],
            )
            .await
            .map_err(|e| describe(&e))?;
        client
            .execute(
                "DELETE FROM meeting_hosts h \
                 WHERE NOT EXISTS (SELECT 1 FROM nodes n WHERE n.node_id = h.node_id)",
                &[],
            )
            .await
            .map_err(|e| describe(&e))?;
        Ok(())
    }

    /// Watches that the meetings this node serves are still its own: one
    /// that another node took over (this node's heartbeat lapsed, a network
    /// partition) has its connections here closed with 4503, so that its
    /// clients reconnect and are relayed to the new host instead of staying
    /// split across two nodes.
    pub fn watch_hosting(self: &Arc<Self>, plane: Arc<MediaPlane>) {
        let node = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                // The connections first: each took its meeting before it was
                // registered, so the rows read next include its claim.
                let here = plane.meetings_here();
                if here.is_empty() {
                    continue;
                }
                match node.hosted_here().await {
                    Ok(ours) => {
                        for m in here.difference(&ours) {
                            let n = plane.send_away(m);
                            tracing::warn!(meeting_id = %m, connections = n, "another node hosts this meeting now; its connections here are sent to reconnect");
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot check which meetings this node hosts");
                    }
                }
            }
        });
    }

    async fn hosted_here(&self) -> Result<std::collections::HashSet<String>, String> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT meeting_id FROM meeting_hosts WHERE node_id = $1",
                &[&self.id],
            )
            .await
            .map_err(|e| describe(&e))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Who hosts the meeting's media; this node takes the meeting when no
    /// live node holds it (none yet, or its holder's heartbeat is older than
    /// [`NODE_TTL_MS`]), in one statement, so two nodes never both take it.
    pub async fn media_host(&self, meeting_id: &str) -> Result<Host, String> {
        let client = self.client().await?;
        // A statement sees the rows committed before it began: a node that
        // took the meeting meanwhile shows in the next one.
        for _ in 0..3 {
            let now = crate::now_ms();
            let rows = client
                .query(CLAIM, &[&meeting_id, &self.id, &now, &(now - NODE_TTL_MS)])
                .await
                .map_err(|e| describe(&e))?;
            if let Some(row) = rows.first() {
                let node_id: String = row.get(0);
                let url: Option<String> = row.get(1);
                return Ok(match url {
                    Some(url) if node_id != self.id => Host::There { node_id, url },
                    _ => Host::Here,
                });
            }
        }
        Err("the meeting's host changed three times in a row".into())
    }

    /// Nodes with a recent heartbeat.
    pub async fn live_nodes(&self) -> Result<Vec<(String, String)>, String> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT node_id, media_addr FROM nodes WHERE heartbeat_ms >= $1 ORDER BY started_at_ms",
                &[&(crate::now_ms() - NODE_TTL_MS)],
            )
            .await
            .map_err(|e| describe(&e))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn publish_loop(
        self: Arc<Self>,
        mut rx: tokio::sync::mpsc::UnboundedReceiver<DomainEvent>,
    ) {
        while let Some(event) = rx.recv().await {
            let payload = match serde_json::to_string(&Envelope {
                origin: self.id.clone(),
                event,
            }) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "cannot encode a domain event");
                    continue;
                }
            };
            let sent = async {
                let client = self.client().await?;
                client
                    .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])
                    .await
                    .map_err(|e| describe(&e))
            };
            if let Err(e) = sent.await {
                // Other nodes miss this event; their sockets are still checked
                // against the store when clients reconnect.
                tracing::warn!(error = %e, "cannot send a domain event to the other nodes");
            }
        }
    }

    async fn listen_loop(self: Arc<Self>, bus: EventBus, ready: Arc<tokio::sync::Notify>) {
        loop {
            if let Err(e) = self.listen_once(&bus, &ready).await {
                tracing::warn!(error = %e, "event listener lost the database; reconnecting");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn listen_once(&self, bus: &EventBus, ready: &tokio::sync::Notify) -> Result<(), String> {
        let (client, mut connection) = self.store.connect_raw().await.map_err(|e| e.to_string())?;
        let (ntx, mut nrx) = tokio::sync::mpsc::unbounded_channel();
        let pump = tokio::spawn(async move {
            loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(n))) => {
                        if ntx.send(n.payload().to_string()).is_err() {
                            break;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "listener connection failed");
                        break;
                    }
                    None => break,
                }
            }
        });
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .await
            .map_err(|e| describe(&e))?;
        ready.notify_waiters();
        ready.notify_one();
        while let Some(payload) = nrx.recv().await {
            match serde_json::from_str::<Envelope>(&payload) {
                Ok(env) if env.origin != self.id => bus.deliver_remote(env.event),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "unreadable domain event from another node"),
            }
        }
        pump.abort();
        Err("the listening connection closed".into())
    }
}

/// Takes the meeting for node $2 unless a live node (heartbeat at or after
/// $4) holds it; returns the taker, or else the holder with its URL.
const CLAIM: &str = "\
WITH claim AS (
  INSERT INTO meeting_hosts AS h (meeting_id, node_id, since_ms) VALUES ($1, $2, $3)
  ON CONFLICT (meeting_id) DO UPDATE SET node_id = excluded.node_id, since_ms = excluded.since_ms
   WHERE h.node_id <> excluded.node_id
     AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.node_id = h.node_id AND n.heartbeat_ms >= $4)
  RETURNING node_id)
SELECT node_id, NULL::text FROM claim
UNION ALL
SELECT h.node_id, n.http_addr FROM meeting_hosts h JOIN nodes n ON n.node_id = h.node_id
 WHERE h.meeting_id = $1 AND NOT EXISTS (SELECT 1 FROM claim)";

impl HostedElsewhere for Node {
    fn hosted_elsewhere(&self) -> BoxFuture<'_, Result<HashSet<String>, String>> {
        Box::pin(async move {
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT h.meeting_id FROM meeting_hosts h JOIN nodes n ON n.node_id = h.node_id \
                     WHERE h.node_id <> $1 AND n.heartbeat_ms >= $2",
                    &[&self.id, &(crate::now_ms() - NODE_TTL_MS)],
                )
                .await
                .map_err(|e| describe(&e))?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }
}

impl Hosting for Node {
    fn host<'a>(&'a self, meeting_id: &'a str) -> BoxFuture<'a, Result<Host, String>> {
        Box::pin(self.media_host(meeting_id))
    }

    fn node_id(&self) -> &str {
        &self.id
    }

    fn takeover_wait(&self) -> Duration {
        Duration::from_millis(NODE_TTL_MS as u64 + 3_000)
    }
}

/// How long the node counts on its own after the shared buckets failed,
/// before it asks the database again.
const BUCKETS_BACKOFF_MS: i64 = 1_000;

/// A connection with the take statement prepared on it.
#[derive(Clone)]
struct Taker {
    client: Arc<tokio_postgres::Client>,
    statement: tokio_postgres::Statement,
}

/// The request-rate buckets in the database, on one connection of their own:
/// takes from concurrent requests are pipelined on it, so a burst neither
/// waits for pooled connections nor opens new ones.
pub struct DbBuckets {
    store: Arc<PgStore>,
    client: tokio::sync::Mutex<Option<Taker>>,
    /// Until when (ms) the shared buckets are skipped: set when they failed,
    /// so that during an outage a request does not first wait for the
    /// buckets and then for the store (it answers 503 within the store's
    /// deadline, not twice that).
    skip_until_ms: std::sync::atomic::AtomicI64,
}

impl DbBuckets {
    pub fn new(store: Arc<PgStore>) -> Arc<Self> {
        Arc::new(DbBuckets {
            store,
            client: tokio::sync::Mutex::new(None),
            skip_until_ms: std::sync::atomic::AtomicI64::new(0),
        })
    }

    /// How long a take may wait: a quarter of the store's deadline, at most
    /// 250 ms (a take is one statement on one indexed row). A slow answer
    /// counts this request on the node; only a failed connection makes the
    /// node skip the shared buckets for a while.
    fn deadline(&self) -> Duration {
        (self.store.options().timeout / 4).min(Duration::from_millis(250))
    }

    /// Opens the buckets' connection now, so that the first requests do not
    /// wait for it (a failure is only logged: the next take tries again).
    pub async fn warm(&self) {
        if let Err(e) = self.taker().await {
            tracing::warn!(error = %e, "shared throttle: no connection yet");
        }
    }

    /// The buckets' connection and statement, made when there are none (or
    /// the connection closed).
    async fn taker(&self) -> Result<Taker, String> {
        let mut slot = self.client.lock().await;
        if let Some(t) = slot.as_ref().filter(|t| !t.client.is_closed()) {
            return Ok(t.clone());
        }
        let client = self.store.dedicated().await.map_err(|e| e.to_string())?;
        let statement = client.prepare(TAKE).await.map_err(|e| describe(&e))?;
        let taker = Taker {
            client: Arc::new(client),
            statement,
        };
        *slot = Some(taker.clone());
        Ok(taker)
    }

    async fn take_now(&self, account: &str, operation: &str, rate: Rate) -> Result<bool, String> {
        let t = self.taker().await?;
        let rows = t
            .client
            .query(
                &t.statement,
                &[&account, &operation, &rate.burst, &rate.per_second],
            )
            .await
            .map_err(|e| describe(&e))?;
        Ok(!rows.is_empty())
    }
}

/// Refills the bucket by the time passed since its last use (on the
/// database's clock), then takes a token if one is there; no row comes back
/// when none is.
const TAKE: &str = "\
WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1e6)::bigint AS us)
INSERT INTO throttle_buckets AS b (account_id, operation, tokens, updated_us)
SELECT $1::text, $2::text, $3::float8 - 1, now.us FROM now
ON CONFLICT (account_id, operation) DO UPDATE
   SET tokens = LEAST($3::float8, b.tokens + (excluded.updated_us - b.updated_us) * $4::float8 / 1e6) - 1,
       updated_us = excluded.updated_us
 WHERE LEAST($3::float8, b.tokens + (excluded.updated_us - b.updated_us) * $4::float8 / 1e6) >= 1
RETURNING tokens";

impl SharedBuckets for DbBuckets {
    fn take<'a>(
        &'a self,
        account: &'a str,
        operation: &'static str,
        rate: Rate,
    ) -> BoxFuture<'a, Option<bool>> {
        Box::pin(async move {
            use std::sync::atomic::Ordering;
            if crate::now_ms() < self.skip_until_ms.load(Ordering::Relaxed) {
                return None;
            }
            let attempt = self.take_now(account, operation, rate);
            match tokio::time::timeout(self.deadline(), attempt).await {
                Ok(Ok(allowed)) => Some(allowed),
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "shared throttle unavailable; counting on this node");
                    self.skip_until_ms
                        .store(crate::now_ms() + BUCKETS_BACKOFF_MS, Ordering::Relaxed);
                    None
                }
                Err(_) => {
                    tracing::debug!("shared throttle slow; this request counted on this node");
                    None
                }
            }
        })
    }
}

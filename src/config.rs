//! Server configuration: flags, the environment and a TOML file ([`file`]).

pub mod file;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::ops::lifecycle::LifecycleRules;

/// The account used when none is configured.
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";

#[derive(Debug, Parser)]
#[command(
    name = "convene",
    version,
    about = "A server that speaks the Amazon Chime SDK Meetings API (chime-sdk-meetings, 2021-07-15).",
    long_about = "Convene serves the Amazon Chime SDK Meetings control-plane API. Point any AWS SDK or the \
AWS CLI at it with an endpoint URL, for example:\n\n  \
aws chime-sdk-meetings create-meeting --endpoint-url http://127.0.0.1:8080 --region us-east-1 \\\n    \
--client-request-token t1 --media-region us-east-1 --external-meeting-id demo\n\n\
Requests must be signed with a configured key (see `convene serve --help`: \
--credentials-file, CONVENE_ACCESS_KEY_ID / CONVENE_SECRET_ACCESS_KEY, or a key pair generated \
on first start). Every flag can also be set through the environment variable named beside it."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API over HTTP (SigV4-signed requests) on the embedded SQLite store,
    /// with the media plane (signaling WebSocket and WebRTC audio) beside it.
    Serve(ServeArgs),
    /// Work with configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Copy a stopped SQLite deployment's data (meetings, attendees, tags,
    /// transcription state, ended meetings, meeting events and their delivery
    /// state, the page-token key) into an empty PostgreSQL database, in one
    /// transaction.
    Migrate(MigrateArgs),
}

#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// Where the data is now: `sqlite:DATA_DIR`, the --data-dir of a server
    /// that is stopped.
    #[arg(long, env = "CONVENE_MIGRATE_FROM", value_name = "sqlite:DATA_DIR")]
    pub from: String,
    /// Where it goes: an empty PostgreSQL database,
    /// `postgres://USER[:PASSWORD]@HOST:PORT/DATABASE` (the same URL the nodes
    /// will be given; its tables are created). Prefer CONVENE_DATABASE_URL when
    /// the URL holds a password.
    #[arg(long, env = "CONVENE_DATABASE_URL", hide_env_values = true)]
    pub to: String,
}

impl MigrateArgs {
    /// The SQLite data directory of `--from`.
    pub fn source_dir(&self) -> Result<PathBuf, String> {
        match self.from.strip_prefix("sqlite:") {
            Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
            _ => Err(format!(
                "--from must be sqlite:DATA_DIR (the data directory of a stopped server), not {:?}",
                self.from
            )),
        }
    }

    /// `--to`, checked to be a PostgreSQL URL.
    pub fn target_url(&self) -> Result<&str, String> {
        if self.to.starts_with("postgres://") || self.to.starts_with("postgresql://") {
            Ok(&self.to)
        } else {
            Err(format!(
                "--to must be a postgres:// URL, not {:?}",
                mask_url_password(&self.to)
            ))
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a configuration (the file given by --config or CONVENE_CONFIG, the
    /// environment and these flags, as `serve` would take them) and print the
    /// effective settings on stdout as TOML, secrets masked. Exits non-zero on
    /// an invalid setting.
    Check(ServeArgs),
}

impl Command {
    /// Takes the secrets the environment did not give from the file.
    pub fn fill_secrets(&mut self, f: &file::FileSettings) {
        let (Command::Serve(args) | Command::Config(ConfigCommand::Check(args))) = self else {
            return;
        };
        if args.secret_access_key.is_none() {
            args.secret_access_key = f.secret("secret_access_key");
        }
        if args.metrics_token.is_none() {
            args.metrics_token = f.secret("metrics_token");
        }
        if args.test_controls_token.is_none() {
            args.test_controls_token = f.secret("test_controls_token");
        }
        if args.events.webhook_secret.is_none() {
            args.events.webhook_secret = f.secret("events_webhook_secret");
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// TOML file of settings: keys are the long flag names with `_` between
    /// words (`data_dir = "/var/lib/convene"`), plus the secrets
    /// `secret_access_key`, `metrics_token` and `test_controls_token`. The environment and flags
    /// override it. See convene.example.toml.
    #[arg(long, env = "CONVENE_CONFIG")]
    pub config: Option<PathBuf>,

    /// PostgreSQL to keep the data in instead of the embedded SQLite:
    /// `postgres://USER[:PASSWORD]@HOST:PORT/DATABASE`. Several nodes given the
    /// same URL (and the same credentials and --public-url) serve as one
    /// service. Prefer CONVENE_DATABASE_URL or the configuration file when the
    /// URL holds a password. Plain TCP (no TLS): keep the database on loopback
    /// or a private network.
    #[arg(long, env = "CONVENE_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Address and port to listen on (use port 0 to pick a free one).
    #[arg(long, env = "CONVENE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory holding the database; created if missing.
    #[arg(long, env = "CONVENE_DATA_DIR", default_value = "./convene-data")]
    pub data_dir: PathBuf,

    /// Base URL clients use to reach this server, from which the MediaPlacement
    /// URLs of every meeting are built [default: http://<listen address>].
    #[arg(long, env = "CONVENE_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// With --database-url: the URL at which the other nodes reach this one
    /// directly, not through the load balancer (`http://host:port`). A
    /// signaling connection that lands on a node not hosting its meeting is
    /// relayed there [default: http://<listen address>; 127.0.0.1 when
    /// listening on 0.0.0.0, which only suits nodes on one machine].
    #[arg(long, env = "CONVENE_NODE_URL")]
    pub node_url: Option<String>,

    /// TOML file of accounts and their access keys ([[credentials]] entries with
    /// account_id, access_key_id, secret_access_key). Without it, the key pair in
    /// CONVENE_ACCESS_KEY_ID / CONVENE_SECRET_ACCESS_KEY is used, and without those a
    /// pair is generated on first start and saved in the data directory.
    #[arg(long, env = "CONVENE_CREDENTIALS_FILE")]
    pub credentials_file: Option<PathBuf>,

    /// The 12-digit account of the key pair from the environment or the generated one.
    #[arg(long, env = "CONVENE_ACCOUNT_ID", default_value = DEFAULT_ACCOUNT_ID)]
    pub account_id: String,

    /// Access key id of a single account (with CONVENE_SECRET_ACCESS_KEY).
    #[arg(long, env = "CONVENE_ACCESS_KEY_ID")]
    pub access_key_id: Option<String>,

    /// Secret of CONVENE_ACCESS_KEY_ID; only from the environment, so it never shows in a process list.
    #[arg(skip = std::env::var("CONVENE_SECRET_ACCESS_KEY").ok())]
    pub secret_access_key: Option<String>,

    /// Page size of ListAttendees when the request gives no MaxResults (1-100).
    #[arg(long, env = "CONVENE_DEFAULT_PAGE_SIZE", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub default_page_size: u32,

    /// Largest request body accepted, in bytes; larger ones get HTTP 413.
    #[arg(long, env = "CONVENE_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Quota and lifecycle defaults: `dev` (generous, so a test suite is never
    /// surprised: 1000 requests/s per operation, 10000 meetings, meetings end
    /// after 24 hours but never for being idle) or `aws` (AWS's published
    /// defaults: 10 requests/s per operation, 250 concurrent meetings, meetings
    /// end after 24 hours or 5 minutes with nobody connected).
    #[arg(long, env = "CONVENE_LIMITS", value_enum, default_value_t = LimitsProfile::Dev)]
    pub limits: LimitsProfile,

    /// Requests per second each account may make to each operation (0: unlimited)
    /// [default: from --limits].
    #[arg(long, env = "CONVENE_RATE_LIMIT")]
    pub rate_limit: Option<f64>,

    /// Requests an account may make to one operation in a burst [default: the rate, at least 1].
    #[arg(long, env = "CONVENE_RATE_BURST")]
    pub rate_burst: Option<f64>,

    /// Meetings (replicas included) an account may hold at once [default: from --limits].
    #[arg(long, env = "CONVENE_MAX_MEETINGS")]
    pub max_meetings: Option<u64>,

    /// Minutes after its creation at which a meeting ends (0: never)
    /// [default: 1440, one day, under both --limits].
    #[arg(long, env = "CONVENE_MEETING_MAX_MINUTES")]
    pub meeting_max_minutes: Option<u64>,

    /// Minutes without any attendee connected after which a meeting that is
    /// not a replica ends (0: never) [default: from --limits: dev 0, aws 5].
    #[arg(long, env = "CONVENE_MEETING_IDLE_MINUTES")]
    pub meeting_idle_minutes: Option<u64>,

    /// Minutes an ended meeting is remembered, so that its join tokens are told
    /// "meeting ended" (WebSocket close 4410); then it is forgotten.
    #[arg(
        long,
        env = "CONVENE_ENDED_MEETINGS_RETENTION_MINUTES",
        default_value_t = 1440
    )]
    pub ended_meetings_retention_minutes: u64,

    /// Serve the test controls under /_convene/ (fault injection, latency,
    /// the meeting clock). For test environments only. Off a loopback
    /// address they also need a token in CONVENE_TEST_CONTROLS_TOKEN.
    #[arg(long, env = "CONVENE_TEST_CONTROLS")]
    pub test_controls: bool,

    /// Bearer token of the test controls; only from the environment, never a flag.
    #[arg(skip = std::env::var("CONVENE_TEST_CONTROLS_TOKEN").ok().filter(|t| !t.is_empty()))]
    pub test_controls_token: Option<String>,

    /// Connections served at once; more wait to be accepted.
    #[arg(long, env = "CONVENE_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,

    /// Milliseconds a client may take to send a request's headers (also the
    /// keep-alive idle limit).
    #[arg(long, env = "CONVENE_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_timeout_ms: u64,

    /// Milliseconds a client may take to send a request's body.
    #[arg(long, env = "CONVENE_BODY_TIMEOUT_MS", default_value_t = 10_000)]
    pub body_timeout_ms: u64,

    /// Milliseconds the store may take to start a request's work (a busy
    /// writer, a locked database); past it the answer is 503
    /// ServiceUnavailableException with Retry-After.
    #[arg(long, env = "CONVENE_STORE_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub store_timeout_ms: u64,

    /// Whether other processes may open the SQLite database while the server
    /// runs: `shared` (the sqlite3 shell, a backup tool may read it; each read
    /// takes the file's lock) or `exclusive` (the server keeps it to itself
    /// until it exits; GetMeeting and GetAttendee answer a tenth to a half
    /// more a second in the benchmark's runs). Not used with --database-url.
    #[arg(long, env = "CONVENE_SQLITE_LOCKING", value_enum, default_value_t = SqliteLocking::Shared)]
    pub sqlite_locking: SqliteLocking,

    /// UDP address of the WebRTC media endpoint (ICE-lite, DTLS-SRTP; port 0
    /// picks a free one) [default: 127.0.0.1:3478, or 127.0.0.1 on a free port
    /// when --listen has port 0].
    #[arg(long, env = "CONVENE_MEDIA_LISTEN")]
    pub media_listen: Option<SocketAddr>,

    /// Address put in the media ICE candidates, as clients should reach it:
    /// `ip` or `ip:port` [default: the bound media address; 127.0.0.1 when
    /// bound to 0.0.0.0].
    #[arg(long, env = "CONVENE_MEDIA_PUBLIC_ADDR", value_parser = parse_media_addr)]
    pub media_public_addr: Option<SocketAddr>,

    /// Log format on stderr: `text` (for people; coloured only on a terminal)
    /// or `json` (one object per line).
    #[arg(long, env = "CONVENE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Milliseconds requests in flight may take to finish after SIGTERM/SIGINT
    /// (signaling sockets are closed at once with a code that makes clients
    /// reconnect).
    #[arg(long, env = "CONVENE_SHUTDOWN_GRACE_MS", default_value_t = 20_000)]
    pub shutdown_grace_ms: u64,

    /// Bearer token that GET /metrics requires (none: /metrics is open); only
    /// from CONVENE_METRICS_TOKEN or the configuration file, never a flag.
    #[arg(skip = std::env::var("CONVENE_METRICS_TOKEN").ok().filter(|t| !t.is_empty()))]
    pub metrics_token: Option<String>,

    /// Once the server answers requests, write one JSON object here (atomically):
    /// endpoint, media_address, access_key_id, account_id, and secret_access_key
    /// when the key pair was generated by this run. Removed at exit.
    #[arg(long, env = "CONVENE_READY_FILE")]
    pub ready_file: Option<PathBuf>,

    /// Keep the data in a temporary directory that is removed at exit (for test
    /// runs; nothing survives the process). Without configured credentials a key
    /// pair is generated for the run.
    #[arg(long, env = "CONVENE_EPHEMERAL", conflicts_with = "data_dir")]
    pub ephemeral: bool,

    #[command(flatten)]
    pub events: EventsArgs,
}

/// Meeting events: sinks and delivery (see the README, "Meeting events").
#[derive(Debug, Clone, Args)]
pub struct EventsArgs {
    /// POST every event of every meeting here, signed as Standard Webhooks
    /// say (http:// only). Needs the secret in CONVENE_EVENTS_WEBHOOK_SECRET
    /// or `events_webhook_secret` in the configuration file.
    #[arg(long = "events-webhook-url", env = "CONVENE_EVENTS_WEBHOOK_URL")]
    pub webhook_url: Option<String>,

    /// The webhook signing secret (`whsec_` and base64); only from the
    /// environment or the configuration file, never a flag.
    #[arg(skip = std::env::var("CONVENE_EVENTS_WEBHOOK_SECRET").ok().filter(|t| !t.is_empty()))]
    pub webhook_secret: Option<String>,

    /// Milliseconds a sink may take to acknowledge one call (one event, or a
    /// batch of up to 10 for EventBridge, SQS and SNS).
    #[arg(
        long = "events-send-timeout-ms",
        env = "CONVENE_EVENTS_SEND_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub send_timeout_ms: u64,

    /// EventBridge bus that gets every event of every meeting (PutEvents, in
    /// the meeting's control region).
    #[arg(
        long = "events-eventbridge-bus",
        env = "CONVENE_EVENTS_EVENTBRIDGE_BUS"
    )]
    pub eventbridge_bus: Option<String>,

    /// `Source` of the events put on EventBridge. Real EventBridge keeps
    /// sources starting `aws.` for AWS: set another one for a real bus.
    #[arg(long = "events-eventbridge-source", env = "CONVENE_EVENTS_EVENTBRIDGE_SOURCE",
          default_value = crate::events::envelope::SOURCE)]
    pub eventbridge_source: String,

    /// Send each meeting's events to the SQS queue, SNS topic and Lambda
    /// function of its NotificationsConfiguration [default: true when
    /// --events-aws-endpoint-url is set, else false].
    #[arg(
        long = "events-meeting-targets",
        env = "CONVENE_EVENTS_MEETING_TARGETS"
    )]
    pub meeting_targets: Option<bool>,

    /// One endpoint for every AWS sink (moto, LocalStack). Without it the AWS
    /// SDK's own configuration (environment, profile, instance role) decides
    /// the endpoint and credentials.
    #[arg(
        long = "events-aws-endpoint-url",
        env = "CONVENE_EVENTS_AWS_ENDPOINT_URL"
    )]
    pub aws_endpoint_url: Option<String>,

    /// Tries of one event at one sink before it is dead-lettered.
    #[arg(long = "events-max-attempts", env = "CONVENE_EVENTS_MAX_ATTEMPTS", default_value_t = 25,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_attempts: u32,

    /// Milliseconds before the second try of an event; doubles each try (with jitter).
    #[arg(
        long = "events-retry-base-ms",
        env = "CONVENE_EVENTS_RETRY_BASE_MS",
        default_value_t = 500
    )]
    pub retry_base_ms: u64,

    /// Longest wait between two tries, in milliseconds.
    #[arg(
        long = "events-retry-max-ms",
        env = "CONVENE_EVENTS_RETRY_MAX_MS",
        default_value_t = 300_000
    )]
    pub retry_max_ms: u64,

    /// Milliseconds a node's lease on a meeting's stream lasts unless renewed
    /// (how long a crashed node's streams wait for another node).
    #[arg(
        long = "events-lease-ms",
        env = "CONVENE_EVENTS_LEASE_MS",
        default_value_t = 30_000
    )]
    pub lease_ms: u64,

    /// Hours events are kept in the event log (undelivered ones are kept until delivered).
    #[arg(
        long = "events-retention-hours",
        env = "CONVENE_EVENTS_RETENTION_HOURS",
        default_value_t = 168
    )]
    pub retention_hours: u64,

    /// This node's name in delivery leases; nodes sharing a database need
    /// different ones [default: kept in the data directory's `node-id` file].
    #[arg(long = "node-id", env = "CONVENE_NODE_ID")]
    pub node_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SqliteLocking {
    /// Other processes may open the database too.
    Shared,
    /// The server holds the database alone until it exits.
    Exclusive,
}

impl From<SqliteLocking> for crate::store::sqlite::Locking {
    fn from(l: SqliteLocking) -> Self {
        match l {
            SqliteLocking::Shared => crate::store::sqlite::Locking::Shared,
            SqliteLocking::Exclusive => crate::store::sqlite::Locking::Exclusive,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The media port when neither --media-listen nor --listen port 0 says otherwise.
pub const DEFAULT_MEDIA_PORT: u16 = 3478;

/// `ip:port`, or `ip` alone (port 0: the bound port).
fn parse_media_addr(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    s.trim_matches(|c| c == '[' || c == ']')
        .parse::<std::net::IpAddr>()
        .map(|ip| SocketAddr::new(ip, 0))
        .map_err(|_| format!("{s:?} is not an IP address or ip:port"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LimitsProfile {
    /// Generous limits for development and CI.
    Dev,
    /// AWS's published default quotas.
    Aws,
}

impl ServeArgs {
    /// Requests per second and burst for each (account, operation).
    pub fn rate(&self) -> (f64, f64) {
        let rate = self.rate_limit.unwrap_or(match self.limits {
            LimitsProfile::Dev => 1000.0,
            LimitsProfile::Aws => 10.0,
        });
        let burst = self.rate_burst.unwrap_or(rate.max(1.0));
        (rate, burst)
    }

    /// When meetings end by themselves.
    pub fn lifecycle(&self) -> LifecycleRules {
        let base = match self.limits {
            LimitsProfile::Dev => LifecycleRules::DEV,
            LimitsProfile::Aws => LifecycleRules::AWS,
        };
        let minutes = |m: u64| (m > 0).then(|| (m as i64).saturating_mul(60_000));
        LifecycleRules {
            max_duration_ms: self
                .meeting_max_minutes
                .map_or(base.max_duration_ms, minutes),
            idle_end_ms: self.meeting_idle_minutes.map_or(base.idle_end_ms, minutes),
            ended_retention_ms: (self.ended_meetings_retention_minutes as i64)
                .saturating_mul(60_000),
        }
    }

    pub fn meetings_limit(&self) -> u64 {
        self.max_meetings.unwrap_or(match self.limits {
            LimitsProfile::Dev => 10_000,
            LimitsProfile::Aws => 250,
        })
    }
}

impl ServeArgs {
    /// Where the media socket binds: --media-listen if given; else 127.0.0.1 on
    /// a free port when the HTTP port is 0 (so that instances never collide),
    /// and on port 3478 otherwise.
    pub fn media_listen(&self) -> SocketAddr {
        self.media_listen.unwrap_or_else(|| {
            let port = if self.listen.port() == 0 {
                0
            } else {
                DEFAULT_MEDIA_PORT
            };
            SocketAddr::from(([127, 0, 0, 1], port))
        })
    }

    /// The public URL, given the address actually bound.
    pub fn public_url(&self, bound: SocketAddr) -> String {
        if let Some(u) = &self.public_url {
            u.clone()
        } else {
            let addr = bound;
            if addr.ip().is_unspecified() {
                format!("http://127.0.0.1:{}", addr.port())
            } else {
                format!("http://{addr}")
            }
        }
    }

    /// The URL other nodes reach this node at, given the address actually bound.
    pub fn node_url(&self, bound: SocketAddr) -> String {
        match &self.node_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None if bound.ip().is_unspecified() => format!("http://127.0.0.1:{}", bound.port()),
            None => format!("http://{bound}"),
        }
    }

    pub fn check(&self) -> Result<(), String> {
        if let Some(u) = &self.node_url {
            let rest = u.strip_prefix("http://").unwrap_or_default();
            if rest.is_empty() || rest.trim_end_matches('/').contains(['/', '?', '#', '@']) {
                return Err(format!(
                    "--node-url {u:?} must be http://host:port (the node itself, no path)"
                ));
            }
        }
        if self.rate_limit.is_some_and(|r| !(0.0..=1e9).contains(&r)) {
            return Err("--rate-limit must be between 0 (unlimited) and 1e9".into());
        }
        if self.rate_burst.is_some_and(|b| !(1.0..=1e9).contains(&b)) {
            return Err("--rate-burst must be between 1 and 1e9".into());
        }
        if self.test_controls
            && !self.listen.ip().is_loopback()
            && self.test_controls_token.is_none()
        {
            return Err(format!(
                "--test-controls on {}, which is not a loopback address, needs a token: \
                 set CONVENE_TEST_CONTROLS_TOKEN (clients send it as `Authorization: Bearer <token>`)",
                self.listen
            ));
        }
        if let Some(url) = &self.database_url {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err("--database-url must be a postgres:// URL".into());
            }
            if !cfg!(feature = "postgres") {
                return Err(
                    "this build has no PostgreSQL support (cargo feature `postgres`)".into(),
                );
            }
            if self.ephemeral {
                return Err(
                    "--ephemeral keeps the data in a temporary directory and cannot be \
                     combined with --database-url (the data lives in PostgreSQL)"
                        .into(),
                );
            }
            let pair = self.access_key_id.is_some() && self.secret_access_key.is_some();
            if self.credentials_file.is_none() && !pair {
                return Err(
                    "with --database-url every node must accept the same keys: give \
                     --credentials-file (the same file on every node) or \
                     CONVENE_ACCESS_KEY_ID and CONVENE_SECRET_ACCESS_KEY; a generated key pair \
                     would differ from node to node and is refused"
                        .into(),
                );
            }
        }
        if self.account_id.len() != 12 || !self.account_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!(
                "account id {:?} must be 12 digits",
                self.account_id
            ));
        }
        self.events.check()
    }
}

/// `url` with its password, if it has one, replaced by `********` (for
/// `config check` and logs): `postgres://convene:s3cret@db/convene` becomes
/// `postgres://convene:********@db/convene`.
pub fn mask_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:********@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

impl EventsArgs {
    pub fn check(&self) -> Result<(), String> {
        match (&self.webhook_url, &self.webhook_secret) {
            (Some(_), None) => {
                return Err("--events-webhook-url needs a signing secret: set CONVENE_EVENTS_WEBHOOK_SECRET \
                            (or events_webhook_secret in the configuration file) to whsec_ and base64 \
                            of at least 24 random bytes"
                    .into())
            }
            (_, Some(s)) => {
                crate::events::sinks::webhook::WebhookSecret::parse(s)?;
            }
            _ => {}
        }
        if let Some(url) = &self.webhook_url {
            crate::events::sinks::webhook::WebhookSink::new(
                url,
                crate::events::sinks::webhook::WebhookSecret::parse(
                    self.webhook_secret.as_deref().unwrap_or_default(),
                )?,
                std::time::Duration::from_millis(self.send_timeout_ms),
            )?;
        }
        self.check_aws()
    }

    /// The AWS sinks' flags, in a build without them: refused.
    #[cfg(not(feature = "aws-sinks"))]
    fn check_aws(&self) -> Result<(), String> {
        if self.eventbridge_bus.is_some() || self.meeting_targets() {
            return Err(
                "the AWS sinks (--events-eventbridge-bus, --events-meeting-targets, \
                        --events-aws-endpoint-url) need a build with the `aws-sinks` Cargo feature \
                        (on by default)"
                    .into(),
            );
        }
        Ok(())
    }

    /// The AWS sinks' flags.
    #[cfg(feature = "aws-sinks")]
    fn check_aws(&self) -> Result<(), String> {
        if let Some(url) = &self.aws_endpoint_url {
            crate::events::sinks::aws::check_endpoint_url(url)?;
        }
        if let Some(bus) = &self.eventbridge_bus {
            crate::events::sinks::aws::EventBridgeSink::check(bus, &self.eventbridge_source)?;
        }
        Ok(())
    }

    /// Whether meetings' own NotificationsConfiguration targets get events.
    pub fn meeting_targets(&self) -> bool {
        self.meeting_targets
            .unwrap_or(self.aws_endpoint_url.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_args(args: &[&str]) -> ServeArgs {
        let mut argv = vec!["convene", "serve"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Serve(a) => a,
            other => panic!("not serve: {other:?}"),
        }
    }

    #[cfg(feature = "aws-sinks")]
    #[test]
    fn aws_sink_flags_are_checked() {
        let ok = serve_args(&[
            "--events-aws-endpoint-url",
            "http://127.0.0.1:5000",
            "--events-eventbridge-bus",
            "default",
        ]);
        assert!(ok.check().is_ok());
        assert!(
            ok.events.meeting_targets(),
            "on by default with an endpoint"
        );
        for bad in [
            &["--events-aws-endpoint-url", "ftp://x"][..],
            &["--events-eventbridge-bus", " "],
            &[
                "--events-eventbridge-bus",
                "b",
                "--events-eventbridge-source",
                "",
            ],
        ] {
            assert!(serve_args(bad).check().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn media_port_is_free_when_the_http_port_is() {
        // The environment of the test run must not decide the answer.
        assert!(
            std::env::var_os("CONVENE_MEDIA_LISTEN").is_none(),
            "unset CONVENE_MEDIA_LISTEN to run this test"
        );
        let a = serve_args(&["--listen", "127.0.0.1:0"]);
        assert_eq!(a.media_listen(), "127.0.0.1:0".parse().unwrap());
        let a = serve_args(&["--listen", "127.0.0.1:8080"]);
        assert_eq!(a.media_listen(), "127.0.0.1:3478".parse().unwrap());
        let a = serve_args(&["--listen", "127.0.0.1:0", "--media-listen", "0.0.0.0:5000"]);
        assert_eq!(a.media_listen(), "0.0.0.0:5000".parse().unwrap());
    }

    #[test]
    fn database_url_passwords_are_masked() {
        assert_eq!(
            mask_url_password("postgres://convene:s3cret@db:5432/convene"),
            "postgres://convene:********@db:5432/convene"
        );
        assert_eq!(
            mask_url_password("postgresql://u:p%40ss@h/db?sslmode=disable"),
            "postgresql://u:********@h/db?sslmode=disable"
        );
        assert_eq!(
            mask_url_password("postgres://db/convene"),
            "postgres://db/convene"
        );
        assert_eq!(
            mask_url_password("postgres://postgres@127.0.0.1/x"),
            "postgres://postgres@127.0.0.1/x"
        );
        assert_eq!(mask_url_password("not a url"), "not a url");
    }

    #[test]
    fn ephemeral_excludes_a_data_dir() {
        assert!(
            std::env::var_os("CONVENE_DATA_DIR").is_none(),
            "unset CONVENE_DATA_DIR to run this test"
        );
        assert!(serve_args(&["--ephemeral"]).ephemeral);
        let err = Cli::try_parse_from(["convene", "serve", "--ephemeral", "--data-dir", "x"])
            .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }
}

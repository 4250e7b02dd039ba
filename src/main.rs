use std::process::ExitCode;
use std::sync::Arc;

use convene::auth::throttle::{Rate, Throttle};
use convene::auth::{credentials, Authenticator};
use convene::config::{file, Command, ConfigCommand, MigrateArgs, ServeArgs};
use convene::domain::placement::PublicBase;
use convene::media::relay::Hosting;
use convene::media::{MediaConfig, MediaPlane};
use convene::ops::{Limits, Service};
use convene::ready;
use convene::store::sqlite::SqliteStore;
use convene::store::{Store, StoreOptions};
use convene::wire::controls::TestControls;
use convene::wire::server::{serve, AppState, ConnectionLimits};
use std::time::Duration;

/// mimalloc rather than the C library's malloc: every request allocates its
/// strings, and glibc's malloc and free were a fifth of a request's
/// instructions (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let parsed = match file::parse() {
        Ok(p) => p,
        Err(message) => {
            eprintln!("convene: {message}");
            return ExitCode::from(2);
        }
    };
    let args = match &parsed.cli.command {
        Command::Serve(args) => args.clone(),
        Command::Config(ConfigCommand::Check(args)) => {
            return config_check(&parsed, args);
        }
        Command::Migrate(args) => return migrate(args),
    };
    // Held to the end of main: dropping it writes out the queued log lines.
    let _log = convene::telemetry::init_logging(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(args));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// `convene migrate`: SQLite's data into an empty PostgreSQL database.
fn migrate(args: &MigrateArgs) -> ExitCode {
    let _log = convene::telemetry::init_logging(convene::config::LogFormat::Text);
    match migrate_now(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("convene migrate: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(feature = "postgres")]
fn migrate_now(args: &MigrateArgs) -> Result<(), String> {
    let dir = args.source_dir()?;
    let url = args.target_url()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let moved = runtime.block_on(convene::store::migrate::sqlite_to_postgres(&dir, url))?;
    let total: u64 = moved.rows.iter().map(|(_, n)| n).sum();
    for (table, n) in &moved.rows {
        println!("{table}: {n} rows");
    }
    println!(
        "copied {total} rows from {} to {}",
        dir.display(),
        convene::config::mask_url_password(url)
    );
    if let Some(path) = &moved.generated_credentials {
        println!(
            "this data directory holds a generated key pair ({}): give every node a copy with \
             --credentials-file, since a generated pair is refused with --database-url",
            path.display()
        );
    }
    Ok(())
}

#[cfg(not(feature = "postgres"))]
fn migrate_now(_args: &MigrateArgs) -> Result<(), String> {
    Err("this build has no PostgreSQL support (cargo feature `postgres`)".into())
}

/// `convene config check`: the effective configuration on stdout, or what is wrong on stderr.
fn config_check(parsed: &file::Parsed, args: &ServeArgs) -> ExitCode {
    let checked = args.check().and_then(|()| match &args.credentials_file {
        Some(path) => credentials::load(&credentials::Sources {
            file: Some(path),
            account_id: &args.account_id,
            access_key_id: None,
            secret_access_key: None,
            data_dir: &args.data_dir,
        })
        .map(|_| ()),
        None => Ok(()),
    });
    if let Err(message) = checked {
        eprintln!("convene: invalid configuration: {message}");
        return ExitCode::FAILURE;
    }
    print!(
        "{}",
        parsed.effective(&[
            ("secret_access_key", args.secret_access_key.is_some()),
            ("metrics_token", args.metrics_token.is_some()),
            ("test_controls_token", args.test_controls_token.is_some()),
            (
                "events_webhook_secret",
                args.events.webhook_secret.is_some()
            ),
        ])
    );
    ExitCode::SUCCESS
}

async fn run(mut args: ServeArgs) -> Result<(), String> {
    args.check()?;
    // From here a SIGTERM or SIGINT stops the server cleanly (once it serves,
    // at once), whenever it comes.
    let stop = shutdown_signal();
    convene::telemetry::metrics();
    if let Some(path) = &args.ready_file {
        ready::clear(path)?;
    }
    // --ephemeral: the data lives in a temporary directory, removed when this
    // guard drops (on return, after a signal too).
    let _ephemeral = ephemeral_data_dir(&mut args)?;
    let credentials = load_credentials(&args)?;
    let (service, console_key, opened) = start_service(&args).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let public_url = args.public_url(local);
    let media = start_media(&service, &args)?;
    let base = PublicBase::parse(&public_url)?.with_media_addr(media.public_addr());
    let announcement = ready::Ready {
        endpoint: public_url.clone(),
        media_address: media.public_addr().to_string(),
        access_key_id: credentials.primary_key_id.clone(),
        account_id: credentials.primary_account_id().to_string(),
        secret_access_key: credentials
            .generated
            .as_ref()
            .map(|g| g.secret_access_key.clone()),
    };
    let node_url = args.node_url(local);
    let cluster = join_cluster(&opened, &service, &node_url, &media, &args).await?;
    let state = app_state(
        &args,
        service,
        base,
        credentials.keys,
        media,
        console_key,
        cluster,
    );
    let connection_limits = ConnectionLimits {
        max_connections: args.max_connections,
        header_timeout: Duration::from_millis(args.header_timeout_ms),
        shutdown_grace: Duration::from_millis(args.shutdown_grace_ms),
    };
    tracing::info!(
        %public_url,
        metrics_protected = args.metrics_token.is_some(),
        console = %format!("{public_url}/console"),
        "convene listening on http://{local}"
    );
    let mut server = tokio::spawn(serve(listener, state, connection_limits, stop));
    // Announced once a request gets an answer: the ready file, then the same
    // JSON as the last line on stdout. A stop signal before that is a stop
    // like any other (a clean exit, nothing announced), not a failure to
    // become ready.
    let announced = tokio::select! {
        a = announce(local, &announcement, args.ready_file.as_deref()) => a,
        stopped = &mut server => {
            finished(stopped)?;
            tracing::info!("stopped before it was announced ready");
            return Ok(());
        }
    };
    let _ready_file = match announced {
        Ok(f) => f,
        Err(e) => {
            server.abort();
            return Err(e);
        }
    };
    finished(server.await)?;
    tracing::info!("stopped: requests in flight finished, store closed");
    Ok(())
}

/// The server task's end, as `run`'s result.
fn finished(ended: Result<std::io::Result<()>, tokio::task::JoinError>) -> Result<(), String> {
    ended
        .map_err(|e| format!("server task failed: {e}"))?
        .map_err(|e| format!("server error: {e}"))
}

/// The access keys, from the credentials file, the environment or generated.
fn load_credentials(args: &ServeArgs) -> Result<credentials::Credentials, String> {
    let credentials = credentials::load(&credentials::Sources {
        file: args.credentials_file.as_deref(),
        account_id: &args.account_id,
        access_key_id: args.access_key_id.as_deref(),
        secret_access_key: args.secret_access_key.as_deref(),
        data_dir: &args.data_dir,
    })?;
    tracing::info!(
        source = %credentials.source,
        keys = credentials.keys.len(),
        accounts = %credentials.accounts().join(","),
        "credentials loaded"
    );
    Ok(credentials)
}

/// Opens the store and starts the service with its event delivery and the
/// meeting lifecycle; returns it with the console's session key and the store.
async fn start_service(args: &ServeArgs) -> Result<(Service, Vec<u8>, OpenedStore), String> {
    let store_options = StoreOptions {
        timeout: std::time::Duration::from_millis(args.store_timeout_ms),
    };
    let opened = open_store(args, store_options).await?;
    let console_key = convene::wire::console::session_key(&opened.store.token_key());
    let (outbox, delivery) =
        convene::events::runtime::build(&args.events, &args.data_dir, opened.store.clone())?;
    let service = Service::new(
        opened.store.clone(),
        Limits {
            default_page_size: args.default_page_size,
            max_meetings: args.meetings_limit(),
            lifecycle: args.lifecycle(),
            ..Limits::default()
        },
    )
    .with_outbox(outbox);
    delivery.spawn();
    convene::ops::lifecycle::spawn(service.clone(), Duration::from_secs(2));
    Ok((service, console_key, opened))
}

/// Everything a request needs, from the flags and the parts started above.
fn app_state(
    args: &ServeArgs,
    service: Service,
    base: PublicBase,
    keys: std::collections::HashMap<String, convene::auth::sigv4::KeyInfo>,
    media: Arc<MediaPlane>,
    console_key: Vec<u8>,
    (throttle, hosting): (Throttle, Option<Arc<dyn Hosting>>),
) -> Arc<AppState> {
    let controls = args.test_controls.then(|| {
        tracing::warn!(
            token_required = args.test_controls_token.is_some(),
            "test controls are on: /_convene/ can inject faults, add latency and move the meeting clock"
        );
        Arc::new(TestControls::new(
            service.clone(),
            args.test_controls_token.clone(),
        ))
    });
    Arc::new(AppState {
        controls,
        service,
        base,
        auth: Authenticator::new(keys),
        throttle,
        max_body_bytes: args.max_body_bytes,
        body_timeout: Duration::from_millis(args.body_timeout_ms),
        media: Some(media),
        hosting,
        metrics_token: args.metrics_token.clone(),
        console_key,
        shutting_down: std::sync::atomic::AtomicBool::default(),
    })
}

/// With `--ephemeral`, points the data directory at a new temporary directory
/// and returns the guard that removes it.
fn ephemeral_data_dir(args: &mut ServeArgs) -> Result<Option<tempfile::TempDir>, String> {
    if !args.ephemeral {
        return Ok(None);
    }
    let dir = tempfile::Builder::new()
        .prefix("convene-ephemeral-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary data directory: {e}"))?;
    tracing::info!(path = %dir.path().display(), "ephemeral: data in a temporary directory, removed at exit");
    args.data_dir = dir.path().to_path_buf();
    Ok(Some(dir))
}

/// Binds the media plane's UDP socket and says whether audio can be mixed.
fn start_media(service: &Service, args: &ServeArgs) -> Result<Arc<MediaPlane>, String> {
    let media_listen = args.media_listen();
    let media = MediaPlane::start(
        service.clone(),
        &MediaConfig {
            listen: media_listen,
            public_addr: args.media_public_addr,
        },
    )
    .map_err(|e| format!("cannot listen for media on udp {media_listen}: {e}"))?;
    tracing::info!(
        local = %media.local_addr(),
        advertised = %media.public_addr(),
        "media (WebRTC, ICE-lite) listening on udp"
    );
    if convene::media::opus::available() {
        tracing::info!("libopus loaded: three or more attendees are mixed");
    } else {
        tracing::warn!(
            "libopus is not installed (apt-get install libopus0): two attendees hear each other, \
             but with three or more each listener hears one speaker at a time"
        );
    }
    Ok(media)
}

/// Logs the quotas and lifecycle rules in force; returns the request rate and burst.
fn log_limits(args: &ServeArgs) -> (f64, f64) {
    let (rate, burst) = args.rate();
    let lifecycle = args.lifecycle();
    tracing::info!(
        requests_per_second = rate,
        burst,
        max_meetings = args.meetings_limit(),
        max_connections = args.max_connections,
        meeting_max_minutes = lifecycle.max_duration_ms.map_or(0, |ms| ms / 60_000),
        meeting_idle_minutes = lifecycle.idle_end_ms.map_or(0, |ms| ms / 60_000),
        "limits"
    );
    (rate, burst)
}

/// The request throttle; on PostgreSQL this node also joins the cluster
/// (registry, events between nodes, who hosts each meeting's media) and its
/// buckets are shared in the database.
#[allow(clippy::unused_async)]
async fn join_cluster(
    opened: &OpenedStore,
    service: &Service,
    node_url: &str,
    media: &Arc<MediaPlane>,
    args: &ServeArgs,
) -> Result<(Throttle, Option<Arc<dyn Hosting>>), String> {
    let (rate, burst) = log_limits(args);
    let throttle = Throttle::new(Rate {
        per_second: rate,
        burst,
    });
    #[cfg(feature = "postgres")]
    if let Some(pg) = &opened.postgres {
        let node = convene::cluster::Node::join(
            pg.clone(),
            service.events(),
            node_url,
            &media.public_addr().to_string(),
        )
        .await?;
        tracing::info!(node = %node.id, %node_url, "other nodes relay signaling to this node here");
        node.watch_hosting(media.clone());
        service.set_hosted_elsewhere(node.clone());
        let buckets = convene::cluster::DbBuckets::new(pg.clone());
        buckets.warm().await;
        throttle.share(buckets);
        let hosting: Arc<dyn Hosting> = node;
        return Ok((throttle, Some(hosting)));
    }
    #[cfg(not(feature = "postgres"))]
    let _ = (opened, service, node_url, media);
    Ok((throttle, None))
}

struct OpenedStore {
    store: Arc<dyn Store>,
    #[cfg(feature = "postgres")]
    postgres: Option<Arc<convene::store::postgres::PgStore>>,
}

/// PostgreSQL when --database-url is given, else SQLite in --data-dir.
async fn open_store(args: &ServeArgs, options: StoreOptions) -> Result<OpenedStore, String> {
    #[cfg(feature = "postgres")]
    if let Some(url) = &args.database_url {
        use convene::store::postgres::{redact, PgStore};
        // The data directory still keeps this node's own files (its node id).
        std::fs::create_dir_all(&args.data_dir).map_err(|e| {
            format!(
                "cannot create the data directory {}: {e}",
                args.data_dir.display()
            )
        })?;
        let pg =
            Arc::new(PgStore::connect(url, options).await.map_err(|e| {
                format!("cannot open the PostgreSQL store at {}: {e}", redact(url))
            })?);
        tracing::info!(database = %redact(url), "store open (PostgreSQL)");
        return Ok(OpenedStore {
            store: pg.clone(),
            postgres: Some(pg),
        });
    }
    let locking = args.sqlite_locking;
    let store = SqliteStore::open_locking(&args.data_dir, options, locking.into())
        .map_err(|e| e.to_string())?;
    tracing::info!(path = %store.path().display(), ?locking, "store open");
    Ok(OpenedStore {
        store: Arc::new(store),
        #[cfg(feature = "postgres")]
        postgres: None,
    })
}

async fn announce(
    local: std::net::SocketAddr,
    announcement: &ready::Ready,
    ready_file: Option<&std::path::Path>,
) -> Result<Option<ready::ReadyFile>, String> {
    ready::wait_until_answering(local).await?;
    let json = announcement.to_json();
    let file = match ready_file {
        Some(path) => {
            let f = ready::write(path, &json)?;
            tracing::info!(path = %path.display(), "ready file written");
            Some(f)
        }
        None => None,
    };
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{json}").and_then(|()| out.flush());
    }
    Ok(file)
}

/// Resolves at SIGTERM or SIGINT (Ctrl-C). The handlers are installed now,
/// when this is called, not when the future is first polled: a signal that
/// comes between the "listening" line and the accept loop's start is then a
/// clean stop, not the default action's kill.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (term, int) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(term) => {},
                () = wait(int) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutdown signal received; finishing requests in flight");
    }
}

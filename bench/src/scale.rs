//! `convene-bench scale`: whether a read costs the same in a small store and
//! in one of millions of attendees, and what such a store does to the
//! server's start and memory.
//!
//! For each size, the store is made by the server itself (schema, one meeting
//! created over the API, whose row gives the account and settings), then
//! filled straight through SQLite by a bulk loader: meetings of 250 attendees
//! with random (v4) ids and join tokens of the real length, so the unique
//! indexes are as scattered as the real service's. The server is then started
//! on it (start to ready and resident memory measured), GetAttendee and
//! ListAttendees are run on attendees and meetings drawn at random from the
//! whole store, and one /metrics scrape (which counts every stored row) is
//! timed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Method;

use crate::api::{self, Seeded};
use crate::load::{self, Pacing, Pool, Shape};
use crate::report::{run_line, thousands, Row};
use crate::server;
use crate::sign::Signer;

/// Attendees per bulk-loaded meeting (the API's default limit).
const PER_MEETING: u64 = 250;
/// Attendees GetAttendee reads, drawn at random from the store.
const SAMPLE_ATTENDEES: usize = 5_000;
/// Meetings ListAttendees pages through, drawn at random.
const SAMPLE_MEETINGS: usize = 50;

const USAGE: &str = "\
usage: convene-bench scale [options]

GetAttendee and ListAttendees (first page of 100) against stores of each size,
bulk-loaded straight into SQLite; start to ready, resident memory and one
/metrics scrape with each.

options:
  --server PATH       the convene binary [default: target/release/convene]
  --sizes a,b         stored attendees [default: 1000,10000000]
  --keep DIR          keep each loaded store in DIR/<size> and reuse it next time
                      (a 10-million store takes minutes to load and ~5 GB of disk)
  --connections N     keep-alive connections [default: 32]
  --seconds S         measured seconds per scenario [default: 3]
  --warmup S          discarded seconds before each [default: 1]
  --smoke             sizes 1000,20000 and a few tenths of a second each (CI)
  --markdown FILE     also write the table into FILE between its
                      <!-- convene-bench:scale --> markers (BENCHMARKS.md)
";

struct Options {
    server: PathBuf,
    sizes: Vec<u64>,
    keep: Option<PathBuf>,
    shape: Shape,
    smoke: bool,
    markdown: Option<PathBuf>,
}

fn parse(raw: &[String]) -> Result<Option<Options>, String> {
    let mut o = Options {
        server: server::default_binary("release"),
        sizes: vec![1_000, 10_000_000],
        keep: None,
        shape: Shape {
            connections: 32,
            warmup: Duration::from_secs(1),
            measure: Duration::from_secs(3),
            rate: None,
            pacing: Pacing::Shared,
        },
        smoke: false,
        markdown: None,
    };
    let mut args = raw.iter();
    let seconds = |v: &str, flag: &str| {
        v.parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| format!("{flag}: {v:?} is not a number of seconds"))
    };
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--help" | "-h" => return Ok(None),
            "--server" => o.server = PathBuf::from(value()?),
            "--keep" => o.keep = Some(PathBuf::from(value()?)),
            "--markdown" => o.markdown = Some(PathBuf::from(value()?)),
            "--sizes" => {
                let v = value()?;
                o.sizes = v
                    .split(',')
                    .map(|s| {
                        s.trim()
                            .replace('_', "")
                            .parse::<u64>()
                            .ok()
                            .filter(|n| *n > 0)
                    })
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| format!("--sizes: {v:?} is not a list of counts"))?;
            }
            "--connections" => {
                let v = value()?;
                o.shape.connections = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("--connections: {v:?}"))?;
            }
            "--seconds" => o.shape.measure = seconds(&value()?, flag)?,
            "--warmup" => o.shape.warmup = seconds(&value()?, flag)?,
            "--smoke" => {
                o.smoke = true;
                o.sizes = vec![1_000, 20_000];
                o.shape = Shape {
                    connections: 4,
                    warmup: Duration::from_millis(100),
                    measure: Duration::from_millis(300),
                    ..o.shape
                };
            }
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    Ok(Some(o))
}

/// What one store size measured.
struct Measured {
    size: u64,
    store_bytes: u64,
    load: Option<Duration>,
    start_to_ready: Duration,
    rss_ready: f64,
    rss_after: f64,
    get: Row,
    list: Row,
    /// The first /metrics scrape (it counts every row) and the next.
    metrics_scrape: [Duration; 2],
}

pub fn command(raw: &[String]) -> Result<(), String> {
    let Some(o) = parse(raw)? else {
        print!("{USAGE}");
        return Ok(());
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut results = Vec::new();
    for &size in &o.sizes {
        results.push(runtime.block_on(one_size(&o, size))?);
    }
    let text = markdown(&o, &results);
    print!("{text}");
    if let Some(path) = &o.markdown {
        crate::report::splice(path, "scale", &text)?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(bad) = results.iter().find(|m| m.get.errors + m.list.errors > 0) {
        let why = bad
            .get
            .first_error
            .as_ref()
            .or(bad.list.first_error.as_ref());
        return Err(format!(
            "non-2xx answers at {} stored attendees: {}",
            bad.size,
            why.map_or("", String::as_str)
        ));
    }
    Ok(())
}

fn signer_for(addr: std::net::SocketAddr) -> Signer {
    Signer {
        host: addr.to_string(),
        access_key: server::ACCESS_KEY.into(),
        secret: server::SECRET.into(),
        region: "us-east-1".into(),
    }
}

async fn one_size(o: &Options, size: u64) -> Result<Measured, String> {
    let temp;
    let dir = if let Some(keep) = &o.keep {
        keep.join(size.to_string())
    } else {
        temp = tempfile::Builder::new()
            .prefix("convene-bench-scale-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        temp.path().to_path_buf()
    };
    let db = dir.join("db").join("convene.sqlite3");
    let marker = dir.join("loaded");
    let load = if marker.exists() {
        eprintln!(
            "scale: reusing the store of {size} attendees in {}",
            dir.display()
        );
        None
    } else {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let template = template_meeting(&o.server, &dir).await?;
        eprintln!("scale: loading {size} attendees into {}", db.display());
        let began = Instant::now();
        bulk_load(&db, &template, size)?;
        let took = began.elapsed();
        eprintln!("scale: loaded in {:.1} s", took.as_secs_f64());
        std::fs::write(&marker, size.to_string()).map_err(|e| e.to_string())?;
        Some(took)
    };
    let seeded = sample(&db, size)?;
    let store_bytes = store_size(&db);
    // Nothing of the loader's in the page cache's favour beyond what any
    // restarted server finds: the file was just written either way.
    let convene = server::start_convene(&o.server, &dir, &[])?;
    let pid = convene.child.id();
    let rss_ready = server::rss_mib(pid);
    let signer = signer_for(convene.addr);
    let get = run(
        "GetAttendee",
        &convene,
        api::get_attendee(&signer, &seeded),
        o.shape,
    )
    .await?;
    let list = run(
        "ListAttendees",
        &convene,
        api::list_attendees(&signer, &seeded),
        o.shape,
    )
    .await?;
    // The first scrape counts every row; the next, within a minute, reuses it.
    let mut metrics_scrape = [Duration::ZERO; 2];
    for took in &mut metrics_scrape {
        let scrape = signer.sign_all(vec![(Method::GET, "/metrics".into(), Vec::new())]);
        let began = Instant::now();
        let answers = load::each(convene.addr, scrape, 1).await?;
        *took = began.elapsed();
        if answers.first().is_none_or(|(status, _)| *status != 200) {
            return Err(format!("GET /metrics answered {:?}", answers.first()));
        }
    }
    let rss_after = server::rss_mib(pid);
    eprintln!(
        "scale {size}: ready in {:.0} ms, {rss_ready:.0} → {rss_after:.0} MiB, GetAttendee {:.0}/s, ListAttendees {:.0}/s, /metrics {:.0} ms then {:.0} ms",
        convene.start_to_ready.as_secs_f64() * 1e3,
        get.per_second,
        list.per_second,
        metrics_scrape[0].as_secs_f64() * 1e3,
        metrics_scrape[1].as_secs_f64() * 1e3
    );
    Ok(Measured {
        size,
        store_bytes,
        load,
        start_to_ready: convene.start_to_ready,
        rss_ready,
        rss_after,
        get,
        list,
        metrics_scrape,
    })
}

async fn run(
    name: &str,
    target: &server::Running,
    requests: Vec<crate::sign::Signed>,
    shape: Shape,
) -> Result<Row, String> {
    let pid = target.child.id();
    let cpu_before = server::cpu_time(pid);
    let pool = Arc::new(Pool {
        requests,
        wrap: true,
    });
    let out = load::run(target.addr, pool, shape).await?;
    let cpu = server::cpu_time(pid).saturating_sub(cpu_before);
    Ok(Row::new(name, &out, cpu, shape))
}

/// Starts the server on `dir` once, so that it makes the store's schema, and
/// creates one meeting over the API; returns that meeting's id.
async fn template_meeting(binary: &Path, dir: &Path) -> Result<String, String> {
    let convene = server::start_convene(binary, dir, &[])?;
    let signer = signer_for(convene.addr);
    let ids = api::create_meetings(convene.addr, &signer, &api::run_tag(), 1).await?;
    // The answer was a 2xx: the meeting is durable, so a kill loses nothing.
    drop(convene);
    ids.into_iter()
        .next()
        .ok_or_else(|| "CreateMeeting gave no meeting".to_string())
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(sql_err)`
fn sql_err(e: rusqlite::Error) -> String {
    format!("bulk load: {e}")
}

/// Fills the store with `size` attendees in meetings of 250, copies of the
/// template meeting's row (its account and settings) with new ids.
fn bulk_load(db: &Path, template: &str, size: u64) -> Result<(), String> {
    let conn = rusqlite::Connection::open(db).map_err(sql_err)?;
    // A loader's settings, not the server's: no journal and no fsync while
    // loading (a failed load is simply redone), a large page cache for the
    // scattered index inserts. The server's WAL mode is restored at the end.
    conn.execute_batch(
        "PRAGMA journal_mode = OFF;
         PRAGMA synchronous = OFF;
         PRAGMA cache_size = -4000000;",
    )
    .map_err(sql_err)?;
    let mut meeting = conn
        .prepare(
            "INSERT INTO meetings (meeting_id, account_id, control_region, media_region,
                 external_meeting_id, meeting_host_id, primary_meeting_id, features, tenant_ids,
                 notifications, network_type, client_request_token, created_at_ms)
             SELECT ?1, account_id, control_region, media_region, ?2, meeting_host_id,
                 primary_meeting_id, features, tenant_ids, notifications, network_type, ?3,
                 created_at_ms
             FROM meetings WHERE meeting_id = ?4",
        )
        .map_err(sql_err)?;
    let mut attendee = conn
        .prepare(
            "INSERT INTO attendees (meeting_id, attendee_id, external_user_id, join_token,
                 audio, video, content)
             VALUES (?1, ?2, ?3, ?4, 'SendReceive', 'SendReceive', 'SendReceive')",
        )
        .map_err(sql_err)?;
    // The server keeps each meeting's attendee count beside its roster.
    let mut count = conn
        .prepare("INSERT INTO attendee_counts (meeting_id, n) VALUES (?1, ?2)")
        .map_err(sql_err)?;
    let meetings = size.div_ceil(PER_MEETING);
    let mut loaded = 0u64;
    conn.execute_batch("BEGIN").map_err(sql_err)?;
    for m in 0..meetings {
        let meeting_id = uuid::Uuid::new_v4().to_string();
        meeting
            .execute((
                &meeting_id,
                format!("scale-{m}"),
                format!("scale-{meeting_id}"),
                template,
            ))
            .map_err(sql_err)?;
        let here = PER_MEETING.min(size - loaded);
        for u in 0..here {
            let attendee_id = uuid::Uuid::new_v4();
            let secret = uuid::Uuid::new_v4();
            // The real token's length (98 characters), unique by its attendee id.
            let token = format!(
                "{}{}{}tk",
                attendee_id.simple(),
                secret.simple(),
                secret.simple()
            );
            attendee
                .execute((
                    &meeting_id,
                    attendee_id.to_string(),
                    format!("user-{u}"),
                    token,
                ))
                .map_err(sql_err)?;
        }
        count.execute((&meeting_id, here)).map_err(sql_err)?;
        loaded += here;
        if m % 400 == 399 {
            conn.execute_batch("COMMIT; BEGIN").map_err(sql_err)?;
            if m % 4000 == 3999 {
                eprintln!("scale: {loaded} of {size}");
            }
        }
    }
    // And each account's meeting count.
    conn.execute(
        "UPDATE meeting_counts SET n = n + ?1
         WHERE account_id = (SELECT account_id FROM meetings WHERE meeting_id = ?2)",
        (meetings, template),
    )
    .map_err(sql_err)?;
    conn.execute_batch("COMMIT").map_err(sql_err)?;
    drop((meeting, attendee, count));
    // No ANALYZE: the server never runs it, and with its statistics SQLite
    // re-plans a cached statement whenever its bound values change (the
    // bundled build keeps STAT4), which more than doubles a lookup's cost.
    conn.execute_batch("PRAGMA journal_mode = WAL;")
        .map_err(sql_err)
}

/// Attendees and full meetings drawn at random from the whole store.
fn sample(db: &Path, size: u64) -> Result<Seeded, String> {
    use rand::Rng;
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(sql_err)?;
    let top: i64 = conn
        .query_row("SELECT MAX(seq) FROM attendees", [], |r| r.get(0))
        .map_err(sql_err)?;
    let mut rng = rand::thread_rng();
    let mut by_seq = conn
        .prepare("SELECT meeting_id, attendee_id FROM attendees WHERE seq = ?1")
        .map_err(sql_err)?;
    let mut attendees: Vec<(String, String)> = Vec::new();
    let wanted = SAMPLE_ATTENDEES.min(usize::try_from(size).unwrap_or(usize::MAX));
    let mut tries = 0;
    while attendees.len() < wanted && tries < wanted * 10 {
        tries += 1;
        let seq = rng.gen_range(1..=top.max(1));
        if let Ok(pair) = by_seq.query_row([seq], |r| Ok((r.get(0)?, r.get(1)?))) {
            attendees.push(pair);
        }
    }
    let mut full = Vec::new();
    for (m, _) in &attendees {
        if full.len() == SAMPLE_MEETINGS {
            break;
        }
        if !full.contains(m) {
            full.push(m.clone());
        }
    }
    if attendees.is_empty() {
        return Err(format!("no attendees found in {}", db.display()));
    }
    Ok(Seeded {
        meetings: full.clone(),
        attendees,
        full,
    })
}

fn store_size(db: &Path) -> u64 {
    let mut total = 0;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        total += std::fs::metadata(&name).map_or(0, |m| m.len());
    }
    total
}

fn markdown(o: &Options, results: &[Measured]) -> String {
    use std::fmt::Write as _;
    let mut s = format!("{}\n\n", run_line(&o.shape, o.smoke, &o.server));
    s.push_str("| stored attendees | store on disk | start to ready | resident memory at ready → after | GetAttendee /s | p50 / p99 ms | server CPU µs | ListAttendees pages/s | p50 / p99 ms | server CPU µs | /metrics scrape: first (counts every row) / next |\n");
    s.push_str("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for m in results {
        let _ = writeln!(
            s,
            "| {} | {:.0} MiB | {:.0} ms | {:.0} → {:.0} MiB | {} | {:.2} / {:.2} | {:.0} | {} | {:.2} / {:.2} | {:.0} | {:.0} ms / {:.0} ms |",
            thousands(m.size as f64),
            m.store_bytes as f64 / (1024.0 * 1024.0),
            m.start_to_ready.as_secs_f64() * 1e3,
            m.rss_ready,
            m.rss_after,
            thousands(m.get.per_second),
            m.get.p50,
            m.get.p99,
            m.get.cpu_us,
            thousands(m.list.per_second),
            m.list.p50,
            m.list.p99,
            m.list.cpu_us,
            m.metrics_scrape[0].as_secs_f64() * 1e3,
            m.metrics_scrape[1].as_secs_f64() * 1e3,
        );
    }
    let loads: Vec<String> = results
        .iter()
        .filter_map(|m| {
            m.load
                .map(|d| format!("{} in {:.1} s", thousands(m.size as f64), d.as_secs_f64()))
        })
        .collect();
    if !loads.is_empty() {
        let _ = writeln!(
            s,
            "\nBulk load (straight into SQLite, no fsync): {}.",
            loads.join(", ")
        );
    }
    s
}

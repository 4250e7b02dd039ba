//! `convene-bench api`: every API scenario against one server, between two
//! measurements of the bare-HTTP floor, plus the SQLite durable-insert floor.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::api::{self, Sizes};
use crate::load::{self, Pacing, Pool, Shape};
use crate::report::{Report, Row};
use crate::server;
use crate::sign::{Signed, Signer};

pub struct Options {
    pub server: PathBuf,
    pub shape: Shape,
    pub sizes: Sizes,
    pub only: Option<Vec<String>>,
    pub markdown: Option<PathBuf>,
    pub smoke: bool,
    /// Instruction counting: each scenario sends exactly this many requests
    /// to a server running under valgrind's callgrind.
    pub callgrind: Option<usize>,
    /// Under callgrind: keep each scenario's dump here (for callgrind_annotate).
    pub callgrind_out: Option<PathBuf>,
    /// The fraction of each read's peak rate at which it runs again, open loop.
    pub below_peak: f64,
    /// The core the server (and the bare-HTTP floor) run on (`taskset -c`),
    /// and the core this tool runs on; both empty: unpinned.
    pub server_cpu: String,
    pub tool_cpu: String,
    /// Where each open-loop run's latency timeline is written, if anywhere.
    pub latency_trace: Option<PathBuf>,
}

fn value<'a>(
    args: &mut impl Iterator<Item = &'a String>,
    flag: &str,
) -> Result<&'a String, String> {
    args.next().ok_or_else(|| format!("{flag} needs a value"))
}

fn seconds(raw: &str, flag: &str) -> Result<Duration, String> {
    raw.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{flag}: {raw:?} is not a number of seconds"))
}

impl Options {
    pub fn parse(raw: &[String]) -> Result<Options, String> {
        let mut o = Options {
            server: server::default_binary("release"),
            shape: Shape {
                connections: 32,
                warmup: Duration::from_secs(1),
                measure: Duration::from_secs(3),
                rate: None,
                pacing: Pacing::Shared,
            },
            // Set from the warm-up and window once every option is read.
            sizes: Sizes::SMOKE,
            only: None,
            markdown: None,
            smoke: false,
            callgrind: None,
            callgrind_out: None,
            below_peak: 0.8,
            server_cpu: String::new(),
            tool_cpu: String::new(),
            latency_trace: None,
        };
        let mut args = raw.iter();
        while let Some(flag) = args.next() {
            match flag.as_str() {
                "--server" => o.server = PathBuf::from(value(&mut args, flag)?),
                "--connections" => {
                    let v = value(&mut args, flag)?;
                    o.shape.connections = v
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("--connections: {v:?}"))?;
                }
                "--pacing" => {
                    let v = value(&mut args, flag)?;
                    o.shape.pacing = Pacing::parse(v).ok_or_else(|| {
                        format!("--pacing: {v:?} is neither shared nor per-connection")
                    })?;
                }
                "--seconds" => o.shape.measure = seconds(value(&mut args, flag)?, flag)?,
                "--warmup" => o.shape.warmup = seconds(value(&mut args, flag)?, flag)?,
                "--only" => {
                    let v = value(&mut args, flag)?;
                    let names: Vec<String> = v.split(',').map(str::to_string).collect();
                    if let Some(n) = names.iter().find(|n| !SCENARIOS.contains(&n.as_str())) {
                        return Err(format!(
                            "--only: no scenario is called {n:?} (there are {})",
                            SCENARIOS.join(", ")
                        ));
                    }
                    o.only = Some(names);
                }
                "--markdown" => o.markdown = Some(PathBuf::from(value(&mut args, flag)?)),
                "--server-cpu" => o.server_cpu.clone_from(value(&mut args, flag)?),
                "--tool-cpu" => o.tool_cpu.clone_from(value(&mut args, flag)?),
                "--below-peak" => {
                    let v = value(&mut args, flag)?;
                    o.below_peak = v
                        .parse::<f64>()
                        .ok()
                        .filter(|f| *f > 0.0 && *f <= 1.0)
                        .ok_or_else(|| {
                            format!("--below-peak: {v:?} is not a fraction in (0, 1]")
                        })?;
                }
                "--smoke" => {
                    o.smoke = true;
                    o.sizes = Sizes::SMOKE;
                    o.shape = Shape {
                        connections: 4,
                        warmup: Duration::from_millis(100),
                        measure: Duration::from_millis(300),
                        ..o.shape
                    };
                }
                "--callgrind" => {
                    let v = value(&mut args, flag)?;
                    let n = v.parse().ok().filter(|n| *n > 0);
                    o.callgrind = Some(n.ok_or_else(|| format!("--callgrind: {v:?}"))?);
                }
                "--latency-trace" => {
                    o.latency_trace = Some(PathBuf::from(value(&mut args, flag)?));
                }
                "--callgrind-out" => {
                    o.callgrind_out = Some(PathBuf::from(value(&mut args, flag)?));
                }
                other => {
                    return Err(format!(
                        "unknown option {other:?} (`convene-bench --help` lists them)"
                    ))
                }
            }
        }
        // One without the other would leave the server on the tool's core: a
        // process the pinned tool starts inherits its CPU.
        if o.server_cpu.is_empty() != o.tool_cpu.is_empty() {
            return Err("--server-cpu and --tool-cpu go together".into());
        }
        if !o.smoke {
            o.sizes = Sizes::full(o.shape.warmup + o.shape.measure);
        }
        Ok(o)
    }

    fn wants(&self, scenario: &str) -> bool {
        debug_assert!(
            SCENARIOS.contains(&scenario),
            "{scenario} is not in SCENARIOS"
        );
        self.only
            .as_ref()
            .is_none_or(|l| l.iter().any(|s| s == scenario))
    }
}

/// The scenarios `--only` can name, in the order they run.
const SCENARIOS: &[&str] = &[
    "bare-http",
    "sqlite",
    "get-meeting",
    "get-attendee",
    "list-attendees",
    "mixed",
    "create-attendee",
    "batch-create-attendee",
    "create-meeting",
];

/// How a scenario is driven: timed, or (under callgrind) a fixed count.
#[derive(Clone)]
struct Drive {
    shape: Shape,
    callgrind: Option<(usize, PathBuf)>,
    /// Where each scenario's callgrind dump is kept, if anywhere.
    keep: Option<PathBuf>,
    /// Where each open-loop run's latency timeline is written, if anywhere.
    trace: Option<PathBuf>,
    /// `--smoke`: a one-shot pool (writes) is sent whole, from its first
    /// request, with no warm-up and no time limit, so that a fast server
    /// cannot use it up inside the warm-up and leave nothing to measure.
    whole_pools: bool,
}

/// Runs one pool against a process and makes a report row of it.
async fn measure(
    name: &str,
    target: &server::Running,
    mut requests: Vec<Signed>,
    mut wrap: bool,
    drive: &Drive,
) -> Result<Row, String> {
    let mut shape = drive.shape;
    let pid = target.child.id();
    if let Some((count, _)) = &drive.callgrind {
        // Exactly `count` requests (fewer when a one-shot pool is smaller).
        let len = if wrap {
            *count
        } else {
            requests.len().min(*count)
        };
        requests = requests.iter().cycle().take(len).cloned().collect();
        wrap = false;
        server::callgrind_zero(pid)?;
    }
    if !wrap && (drive.callgrind.is_some() || drive.whole_pools) {
        // The pool is sent whole: no warm-up, and the run ends with it.
        shape.warmup = Duration::ZERO;
        shape.measure = Duration::from_hours(1);
    }
    let pool = Arc::new(Pool { requests, wrap });
    let cpu_before = server::cpu_time(pid);
    let out = load::run(target.addr, pool, shape).await?;
    let cpu = server::cpu_time(pid).saturating_sub(cpu_before);
    if out.done == 0 {
        return Err(format!(
            "{name}: no answer inside the measured window: every request was sent \
             during the warm-up or answered after the window closed"
        ));
    }
    let instructions = match &drive.callgrind {
        Some((_, dir)) => {
            let (total, dump) = server::callgrind_instructions(pid, dir)?;
            if let Some(keep) = &drive.keep {
                let file = keep.join(format!("{}.callgrind", slug(name)));
                std::fs::create_dir_all(keep)
                    .and_then(|()| std::fs::copy(&dump, &file))
                    .map_err(|e| format!("keeping {}: {e}", file.display()))?;
            }
            Some(total as f64 / out.done.max(1) as f64)
        }
        None => None,
    };
    eprintln!(
        "{name}: {:.0}/s over {:.2} s, p99 {:.2} ms, {} errors",
        out.per_second(),
        out.window.as_secs_f64(),
        out.quantile_ms(0.99),
        out.errors
    );
    if let Some(dir) = &drive.trace {
        if !out.timeline.is_empty() {
            write_timeline(dir, name, &out.timeline)?;
        }
    }
    let mut row = Row::new(name, &out, cpu, shape);
    row.instructions = instructions;
    Ok(row)
}

/// Writes an open-loop run's timeline to `dir/<scenario>.tsv` (one request a
/// line: its scheduled time from the window's start, its latency and how late
/// the tool sent it, in milliseconds) and says how its tail is spread: how
/// many 10 ms slices of the window hold a request slower than 5 ms, the worst
/// slice, and how many requests the tool itself sent over 1 ms late.
fn write_timeline(
    dir: &std::path::Path,
    name: &str,
    timeline: &[(u64, u32, u32)],
) -> Result<(), String> {
    use std::fmt::Write as _;
    let mut text = String::from("scheduled_ms\tlatency_ms\tsent_late_ms\n");
    let mut slices = std::collections::BTreeMap::<u64, u32>::new();
    let mut late = 0usize;
    for &(at, latency, lag) in timeline {
        let _ = writeln!(
            text,
            "{:.3}\t{:.3}\t{:.3}",
            at as f64 / 1000.0,
            f64::from(latency) / 1000.0,
            f64::from(lag) / 1000.0
        );
        late += usize::from(lag > 1_000);
        let worst = slices.entry(at / 10_000).or_default();
        *worst = (*worst).max(latency);
    }
    let file = dir.join(format!("{}.tsv", slug(name)));
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&file, text))
        .map_err(|e| format!("writing {}: {e}", file.display()))?;
    let slow = slices.values().filter(|l| **l > 5_000).count();
    let (at, worst) = slices
        .iter()
        .max_by_key(|(_, l)| **l)
        .map_or((0, 0), |(at, l)| (*at, *l));
    eprintln!(
        "  latency timeline in {}: {slow} of {} 10 ms slices hold a request over 5 ms; \
         the worst, {:.1} ms, at {} ms; {:.2}% of requests sent over 1 ms late",
        file.display(),
        slices.len(),
        f64::from(worst) / 1000.0,
        at * 10,
        100.0 * late as f64 / timeline.len() as f64
    );
    Ok(())
}

/// A scenario's name as a file name: `ListAttendees (100 of 250)` → `listattendees-100-of-250`.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

pub fn api(o: &Options) -> Result<(), String> {
    // Before the floors are measured, which take a while.
    server::check_binary(&o.server)?;
    // The report names the machine's CPUs before this process is pinned to one.
    let mut report = Report::new(o);
    server::pin_self(&o.tool_cpu);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(api_scenarios(o, &mut report))?;
    let text = report.markdown();
    print!("{text}");
    if let Some(path) = &o.markdown {
        let section = if o.callgrind.is_some() {
            "instructions"
        } else {
            "api"
        };
        crate::report::splice(path, section, &text)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Runs the API scenarios on a fresh data directory, removed afterwards
/// unless something failed: then it is kept, and the error says where the
/// server's log is.
async fn api_scenarios(o: &Options, report: &mut Report) -> Result<(), String> {
    let data = tempfile::Builder::new()
        .prefix("convene-bench-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    match api_scenarios_in(o, report, &data).await {
        Ok(()) => Ok(()),
        Err(why) => {
            let kept = data.keep();
            Err(format!(
                "{why} (the server's log is kept: {})",
                kept.join("convene.log").display()
            ))
        }
    }
}

async fn api_scenarios_in(
    o: &Options,
    report: &mut Report,
    data: &tempfile::TempDir,
) -> Result<(), String> {
    let mut sizes = o.sizes;
    let (drive, wrapper) = match o.callgrind {
        Some(n) => {
            sizes.creates = sizes.creates.min(n);
            sizes.meeting_creates = sizes.meeting_creates.min(n);
            sizes.batches = sizes.batches.min(n);
            sizes.mixed = sizes.mixed.min(n);
            let out = data.path().join("callgrind.out.%p");
            let wrapper = vec![
                "valgrind".to_string(),
                "--tool=callgrind".into(),
                format!("--callgrind-out-file={}", out.display()),
            ];
            let callgrind = Some((n, data.path().to_path_buf()));
            (
                Drive {
                    shape: o.shape,
                    callgrind,
                    keep: o.callgrind_out.clone(),
                    trace: None,
                    whole_pools: false,
                },
                wrapper,
            )
        }
        None => (
            Drive {
                shape: o.shape,
                callgrind: None,
                keep: None,
                trace: o.latency_trace.clone(),
                whole_pools: o.smoke,
            },
            Vec::new(),
        ),
    };
    let wrapper = if o.server_cpu.is_empty() {
        wrapper
    } else {
        let pin = ["taskset".to_string(), "-c".into(), o.server_cpu.clone()];
        pin.into_iter().chain(wrapper).collect()
    };
    if o.wants("sqlite") && o.callgrind.is_none() {
        let secs = if o.smoke {
            0.3
        } else {
            o.shape.measure.as_secs_f64()
        };
        let rate = crate::floors::sqlite_inserts(data.path(), Duration::from_secs_f64(secs))?;
        eprintln!("sqlite floor: {rate:.0} durable inserts/s");
        report.sqlite_floor = Some(rate);
    }
    let mut convene = server::start_convene(&o.server, data.path(), &wrapper)?;
    report.start_to_ready = Some(convene.start_to_ready);
    let signer = Signer {
        host: convene.addr.to_string(),
        access_key: server::ACCESS_KEY.into(),
        secret: server::SECRET.into(),
        region: "us-east-1".into(),
    };
    let seeded = api::seed(convene.addr, &signer, sizes).await?;
    let floor_requests = api::get_meeting(&signer, &seeded);
    if o.wants("bare-http") {
        report
            .floors
            .push(bare_http(floor_requests.clone(), &drive, &wrapper).await?);
    }
    if let Err(why) = convene_scenarios(o, sizes, &drive, &convene, &signer, &seeded, report).await
    {
        // Whether the server is still there tells a crash from a dropped connection.
        return Err(match convene.child.try_wait() {
            Ok(Some(status)) => format!("{why}; the server exited: {status}"),
            _ => format!("{why}; the server is still running"),
        });
    }
    report.rss_mib = Some(server::rss_mib(convene.child.id()));
    drop(convene);
    if o.wants("bare-http") && o.callgrind.is_none() {
        report
            .floors
            .push(bare_http(floor_requests, &drive, &wrapper).await?);
    }
    Ok(())
}

async fn convene_scenarios(
    o: &Options,
    sizes: Sizes,
    drive: &Drive,
    convene: &server::Running,
    signer: &Signer,
    seeded: &api::Seeded,
    report: &mut Report,
) -> Result<(), String> {
    let addr = convene.addr;
    if o.wants("get-meeting") {
        let pool = api::get_meeting(signer, seeded);
        read_at_peak_and_below(o.below_peak, "GetMeeting", convene, pool, drive, report).await?;
    }
    if o.wants("get-attendee") {
        let pool = api::get_attendee(signer, seeded);
        read_at_peak_and_below(o.below_peak, "GetAttendee", convene, pool, drive, report).await?;
    }
    if o.wants("list-attendees") {
        let pool = api::list_attendees(signer, seeded);
        let name = "ListAttendees (100 of 250)";
        read_at_peak_and_below(o.below_peak, name, convene, pool, drive, report).await?;
    }
    if o.wants("mixed") {
        let pool = api::mixed(addr, signer, seeded, sizes.mixed).await?;
        let name = "mixed (45% GetAttendee, 30% GetMeeting, 15% List, 10% Create)";
        report
            .rows
            .push(measure(name, convene, pool, false, drive).await?);
    }
    if o.wants("create-attendee") {
        let pool = api::create_attendee(addr, signer, sizes.creates).await?;
        report
            .rows
            .push(measure("CreateAttendee", convene, pool, false, drive).await?);
    }
    if o.wants("batch-create-attendee") {
        let pool = api::batch_create_attendee(addr, signer, sizes.batches).await?;
        let name = "BatchCreateAttendee (100)";
        report
            .rows
            .push(measure(name, convene, pool, false, drive).await?);
    }
    if o.wants("create-meeting") {
        let pool = api::create_meeting(signer, sizes.meeting_creates);
        report
            .rows
            .push(measure("CreateMeeting", convene, pool, false, drive).await?);
    }
    Ok(())
}

/// A read scenario at its peak (closed loop), then (unless counting
/// instructions) open loop at `--below-peak` (80%) of that rate: the latency
/// a server sees when it is busy but not saturated.
async fn read_at_peak_and_below(
    below: f64,
    name: &str,
    convene: &server::Running,
    pool: Vec<Signed>,
    drive: &Drive,
    report: &mut Report,
) -> Result<(), String> {
    let peak = measure(name, convene, pool.clone(), true, drive).await?;
    let rate = peak.per_second * below;
    report.rows.push(peak);
    if drive.callgrind.is_none() && rate > 0.0 {
        let mut paced = drive.clone();
        paced.shape.rate = Some(rate);
        let name = format!("{name} at {:.0}% of peak (open loop)", below * 100.0);
        report
            .rows
            .push(measure(&name, convene, pool, true, &paced).await?);
    }
    Ok(())
}

/// The bare-HTTP floor: the same signed GetMeeting requests, answered by a
/// hyper server with a fixed body.
async fn bare_http(
    requests: Vec<Signed>,
    drive: &Drive,
    wrapper: &[String],
) -> Result<Row, String> {
    let floor = server::start_floor(wrapper)?;
    measure("bare hyper (floor)", &floor, requests, true, drive).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        Options::parse(&args.iter().map(|a| (*a).to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn only_names_the_scenarios_there_are() {
        let all = SCENARIOS.join(",");
        let o = parse(&["--only", &all]).unwrap();
        assert!(SCENARIOS.iter().all(|s| o.wants(s)));
        let o = parse(&["--only", "get-meeting"]).unwrap();
        assert!(o.wants("get-meeting") && !o.wants("create-meeting"));
        let e = parse(&["--only", "get-meeting,get-meting"]).err().unwrap();
        assert!(e.contains("\"get-meting\""), "{e}");
        let e = parse(&["--sever", "x"]).err().unwrap();
        assert!(e.contains("unknown option \"--sever\""), "{e}");
    }

    #[test]
    fn write_pools_follow_the_length_of_the_run() {
        // The default: 1 s of warm-up and 3 measured.
        let o = parse(&[]).unwrap();
        assert_eq!((o.sizes.creates, o.sizes.batches), (180_000, 3_600));
        // Whichever order the options come in.
        let o = parse(&["--seconds", "9"]).unwrap();
        assert_eq!((o.sizes.mixed, o.sizes.meeting_creates), (450_000, 450_000));
        let o = parse(&["--smoke", "--seconds", "9"]).unwrap();
        assert_eq!(o.sizes.creates, Sizes::SMOKE.creates);
        let o = parse(&["--seconds", "9", "--smoke"]).unwrap();
        assert_eq!(o.sizes.batches, Sizes::SMOKE.batches);
    }
}

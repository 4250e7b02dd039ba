//! The report: a Markdown table of every scenario with its ratios to the
//! floors, printed and (with --markdown) spliced into BENCHMARKS.md between
//! `<!-- convene-bench:SECTION -->` and `<!-- /convene-bench:SECTION -->`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::load::{Outcome, Shape};
use crate::run::Options;

pub struct Row {
    pub name: String,
    pub per_second: f64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    /// Server CPU (user + system) per answered request, microseconds.
    pub cpu_us: f64,
    pub window: Duration,
    /// Under callgrind: server instructions per request.
    pub instructions: Option<f64>,
}

impl Row {
    pub fn new(name: &str, out: &Outcome, cpu: Duration, shape: Shape) -> Row {
        // CPU is sampled over the warm-up too: divide by every answer it served.
        let served = out.per_second() * (out.window.as_secs_f64() + shape.warmup.as_secs_f64());
        Row {
            name: name.to_string(),
            per_second: out.per_second(),
            errors: out.errors,
            first_error: out.first_error.clone(),
            p50: out.quantile_ms(0.5),
            p99: out.quantile_ms(0.99),
            p999: out.quantile_ms(0.999),
            cpu_us: if served > 0.0 {
                cpu.as_secs_f64() * 1e6 / served
            } else {
                0.0
            },
            window: out.window,
            instructions: None,
        }
    }
}

pub struct Report {
    header: String,
    pub floors: Vec<Row>,
    pub rows: Vec<Row>,
    pub sqlite_floor: Option<f64>,
    pub start_to_ready: Option<Duration>,
    pub rss_mib: Option<f64>,
}

pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpus} CPUs ({model})")
}

pub fn now_utc() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "unknown time".into(), |s| s.trim().to_string())
}

/// 12345.6 → "12,346".
pub fn thousands(v: f64) -> String {
    let s = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The first line of a run's report: when, where, the load's shape, the server.
pub fn run_line(shape: &crate::load::Shape, smoke: bool, server: &std::path::Path) -> String {
    format!(
        "Run of {}: {}; {} keep-alive connections; {:.1} s measured after {:.1} s of warm-up per scenario{}; server `{}` with `--sqlite-locking {}`.",
        now_utc(),
        machine(),
        shape.connections,
        shape.measure.as_secs_f64(),
        shape.warmup.as_secs_f64(),
        if smoke { " (smoke run: the figures mean nothing)" } else { "" },
        server.display(),
        crate::server::sqlite_locking(),
    )
}

impl Report {
    pub fn new(o: &Options) -> Report {
        let mut header = format!(
            "{} Open-loop runs: {} pacing.",
            run_line(&o.shape, o.smoke, &o.server),
            o.shape.pacing.name()
        );
        if !o.server_cpu.is_empty() {
            header = format!(
                "{header} The server and the bare-HTTP floor ran on CPU {}, the load tool on CPU {}.",
                o.server_cpu, o.tool_cpu
            );
        }
        header.push('\n');
        Report {
            header,
            floors: Vec::new(),
            rows: Vec::new(),
            sqlite_floor: None,
            start_to_ready: None,
            rss_mib: None,
        }
    }

    /// The bare-HTTP floor: the mean of its measurements before and after.
    fn http_floor(&self) -> Option<f64> {
        let n = self.floors.len();
        (n > 0).then(|| self.floors.iter().map(|r| r.per_second).sum::<f64>() / n as f64)
    }

    pub fn markdown(&self) -> String {
        let mut s = self.header.clone();
        s.push('\n');
        self.summary(&mut s);
        if self.rows.iter().any(|r| r.instructions.is_some()) {
            self.instruction_table(&mut s);
        } else {
            self.table(&mut s);
        }
        s
    }

    /// The floors, start-up and memory, one bullet each.
    fn summary(&self, s: &mut String) {
        if let Some(f) = self.http_floor() {
            let each: Vec<String> = self
                .floors
                .iter()
                .map(|r| thousands(r.per_second))
                .collect();
            let cpu = self.floors.iter().map(|r| r.cpu_us).sum::<f64>() / self.floors.len() as f64;
            let _ = writeln!(
                s,
                "- Bare-HTTP floor (hyper, fixed JSON body, same signed GetMeeting requests): **{}/s** (mean of {} before and after), {cpu:.0} µs of server CPU per request.",
                thousands(f),
                each.join(" and ")
            );
        }
        if let Some(q) = self.sqlite_floor {
            let _ = writeln!(
                s,
                "- SQLite floor (one durable single-row insert transaction after another, WAL, synchronous=FULL): **{}/s**.",
                thousands(q)
            );
        }
        if let Some(t) = self.start_to_ready {
            let _ = writeln!(
                s,
                "- Server start to ready (empty store): {:.0} ms.",
                t.as_secs_f64() * 1e3
            );
        }
        if let Some(m) = self.rss_mib {
            let _ = writeln!(s, "- Server resident memory after the run: {m:.0} MiB.");
        }
    }

    fn instruction_table(&self, s: &mut String) {
        s.push_str(
            "\n| operation | server instructions per request | × bare HTTP's |\n|---|--:|--:|\n",
        );
        let base = self.floors.first().and_then(|f| f.instructions);
        for r in self.floors.iter().chain(&self.rows) {
            let i = r.instructions.unwrap_or(0.0);
            let ratio = base
                .filter(|b| *b > 0.0)
                .map_or("–".into(), |b| format!("{:.1}", i / b));
            let _ = writeln!(s, "| {} | {} | {ratio} |", r.name, thousands(i));
        }
    }

    fn table(&self, s: &mut String) {
        let floor = self.http_floor();
        s.push_str("\n| operation | per second | × bare HTTP | × SQLite inserts | server CPU µs/request | p50 ms | p99 ms | p999 ms | non-2xx |\n");
        s.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|\n");
        for r in self.floors.iter().chain(&self.rows) {
            let ratio = |f: Option<f64>| {
                f.filter(|f| *f > 0.0)
                    .map_or("–".into(), |f| format!("{:.2}", r.per_second / f))
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} |",
                r.name,
                thousands(r.per_second),
                ratio(floor),
                ratio(self.sqlite_floor),
                r.cpu_us,
                r.p50,
                r.p99,
                r.p999,
                r.errors
            );
        }
        for r in self.floors.iter().chain(&self.rows) {
            if let Some(e) = &r.first_error {
                let _ = writeln!(
                    s,
                    "\n{}: first non-2xx answer: `{}`",
                    r.name,
                    e.replace('`', "'")
                );
            }
            if r.window.is_zero() {
                let _ = writeln!(s, "\n{}: no request completed in the window", r.name);
            }
        }
    }
}

/// Replaces what lies between the section's markers in `path` (appending the
/// section, markers included, when they are missing).
pub fn splice(path: &Path, section: &str, text: &str) -> Result<(), String> {
    let open = format!("<!-- convene-bench:{section} -->");
    let close = format!("<!-- /convene-bench:{section} -->");
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let new = match (old.find(&open), old.find(&close)) {
        (Some(a), Some(b)) if a < b => {
            format!("{}{open}\n{text}{}", &old[..a], &old[b..])
        }
        _ => format!("{old}\n{open}\n{text}{close}\n"),
    };
    std::fs::write(path, new).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

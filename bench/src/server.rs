//! Starting the real server (and the bare-HTTP floor) as child processes, and
//! reading their CPU time and memory from /proc.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The benchmark's key pair (the server takes it from the environment).
pub const ACCESS_KEY: &str = "AKIDBENCHMARK";
pub const SECRET: &str = "convene-bench-secret";

/// The production settings the benchmark runs the server with, besides the
/// listen address, data directory and ready file (BENCHMARKS.md lists them):
/// no request-rate limit and room for every meeting the run creates; request
/// logging on at `info` in JSON to a file; metrics on (always); no event sinks;
/// and the SQLite database held by the server alone ([`sqlite_locking`]).
pub const PRODUCTION_FLAGS: &[&str] = &[
    "--rate-limit",
    "0",
    "--max-meetings",
    "10000000",
    "--log-format",
    "json",
];

/// `--sqlite-locking` of a production server on SQLite, given through the
/// environment (`CONVENE_SQLITE_LOCKING`, which a build from before the flag
/// ignores, so the tool still measures it for a before/after). Set
/// `CONVENE_SQLITE_LOCKING=shared` to measure the default instead.
pub fn sqlite_locking() -> String {
    std::env::var("CONVENE_SQLITE_LOCKING").unwrap_or_else(|_| "exclusive".into())
}

/// A running server process, killed on drop.
pub struct Running {
    pub child: Child,
    pub addr: SocketAddr,
    /// From spawn to the ready file (the server answers).
    pub start_to_ready: Duration,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fails, saying how to make one, when the server binary is not there.
pub fn check_binary(binary: &Path) -> Result<(), String> {
    if binary.exists() {
        return Ok(());
    }
    Err(format!(
        "{} is missing: build it first (cargo build --release --bin convene), or name one with --server",
        binary.display()
    ))
}

/// Starts `binary serve` on a free port with its data in `data`.
/// `wrapper` (e.g. valgrind and its options) runs the server when given.
pub fn start_convene(binary: &Path, data: &Path, wrapper: &[String]) -> Result<Running, String> {
    check_binary(binary)?;
    let ready = data.join("ready.json");
    let _ = std::fs::remove_file(&ready);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data.join("convene.log"))
        .map_err(|e| e.to_string())?;
    let began = Instant::now();
    let mut command = match wrapper.split_first() {
        Some((program, options)) => {
            let mut c = Command::new(program);
            c.args(options).arg(binary);
            c
        }
        None => Command::new(binary),
    };
    let child = command
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data.join("db"))
        .arg("--ready-file")
        .arg(&ready)
        .args(PRODUCTION_FLAGS)
        // Under valgrind everything is ~50× slower: the store's deadline too.
        .args(if wrapper.is_empty() {
            &[][..]
        } else {
            &["--store-timeout-ms", "120000"][..]
        })
        .env("CONVENE_ACCESS_KEY_ID", ACCESS_KEY)
        .env("CONVENE_SECRET_ACCESS_KEY", SECRET)
        .env("CONVENE_SQLITE_LOCKING", sqlite_locking())
        .env_remove("CONVENE_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let mut running = Running {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        start_to_ready: Duration::ZERO,
    };
    let text = wait_for(&ready, &mut running.child, Duration::from_mins(2))?;
    running.start_to_ready = began.elapsed();
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("ready file {text:?}: {e}"))?;
    let endpoint = json["endpoint"].as_str().unwrap_or_default();
    running.addr = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .map_err(|e| format!("endpoint {endpoint:?} in the ready file: {e}"))?;
    Ok(running)
}

/// Waits for `file` to hold a complete line (the child writes it once ready).
fn wait_for(file: &Path, child: &mut Child, limit: Duration) -> Result<String, String> {
    let began = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(file) {
            if text.ends_with('\n') || text.trim_end().ends_with('}') {
                return Ok(text);
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("the server exited before it was ready: {status}"));
        }
        if began.elapsed() > limit {
            return Err(format!(
                "no ready file at {} after {limit:?}",
                file.display()
            ));
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// Starts this same binary as the bare-HTTP floor server; it prints its address.
pub fn start_floor(wrapper: &[String]) -> Result<Running, String> {
    use std::io::BufRead;
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let began = Instant::now();
    let mut command = match wrapper.split_first() {
        Some((program, options)) => {
            let mut c = Command::new(program);
            c.args(options).arg(me);
            c
        }
        None => Command::new(me),
    };
    let mut child = command
        .arg("floor-server")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start the floor server: {e}"))?;
    let mut line = String::new();
    let out = child.stdout.take().expect("piped stdout");
    std::io::BufReader::new(out)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let addr = line
        .trim()
        .parse()
        .map_err(|e| format!("floor server said {line:?}: {e}"))?;
    Ok(Running {
        child,
        addr,
        start_to_ready: began.elapsed(),
    })
}

/// User plus system CPU time the process `pid` used so far.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at ") ".
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the file, 12 and 13 after the name.
    let total = ticks(11) + ticks(12);
    Duration::from_millis(total * 10)
}

/// Resident memory of the process `pid`, in MiB (VmRSS).
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The workspace's target directory (for the default server binary).
pub fn default_binary(profile: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join(profile)
        .join("convene")
}

/// Under callgrind: zeroes the counters of `pid` (before a scenario).
pub fn callgrind_zero(pid: u32) -> Result<(), String> {
    callgrind_control(&["-z", &pid.to_string()]).map(|_| ())
}

/// Under callgrind: the instructions `pid` executed since the last zeroing
/// (dumps the counters and reads the dump's totals), and the dump's path.
pub fn callgrind_instructions(pid: u32, dir: &Path) -> Result<(u64, PathBuf), String> {
    callgrind_control(&["-d", &pid.to_string()])?;
    let prefix = format!("callgrind.out.{pid}.");
    let newest = std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .ok_or_else(|| format!("no callgrind dump in {}", dir.display()))?;
    let text = std::fs::read_to_string(newest.path()).map_err(|e| e.to_string())?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .map(|total| (total, newest.path()))
        .ok_or_else(|| format!("no totals in {}", newest.path().display()))
}

fn callgrind_control(args: &[&str]) -> Result<String, String> {
    let out = Command::new("callgrind_control")
        .args(args)
        .output()
        .map_err(|e| format!("callgrind_control: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "callgrind_control {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Pins this process (every thread it has, and so every thread it starts
/// later) to `cpu` with `taskset`; empty: left alone. A failure is reported
/// and the run goes on unpinned.
pub fn pin_self(cpu: &str) {
    if cpu.is_empty() {
        return;
    }
    let ok = Command::new("taskset")
        .args(["-a", "-p", "-c", cpu, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("could not pin the load tool to CPU {cpu} (is taskset installed?)");
    }
}

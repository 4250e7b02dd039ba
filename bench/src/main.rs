//! `convene-bench`: Convene's load tool. See BENCHMARKS.md at the repository root.
//!
//! Subcommands, each a module: `api` (the API scenarios against the release
//! server, with the bare-HTTP and SQLite floors measured in the same run),
//! `floor-server` (the bare-HTTP floor, started by `api` as a child process),
//! `media` (media capacity of one server core, with synthetic str0m clients),
//! `scale` (reads, start and memory with millions of stored attendees).

mod api;
mod floors;
mod load;
mod media;
mod report;
mod run;
mod scale;
mod server;
mod sign;

use std::process::ExitCode;

const USAGE: &str = "\
usage: convene-bench <command> [options]

commands:
  api            the API scenarios and their floors (the default command)
  floor-server   the bare-HTTP floor server (started by `api`; prints its address)
  media          media capacity: synthetic str0m clients in mixed-audio meetings
                 and video meetings (`convene-bench media --help` for its options)
  scale          GetAttendee and ListAttendees with 1,000 and with 10 million stored
                 attendees (bulk-loaded), start to ready and memory with them
                 (`convene-bench scale --help` for its options)

options of `api`:
  --server PATH       the convene binary [default: target/release/convene]
  --connections N     keep-alive connections [default: 32]
  --seconds S         measured seconds per scenario [default: 3]
  --warmup S          discarded seconds before each [default: 1]
  --only a,b          scenarios to run (bare-http, sqlite, get-meeting, get-attendee,
                      list-attendees, mixed, create-attendee, batch-create-attendee,
                      create-meeting) [default: all]
  --below-peak F      each read runs again open loop at this fraction of its
                      peak rate, for its latency when busy [default: 0.8]
  --pacing P          how an open-loop schedule is spread over the connections:
                      shared (each request sent at its time by whichever connection
                      is free, as an SDK's connection pool does) or per-connection
                      (each connection its own fixed schedule, as wrk2 does; a
                      request waits for its connection even when others are idle)
                      [default: shared]
  --server-cpu C      run the server and the bare-HTTP floor on CPU C (taskset -c),
  --tool-cpu C        and this tool on CPU C, so the load tool's threads never
                      preempt the server's (open-loop latency); both or neither
                      [default: unpinned]
  --latency-trace DIR write each open-loop run's requests to DIR/<scenario>.tsv
                      (scheduled time and latency, ms) and say how many 10 ms
                      slices hold one over 5 ms: where a p99 tail comes from
  --smoke             a few tenths of a second each, small pools (CI: proves it runs)
  --callgrind N       count instructions instead: the server (and the floor) run
                      under valgrind's callgrind and each scenario sends exactly N
                      requests; the table gives server instructions per request
  --callgrind-out DIR with --callgrind: keep each scenario's dump in DIR as
                      <scenario>.callgrind (read it with callgrind_annotate)
  --markdown FILE     also write the table into FILE between its
                      <!-- convene-bench:api --> markers (with --callgrind:
                      <!-- convene-bench:instructions -->) (BENCHMARKS.md)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((c, rest)) if !c.starts_with('-') => (c.as_str(), rest),
        _ => ("api", &args[..]),
    };
    let result = match command {
        "api" if rest.iter().any(|a| a == "--help" || a == "-h") => {
            print!("{USAGE}");
            Ok(())
        }
        "api" => run::Options::parse(rest).and_then(|o| run::api(&o)),
        "floor-server" => floors::serve(),
        "media" => media::command(rest),
        "scale" => scale::command(rest),
        "help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other:?}\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("convene-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

//! Standalone sandbox throughput benchmark (no Python needed).
//!
//! ```text
//! cargo run --release --no-default-features --features bench-bin --bin azr_bench -- \
//!     --jobs ../shared/data/cruxeval/cruxeval.jsonl --snippets 4000 --workers 1,2 [--json]
//! ```
//! Each JSONL line is a job: `{"program"|"code": str, "expr": str}` or CRUXEval's
//! `{"code": str, "input": str}` (evaluated as `f(<input>)`). Prints jobs/s, p50/p99
//! job latency (handed to the sandbox to result) and, as its own column, p50/p99 of the
//! time inside the guest, and peak RSS for each worker count, plus the cost of extra inputs in
//! one instance (`run_many`).

use std::io::BufRead;
use std::time::{Duration, Instant};

use _core::sandbox::InstanceMode;
use _core::{Job, Sandbox, SandboxConfig, Status};

struct Args {
    jobs: Option<String>,
    snippets: usize,
    workers: Vec<usize>,
    json: bool,
    timeout_s: f64,
    pooling: bool,
    keep_resident_mib: usize,
    instance_mode: InstanceMode,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        jobs: None,
        snippets: 2000,
        workers: Vec::new(),
        json: false,
        timeout_s: SandboxConfig::DEFAULT_TIMEOUT.as_secs_f64(),
        pooling: true,
        keep_resident_mib: SandboxConfig::DEFAULT_KEEP_RESIDENT_BYTES >> 20,
        instance_mode: SandboxConfig::DEFAULT_INSTANCE_MODE,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--jobs" => args.jobs = Some(value()?),
            "--snippets" => args.snippets = value()?.parse().map_err(|e| format!("--snippets: {e}"))?,
            "--workers" => {
                args.workers = value()?
                    .split(',')
                    .map(|w| w.trim().parse::<usize>().map_err(|e| format!("--workers: {e}")))
                    .collect::<Result<_, _>>()?
            }
            "--timeout" => args.timeout_s = value()?.parse().map_err(|e| format!("--timeout: {e}"))?,
            "--json" => args.json = true,
            "--no-pooling" => args.pooling = false,
            "--instance-mode" => args.instance_mode = InstanceMode::parse(&value()?).map_err(|e| e.to_string())?,
            "--keep-resident-mib" => {
                args.keep_resident_mib = value()?.parse().map_err(|e| format!("--keep-resident-mib: {e}"))?
            }
            "-h" | "--help" => {
                println!("azr_bench [--jobs FILE.jsonl] [--snippets N] [--workers 1,2] [--timeout S] [--instance-mode reset|fresh] [--no-pooling] [--keep-resident-mib M] [--json]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.workers.is_empty() {
        let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        args.workers = (1..=n).collect();
    }
    Ok(args)
}

fn load_jobs(path: Option<&str>) -> Result<Vec<Job>, String> {
    let Some(path) = path else {
        return Ok(vec![Job::new("def f(x):\n    return sorted(x)[::-1]", "f([3, 1, 2])")]);
    };
    let file = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut jobs = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("{path}: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(&line).map_err(|e| format!("{path}:{}: {e}", n + 1))?;
        let text = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_string);
        let program = text("program")
            .or_else(|| text("code"))
            .ok_or_else(|| format!("{path}:{}: no program/code", n + 1))?;
        let expr = match (text("expr"), text("input")) {
            (Some(expr), _) => expr,
            (None, Some(input)) => format!("f({input})"),
            _ => return Err(format!("{path}:{}: no expr/input", n + 1)),
        };
        jobs.push(Job::new(program, expr));
    }
    if jobs.is_empty() {
        return Err(format!("{path}: no jobs"));
    }
    Ok(jobs)
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Runs `jobs` from `workers` threads, each taking the next job as it finishes one.
/// Returns the results in input order and each job's latency in ms: from handing it
/// to the sandbox to its result (instance checkout or instantiation, the guest call,
/// and the restore after it).
fn run_timed(sandbox: &Sandbox, jobs: &[Job], workers: usize) -> (Vec<Vec<_core::ExecResult>>, Vec<f64>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, Vec<_core::ExecResult>, f64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(job) = jobs.get(i) else { break };
                        let submitted = Instant::now();
                        let results = sandbox.run(job);
                        mine.push((i, results, submitted.elapsed().as_secs_f64() * 1e3));
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    });
    done.sort_by_key(|(i, _, _)| *i);
    let latencies = done.iter().map(|(_, _, ms)| *ms).collect();
    (done.into_iter().map(|(_, r, _)| r).collect(), latencies)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("azr_bench: {e}");
            std::process::exit(2);
        }
    };
    let base = match load_jobs(args.jobs.as_deref()) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("azr_bench: {e}");
            std::process::exit(2);
        }
    };
    let jobs: Vec<Job> = base.iter().cycle().take(args.snippets).cloned().collect();
    let mut rows = Vec::new();
    for &workers in &args.workers {
        let config = SandboxConfig {
            workers,
            timeout: Duration::from_secs_f64(args.timeout_s),
            instance_mode: args.instance_mode,
            pooling: args.pooling,
            keep_resident_bytes: args.keep_resident_mib << 20,
            ..SandboxConfig::default()
        };
        let sandbox = match Sandbox::new(config) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("azr_bench: {e}");
                std::process::exit(1);
            }
        };
        let _ = sandbox.run_batch(&jobs[..jobs.len().min(workers * 4)]); // warm the pool
        let started = Instant::now();
        let (results, mut latencies) = run_timed(&sandbox, &jobs, workers);
        let wall = started.elapsed().as_secs_f64();
        latencies.sort_by(f64::total_cmp);
        // Time inside the guest (program exec + evaluation + repr): not what a caller waits for.
        let mut in_guest: Vec<f64> = results.iter().flatten().map(|r| r.elapsed_ms).collect();
        in_guest.sort_by(f64::total_cmp);
        let ok = results.iter().flatten().filter(|r| r.status == Status::Ok).count();
        // Extra inputs for one program in one instance (run_many): cost per added input.
        let program = "def f(x):\n    return [v * 2 for v in x if v % 3]";
        let one = Job {
            exprs: vec!["f(list(range(20)))".into()],
            ..Job::new(program, "")
        };
        let many = Job {
            exprs: vec!["f(list(range(20)))".into(); 101],
            ..Job::new(program, "")
        };
        let reps = 50;
        let t1 = Instant::now();
        (0..reps).for_each(|_| drop(sandbox.run(&one)));
        let t_one = t1.elapsed().as_secs_f64() / reps as f64;
        let t2 = Instant::now();
        (0..reps).for_each(|_| drop(sandbox.run(&many)));
        let t_many = t2.elapsed().as_secs_f64() / reps as f64;
        let row = serde_json::json!({
            "workers": workers,
            "jobs": jobs.len(),
            "ok": ok,
            "wall_s": wall,
            "jobs_per_s": jobs.len() as f64 / wall,
            "jobs_per_s_per_worker": jobs.len() as f64 / wall / workers as f64,
            "job_p50_ms": percentile(&latencies, 0.5),
            "job_p99_ms": percentile(&latencies, 0.99),
            "in_guest_p50_ms": percentile(&in_guest, 0.5),
            "in_guest_p99_ms": percentile(&in_guest, 0.99),
            "extra_input_ms": (t_many - t_one) / 100.0 * 1e3,
            "setup_ms": sandbox.info().setup_ms,
            "peak_rss_mib": peak_rss_mib(),
            "instance_mode": sandbox.info().instance_mode.as_str(),
            "instances_created": sandbox.counters().created,
            "instances_reused": sandbox.counters().reused,
            "instances_discarded": sandbox.counters().discarded,
        });
        if !args.json {
            println!(
                "workers={workers:>2}  jobs={}  ok={ok}  {:>8.0} jobs/s  ({:.0}/s/worker)  job p50={:.2} ms p99={:.2} ms  in-guest p50={:.2} ms p99={:.2} ms  \
                 extra input={:.3} ms  setup={:.0} ms  peak RSS={:.0} MiB  mode={} (instances created={}, reused={}, discarded={})",
                jobs.len(),
                row["jobs_per_s"].as_f64().unwrap_or(0.0),
                row["jobs_per_s_per_worker"].as_f64().unwrap_or(0.0),
                row["job_p50_ms"].as_f64().unwrap_or(0.0),
                row["job_p99_ms"].as_f64().unwrap_or(0.0),
                row["in_guest_p50_ms"].as_f64().unwrap_or(0.0),
                row["in_guest_p99_ms"].as_f64().unwrap_or(0.0),
                row["extra_input_ms"].as_f64().unwrap_or(0.0),
                row["setup_ms"].as_f64().unwrap_or(0.0),
                row["peak_rss_mib"].as_f64().unwrap_or(0.0),
                sandbox.info().instance_mode.as_str(),
                sandbox.counters().created,
                sandbox.counters().reused,
                sandbox.counters().discarded,
            );
        }
        rows.push(row);
    }
    if args.json {
        println!("{}", serde_json::json!({ "results": rows }));
    }
}

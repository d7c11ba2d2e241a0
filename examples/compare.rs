//! The peer comparison in one command:
//!
//! ```text
//! cargo run --release --example compare
//! ```
//!
//! Times every operation of DESIGN §8 for async-hooks and for the Rust
//! peers doing the same job (thread-locals, tokio `task_local!`, `tracing`
//! spans with a `Registry`, OpenTelemetry `Context`, rayon and a
//! crossbeam-channel pool) in this one process, runs Node's versions
//! (`benches/node/peers.mjs`: `async_hooks`, `AsyncLocalStorage` and the
//! seed's worker pool) in a `node` subprocess when `node` is on `PATH`, and
//! prints one Markdown table of ns/op and ratios, with the issue-8 targets.
//!
//! Method (research/rust-ecosystem.md §6.2): each subject's loop is
//! calibrated to about 10 ms (pools: 20 ms) after a warm-up; then rounds
//! visit every subject in turn, ours and its peers interleaved so a noisy
//! moment hits all of them, and each subject keeps its best sample. Node
//! runs between the two halves of the rounds.
//!
//! Environment: `COMPARE_ROUNDS` (default 15), `NODE` (the node binary,
//! default `node`), `COMPARE_STRICT=1` to exit with status 1 when a target
//! is missed.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

#[path = "../benches/peer_ops/mod.rs"]
mod peer_ops;

use peer_ops::{Operation, Subject, Target};

const SAMPLE: Duration = Duration::from_millis(10);
const POOL_SAMPLE: Duration = Duration::from_millis(20);

/// A subject's loop length and best time so far.
struct Timing {
    iters: u64,
    best_ns: f64,
}

fn calibrate(subject: &mut Subject, sample: Duration) -> u64 {
    for _ in 0..3 {
        (subject.run)(1000);
    }
    let mut iters = 1000_u64;
    loop {
        let elapsed = (subject.run)(iters);
        if elapsed >= sample / 4 || iters >= 1 << 34 {
            let scaled = iters as f64 * sample.as_secs_f64() / elapsed.as_secs_f64().max(1e-9);
            return (scaled as u64).max(1);
        }
        iters *= 2;
    }
}

fn sample(subject: &mut Subject, timing: &mut Timing) {
    let elapsed = (subject.run)(timing.iters);
    let ns = elapsed.as_nanos() as f64 / timing.iters as f64;
    timing.best_ns = timing.best_ns.min(ns);
}

/// One round: every operation, ours and its peers back to back; the order
/// inside an operation alternates between rounds.
fn round(operations: &mut [Operation], timings: &mut [Vec<Timing>], round_index: usize) {
    for (operation, timings) in operations.iter_mut().zip(timings.iter_mut()) {
        let mut subjects: Vec<(&mut Subject, &mut Timing)> =
            std::iter::once(&mut operation.ours).chain(operation.peers.iter_mut()).zip(timings.iter_mut()).collect();
        if round_index % 2 == 1 {
            subjects.reverse();
        }
        for (subject, timing) in subjects {
            sample(subject, timing);
        }
    }
}

/// Node's ns/op by key, and its version; `None` (with the reason printed)
/// when node is absent or fails.
fn run_node(rounds: usize) -> Option<(String, HashMap<String, f64>)> {
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".to_owned());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/node/peers.mjs");
    eprintln!("running {node} {}", script.display());
    let output = Command::new(&node)
        .arg(&script)
        .arg("--rounds")
        .arg(rounds.to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output();
    let output = match output {
        Ok(output) => output,
        Err(error) if error.kind() == ErrorKind::NotFound => {
            println!("node not found: skipping Node rows");
            return None;
        }
        Err(error) => {
            println!("node could not be started ({error}): skipping Node rows");
            return None;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        println!("node exited with {}: skipping Node rows", output.status);
        return None;
    }
    match parse_node_output(&stdout) {
        Some(parsed) => Some(parsed),
        None => {
            println!("node printed no results: skipping Node rows");
            None
        }
    }
}

/// Reads `{"node":"v..", ..., "ns_per_op":{"key":number,...}}`: a flat
/// object of numbers, so a few string splits do.
fn parse_node_output(stdout: &str) -> Option<(String, HashMap<String, f64>)> {
    let line = stdout.lines().rev().find(|line| line.trim_start().starts_with('{'))?;
    let version = line.split("\"node\":\"").nth(1)?.split('"').next()?.to_owned();
    let body = line.split("\"ns_per_op\":{").nth(1)?.split('}').next()?;
    let mut values = HashMap::new();
    for entry in body.split(',') {
        let (key, value) = entry.split_once(':')?;
        values.insert(key.trim().trim_matches('"').to_owned(), value.trim().parse().ok()?);
    }
    Some((version, values))
}

fn first_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn format_ns(ns: f64) -> String {
    if ns >= 100.0 { format!("{ns:.0}") } else { format!("{ns:.1}") }
}

/// One table row against a peer; records whether its target was met.
/// The operation's title and our time are shown on its first row only.
fn row(
    operation: &Operation,
    first: bool,
    ours_ns: f64,
    label: &str,
    peer_ns: f64,
    target: Option<Target>,
    verdicts: &mut Vec<(String, bool)>,
) {
    let (title, ours_column) = if first {
        (format!("{} — {}", operation.title, operation.ours.label), format_ns(ours_ns))
    } else {
        (String::new(), String::new())
    };
    let ratio = peer_ns / ours_ns;
    let ratio_column = format!("{ratio:.2}x");
    let target_column = match target {
        Some(target) => {
            let title = operation.title;
            let met = target.is_met(ratio);
            verdicts.push((format!("{title} vs {label}: {} (got {ratio:.2}x)", target.describe()), met));
            format!("{}: {}", target.describe(), if met { "met" } else { "**NOT MET**" })
        }
        None => String::new(),
    };
    println!("| {title} | {ours_column} | {label} | {} | {ratio_column} | {target_column} |", format_ns(peer_ns));
}

fn main() {
    let rounds: usize = std::env::var("COMPARE_ROUNDS").ok().and_then(|value| value.parse().ok()).unwrap_or(15);
    let strict = std::env::var("COMPARE_STRICT").is_ok_and(|value| value == "1");
    let load_before = load_average();

    let mut operations = peer_ops::operations();
    eprintln!("calibrating {} operations", operations.len());
    let mut timings: Vec<Vec<Timing>> = operations
        .iter_mut()
        .map(|operation| {
            let sample = if operation.id.starts_with("pool") { POOL_SAMPLE } else { SAMPLE };
            std::iter::once(&mut operation.ours)
                .chain(operation.peers.iter_mut())
                .map(|subject| Timing { iters: calibrate(subject, sample), best_ns: f64::INFINITY })
                .collect()
        })
        .collect();

    let first_half = rounds.div_ceil(2);
    eprintln!("rust: {first_half} rounds");
    for round_index in 0..first_half {
        round(&mut operations, &mut timings, round_index);
    }
    let node = run_node(rounds);
    eprintln!("rust: {} more rounds", rounds - first_half);
    for round_index in first_half..rounds {
        round(&mut operations, &mut timings, round_index);
    }
    let load_after = load_average();

    println!();
    println!(
        "machine: {} x {}; {}; node {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        first_line("rustc", &["--version"]),
        node.as_ref().map_or("absent", |(version, _)| version.as_str()),
    );
    println!("load average before/after: {load_before} / {load_after}; best of {rounds} interleaved rounds");
    println!();
    println!("| operation | ours ns | peer | peer ns | peer/ours | target |");
    println!("|---|---:|---|---:|---:|---|");
    let mut verdicts = Vec::new();
    for (operation, timings) in operations.iter().zip(&timings) {
        let ours_ns = timings[0].best_ns;
        let mut first = true;
        for (subject, timing) in operation.peers.iter().zip(&timings[1..]) {
            row(operation, first, ours_ns, subject.label, timing.best_ns, subject.target, &mut verdicts);
            first = false;
        }
        if let Some((_, node_ns)) = &node {
            for node_peer in &operation.node {
                let Some(&peer_ns) = node_ns.get(node_peer.key) else { continue };
                let label = if node_peer.key == "pool_round_trip" {
                    let batch = node_ns.get("pool_round_trip_batch").copied().unwrap_or(0.0);
                    format!("{} (best batch: {batch} tasks)", node_peer.label)
                } else {
                    node_peer.label.to_owned()
                };
                row(operation, first, ours_ns, &label, peer_ns, node_peer.target, &mut verdicts);
                first = false;
            }
        }
        if first {
            println!("| {} — {} | {} | | | | |", operation.title, operation.ours.label, format_ns(ours_ns));
        }
    }

    println!();
    println!("issue-8 targets (ratio = peer ns / ours ns):");
    for (verdict, met) in &verdicts {
        println!("  [{}] {verdict}", if *met { "met" } else { "NOT MET" });
    }
    if node.is_none() {
        println!("  (Node targets not checked: no Node rows)");
    }
    if strict && verdicts.iter().any(|(_, met)| !met) {
        std::process::exit(1);
    }
}

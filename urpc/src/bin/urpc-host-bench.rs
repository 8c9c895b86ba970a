//! Host benchmark of URPC: two threads pinned to two CPUs run the `urpc::bench` routines
//! (bare cache-line ping-pong, URPC round trip, pipelined throughput) timed with `rdtsc`, print
//! a table and optionally write JSON.
//!
//! ```text
//! urpc-host-bench [--cpus A,B] [--iters N] [--rounds R] [--quick] [--json PATH]
//! ```
//!
//! Build with `cargo run -p urpc --release --features std --bin urpc-host-bench`.

use std::fmt::Write as _;
use std::sync::Barrier;
use std::thread;
use urpc::bench::{self, Summary, Throughput};
use urpc::{ChannelMemory, Config, FlowControl};

/// Cycle counter: the TSC on x86-64, nanoseconds elsewhere.
#[cfg(target_arch = "x86_64")]
fn now() -> u64 {
    // SAFETY: `rdtsc` reads the time-stamp counter; it has no memory effects and exists on
    // every x86-64 CPU.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
fn now() -> u64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

const UNIT: &str = if cfg!(target_arch = "x86_64") {
    "cycles"
} else {
    "ns"
};

/// Pin the calling thread to `cpu`. Returns false (and the reason) if that failed.
fn pin(cpu: usize) -> Result<(), String> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `cpu_set_t` is a plain bit array for which all-zero is the empty set.
        let mut set: libc::cpu_set_t = unsafe { core::mem::zeroed() };
        if cpu >= 8 * core::mem::size_of::<libc::cpu_set_t>() {
            return Err(format!("cpu {cpu} out of range"));
        }
        // SAFETY: `cpu` is within the set's bit range (checked above); `set` is a valid,
        // exclusively borrowed `cpu_set_t`.
        unsafe { libc::CPU_SET(cpu, &mut set) };
        // SAFETY: pid 0 names the calling thread; the pointer and size describe `set`, which
        // lives across the call.
        let r =
            unsafe { libc::sched_setaffinity(0, core::mem::size_of::<libc::cpu_set_t>(), &set) };
        if r != 0 {
            return Err(format!(
                "sched_setaffinity({cpu}): {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(format!("pinning to cpu {cpu} not supported on this OS"))
    }
}

/// Run `initiator` on `cpus.0` and `responder` on `cpus.1`, starting together.
fn run_pair<I, R, T>(cpus: (usize, usize), initiator: I, responder: R) -> T
where
    I: FnOnce() -> T + Send,
    R: FnOnce() + Send,
    T: Send,
{
    let barrier = Barrier::new(2);
    thread::scope(|s| {
        let b = &barrier;
        let resp = s.spawn(move || {
            if let Err(e) = pin(cpus.1) {
                eprintln!("warning: {e}");
            }
            b.wait();
            responder();
        });
        let init = s.spawn(move || {
            if let Err(e) = pin(cpus.0) {
                eprintln!("warning: {e}");
            }
            b.wait();
            initiator()
        });
        let t = init.join().expect("initiator panicked");
        resp.join().expect("responder panicked");
        t
    })
}

struct Row {
    name: String,
    kind: &'static str,
    summary: Summary,
    /// For round trips: the one-way estimate (median / 2).
    one_way: Option<f64>,
    throughput: Option<Throughput>,
}

/// What one row of the table measures.
#[derive(Clone, Copy)]
enum Kind {
    PingPong,
    Rtt32(Config),
    Throughput32(Config),
    Throughput8(Config),
}

struct Spec {
    name: &'static str,
    kind: Kind,
    samples: Vec<u64>,
}

/// Messages per throughput batch.
const BATCH: usize = 1000;

fn pingpong(cpus: (usize, usize), warmup: usize, samples: &mut [u64]) {
    let lines = Box::new(bench::PingPongLines::new());
    let total = warmup + samples.len();
    run_pair(
        cpus,
        || bench::pingpong_initiator(&lines, warmup, samples, now),
        || bench::pingpong_responder(&lines, total),
    );
}

fn rtt<const N: usize>(cpus: (usize, usize), config: Config, warmup: usize, samples: &mut [u64]) {
    let mem = Box::new(ChannelMemory::<N>::new());
    let (mut a, mut b) = mem.split_with(config);
    let total = warmup + samples.len();
    run_pair(
        cpus,
        || bench::urpc_rtt_initiator(&mut a, warmup, samples, now),
        || bench::urpc_rtt_responder(&mut b, total).expect("responder"),
    )
    .expect("initiator");
}

fn throughput<const N: usize>(
    cpus: (usize, usize),
    config: Config,
    warmup: usize,
    samples: &mut [u64],
) {
    let mem = Box::new(ChannelMemory::<N>::new());
    let (mut a, mut b) = mem.split_with(config);
    let total = warmup + samples.len();
    run_pair(
        cpus,
        || bench::throughput_initiator(&mut a, BATCH, warmup, samples, now),
        || bench::throughput_responder(&mut b, BATCH, total).expect("responder"),
    )
    .expect("initiator");
}

/// One round of one measurement: `n` samples after a warmup, appended to the spec's samples.
fn run_round(spec: &mut Spec, cpus: (usize, usize), iters: usize, batches: usize) {
    let (n, warmup) = match spec.kind {
        Kind::PingPong | Kind::Rtt32(_) => (iters, (iters / 10).max(100)),
        _ => (batches, (batches / 10).max(2)),
    };
    let mut samples = vec![0u64; n];
    match spec.kind {
        Kind::PingPong => pingpong(cpus, warmup, &mut samples),
        Kind::Rtt32(c) => rtt::<32>(cpus, c, warmup, &mut samples),
        Kind::Throughput32(c) => throughput::<32>(cpus, c, warmup, &mut samples),
        Kind::Throughput8(c) => throughput::<8>(cpus, c, warmup, &mut samples),
    }
    spec.samples.extend_from_slice(&samples);
}

fn finish(spec: &mut Spec) -> Row {
    let summary = bench::summarize(&mut spec.samples).expect("samples");
    match spec.kind {
        Kind::PingPong | Kind::Rtt32(_) => Row {
            name: spec.name.into(),
            kind: "round trip",
            one_way: Some(summary.median as f64 / 2.0),
            throughput: None,
            summary,
        },
        _ => Row {
            name: spec.name.into(),
            kind: "batch",
            one_way: None,
            throughput: Some(Throughput::from_batches(&summary, BATCH)),
            summary,
        },
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn hypervisor() -> bool {
    std::fs::read_to_string("/proc/cpuinfo")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("flags") && l.split_whitespace().any(|f| f == "hypervisor"))
        })
        .unwrap_or(false)
}

fn json_escape(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o
}

fn to_json(rows: &[Row], cpus: (usize, usize), model: &str, hv: bool, rounds: usize) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "{{\n  \"benchmark\": \"urpc-host\",\n  \"unit\": \"{UNIT}\",\n  \"machine\": {{\"cpu_model\": \"{}\", \"hypervisor\": {hv}, \"logical_cpus\": {}}},\n  \"cpus\": [{}, {}],\n  \"rounds\": {rounds},\n  \"results\": [\n",
        json_escape(model),
        thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        cpus.0,
        cpus.1
    );
    for (i, r) in rows.iter().enumerate() {
        let s = &r.summary;
        let _ = write!(
            o,
            "    {{\"name\": \"{}\", \"sample\": \"{}\", \"count\": {}, \"min\": {}, \"median\": {}, \"p99\": {}, \"max\": {}, \"mean\": {}",
            json_escape(&r.name),
            r.kind,
            s.count,
            s.min,
            s.median,
            s.p99,
            s.max,
            s.mean
        );
        if let Some(ow) = r.one_way {
            let _ = write!(o, ", \"one_way_median\": {ow:.1}");
        }
        if let Some(t) = r.throughput {
            let _ = write!(
                o,
                ", \"batch\": {}, \"cycles_per_msg\": {:.2}, \"msgs_per_kcycle\": {:.2}, \"best_cycles_per_msg\": {:.2}",
                t.batch, t.cycles_per_msg, t.msgs_per_kcycle, t.best_cycles_per_msg
            );
        }
        o.push('}');
        if i + 1 < rows.len() {
            o.push(',');
        }
        o.push('\n');
    }
    o.push_str("  ]\n}\n");
    o
}

fn usage() -> ! {
    eprintln!(
        "usage: urpc-host-bench [--cpus A,B] [--iters N] [--rounds R] [--quick] [--json PATH]"
    );
    std::process::exit(2)
}

fn main() {
    let mut cpus = (0usize, 1usize);
    let mut iters = 200_000usize;
    let mut rounds = 5usize;
    let mut json = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--cpus" => {
                let v = args.next().unwrap_or_else(|| usage());
                let mut it = v.split(',').map(|x| x.trim().parse::<usize>());
                match (it.next(), it.next(), it.next()) {
                    (Some(Ok(x)), Some(Ok(y)), None) => cpus = (x, y),
                    _ => usage(),
                }
            }
            "--iters" => {
                iters = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--rounds" => {
                rounds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--quick" => {
                iters = 20_000;
                rounds = 2;
            }
            "--json" => json = Some(args.next().unwrap_or_else(|| usage())),
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    let rounds = rounds.max(1);
    let per_round = (iters / rounds).max(100);
    let batches_per_round = (per_round / 100).max(10);

    let model = cpu_model();
    let hv = hypervisor();
    println!(
        "URPC host benchmark: {model}; threads pinned to CPUs {} and {}; {}; unit: {UNIT}",
        cpus.0,
        cpus.1,
        if hv {
            "running under a hypervisor"
        } else {
            "bare metal"
        }
    );
    println!(
        "{rounds} interleaved rounds; per row {} round trips or {} batches of {BATCH} messages\n",
        per_round * rounds,
        batches_per_round * rounds
    );

    let epoch = Config::DEFAULT.notify_check(false);
    let epoch_notify = Config::DEFAULT;
    let used = Config::with_flow(FlowControl::UsedBit).notify_check(false);
    let spec = |name, kind| Spec {
        name,
        kind,
        samples: Vec::new(),
    };
    let mut specs = [
        spec("ping-pong, bare cache line", Kind::PingPong),
        spec("URPC epoch+lazy ack, N=32", Kind::Rtt32(epoch)),
        spec(
            "URPC epoch+lazy ack, notify check, N=32",
            Kind::Rtt32(epoch_notify),
        ),
        spec("URPC used bit, N=32", Kind::Rtt32(used)),
        spec("pipelined epoch+lazy ack, N=32", Kind::Throughput32(epoch)),
        spec(
            "pipelined epoch+lazy ack, notify check, N=32",
            Kind::Throughput32(epoch_notify),
        ),
        spec("pipelined used bit, N=32", Kind::Throughput32(used)),
        spec("pipelined epoch+lazy ack, N=8", Kind::Throughput8(epoch)),
    ];
    // Interleave: every measurement runs once per round, so that load from other processes
    // on the machine spreads over all rows alike.
    for _ in 0..rounds {
        for s in specs.iter_mut() {
            run_round(s, cpus, per_round, batches_per_round);
        }
    }
    let rows: Vec<Row> = specs.iter_mut().map(finish).collect();

    println!(
        "{:<46} {:>10} {:>8} {:>8} {:>8} {:>9} {:>11} {:>10}",
        "measurement", "sample", "median", "p99", "min", "max", "one-way", "msg/kcyc"
    );
    for r in &rows {
        let s = &r.summary;
        let (extra1, extra2) = match (r.one_way, r.throughput) {
            (Some(ow), _) => (format!("{ow:.1}"), String::new()),
            (None, Some(t)) => (
                format!("{:.2}/msg", t.cycles_per_msg),
                format!("{:.1}", t.msgs_per_kcycle),
            ),
            _ => (String::new(), String::new()),
        };
        println!(
            "{:<46} {:>10} {:>8} {:>8} {:>8} {:>9} {:>11} {:>10}",
            r.name, r.kind, s.median, s.p99, s.min, s.max, extra1, extra2
        );
    }
    let base = rows[0].summary.median as f64;
    if base > 0.0 {
        println!(
            "\nURPC epoch round trip / bare ping-pong round trip: {:.2}x",
            rows[1].summary.median as f64 / base
        );
    }
    if hv {
        println!(
            "note: measured inside a VM; cross-core latencies depend on how the vCPUs are placed"
        );
    }

    if let Some(path) = json {
        let j = to_json(&rows, cpus, &model, hv, rounds);
        if let Err(e) = std::fs::write(&path, j) {
            eprintln!("error: writing {path}: {e}");
            std::process::exit(1);
        }
        println!("wrote {path}");
    }
}

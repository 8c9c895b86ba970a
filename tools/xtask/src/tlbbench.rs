//! `cargo xtask bench tlb`: the latency of a TLB shootdown against the number of cores
//! sharing an address space, for each of the guest's shootdown protocols (IPI, unicast,
//! broadcast, multicast and NUMA-aware multicast), in the manner of Figure 7 of the
//! Multikernel paper.
//!
//! The guest side is the probe's `tlb-bench COUNTS` (started on core 0 with
//! `run@0=probe tlb-bench 2,4,...`). It prints, on serial, one line per protocol and core
//! count
//!
//! ```text
//! tlb-bench: protocol=<name> cores=<n> runs=<r> median=<c> p10=<c> p90=<c> min=<c>
//! ```
//!
//! then `tlb-bench: done`, or `tlb-bench: error <text>` on failure. This module parses those
//! lines ([`parse_log`]), prints a table of medians with the least-squares growth per added
//! core, and writes `target/bench/tlb.json` and `target/bench/tlb.svg`. A guest `error`
//! line fails the command with its text; malformed result lines are listed (in the JSON
//! too) and fail the command after the files are written; other `tlb-bench:` lines are
//! warnings.
//!
//! With `--host-linux` it also measures Linux's own shootdown on this host
//! ([`linux_mprotect`]): pinned threads read a page while a thread on the first CPU
//! downgrades it from read-write to read-only with `mprotect`, timed with `rdtsc`.
//! `--host-linux-only` skips QEMU and writes `tlb-linux.json` / `tlb-linux.svg` instead, so
//! a guest run's files are not overwritten.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::paths;
use crate::qemu::{self, Accel, Exit, Machine};
use crate::svg::{self, LinePlot, Series};

/// The guest's protocols, in table and legend order.
pub const PROTOCOLS: [&str; 5] = ["ipi", "unicast", "broadcast", "multicast", "numa"];

/// The protocol name of the host Linux measurement.
pub const LINUX: &str = "linux";

/// The core counts measured when that many cores (or more) are present.
const COUNT_STEPS: [u32; 5] = [2, 4, 8, 16, 32];

/// Timed `mprotect` downgrades per core count on the host.
pub const LINUX_ITERATIONS: usize = 2000;

/// Untimed downgrades before those (page tables, caches and branch predictors warm).
const LINUX_WARMUP: usize = 200;

/// The marker every guest line carries (after the kernel's log prefix).
const MARKER: &str = "tlb-bench:";

/// One measurement: a protocol at a core count, in cycles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Measurement {
    /// `ipi`, `unicast`, `broadcast`, `multicast`, `numa`, or `linux` for the host.
    pub protocol: String,
    /// Cores of the address space, the initiator included.
    pub cores: u32,
    /// Shootdowns timed.
    pub runs: u64,
    /// Median latency.
    pub median: u64,
    /// 10th percentile.
    pub p10: u64,
    /// 90th percentile.
    pub p90: u64,
    /// Smallest.
    pub min: u64,
}

impl Measurement {
    /// The JSON object of this measurement.
    pub fn to_json(&self) -> Value {
        json!({
            "protocol": self.protocol,
            "cores": self.cores,
            "runs": self.runs,
            "median": self.median,
            "p10": self.p10,
            "p90": self.p90,
            "min": self.min,
        })
    }
}

/// Why a `tlb-bench:` result line was not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineError {
    /// A word that is not `key=value`.
    NotKeyValue(String),
    /// A key given twice.
    DuplicateKey(String),
    /// A required key is absent.
    MissingField(&'static str),
    /// A value that is not a number of the right size.
    BadNumber {
        /// The key.
        field: &'static str,
        /// What the line had.
        value: String,
    },
    /// A protocol name that is empty, not `[a-z0-9_-]`, or `linux` (reserved for the host).
    BadProtocol(String),
    /// `cores` or `runs` is zero.
    Zero(&'static str),
    /// The statistics are out of order (not `min <= p10 <= median <= p90`).
    Inconsistent,
    /// A second line for a protocol and core count already seen.
    Duplicate {
        /// The protocol.
        protocol: String,
        /// The core count.
        cores: u32,
    },
    /// A `tlb-bench:` line that is none of result, `done` or `error`.
    Unrecognised,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::NotKeyValue(w) => write!(f, "`{w}` is not key=value"),
            LineError::DuplicateKey(k) => write!(f, "`{k}` given twice"),
            LineError::MissingField(k) => write!(f, "no `{k}=`"),
            LineError::BadNumber { field, value } => {
                write!(f, "{field}=`{value}` is not a number")
            }
            LineError::BadProtocol(p) => write!(f, "bad protocol name `{p}`"),
            LineError::Zero(k) => write!(f, "{k} is 0"),
            LineError::Inconsistent => write!(f, "not min <= p10 <= median <= p90"),
            LineError::Duplicate { protocol, cores } => {
                write!(f, "second result for protocol={protocol} cores={cores}")
            }
            LineError::Unrecognised => write!(f, "neither a result, `done` nor `error`"),
        }
    }
}

/// A guest line that was not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number in the log.
    pub line: usize,
    /// The line, trimmed.
    pub text: String,
    /// What is wrong with it.
    pub error: LineError,
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.error, self.text)
    }
}

/// Everything the guest reported.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestLog {
    /// The accepted results, in log order.
    pub measurements: Vec<Measurement>,
    /// `tlb-bench: done` was seen.
    pub done: bool,
    /// The text of the first `tlb-bench: error ...` line.
    pub error: Option<String>,
    /// Result lines that were rejected (and other `tlb-bench:` lines in `unrecognised`).
    pub malformed: Vec<BadLine>,
    /// `tlb-bench:` lines that are not part of the contract (reported, not fatal).
    pub unrecognised: Vec<BadLine>,
}

fn parse_u64(field: &'static str, v: &str) -> Result<u64, LineError> {
    v.parse().map_err(|_| LineError::BadNumber {
        field,
        value: v.to_string(),
    })
}

/// Parse the part of a result line after `tlb-bench:`. Unknown keys are ignored (the guest
/// may add fields); the seven of the contract are required.
pub fn parse_result(rest: &str) -> Result<Measurement, LineError> {
    let mut kv: BTreeMap<&str, &str> = BTreeMap::new();
    for word in rest.split_whitespace() {
        let (k, v) = word
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| LineError::NotKeyValue(word.to_string()))?;
        if kv.insert(k, v).is_some() {
            return Err(LineError::DuplicateKey(k.to_string()));
        }
    }
    let get = |k: &'static str| kv.get(k).copied().ok_or(LineError::MissingField(k));
    let protocol = get("protocol")?;
    if protocol.is_empty()
        || protocol == LINUX
        || !protocol
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err(LineError::BadProtocol(protocol.to_string()));
    }
    let cores_text = get("cores")?;
    let cores: u32 = cores_text.parse().map_err(|_| LineError::BadNumber {
        field: "cores",
        value: cores_text.to_string(),
    })?;
    let m = Measurement {
        protocol: protocol.to_string(),
        cores,
        runs: parse_u64("runs", get("runs")?)?,
        median: parse_u64("median", get("median")?)?,
        p10: parse_u64("p10", get("p10")?)?,
        p90: parse_u64("p90", get("p90")?)?,
        min: parse_u64("min", get("min")?)?,
    };
    if m.cores == 0 {
        return Err(LineError::Zero("cores"));
    }
    if m.runs == 0 {
        return Err(LineError::Zero("runs"));
    }
    if !(m.min <= m.p10 && m.p10 <= m.median && m.median <= m.p90) {
        return Err(LineError::Inconsistent);
    }
    Ok(m)
}

/// Collect the `tlb-bench:` lines of a serial log. Never fails: what cannot be parsed is
/// listed in [`GuestLog::malformed`] (or [`GuestLog::unrecognised`]).
pub fn parse_log(log: &str) -> GuestLog {
    let mut g = GuestLog::default();
    let mut seen: BTreeSet<(String, u32)> = BTreeSet::new();
    for (i, line) in log.lines().enumerate() {
        let Some(at) = line.find(MARKER) else {
            continue;
        };
        let rest = line[at + MARKER.len()..].trim();
        let bad = |error| BadLine {
            line: i + 1,
            text: line.trim().to_string(),
            error,
        };
        if rest == "done" {
            g.done = true;
        } else if rest == "error" || rest.starts_with("error ") {
            if g.error.is_none() {
                let text = rest["error".len()..].trim();
                g.error = Some(if text.is_empty() {
                    "(no text)".to_string()
                } else {
                    text.to_string()
                });
            }
        } else if rest.contains('=') {
            match parse_result(rest) {
                Ok(m) => {
                    if seen.insert((m.protocol.clone(), m.cores)) {
                        g.measurements.push(m);
                    } else {
                        g.malformed.push(bad(LineError::Duplicate {
                            protocol: m.protocol,
                            cores: m.cores,
                        }));
                    }
                }
                Err(e) => g.malformed.push(bad(e)),
            }
        } else {
            g.unrecognised.push(bad(LineError::Unrecognised));
        }
    }
    g
}

/// The core counts the guest measures on a machine with `cores` cores: 2, 4, 8, 16, 32 up
/// to `cores`, then `cores` itself.
pub fn core_counts(cores: u32) -> Vec<u32> {
    let mut v: Vec<u32> = COUNT_STEPS.into_iter().filter(|&c| c <= cores).collect();
    if v.last() != Some(&cores) {
        v.push(cores);
    }
    v
}

/// The core counts measured on the host: 1 (no other CPU: a local flush only), then those
/// of `counts` the host has, then all of its CPUs.
pub fn host_counts(counts: &[u32], host_cpus: u32) -> Vec<u32> {
    let mut v: BTreeSet<u32> = counts
        .iter()
        .copied()
        .filter(|&c| c >= 1 && c <= host_cpus)
        .collect();
    v.insert(1);
    if host_cpus >= 1 {
        v.insert(host_cpus);
    }
    v.into_iter().collect()
}

/// Least-squares slope of `y` against `x` (here: cycles per added core); `None` with fewer
/// than two distinct x.
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx <= f64::EPSILON {
        None
    } else {
        Some(sxy / sxx)
    }
}

/// The protocols of `ms` in display order: the known ones, then any others, then `linux`.
pub fn protocol_order(ms: &[Measurement]) -> Vec<String> {
    let present: BTreeSet<&str> = ms.iter().map(|m| m.protocol.as_str()).collect();
    let mut v: Vec<String> = PROTOCOLS
        .iter()
        .filter(|p| present.contains(*p))
        .map(|p| p.to_string())
        .collect();
    for p in &present {
        if !PROTOCOLS.contains(p) && *p != LINUX {
            v.push(p.to_string());
        }
    }
    if present.contains(LINUX) {
        v.push(LINUX.to_string());
    }
    v
}

/// The heading of a protocol's column and legend entry.
pub fn display_name(protocol: &str) -> String {
    match protocol {
        "ipi" => "IPI".into(),
        "unicast" => "Unicast".into(),
        "broadcast" => "Broadcast".into(),
        "multicast" => "Multicast".into(),
        "numa" => "NUMA-aware multicast".into(),
        LINUX => "Linux mprotect (host)".into(),
        other => other.into(),
    }
}

fn column_name(protocol: &str) -> String {
    match protocol {
        LINUX => "linux mprotect".into(),
        other => other.into(),
    }
}

/// The `(cores, median)` points of one protocol, by core count.
fn points(ms: &[Measurement], protocol: &str) -> Vec<(f64, f64)> {
    let mut v: Vec<(f64, f64)> = ms
        .iter()
        .filter(|m| m.protocol == protocol)
        .map(|m| (f64::from(m.cores), m.median as f64))
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v
}

/// Least-squares growth per added core of each protocol's median.
pub fn slopes(ms: &[Measurement]) -> Vec<(String, Option<f64>)> {
    protocol_order(ms)
        .into_iter()
        .map(|p| {
            let s = slope(&points(ms, &p));
            (p, s)
        })
        .collect()
}

/// The table: one row per core count, one column per protocol (median cycles), then the
/// growth per added core under it.
pub fn table(ms: &[Measurement]) -> String {
    use std::fmt::Write as _;
    let protos = protocol_order(ms);
    let counts: BTreeSet<u32> = ms.iter().map(|m| m.cores).collect();
    let width = |p: &str| column_name(p).len().max(10);
    let mut s = String::new();
    let _ = write!(s, "{:>6}", "cores");
    for p in &protos {
        let _ = write!(s, " {:>w$}", column_name(p), w = width(p));
    }
    s.push('\n');
    for c in &counts {
        let _ = write!(s, "{c:>6}");
        for p in &protos {
            let cell = ms
                .iter()
                .find(|m| m.cores == *c && &m.protocol == p)
                .map_or_else(|| "-".to_string(), |m| m.median.to_string());
            let _ = write!(s, " {cell:>w$}", w = width(p));
        }
        s.push('\n');
    }
    s.push_str("\ngrowth per added core (least-squares slope of the median, cycles/core):\n");
    for (p, sl) in slopes(ms) {
        let v = sl.map_or_else(
            || "n/a (fewer than two core counts)".to_string(),
            |v| format!("{v:.1}"),
        );
        let _ = writeln!(s, "  {:<24} {v}", display_name(&p));
    }
    s
}

/// The plot: latency in thousands of cycles against cores, one line per protocol.
pub fn plot(ms: &[Measurement], title: &str) -> LinePlot {
    let counts: BTreeSet<u32> = ms.iter().map(|m| m.cores).collect();
    LinePlot {
        title: title.to_string(),
        x_label: "Cores".into(),
        y_label: "Latency (cycles × 1000)".into(),
        x_ticks: Some(counts.iter().map(|&c| f64::from(c)).collect()),
        y_from_zero: true,
        series: protocol_order(ms)
            .iter()
            .map(|p| Series {
                name: display_name(p),
                points: points(ms, p)
                    .into_iter()
                    .map(|(x, y)| (x, y / 1000.0))
                    .collect(),
            })
            .collect(),
    }
}

/// Why the TLB benchmark failed.
#[derive(Debug)]
pub enum TlbError {
    /// Options that do not fit.
    Usage(String),
    /// Building or booting the system failed.
    Boot(String),
    /// The guest printed `tlb-bench: error <text>`.
    Guest(String),
    /// The run ended without `tlb-bench: done`, or the kernel did not exit cleanly.
    Unfinished {
        /// How QEMU ended.
        exit: Exit,
        /// Whether `done` was seen.
        done: bool,
        /// The end of the log.
        tail: String,
    },
    /// `done` but no result line was accepted.
    NoMeasurements,
    /// Result lines were rejected (the results that parsed were written).
    Malformed(Vec<BadLine>),
    /// The host Linux measurement failed.
    Host(HostError),
    /// Writing an output file failed.
    Write(PathBuf, std::io::Error),
}

impl fmt::Display for TlbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlbError::Usage(s) | TlbError::Boot(s) => f.write_str(s),
            TlbError::Guest(s) => write!(f, "the guest reported: {s}"),
            TlbError::Unfinished { exit, done, tail } => write!(
                f,
                "the benchmark run did not finish ({exit:?}, {}); last lines:\n{tail}",
                if *done {
                    "`tlb-bench: done` seen"
                } else {
                    "no `tlb-bench: done`"
                }
            ),
            TlbError::NoMeasurements => write!(f, "the guest printed no tlb-bench result"),
            TlbError::Malformed(lines) => {
                write!(f, "{} malformed tlb-bench line(s):", lines.len())?;
                for l in lines {
                    write!(f, "\n  {l}")?;
                }
                Ok(())
            }
            TlbError::Host(e) => write!(f, "host Linux measurement: {e}"),
            TlbError::Write(p, e) => write!(f, "{}: {e}", p.display()),
        }
    }
}

impl std::error::Error for TlbError {}

/// Why the host Linux measurement failed.
#[derive(Debug)]
pub enum HostError {
    /// Not Linux on x86-64.
    Unsupported,
    /// A system call failed.
    Sys(&'static str, std::io::Error),
    /// No CPU in this process's affinity mask.
    NoCpus,
    /// A thread panicked.
    Panicked,
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Unsupported => write!(f, "needs Linux on x86-64"),
            HostError::Sys(call, e) => write!(f, "{call}: {e}"),
            HostError::NoCpus => write!(f, "no CPU in the affinity mask"),
            HostError::Panicked => write!(f, "a measuring thread panicked"),
        }
    }
}

impl std::error::Error for HostError {}

/// Options of `cargo xtask bench tlb`.
#[derive(Clone, Debug)]
pub struct Options {
    /// The machine to boot (`smp` cores, NUMA nodes).
    pub machine: Machine,
    /// Time limit of the QEMU run.
    pub timeout: Duration,
    /// Boot the guest and measure its protocols.
    pub guest: bool,
    /// Measure Linux's shootdown on this host too.
    pub host_linux: bool,
}

/// The sorted `(sorted samples)` statistics as a measurement.
fn summarise(protocol: &str, cores: u32, mut samples: Vec<u64>) -> Measurement {
    samples.sort_unstable();
    let at = |p: usize| {
        if samples.is_empty() {
            0
        } else {
            samples[(samples.len() - 1) * p / 100]
        }
    };
    Measurement {
        protocol: protocol.to_string(),
        cores,
        runs: samples.len() as u64,
        median: at(50),
        p10: at(10),
        p90: at(90),
        min: at(0),
    }
}

/// The host CPU's model name and whether it runs under a hypervisor (from `/proc/cpuinfo`).
fn host_cpu() -> (Option<String>, bool) {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string());
    let hypervisor = info
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "hypervisor"));
    (model, hypervisor)
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod linux {
    //! The host measurement: pinned threads, an anonymous page, `mprotect`, `rdtsc`.

    use super::HostError;
    use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
    use std::sync::Mutex;

    /// The CPUs this process may run on (its affinity mask), ascending.
    pub fn allowed_cpus() -> Result<Vec<usize>, HostError> {
        // SAFETY: `cpu_set_t` is a plain bit array for which all-zero is the empty set.
        let mut set: libc::cpu_set_t = unsafe { core::mem::zeroed() };
        // SAFETY: pid 0 is this thread; the pointer and size describe `set`, which outlives
        // the call.
        let r = unsafe {
            libc::sched_getaffinity(0, core::mem::size_of::<libc::cpu_set_t>(), &mut set)
        };
        if r != 0 {
            return Err(HostError::Sys(
                "sched_getaffinity",
                std::io::Error::last_os_error(),
            ));
        }
        let max = 8 * core::mem::size_of::<libc::cpu_set_t>();
        // SAFETY: `cpu < max` is within the set's bit range; `set` is initialised.
        let cpus: Vec<usize> = (0..max)
            .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
            .collect();
        if cpus.is_empty() {
            Err(HostError::NoCpus)
        } else {
            Ok(cpus)
        }
    }

    /// Pin the calling thread to `cpu`.
    fn pin(cpu: usize) -> Result<(), HostError> {
        // SAFETY: as in `allowed_cpus`.
        let mut set: libc::cpu_set_t = unsafe { core::mem::zeroed() };
        if cpu >= 8 * core::mem::size_of::<libc::cpu_set_t>() {
            return Err(HostError::Sys(
                "sched_setaffinity",
                std::io::Error::from_raw_os_error(libc::EINVAL),
            ));
        }
        // SAFETY: `cpu` is within the set's bit range (checked above).
        unsafe { libc::CPU_SET(cpu, &mut set) };
        // SAFETY: pid 0 is the calling thread; the pointer and size describe `set`.
        let r =
            unsafe { libc::sched_setaffinity(0, core::mem::size_of::<libc::cpu_set_t>(), &set) };
        if r != 0 {
            return Err(HostError::Sys(
                "sched_setaffinity",
                std::io::Error::last_os_error(),
            ));
        }
        Ok(())
    }

    /// The time-stamp counter, fenced so the timed call neither starts early nor ends late.
    fn tsc() -> u64 {
        use core::arch::x86_64::{_mm_lfence, _rdtsc};
        // SAFETY: `lfence` and `rdtsc` exist on every x86-64 CPU and have no memory effects.
        unsafe {
            _mm_lfence();
            let t = _rdtsc();
            _mm_lfence();
            t
        }
    }

    /// One anonymous private page, unmapped on drop.
    struct Page {
        ptr: *mut libc::c_void,
        len: usize,
    }

    // SAFETY: the page is only accessed through `AtomicU8` (from any thread) and through
    // `mprotect`, which the kernel serialises; the mapping lives until `Page` is dropped,
    // after every thread using it has been joined (scoped threads).
    unsafe impl Sync for Page {}

    impl Page {
        fn new() -> Result<Page, HostError> {
            // SAFETY: `sysconf` has no preconditions.
            let len = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            let len = usize::try_from(len).unwrap_or(4096).max(1);
            // SAFETY: an anonymous mapping at an address of the kernel's choosing; no file.
            let ptr = unsafe {
                libc::mmap(
                    core::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if ptr == libc::MAP_FAILED {
                return Err(HostError::Sys("mmap", std::io::Error::last_os_error()));
            }
            Ok(Page { ptr, len })
        }

        fn cell(&self) -> &AtomicU8 {
            // SAFETY: the mapping is page-aligned, at least one byte, readable for the
            // lifetime of `self` (never PROT_NONE), and only ever accessed atomically.
            unsafe { &*(self.ptr as *const AtomicU8) }
        }

        fn protect(&self, prot: libc::c_int) -> Result<(), HostError> {
            // SAFETY: `ptr..ptr+len` is exactly the mapping this `Page` owns.
            if unsafe { libc::mprotect(self.ptr, self.len, prot) } != 0 {
                return Err(HostError::Sys("mprotect", std::io::Error::last_os_error()));
            }
            Ok(())
        }
    }

    impl Drop for Page {
        fn drop(&mut self) {
            // SAFETY: unmapping the mapping this `Page` owns; no reference to it remains.
            unsafe { libc::munmap(self.ptr, self.len) };
        }
    }

    /// Sets the flag when dropped (also on an early return or a panic), so the readers end.
    struct StopOnDrop<'a>(&'a AtomicBool);

    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
        }
    }

    /// Time `iters` `mprotect` downgrades (read-write to read-only) of a page that threads
    /// pinned to `cpus[1..]` keep reading, from a thread pinned to `cpus[0]`. Returns the
    /// cycles of each downgrade.
    pub fn measure(cpus: &[usize], warmup: usize, iters: usize) -> Result<Vec<u64>, HostError> {
        let (&first, readers) = cpus.split_first().ok_or(HostError::NoCpus)?;
        let page = Page::new()?;
        // Fault the page in, written, so its PTE is present, writable and dirty.
        page.cell().store(1, Ordering::Relaxed);
        let stop = AtomicBool::new(false);
        let ready = AtomicUsize::new(0);
        let failure: Mutex<Option<HostError>> = Mutex::new(None);
        let (page, stop, ready, failure) = (&page, &stop, &ready, &failure);
        std::thread::scope(|s| {
            for &cpu in readers {
                s.spawn(move || {
                    let pinned = pin(cpu);
                    let ok = pinned.is_ok();
                    if let Err(e) = pinned {
                        if let Ok(mut f) = failure.lock() {
                            f.get_or_insert(e);
                        }
                    }
                    // The first read loads the translation into this CPU's TLB.
                    let mut sink = u64::from(page.cell().load(Ordering::Relaxed));
                    ready.fetch_add(1, Ordering::AcqRel);
                    if !ok {
                        return;
                    }
                    while !stop.load(Ordering::Acquire) {
                        for _ in 0..64 {
                            sink =
                                sink.wrapping_add(u64::from(page.cell().load(Ordering::Relaxed)));
                        }
                    }
                    std::hint::black_box(sink);
                });
            }
            let initiator = s.spawn(move || -> Result<Vec<u64>, HostError> {
                let _stop = StopOnDrop(stop);
                pin(first)?;
                while ready.load(Ordering::Acquire) < readers.len() {
                    std::thread::yield_now();
                }
                if let Some(e) = failure.lock().ok().and_then(|mut f| f.take()) {
                    return Err(e);
                }
                let mut samples = Vec::with_capacity(iters);
                for i in 0..warmup + iters {
                    let t0 = tsc();
                    let r = page.protect(libc::PROT_READ);
                    let t1 = tsc();
                    r?;
                    page.protect(libc::PROT_READ | libc::PROT_WRITE)?;
                    // Write so the PTE is writable and dirty again: the next downgrade must
                    // change it (and so flush every CPU's TLB).
                    page.cell().store(i as u8, Ordering::Relaxed);
                    if i >= warmup {
                        samples.push(t1.wrapping_sub(t0));
                    }
                }
                Ok(samples)
            });
            initiator.join().map_err(|_| HostError::Panicked)?
        })
    }
}

/// Linux's own TLB shootdown on this host: for each core count (capped at the CPUs this
/// process may use), `n - 1` threads pinned to their own CPUs read a shared anonymous page
/// while a thread pinned to the first CPU downgrades it with `mprotect(PROT_READ)` (then
/// restores read-write and writes it), timing each downgrade with `rdtsc`.
pub fn linux_mprotect(
    counts: &[u32],
    iters: usize,
) -> Result<(Vec<Measurement>, Vec<usize>), HostError> {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    {
        let cpus = linux::allowed_cpus()?;
        let host = u32::try_from(cpus.len()).unwrap_or(u32::MAX);
        let mut out = Vec::new();
        for n in host_counts(counts, host) {
            let use_cpus = &cpus[..n as usize];
            eprintln!(
                "xtask: host Linux: {n} core(s) (CPUs {use_cpus:?}), {iters} mprotect downgrades"
            );
            let samples = linux::measure(use_cpus, LINUX_WARMUP, iters)?;
            out.push(summarise(LINUX, n, samples));
        }
        Ok((out, cpus))
    }
    #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
    {
        let _ = (counts, iters);
        Err(HostError::Unsupported)
    }
}

fn write(path: &Path, text: &str) -> Result<(), TlbError> {
    std::fs::write(path, text).map_err(|e| TlbError::Write(path.to_path_buf(), e))
}

fn bad_json(lines: &[BadLine]) -> Vec<Value> {
    lines
        .iter()
        .map(|b| json!({"line": b.line, "text": b.text, "error": b.error.to_string()}))
        .collect()
}

/// `(protocol, cores)` pairs the guest should have reported but did not.
fn missing(ms: &[Measurement], counts: &[u32]) -> Vec<(String, u32)> {
    let protos: BTreeSet<&str> = ms
        .iter()
        .map(|m| m.protocol.as_str())
        .chain(PROTOCOLS)
        .collect();
    let mut v = Vec::new();
    for p in protos {
        for &c in counts {
            if !ms.iter().any(|m| m.protocol == p && m.cores == c) {
                v.push((p.to_string(), c));
            }
        }
    }
    v
}

/// `cargo xtask bench tlb`.
pub fn tlb(o: &Options) -> Result<(), TlbError> {
    let m = &o.machine;
    let counts = core_counts(m.smp);
    if o.guest && m.smp < 2 {
        return Err(TlbError::Usage(
            "a TLB shootdown needs at least 2 cores (--smp 2 or more)".into(),
        ));
    }
    let command = format!(
        "probe tlb-bench {}",
        counts
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );

    // The guest.
    let mut guest: Option<(Accel, qemu::RunResult, GuestLog)> = None;
    if o.guest {
        let (accel, r) =
            crate::bench::boot_bench(m, "bench-tlb", &[("run@0", &command)], o.timeout)
                .map_err(TlbError::Boot)?;
        let g = parse_log(&r.log);
        if let Some(e) = &g.error {
            return Err(TlbError::Guest(e.clone()));
        }
        if !g.done || r.exit != Exit::Success {
            return Err(TlbError::Unfinished {
                exit: r.exit.clone(),
                done: g.done,
                tail: r.tail(30),
            });
        }
        if g.measurements.is_empty() {
            if !g.malformed.is_empty() {
                return Err(TlbError::Malformed(g.malformed));
            }
            return Err(TlbError::NoMeasurements);
        }
        guest = Some((accel, r, g));
    }

    // The host.
    let (cpu_model, hypervisor) = host_cpu();
    let mut host: Option<(Vec<Measurement>, Vec<usize>)> = None;
    if o.host_linux {
        eprintln!(
            "xtask: host Linux TLB shootdown (mprotect downgrade with reader threads) on {}{}",
            cpu_model.as_deref().unwrap_or("this CPU"),
            if hypervisor {
                ", itself a virtual machine"
            } else {
                ""
            }
        );
        host = Some(linux_mprotect(&counts, LINUX_ITERATIONS).map_err(TlbError::Host)?);
    }

    let mut all: Vec<Measurement> = Vec::new();
    if let Some((_, _, g)) = &guest {
        all.extend(g.measurements.iter().cloned());
    }
    if let Some((h, _)) = &host {
        all.extend(h.iter().cloned());
    }

    // The table.
    println!();
    let source = match &guest {
        Some((accel, _, _)) => {
            if let Some(w) = crate::bench::emulation_warning(accel) {
                println!("{w}");
            }
            format!(
                "guest numbers: {} | {} cores, {} NUMA node(s) | boot `run@0={command}`",
                accel.describe(),
                m.smp,
                m.numa_nodes.max(1)
            )
        }
        None => "host Linux only (no QEMU)".to_string(),
    };
    println!("TLB shootdown latency, median cycles | {source}");
    if host.is_some() {
        println!(
            "linux mprotect: this host's Linux, {} | {} CPU(s) usable{}",
            cpu_model.as_deref().unwrap_or("unknown CPU"),
            host.as_ref().map_or(0, |h| h.1.len()),
            if hypervisor {
                " | !!! the host is itself a VM: its IPIs go through a hypervisor !!!"
            } else {
                ""
            }
        );
    }
    print!("{}", table(&all));
    let missed = guest
        .as_ref()
        .map(|(_, _, g)| missing(&g.measurements, &counts))
        .unwrap_or_default();
    if !missed.is_empty() {
        println!(
            "\nnot reported by the guest: {}",
            missed
                .iter()
                .map(|(p, c)| format!("{p}@{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some((_, _, g)) = &guest {
        for b in &g.unrecognised {
            eprintln!("xtask: warning: unrecognised tlb-bench line: {b}");
        }
        for b in &g.malformed {
            eprintln!("xtask: MALFORMED tlb-bench line: {b}");
        }
    }

    // JSON and SVG.
    let out_dir = paths::target().join("bench");
    std::fs::create_dir_all(&out_dir).map_err(|e| TlbError::Write(out_dir.clone(), e))?;
    let stem = if guest.is_some() { "tlb" } else { "tlb-linux" };
    let slope_json: serde_json::Map<String, Value> = slopes(&all)
        .into_iter()
        .map(|(p, s)| (p, s.map_or(Value::Null, Value::from)))
        .collect();
    let accel = guest.as_ref().map(|g| &g.0);
    let report = json!({
        "benchmark": "tlb",
        "accelerator": accel.map_or("none (host Linux only)", Accel::describe),
        "emulated": accel.map(|a| *a != Accel::Kvm),
        "warning": accel.and_then(crate::bench::emulation_warning),
        "unit": "cycles",
        "machine": {
            "smp": guest.as_ref().map(|_| m.smp),
            "numa_nodes": guest.as_ref().map(|_| m.numa_nodes.max(1)),
            "mem_mb": guest.as_ref().map(|_| m.mem_mb),
            "cpu_model": m.cpu,
            "host_cpu": cpu_model,
            "host_is_vm": hypervisor,
        },
        "qemu": guest.as_ref().map(|g| g.1.cmdline.clone()),
        "boot_command": guest.as_ref().map(|_| format!("run@0={command}")),
        "core_counts": guest.as_ref().map(|_| counts.clone()),
        "measurements": all.iter().map(Measurement::to_json).collect::<Vec<_>>(),
        "slope_cycles_per_core": slope_json,
        "missing": missed.iter().map(|(p, c)| json!({"protocol": p, "cores": c})).collect::<Vec<_>>(),
        "malformed_lines": guest.as_ref().map(|g| bad_json(&g.2.malformed)).unwrap_or_default(),
        "unrecognised_lines": guest.as_ref().map(|g| bad_json(&g.2.unrecognised)).unwrap_or_default(),
        "host_linux": host.as_ref().map(|(_, cpus)| json!({
            "method": "a thread pinned to the first CPU times mprotect(PROT_READ) of a written anonymous page (rdtsc, lfence) while n-1 threads pinned to other CPUs read it; then PROT_READ|PROT_WRITE and a write",
            "cpus": cpus,
            "iterations": LINUX_ITERATIONS,
            "warmup": LINUX_WARMUP,
            "cpu": cpu_model,
            "hypervisor": hypervisor,
            "debug_build": cfg!(debug_assertions),
        })),
    });
    let json_path = out_dir.join(format!("{stem}.json"));
    write(
        &json_path,
        &serde_json::to_string_pretty(&report).unwrap_or_default(),
    )?;
    let title = match accel {
        Some(a @ Accel::Kvm) => format!("TLB shootdown, {} cores ({})", m.smp, a.describe()),
        Some(a) => format!(
            "TLB shootdown, {} cores ({}: not hardware figures)",
            m.smp,
            a.describe()
        ),
        None => format!(
            "TLB shootdown: host Linux mprotect ({}{})",
            cpu_model.as_deref().unwrap_or("host"),
            if hypervisor { ", a VM" } else { "" }
        ),
    };
    let svg_path = out_dir.join(format!("{stem}.svg"));
    write(&svg_path, &svg::render(&plot(&all, &title)))?;
    println!(
        "\nwritten: {}\nwritten: {}",
        json_path.display(),
        svg_path.display()
    );

    match guest {
        Some((_, _, g)) if !g.malformed.is_empty() => Err(TlbError::Malformed(g.malformed)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
[c00 INFO ] kernel: booting
[c00 INFO ] probe: tlb-bench: protocol=ipi cores=2 runs=100 median=1200 p10=1100 p90=1500 min=1000
[c00 INFO ] probe: tlb-bench: protocol=unicast cores=2 runs=100 median=900 p10=850 p90=1000 min=800
[c00 INFO ] probe: tlb-bench: protocol=ipi cores=4 runs=100 median=2200 p10=2100 p90=2500 min=2000\r
[c01 INFO ] monitor: unrelated
[c00 INFO ] probe: tlb-bench: protocol=unicast cores=4 runs=100 median=1900 p10=1850 p90=2000 min=1800 extra=7
[c00 INFO ] probe: tlb-bench: done
";

    #[test]
    fn parses_results() {
        let g = parse_log(LOG);
        assert!(g.done);
        assert_eq!(g.error, None);
        assert!(g.malformed.is_empty(), "{:?}", g.malformed);
        assert_eq!(g.measurements.len(), 4);
        assert_eq!(
            g.measurements[2],
            Measurement {
                protocol: "ipi".into(),
                cores: 4,
                runs: 100,
                median: 2200,
                p10: 2100,
                p90: 2500,
                min: 2000,
            }
        );
        let s = slopes(&g.measurements);
        assert_eq!(s[0].0, "ipi");
        assert!((s[0].1.unwrap() - 500.0).abs() < 1e-9);
        assert!((s[1].1.unwrap() - 500.0).abs() < 1e-9);
    }

    #[test]
    fn reports_malformed_lines() {
        let log = "\
x tlb-bench: protocol=ipi cores=2 runs=10 median=5 p10=4 p90=6 min=3
x tlb-bench: protocol=ipi cores=2 runs=10 median=5 p10=4 p90=6 min=3
x tlb-bench: protocol=ipi cores=two runs=10 median=5 p10=4 p90=6 min=3
x tlb-bench: protocol=ipi cores=4 runs=10 median=5 p10=4 p90=6
x tlb-bench: protocol=ipi cores=4 runs=10 median=5 p10=4 p90=6 min=3 garbage
x tlb-bench: protocol=ipi cores=4 runs=10 median=5 p10=4 p90=6 min=3 min=2
x tlb-bench: protocol=IPI! cores=4 runs=10 median=5 p10=4 p90=6 min=3
x tlb-bench: protocol=linux cores=4 runs=10 median=5 p10=4 p90=6 min=3
x tlb-bench: protocol=ipi cores=0 runs=10 median=5 p10=4 p90=6 min=3
x tlb-bench: protocol=ipi cores=4 runs=10 median=5 p10=6 p90=4 min=3
x tlb-bench: protocol=ipi cores=4 runs=10 median=99999999999999999999999 p10=4 p90=6 min=3
x tlb-bench: protocol=ipi cores=8 runs=10 median=5 p10=4 p9[c03 WARN ] noise
x tlb-bench: protocol=ipi cores=4 runs=10 median=-5 p10=4 p90=6 min=3
x tlb-bench: warming up
x tlb-bench:
";
        let g = parse_log(log);
        assert!(!g.done);
        assert_eq!(g.measurements.len(), 1);
        let errors: Vec<&LineError> = g.malformed.iter().map(|b| &b.error).collect();
        assert_eq!(
            errors,
            vec![
                &LineError::Duplicate {
                    protocol: "ipi".into(),
                    cores: 2
                },
                &LineError::BadNumber {
                    field: "cores",
                    value: "two".into()
                },
                &LineError::MissingField("min"),
                &LineError::NotKeyValue("garbage".into()),
                &LineError::DuplicateKey("min".into()),
                &LineError::BadProtocol("IPI!".into()),
                &LineError::BadProtocol("linux".into()),
                &LineError::Zero("cores"),
                &LineError::Inconsistent,
                &LineError::BadNumber {
                    field: "median",
                    value: "99999999999999999999999".into()
                },
                &LineError::NotKeyValue("p9[c03".into()),
                &LineError::BadNumber {
                    field: "median",
                    value: "-5".into()
                },
            ]
        );
        assert_eq!(g.malformed[0].line, 2);
        assert_eq!(g.unrecognised.len(), 2);
        // Every error has a message naming the line.
        let e = TlbError::Malformed(g.malformed.clone()).to_string();
        assert!(e.contains("12 malformed") && e.contains("line 3:"), "{e}");
    }

    #[test]
    fn guest_error_is_reported() {
        let g = parse_log(
            "[c00 INFO ] probe: tlb-bench: error no memory for the page\n[c00] tlb-bench: error second\n",
        );
        assert_eq!(g.error.as_deref(), Some("no memory for the page"));
        assert_eq!(
            parse_log("tlb-bench: error").error.as_deref(),
            Some("(no text)")
        );
        assert_eq!(
            TlbError::Guest("x".into()).to_string(),
            "the guest reported: x"
        );
    }

    #[test]
    fn counts() {
        assert_eq!(core_counts(32), vec![2, 4, 8, 16, 32]);
        assert_eq!(core_counts(12), vec![2, 4, 8, 12]);
        assert_eq!(core_counts(48), vec![2, 4, 8, 16, 32, 48]);
        assert_eq!(core_counts(2), vec![2]);
        assert_eq!(host_counts(&core_counts(32), 2), vec![1, 2]);
        assert_eq!(host_counts(&core_counts(32), 6), vec![1, 2, 4, 6]);
        assert_eq!(
            host_counts(&core_counts(32), 64),
            vec![1, 2, 4, 8, 16, 32, 64]
        );
        assert_eq!(host_counts(&[2, 4], 1), vec![1]);
    }

    #[test]
    fn slope_cases() {
        assert_eq!(slope(&[]), None);
        assert_eq!(slope(&[(2.0, 5.0)]), None);
        assert_eq!(slope(&[(2.0, 5.0), (2.0, 7.0)]), None);
        let s = slope(&[(2.0, 1.0), (4.0, 3.0), (8.0, 7.0), (16.0, 15.0)]).unwrap();
        assert!((s - 1.0).abs() < 1e-12);
    }

    #[test]
    fn summary_percentiles() {
        let m = summarise(LINUX, 2, (1..=101).rev().collect());
        assert_eq!(
            (m.min, m.p10, m.median, m.p90, m.runs),
            (1, 11, 51, 91, 101)
        );
        assert_eq!(summarise(LINUX, 1, Vec::new()).median, 0);
    }

    #[test]
    fn table_and_plot() {
        let mut ms = parse_log(LOG).measurements;
        ms.push(summarise(LINUX, 1, vec![100, 200, 300]));
        ms.push(summarise(LINUX, 2, vec![1000, 2000, 3000]));
        let t = table(&ms);
        let header = t.lines().next().unwrap();
        assert!(header.contains("ipi") && header.contains("unicast"));
        assert!(header.trim_end().ends_with("linux mprotect"));
        // Rows for 1, 2 and 4 cores; gaps shown as `-`.
        assert!(t
            .lines()
            .any(|l| l.trim_start().starts_with("1 ") && l.contains('-')));
        assert!(t.contains("growth per added core"));
        assert!(t.contains("1800.0"), "{t}"); // linux: (2000 - 200) / 1
        let p = plot(&ms, "TLB <KVM>");
        assert_eq!(p.series.len(), 3);
        assert_eq!(p.series[2].name, "Linux mprotect (host)");
        assert_eq!(p.series[0].points, vec![(2.0, 1.2), (4.0, 2.2)]);
        let svg = svg::render(&p);
        assert_eq!(svg.matches("<polyline").count(), 3);
        assert!(svg.contains("TLB &lt;KVM&gt;"));
    }

    #[test]
    fn missing_pairs() {
        let ms = parse_log(LOG).measurements;
        let miss = missing(&ms, &[2, 4]);
        assert!(miss.contains(&("numa".to_string(), 2)));
        assert!(!miss.contains(&("ipi".to_string(), 4)));
        assert_eq!(miss.len(), 3 * 2);
    }

    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    #[test]
    fn host_measurement_runs() {
        let cpus = linux::allowed_cpus().unwrap();
        let n = cpus.len().min(2);
        let samples = linux::measure(&cpus[..n], 5, 50).unwrap();
        assert_eq!(samples.len(), 50);
        assert!(samples.iter().all(|&c| c > 0));
    }
}

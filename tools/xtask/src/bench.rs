//! `cargo xtask bench`: boots the system with a benchmark configured, collects the
//! `BENCH-JSON` lines the kernel prints, prints a table and writes JSON under
//! `target/bench/`. Uses KVM when `/dev/kvm` opens and says loudly when it had to emulate:
//! cycle counts under emulation say nothing about hardware.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::images::{self, Firmware};
use crate::qemu::{self, Accel, Exit, Machine, RunOptions};
use crate::{deps, paths};

/// The `BENCH-JSON` objects in a log.
pub fn bench_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|l| l.split_once("BENCH-JSON ").map(|(_, j)| j.trim()))
        .filter_map(|j| serde_json::from_str(j).ok())
        .collect()
}

fn num(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

/// The warning that goes with numbers measured under emulation (none under KVM).
pub(crate) fn emulation_warning(accel: &Accel) -> Option<String> {
    match accel {
        Accel::Kvm => None,
        Accel::Emulation(why) => Some(format!(
            "!!! EMULATION (TCG): these cycle counts are NOT hardware figures{} !!!",
            why.as_ref()
                .map(|w| format!(" (KVM unavailable: {w})"))
                .unwrap_or_default()
        )),
    }
}

/// Run the host benchmark (two pinned Linux threads, the same channel code).
fn host_bench(out: &PathBuf) -> Result<Value, String> {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(paths::root());
    c.args([
        "run",
        "--quiet",
        "--release",
        "--package",
        "urpc",
        "--features",
        "std",
        "--bin",
        "urpc-host-bench",
        "--",
    ]);
    c.arg("--json").arg(out);
    let s = c.status().map_err(|e| format!("host bench: {e}"))?;
    if !s.success() {
        return Err(format!("host bench failed ({s})"));
    }
    let text = std::fs::read_to_string(out).map_err(|e| format!("{}: {e}", out.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("host bench JSON: {e}"))
}

/// `cargo xtask bench urpc`.
pub fn urpc(m: &Machine, timeout: Duration, with_host: bool) -> Result<(), String> {
    let accel = qemu::choose_bench_accel(m);
    eprintln!(
        "xtask: booting {} cores under {} to measure URPC (this takes a few minutes)",
        m.smp,
        accel.describe()
    );
    let (accel, r) = boot_bench_on(m, accel, "bench-urpc", &[("bench", "urpc")], timeout)?;
    let lines = bench_lines(&r.log);
    if r.exit != Exit::Success || !lines.iter().any(|v| v["kind"] == "done") {
        return Err(format!(
            "the benchmark run did not finish ({:?}); last lines:\n{}",
            r.exit,
            r.tail(30)
        ));
    }
    let machine = lines
        .iter()
        .find(|v| v["kind"] == "machine")
        .cloned()
        .unwrap_or(Value::Null);
    let get = |k: &str| lines.iter().find(|v| v["kind"] == k).cloned();
    let pp = get("pingpong_rtt").ok_or("no ping-pong result")?;
    let rtt = get("urpc_rtt").ok_or("no URPC round-trip result")?;
    let tp = get("throughput_batch").ok_or("no throughput result")?;
    let batch = num(&tp, "batch").max(1);
    let matrix: Vec<&Value> = lines.iter().filter(|v| v["kind"] == "matrix_rtt").collect();

    println!();
    if let Some(w) = emulation_warning(&accel) {
        println!("{w}");
    }
    println!(
        "URPC benchmark: {} | {} | {} cores | TSC {} MHz | cores {} -> {}",
        machine["cpu"].as_str().unwrap_or("?"),
        accel.describe(),
        num(&machine, "cores"),
        num(&machine, "tsc_hz") / 1_000_000,
        num(&pp, "a"),
        num(&pp, "b")
    );
    println!(
        "{:<40} {:>10} {:>10} {:>10}",
        "measurement (cycles)", "median", "p99", "samples"
    );
    let row = |name: &str, v: &Value, div: u64| {
        println!(
            "{:<40} {:>10} {:>10} {:>10}",
            name,
            num(v, "median") / div,
            num(v, "p99") / div,
            num(v, "count")
        );
    };
    if let Some(clock) = get("rdtsc") {
        row("reading the clock (rdtsc back to back)", &clock, 1);
    }
    row("cache-line ping-pong, one way", &pp, 2);
    row("cache-line ping-pong, round trip", &pp, 1);
    row("URPC one way (half round trip)", &rtt, 2);
    row("URPC round trip", &rtt, 1);
    row(
        &format!("pipelined, per message ({batch} in flight)"),
        &tp,
        batch,
    );
    let per_msg = num(&tp, "median") as f64 / batch as f64;
    let pp_one = num(&pp, "median") as f64 / 2.0;
    let urpc_one = num(&rtt, "median") as f64 / 2.0;
    println!(
        "URPC one way / ping-pong one way: {:.2}x (goal <= 1.3x); pipelined cost / one way: {:.2} (goal <= 0.5); {:.1} messages per 1000 cycles",
        urpc_one / pp_one.max(1.0),
        per_msg / urpc_one.max(1.0),
        1000.0 / per_msg.max(0.001)
    );
    if !matrix.is_empty() {
        println!("\nURPC one-way latency matrix (median cycles, initiator -> responder):");
        for v in &matrix {
            println!(
                "  {:>2} -> {:>2}: {:>8}  (p99 {:>8})",
                num(v, "a"),
                num(v, "b"),
                num(v, "median") / 2,
                num(v, "p99") / 2
            );
        }
    }

    // The same channels between two user programs (the shell's `bench urpc`). User code
    // runs natively under KVM, PVM's included, so this run may use KVM when the one above
    // could not.
    eprintln!("xtask: user-level URPC (the shell's `bench urpc`)");
    let user = match user_level_urpc(m, timeout) {
        Ok((user_accel, results)) => {
            println!(
                "\nURPC round trip between two user programs over a binding, both polling ({}):",
                user_accel.describe()
            );
            for v in &results {
                println!(
                    "  core {} -> {} ({}): median {} cycles, p99 {} ({} round trips)",
                    num(v, "core"),
                    num(v, "peer"),
                    v["relation"].as_str().unwrap_or("?"),
                    num(v, "median"),
                    num(v, "p99"),
                    num(v, "count")
                );
            }
            json!({
                "accelerator": user_accel.describe(),
                "emulated": user_accel != Accel::Kvm,
                "warning": emulation_warning(&user_accel),
                "round_trips": results,
            })
        }
        Err(e) => {
            eprintln!("xtask: user-level URPC benchmark failed: {e}");
            Value::Null
        }
    };

    let out_dir = paths::target().join("bench");
    std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
    let host = if with_host {
        eprintln!("xtask: host benchmark (two pinned Linux threads, same channel code)");
        match host_bench(&out_dir.join("urpc-host.json")) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("xtask: host benchmark failed: {e}");
                Value::Null
            }
        }
    } else {
        Value::Null
    };
    let report = json!({
        "benchmark": "urpc",
        "accelerator": accel.describe(),
        "emulated": accel != Accel::Kvm,
        "warning": emulation_warning(&accel),
        "machine": machine,
        "qemu": r.cmdline,
        "pair": {"initiator": num(&pp, "a"), "responder": num(&pp, "b")},
        "rdtsc": get("rdtsc"),
        "pingpong_round_trip": pp,
        "urpc_round_trip": rtt,
        "throughput_batches": tp,
        "derived": {
            "pingpong_one_way_median": pp_one,
            "urpc_one_way_median": urpc_one,
            "urpc_over_pingpong": urpc_one / pp_one.max(1.0),
            "pipelined_cycles_per_message": per_msg,
            "messages_per_1000_cycles": 1000.0 / per_msg.max(0.001),
        },
        "matrix_round_trip": matrix,
        "user_level": user,
        "host_linux_threads": host,
    });
    let path = out_dir.join("urpc.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    println!("\nwritten: {}", path.display());
    Ok(())
}

/// The shell's `bench urpc` on `m` with two NUMA nodes (so that it measures a package
/// neighbour and a core of another node): its `urpc_rtt` results. Uses KVM when `m` asks
/// for it and `/dev/kvm` opens, PVM's included (the round trips are user code).
fn user_level_urpc(m: &Machine, timeout: Duration) -> Result<(Accel, Vec<Value>), String> {
    let m = Machine {
        numa_nodes: 2.min(m.smp),
        ..m.clone()
    };
    let cfg = [("run@0", "shell --batch bench urpc")];
    let (accel, r) = boot_bench_on(&m, qemu::choose_accel(&m), "bench-urpc-user", &cfg, timeout)?;
    let results: Vec<Value> = bench_lines(&r.log)
        .into_iter()
        .filter(|v| v["kind"] == "urpc_rtt")
        .collect();
    if r.exit != Exit::Success || results.is_empty() {
        return Err(format!(
            "the run did not finish ({:?}); last lines:\n{}",
            r.exit,
            r.tail(20)
        ));
    }
    Ok((accel, results))
}

/// Build the system, make a batch image with `cfg` (no framebuffer console) in
/// `target/xtask/DIR`, and boot it on `m` (KVM when it can and it is not PVM's, saying so
/// when it cannot).
pub(crate) fn boot_bench(
    m: &Machine,
    dir: &str,
    cfg: &[(&str, &str)],
    timeout: Duration,
) -> Result<(Accel, qemu::RunResult), String> {
    boot_bench_on(m, qemu::choose_bench_accel(m), dir, cfg, timeout)
}

/// [`boot_bench`] under `accel` (chosen by the caller).
fn boot_bench_on(
    m: &Machine,
    accel: Accel,
    dir: &str,
    cfg: &[(&str, &str)],
    timeout: Duration,
) -> Result<(Accel, qemu::RunResult), String> {
    deps::ensure(&[deps::QEMU])?;
    let built = images::build_all()?;
    let dir = paths::xtask_out().join(dir);
    let mut extra = cfg.to_vec();
    extra.push(("fbcon", "0"));
    let cfg = crate::boot_cfg(true, &extra);
    let image = images::make_image(&built, &dir, Firmware::Bios, &cfg)?;
    if let Some(w) = emulation_warning(&accel) {
        eprintln!("xtask: {w}");
    }
    let opts = RunOptions {
        timeout: Some(timeout),
        echo: false,
        interactive: false,
    };
    let r = qemu::run(&bench_machine(m, &accel), &image, &opts)?;
    Ok((accel, r))
}

/// `m`, asking for KVM only if the benchmark is to use it.
fn bench_machine(m: &Machine, accel: &Accel) -> Machine {
    Machine {
        kvm: *accel == Accel::Kvm,
        ..m.clone()
    }
}

/// `cargo xtask bench lrpc`: the null syscall and the same-core LRPC round trip (a program
/// calling its core's monitor through an EndPoint capability), measured by a user program
/// with `rdtsc` on every core.
pub fn lrpc(m: &Machine, timeout: Duration, calls: usize) -> Result<(), String> {
    let run = format!("probe lrpc {calls}");
    let (accel, r) = boot_bench(m, "bench-lrpc", &[("run", &run)], timeout)?;
    let lines = bench_lines(&r.log);
    let of = |k: &str| -> Vec<Value> { lines.iter().filter(|v| v["kind"] == k).cloned().collect() };
    let (null, rtt) = (of("null_syscall"), of("lrpc_rtt"));
    if r.exit != Exit::Success || null.is_empty() || rtt.is_empty() {
        return Err(format!(
            "the benchmark run did not finish ({:?}); last lines:\n{}",
            r.exit,
            r.tail(30)
        ));
    }
    println!();
    if let Some(w) = emulation_warning(&accel) {
        println!("{w}");
    }
    println!(
        "LRPC benchmark: {} | {} cores | {calls} calls per core",
        accel.describe(),
        m.smp
    );
    println!(
        "{:<6} {:>22} {:>22}",
        "core", "null syscall med/p99", "LRPC round trip med/p99"
    );
    for (n, l) in null.iter().zip(&rtt) {
        println!(
            "{:<6} {:>12}/{:<9} {:>12}/{:<9}",
            num(n, "core"),
            num(n, "median"),
            num(n, "p99"),
            num(l, "median"),
            num(l, "p99")
        );
    }
    let out_dir = paths::target().join("bench");
    std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
    let report = json!({
        "benchmark": "lrpc",
        "accelerator": accel.describe(),
        "emulated": accel != Accel::Kvm,
        "warning": emulation_warning(&accel),
        "qemu": r.cmdline,
        "calls_per_core": calls,
        "null_syscall": null,
        "lrpc_round_trip": rtt,
    });
    let path = out_dir.join("lrpc.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    println!("\nwritten: {}", path.display());
    Ok(())
}

/// The queries `cargo xtask bench skb` times (the probe's `skb-bench` runs the same).
const SKB_GOALS: [&str; 4] = [
    "alloc_node(1, N)",
    "place_dispatchers(8, Cs)",
    "multicast_tree(0, T)",
    "transport(0, 1, T)",
];

/// `cargo xtask bench skb`: the latency of placement and routing queries (1) asked of the
/// SKB service over a URPC binding by a program on the last core of a booted machine
/// (round trip, cycles), and (2) run by the engine on the host with the facts of the
/// largest real server dump in `../shared/acpi` (microseconds).
pub fn skb(m: &Machine, timeout: Duration, count: usize) -> Result<(), String> {
    let key = format!("run@{}", m.smp.saturating_sub(1));
    let run = format!("probe skb-bench {count}");
    let (accel, r) = boot_bench(m, "bench-skb", &[(key.as_str(), run.as_str())], timeout)?;
    let lines: Vec<Value> = bench_lines(&r.log)
        .into_iter()
        .filter(|v| v["kind"] == "skb_query")
        .collect();
    if r.exit != Exit::Success || lines.len() != SKB_GOALS.len() {
        return Err(format!(
            "the benchmark run did not finish ({:?}); last lines:\n{}",
            r.exit,
            r.tail(30)
        ));
    }
    // The host engine on the largest dump (most enabled CPUs).
    let mut best: Option<(usize, std::path::PathBuf, topology::Topology)> = None;
    let acpi = paths::shared().join("acpi");
    let entries = std::fs::read_dir(&acpi).map_err(|e| format!("{}: {e}", acpi.display()))?;
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().and_then(|x| x.to_str()) != Some("acpidump") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        let Ok(t) = topology::from_acpidump_text(&text, topology::CpuHint::NONE) else {
            continue;
        };
        let n = t.enabled_cpu_count();
        if best.as_ref().is_none_or(|b| n > b.0) {
            best = Some((n, p, t));
        }
    }
    let mut host = Vec::new();
    if let Some((n, path, t)) = &best {
        let mut s = skb::Skb::with_system_rules();
        s.consult(&crate::skbfacts::facts(t))
            .map_err(|e| format!("facts of {}: {e}", path.display()))?;
        for goal in SKB_GOALS {
            let mut us = Vec::new();
            for _ in 0..count {
                let t0 = std::time::Instant::now();
                s.query(goal, skb::Limits::default())
                    .map_err(|e| format!("{goal}: {e}"))?;
                us.push(t0.elapsed().as_secs_f64() * 1e6);
            }
            us.sort_by(f64::total_cmp);
            host.push(
                json!({"goal": goal, "cpus": n, "median_us": us[us.len() / 2], "min_us": us[0]}),
            );
        }
    }
    println!();
    if let Some(w) = emulation_warning(&accel) {
        println!("{w}");
    }
    println!(
        "SKB query latency: {} | {} cores | {count} queries each, from core {}",
        accel.describe(),
        m.smp,
        m.smp.saturating_sub(1)
    );
    println!(
        "{:<28} {:>16} {:>16}",
        "query", "median cycles", "min cycles"
    );
    for l in &lines {
        println!(
            "{:<28} {:>16} {:>16}",
            l["goal"].as_str().unwrap_or("?"),
            num(l, "median"),
            num(l, "min")
        );
    }
    if let Some((n, path, _)) = &best {
        println!(
            "\nhost engine (release build of xtask? {}), facts of {} ({n} CPUs):",
            if cfg!(debug_assertions) {
                "no: debug"
            } else {
                "yes"
            },
            path.file_name().and_then(|x| x.to_str()).unwrap_or("?")
        );
        for h in &host {
            println!(
                "{:<28} {:>12.1} us median {:>10.1} us min",
                h["goal"].as_str().unwrap_or("?"),
                h["median_us"].as_f64().unwrap_or(0.0),
                h["min_us"].as_f64().unwrap_or(0.0)
            );
        }
    }
    let out_dir = paths::target().join("bench");
    std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
    let report = json!({
        "benchmark": "skb",
        "accelerator": accel.describe(),
        "emulated": accel != Accel::Kvm,
        "warning": emulation_warning(&accel),
        "qemu": r.cmdline,
        "queries": lines,
        "host_dump": best.as_ref().map(|b| b.1.display().to_string()),
        "host_debug_build": cfg!(debug_assertions),
        "host": host,
    });
    let path = out_dir.join("skb.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    println!("\nwritten: {}", path.display());
    Ok(())
}

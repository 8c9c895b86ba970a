//! The shell. Interactive (`shell`, or `shell --console fb`) it owns a console: the serial
//! console of the serial driver (what `cargo xtask run` starts it on) or the framebuffer
//! console; it reads keys, edits the line (history, cursor keys), runs the line's commands
//! and writes their output there. `shell --batch 'CMD; CMD'` (what `cargo xtask run
//! --batch` starts on core 0) runs the commands one after the other, prints each one's
//! output on the kernel console (one log line per output line, prefixed `shell:`), and
//! powers the machine off with a failed status if any command failed. Parsing, the command
//! table, line editing and tables are in `shell-core`; this program carries the commands out
//! by asking the monitor (cores, programs, memory, capabilities, spawning, killing, log
//! level, power), the SKB (queries, PCI devices) and by starting benchmark programs.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;

use libos::binding::BindError;
use libos::console::Console;
use libos::monitor::{self, op, MonError};
use libos::println;
use libos::time::Deadline;
use shell_core::{BenchKind, Command, Event, LineEditor, SpawnTarget};

libos::entry!(main);

/// How long `bench` waits for its benchmark program, in milliseconds.
const BENCH_PATIENCE_MS: u64 = 600_000;
/// How long `wait` waits.
const WAIT_PATIENCE_MS: u64 = 600_000;

/// How long the interactive shell waits for its console's driver, in milliseconds.
const CONSOLE_PATIENCE_MS: u64 = 120_000;
/// The prompt.
const PROMPT: &[u8] = b"> ";

fn main() -> i32 {
    let args = libos::args().trim();
    if let Some(cmds) = args.strip_prefix("--batch") {
        return batch(cmds.trim());
    }
    let name = match args {
        "" | "--console serial" => libos::console::SERIAL,
        "--console fb" => libos::console::FRAMEBUFFER,
        other => {
            println!(
                "usage: shell [--console serial|fb] | shell --batch 'CMD; CMD' (not `{other}`)"
            );
            return 2;
        }
    };
    interactive(name)
}

/// The interactive shell on console `name`.
fn interactive(name: &str) -> i32 {
    let mut con = match Console::connect(name, CONSOLE_PATIENCE_MS) {
        Ok(c) => c,
        Err(e) => {
            println!("no console `{name}`: {e:?}");
            return 1;
        }
    };
    println!(
        "interactive on console `{name}` (core {})",
        libos::core_id()
    );
    let Err(e) = session(&mut con, name);
    println!("console `{name}` lost: {e:?}");
    1
}

/// Read lines from `con`, run them and write their output, until the console fails.
fn session(con: &mut Console, name: &str) -> Result<core::convert::Infallible, BindError> {
    let banner = format!(
        "\nmultikernel shell on core {} ({name}); `help` lists the commands\n",
        libos::core_id()
    );
    let mut editor = LineEditor::new();
    let mut input = Vec::new();
    let mut out = Vec::new();
    let mut done = 0usize;
    out.extend_from_slice(banner.as_bytes());
    out.extend_from_slice(PROMPT);
    loop {
        if !out.is_empty() {
            con.write(&out)?;
            out.clear();
        }
        input.clear();
        match con.try_read()? {
            Some(bytes) => input.extend_from_slice(bytes),
            None => {
                libos::yield_now();
                continue;
            }
        }
        for &b in &input {
            let line = match editor.feed(b, &mut out) {
                Some(Event::Line(l)) => l,
                Some(Event::Interrupted) => {
                    out.extend_from_slice(PROMPT);
                    continue;
                }
                None => continue,
            };
            // The echo first: a command may take a while.
            con.write(&out)?;
            out.clear();
            for r in shell_core::parse_line(&line) {
                done += 1;
                // A failed command is not a failed session: `shutdown` here is a clean end.
                let r = r.map_err(|e| e.to_string()).and_then(|c| run(&c, done, 0));
                let text = r.unwrap_or_else(|e| format!("error: {e}"));
                if !text.is_empty() {
                    out.extend_from_slice(text.trim_end_matches('\n').as_bytes());
                    out.push(b'\n');
                }
            }
            out.extend_from_slice(PROMPT);
        }
    }
}

/// A domain id as the shell shows it: `CORE:DISPATCHER`.
struct Dom(u64);

impl core::fmt::Display for Dom {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}:{}", self.0 >> 32, self.0 & 0xffff_ffff)
    }
}

/// Run a batch; power off at the end with the outcome.
fn batch(cmds: &str) -> i32 {
    let mut failed = 0usize;
    let mut total = 0usize;
    for text in shell_core::split_commands(cmds) {
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        total += 1;
        println!("$ {text}");
        // Powering off ends the batch: its summary first.
        let ends = matches!(
            shell_core::parse_line(text).first(),
            Some(Ok(Command::Shutdown | Command::Reboot))
        );
        if ends {
            println!("batch done: {total} commands, {failed} failed");
        }
        let r = shell_core::tokenize(text)
            .map_err(|e| e.to_string())
            .and_then(|t| shell_core::parse_command(&t).map_err(|e| e.to_string()))
            .and_then(|c| run(&c, total, failed));
        match r {
            Ok(out) => {
                for line in out.lines() {
                    println!("{line}");
                }
            }
            Err(e) => {
                failed += 1;
                println!("error: {e}");
            }
        }
    }
    println!("batch done: {total} commands, {failed} failed");
    let status = u64::from(failed > 0);
    if let Err(e) = power(0, status) {
        println!("cannot power off: {e:?}");
    }
    i32::from(failed > 0)
}

fn power(how: u64, status: u64) -> Result<(), MonError> {
    monitor::request_wait(op::POWER, how, &monitor::bytes_of(&[status])).map(|_| ())
}

fn mon_err(e: MonError) -> String {
    format!("{e:?}")
}

/// Carry out one command; its output, or the error message.
fn run(c: &Command, done: usize, failed: usize) -> Result<String, String> {
    match c {
        Command::Help => Ok(shell_core::help_text()),
        Command::Echo(s) => Ok(s.clone()),
        Command::Cores => cores(),
        Command::Ps => ps(),
        Command::Mem => mem(),
        Command::Caps { prog } => caps(prog),
        Command::Skb { query } => libos::skb::query(query).map_err(|e| format!("{e:?}")),
        Command::Spawn { prog, args, target } => spawn(prog, &args.join(" "), *target),
        Command::Kill { domain } => monitor::request_wait(op::KILL, *domain, &[])
            .map(|_| format!("killed {}", Dom(*domain)))
            .map_err(mon_err),
        Command::Wait { domain } => wait(*domain, WAIT_PATIENCE_MS)
            .map(|()| format!("{} exited with status 0", Dom(*domain))),
        Command::Lspci => lspci(),
        Command::Dmesg(core) => dmesg(*core),
        Command::Bench(k) => bench(*k),
        Command::Log(level) => {
            let n = match level.name() {
                "error" => 1,
                "warn" => 2,
                "info" => 3,
                "debug" => 4,
                _ => 5,
            };
            monitor::request_wait(op::LOG, n, &[])
                .map(|_| format!("log level {}", level.name()))
                .map_err(mon_err)
        }
        Command::Shutdown | Command::Reboot => {
            let reset = matches!(c, Command::Reboot);
            power(u64::from(reset), u64::from(failed > 0)).map_err(mon_err)?;
            Ok(format!("({done} commands so far)"))
        }
    }
}

/// Every core: `(core, apic, package, node, up)`.
fn core_rows() -> Result<Vec<monitor::CoreInfo>, String> {
    monitor::cores_info().map_err(mon_err)
}

/// The cores whose monitor is up.
fn up_cores() -> Result<Vec<u32>, String> {
    Ok(core_rows()?
        .iter()
        .filter(|r| r.monitor_up)
        .map(|r| r.core)
        .collect())
}

fn cores() -> Result<String, String> {
    let rows: Vec<Vec<String>> = core_rows()?
        .iter()
        .map(|r| {
            alloc::vec![
                r.core.to_string(),
                r.apic_id.to_string(),
                r.package.to_string(),
                r.node.to_string(),
                String::from(if r.monitor_up { "up" } else { "down" }),
            ]
        })
        .collect();
    let n = rows.len();
    Ok(format!(
        "{}{n} cores",
        shell_core::table(&["core", "apic", "package", "node", "monitor"], &rows)
    ))
}

/// Every domain: `(domain, program)`.
fn domains() -> Result<Vec<(u64, String)>, String> {
    let mut text = Vec::new();
    loop {
        let (st, bytes) =
            monitor::request_bytes(op::PS, text.len() as u64, &[]).map_err(mon_err)?;
        if st != monitor::status::OK {
            return Err(format!("monitor status {st}"));
        }
        if bytes.is_empty() {
            break;
        }
        text.extend_from_slice(&bytes);
        if text.len() > 1 << 20 {
            break;
        }
    }
    let text = core::str::from_utf8(&text).map_err(|_| String::from("bad domain list"))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((id, name)) = line.split_once(' ') else {
            continue;
        };
        let Some((c, d)) = id.split_once(':') else {
            continue;
        };
        if let (Ok(c), Ok(d)) = (c.parse::<u64>(), d.parse::<u64>()) {
            out.push((c << 32 | d, String::from(name)));
        }
    }
    Ok(out)
}

fn ps() -> Result<String, String> {
    let ds = domains()?;
    let rows: Vec<Vec<String>> = ds
        .iter()
        .map(|(d, name)| {
            alloc::vec![
                (d >> 32).to_string(),
                (d & 0xffff_ffff).to_string(),
                format!("{d:#x}"),
                name.clone(),
            ]
        })
        .collect();
    Ok(format!(
        "{}{} programs",
        shell_core::table(&["core", "dispatcher", "domain", "program"], &rows),
        rows.len()
    ))
}

fn mem() -> Result<String, String> {
    let mut rows = Vec::new();
    let mut nodes: Vec<(u64, u64)> = Vec::new();
    for r in core_rows()?.iter().filter(|r| r.monitor_up) {
        let w = monitor::request_wait(op::MEM, u64::from(r.core), &[]).map_err(mon_err)?;
        let (free, node) = (
            w.first().copied().unwrap_or(0),
            w.get(1).copied().unwrap_or(0),
        );
        match nodes.iter_mut().find(|(n, _)| *n == node) {
            Some((_, f)) => *f += free,
            None => nodes.push((node, free)),
        }
        rows.push(alloc::vec![
            r.core.to_string(),
            node.to_string(),
            (free >> 20).to_string()
        ]);
    }
    let mut out = shell_core::table(&["core", "node", "free MiB"], &rows);
    let node_rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|(n, f)| alloc::vec![n.to_string(), (f >> 20).to_string()])
        .collect();
    out.push_str(&shell_core::table(&["node", "free MiB"], &node_rows));
    Ok(out)
}

fn type_name(t: u64) -> String {
    caps::abi::CapType::ALL
        .iter()
        .find(|c| **c as u64 == t)
        .map_or_else(|| format!("type {t}"), |c| format!("{c:?}"))
}

/// Bytes of each core's kernel log `dmesg` shows without a core number (the newest whole
/// lines; `dmesg CORE` shows all that core keeps).
const DMESG_TAIL: u64 = 4096;

/// The kernel log core `core` keeps, or the newest lines of every core's. What is logged
/// while it is read is left for the next `dmesg`.
fn dmesg(core: Option<u32>) -> Result<String, String> {
    let cores: Vec<u32> = match core {
        Some(c) => alloc::vec![c],
        None => up_cores()?,
    };
    let mut out = String::new();
    for c in cores {
        let fail = |e| format!("dmesg: core {c}: {}", mon_err(e));
        // Reading past the end gives the end.
        let (end, _) = monitor::klog(c, u64::MAX).map_err(fail)?;
        let want = match core {
            Some(_) => 0,
            None => end.saturating_sub(DMESG_TAIL),
        };
        let mut pos = want;
        let mut start = None;
        let mut text = Vec::new();
        while pos < end {
            let (from, bytes) = monitor::klog(c, pos).map_err(fail)?;
            if bytes.is_empty() {
                break;
            }
            start.get_or_insert(from);
            text.extend_from_slice(&bytes);
            pos = from + bytes.len() as u64;
        }
        text.truncate(
            text.len()
                .saturating_sub((pos.saturating_sub(end)) as usize),
        );
        // A tail that starts inside a line starts at the next one.
        let mut shown = text.as_slice();
        if start == Some(want) && want > 0 {
            if let Some(i) = shown.iter().position(|&b| b == b'\n') {
                shown = &shown[i + 1..];
            }
        }
        let from = end - shown.len() as u64;
        let _ = writeln!(out, "core {c}: kernel log bytes {from}..{end}");
        out.push_str(&String::from_utf8_lossy(shown));
    }
    Ok(out)
}

fn caps(prog: &str) -> Result<String, String> {
    let targets: Vec<(u64, String)> = domains()?
        .into_iter()
        .filter(|(d, name)| name == prog || Dom(*d).to_string() == prog)
        .collect();
    if targets.is_empty() {
        return Err(format!("caps: no program `{prog}` (see ps)"));
    }
    let mut out = String::new();
    for (d, name) in targets {
        let mut rows = Vec::new();
        let mut from = 0u64;
        while from < monitor::CAPS_SLOTS {
            let w =
                monitor::request_wait(op::CAPS, d, &monitor::bytes_of(&[from])).map_err(mon_err)?;
            let Some((&next, rest)) = w.split_first() else {
                break;
            };
            for c in rest.as_chunks::<4>().0 {
                let slot = match c[0].checked_sub(monitor::CAPS_PAGE_SLOTS_FROM) {
                    None => c[0].to_string(),
                    Some(i) => format!("{}.{i}", abi::ROOT_SLOT_PAGECN),
                };
                rows.push(alloc::vec![
                    slot,
                    type_name(c[1]),
                    format!("{:#x}", c[2]),
                    c[3].to_string(),
                ]);
            }
            if next <= from {
                break;
            }
            from = next;
        }
        let _ = writeln!(out, "{name} ({}):", Dom(d));
        out.push_str(&shell_core::table(
            &["slot", "type", "base", "bytes"],
            &rows,
        ));
    }
    Ok(out)
}

fn spawn(prog: &str, args: &str, target: SpawnTarget) -> Result<String, String> {
    let cores: Vec<u32> = match target {
        SpawnTarget::Here => alloc::vec![libos::core_id()],
        SpawnTarget::Core(c) => alloc::vec![c],
        SpawnTarget::All => up_cores()?,
    };
    let mut out = String::new();
    for c in cores {
        let d = monitor::spawn(c, prog, args)
            .map_err(|e| format!("spawn {prog} on core {c}: {e:?}"))?;
        let _ = writeln!(out, "started {prog} on core {c} as {}", Dom(d));
    }
    Ok(out)
}

/// Numbers of a `pci_device(...)` solution line.
fn fact_numbers(line: &str) -> Option<[u64; 7]> {
    let inner = line.trim().strip_prefix("pci_device(")?.strip_suffix(')')?;
    let mut out = [0u64; 7];
    let mut it = inner.split(',');
    for o in &mut out {
        *o = it.next()?.trim().parse().ok()?;
    }
    it.next().is_none().then_some(out)
}

fn lspci() -> Result<String, String> {
    // The PCI driver records the devices shortly after boot, then `pci_scan_done/1`.
    let deadline = Deadline::after_ms(60_000);
    loop {
        match libos::skb::query("pci_scan_done(N)") {
            Ok(a) if !a.starts_with("0 solutions") => break,
            Ok(_) | Err(libos::skb::SkbError::Query(_)) if !deadline.passed() => libos::yield_now(),
            Ok(_) | Err(libos::skb::SkbError::Query(_)) => {
                return Err(String::from(
                    "lspci: the PCI driver has not finished its scan",
                ))
            }
            Err(e) => return Err(format!("{e:?}")),
        }
    }
    let answer =
        libos::skb::query("pci_device(B, D, F, V, I, C, N)").map_err(|e| format!("{e:?}"))?;
    let mut out = String::new();
    let mut n = 0;
    for f in answer.lines().filter_map(fact_numbers) {
        let [bus, dev, func, vendor, device, class, node] = f;
        let (c, s) = ((class >> 16) as u8, (class >> 8) as u8);
        let _ = writeln!(
            out,
            "{bus:02x}:{dev:02x}.{func} {} [{:04x}]: {vendor:04x}:{device:04x} (node {node})",
            pci::class_name(c, s),
            class >> 8
        );
        n += 1;
    }
    if n == 0 {
        return Err(String::from(
            "lspci: no PCI devices in the SKB (has pcid run?)",
        ));
    }
    let _ = write!(out, "{n} PCI functions");
    Ok(out)
}

/// Start a benchmark program on this core and wait until it has ended.
fn bench(k: BenchKind) -> Result<String, String> {
    let (args, what) = match k {
        BenchKind::Lrpc => ("lrpc 1000", "LRPC"),
        BenchKind::Tlb => ("tlb-bench 2,4", "TLB shootdown"),
        BenchKind::Urpc => ("urpc-bench 1000", "URPC"),
    };
    // The TLB benchmark spans its program from core 0. The LRPC and URPC benchmarks run on
    // another core than the shell's when there is one (the URPC one then starts its echo
    // ends on cores of its package and of another node): the shell asks its own monitor whether the
    // benchmark ended, and an LRPC call finding the monitor busy with the shell would be
    // refused.
    let me = libos::core_id();
    let core = match k {
        BenchKind::Tlb => 0,
        _ => core_rows()?
            .iter()
            .rev()
            .find(|r| r.monitor_up && r.core != me)
            .map_or(me, |r| r.core),
    };
    let d = monitor::spawn(core, "probe", args).map_err(mon_err)?;
    // The benchmark program checks what it measures: it fails (or is killed) when a check
    // fails, and then so does the command.
    wait(d, BENCH_PATIENCE_MS).map_err(|e| format!("bench: {what} benchmark: {e}"))?;
    Ok(format!(
        "{what} benchmark ({}) ended; its results are in the log above",
        Dom(d)
    ))
}

/// Wait until domain `d` has ended (at most `patience_ms`); an error unless it exited with
/// status 0.
fn wait(d: u64, patience_ms: u64) -> Result<(), String> {
    let deadline = Deadline::after_ms(patience_ms);
    while domains()?.iter().any(|(x, _)| *x == d) {
        if deadline.passed() {
            return Err(format!(
                "{} did not end in {} s",
                Dom(d),
                patience_ms / 1000
            ));
        }
        // Ask again in 100 ms, disturbing the domain's core as little as possible.
        let next = Deadline::after_ms(100);
        while !next.passed() {
            libos::yield_now();
        }
    }
    match monitor::exit_status(d) {
        Ok(0) => Ok(()),
        Ok(abi::EXIT_KILLED) => Err(format!("{} was killed; see the log above", Dom(d))),
        Ok(s) => Err(format!(
            "{} failed (exit status {s}); see the log above",
            Dom(d)
        )),
        Err(MonError::NotFound) => Err(format!(
            "{}: no such domain, or it ended too long ago to know how",
            Dom(d)
        )),
        Err(e) => Err(mon_err(e)),
    }
}

//! `cargo xtask` command line. Run `cargo xtask help` for the commands.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use xtask::images::{self, cargo, Firmware};
use xtask::qemu::{self, Exit, Machine, RunOptions};
use xtask::{deps, paths};

const HELP: &str = "\
cargo xtask <command> [options]

commands:
  build                  build the kernel, user programs, ramdisk, BIOS and UEFI images
  run [options]          boot the system in QEMU into the shell on the serial console (this terminal)
      --smp N            cores (default 32)
      --maxcpus N        MADT entries (default = smp); more than --smp leaves some disabled
      --mem MiB          memory in MiB (default 2048)
      --numa N           NUMA nodes of equal size (default 4; 1 = no NUMA)
      --uefi             boot with OVMF instead of SeaBIOS
      --kvm              use KVM if /dev/kvm opens (else say why and emulate)
      --gdb              wait for gdb on localhost:1234
      --cpu MODEL        QEMU CPU model (e.g. EPYC); QEMU's default otherwise
      --timeout S        kill QEMU after S seconds (failure)
      --batch CMDS       boot, run CMDS ('CMD; CMD') in the shell on core 0, power off;
                         exit 0 only if every command succeeded ('' : just boot to ready)
      --run 'PROG ARGS'  also start the user program PROG on every core (e.g. probe hello);
                         '@N PROG ARGS' on core N only
      --no-smep-smap     leave SMEP and SMAP off (for comparing)
      --syscall GATE     how programs enter the kernel: `syscall` or `int` (int 0x80);
                         default: `int` under a PVM hypervisor, `syscall` elsewhere
      --log LEVEL        kernel log level: error, warn, info, debug, trace
      --inject FAULT     make the kernel fault on purpose: panic, page-fault,
                         double-fault, invalid-opcode (for testing the failure path),
                         or panic@MS (core 0 panics MS ms after its timer started)
  test                   all host unit tests and all QEMU integration tests
      --host             only the host tests
      --qemu             only the QEMU integration tests
  bench urpc [options]   boot and measure URPC against the cache-line ping-pong (KVM when
                         /dev/kvm opens), then between two user programs (the shell's
                         `bench urpc`), plus the same channel code between two pinned
                         Linux threads; table on the terminal, JSON in target/bench/urpc.json
      --smp N            cores (default 4)   --emulate  do not use KVM   --no-host
      --timeout S        time limit (default 900)
  topology DUMP          read a Linux `acpidump` text file (what `sudo acpidump` prints) and
                         print the machine's topology as JSON, with the kernel's own code
  bench lrpc [options]   the null syscall and the same-core LRPC round trip on every core
                         (same options); JSON in target/bench/lrpc.json
  bench skb [options]    SKB query latency: from the last core of a 32-core boot over a URPC
                         binding (--smp N to change), and the host engine on the largest
                         server dump in ../shared/acpi; JSON in target/bench/skb.json
  bench tlb [options]    TLB shootdown latency per protocol (ipi, unicast, broadcast,
                         multicast, numa) against core count, from a 32-core, 4-node boot
                         (--smp N to change); table with the growth per added core, JSON in
                         target/bench/tlb.json, plot in target/bench/tlb.svg
      --host-linux       also time Linux's own shootdown on this host (mprotect downgrade of
                         a page read by threads pinned to the other CPUs)
      --host-linux-only  only that, no QEMU (writes tlb-linux.json and tlb-linux.svg)
  skb [FILE.pl ...] [--acpi DUMP] -q GOAL
                         the System Knowledge Base on the host: loads the rule library, the
                         files and (with --acpi) the facts of a Linux acpidump, and prints
                         every solution of GOAL, then `N solutions`
  image DIR              write BIOS and UEFI images for real hardware into DIR
  help                   this text
";

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("xtask: error: {msg}");
    ExitCode::FAILURE
}

struct Args(Vec<String>);

impl Args {
    fn flag(&mut self, name: &str) -> bool {
        match self.0.iter().position(|a| a == name) {
            Some(i) => {
                self.0.remove(i);
                true
            }
            None => false,
        }
    }

    fn value(&mut self, name: &str) -> Result<Option<String>, String> {
        match self.0.iter().position(|a| a == name) {
            Some(i) if i + 1 < self.0.len() => {
                let v = self.0.remove(i + 1);
                self.0.remove(i);
                Ok(Some(v))
            }
            Some(_) => Err(format!("{name} needs a value")),
            None => Ok(None),
        }
    }

    fn number<T: std::str::FromStr>(&mut self, name: &str) -> Result<Option<T>, String> {
        match self.value(name)? {
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| format!("{name}: `{v}` is not a number")),
            None => Ok(None),
        }
    }

    fn finish(self) -> Result<Vec<String>, String> {
        match self.0.iter().find(|a| a.starts_with("--")) {
            Some(a) => Err(format!("unknown option `{a}` (see `cargo xtask help`)")),
            None => Ok(self.0),
        }
    }
}

fn cmd_build() -> Result<(), String> {
    let built = images::build_all()?;
    let dir = paths::xtask_out().join("images");
    for fw in [Firmware::Bios, Firmware::Uefi] {
        let img = images::make_image(&built, &dir, fw, &xtask::boot_cfg(false, &[]))?;
        println!("{} image: {}", fw.name(), img.display());
    }
    Ok(())
}

fn cmd_run(mut args: Args) -> Result<ExitCode, String> {
    let mut m = Machine::default();
    if let Some(n) = args.number("--smp")? {
        m.smp = n;
    }
    m.maxcpus = args.number("--maxcpus")?;
    if let Some(n) = args.number("--mem")? {
        m.mem_mb = n;
    }
    if let Some(n) = args.number("--numa")? {
        m.numa_nodes = n;
    } else if m.smp < m.numa_nodes {
        m.numa_nodes = 1;
    }
    if args.flag("--uefi") {
        m.firmware = Firmware::Uefi;
    }
    m.kvm = args.flag("--kvm");
    m.gdb = args.flag("--gdb");
    m.cpu = args.value("--cpu")?;
    let timeout: Option<u64> = args.number("--timeout")?;
    let batch = args.value("--batch")?;
    let inject = args.value("--inject")?;
    let log_level = args.value("--log")?;
    let run_prog = args.value("--run")?;
    let no_smep = args.flag("--no-smep-smap");
    let syscall_gate = args.value("--syscall")?;
    let rest = args.finish()?;
    if let Some(r) = rest.first() {
        return Err(format!("unexpected argument `{r}`"));
    }
    if m.smp == 0 {
        return Err("--smp must be at least 1".into());
    }

    let mut needed = vec![deps::QEMU];
    if m.firmware == Firmware::Uefi {
        needed.push(deps::OVMF);
    }
    deps::ensure(&needed)?;
    let built = images::build_all()?;
    let mut extra: Vec<(&str, &str)> = Vec::new();
    if let Some(i) = inject.as_deref() {
        extra.push(("inject", i));
    }
    if let Some(l) = log_level.as_deref() {
        extra.push(("log", l));
    }
    // `--run '@N PROG ARGS'` runs the program on core N only.
    let run_at = run_prog.as_deref().and_then(|r| {
        let (core, prog) = r.strip_prefix('@')?.split_once(' ')?;
        core.parse::<u32>()
            .ok()
            .map(|c| (format!("run@{c}"), prog.to_string()))
    });
    // Batch commands go to the shell on core 0.
    let batch_cmds = batch.as_deref().map(str::trim).filter(|c| !c.is_empty());
    let shell_run = batch_cmds.map(|c| format!("shell --batch {c}"));
    if let Some(s) = shell_run.as_deref() {
        extra.push(("run@0", s));
    }
    if let Some((key, prog)) = run_at.as_ref() {
        extra.push((key.as_str(), prog.as_str()));
    } else if let Some(r) = run_prog.as_deref() {
        extra.push(("run", r));
    }
    if no_smep {
        extra.push(("smep_smap", "0"));
    }
    match syscall_gate.as_deref() {
        None => {}
        Some(g @ ("int" | "syscall")) => extra.push(("syscall", g)),
        Some(g) => return Err(format!("--syscall takes `int` or `syscall`, not `{g}`")),
    }
    let cfg = xtask::boot_cfg(batch.is_some(), &extra);
    let dir = paths::xtask_out().join("run");
    let image = images::make_image(&built, &dir, m.firmware, &cfg)?;

    let accel = qemu::choose_accel(&m);
    if let qemu::Accel::Emulation(Some(why)) = &accel {
        eprintln!("xtask: KVM not used ({why}); emulating");
    }
    let opts = RunOptions {
        timeout: timeout.map(Duration::from_secs),
        echo: true,
        interactive: batch.is_none(),
    };
    eprintln!(
        "xtask: booting {} cores, {} MiB, {} NUMA node(s), {}, {}{}",
        m.smp,
        m.mem_mb,
        m.numa_nodes.max(1),
        m.firmware.name(),
        accel.describe(),
        if batch.is_none() {
            " (quit: Ctrl-A X)"
        } else {
            ""
        }
    );
    let r = qemu::run(&m, &image, &opts)?;
    let ready = r.log.contains(xtask::READY_MARKER);
    let commands: Vec<&str> = batch
        .as_deref()
        .unwrap_or("")
        .split(';')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    let batch_done = r.log.lines().find_map(|l| {
        l.split_once("shell: batch done: ")
            .map(|(_, rest)| rest.to_string())
    });
    match (&r.exit, ready) {
        (Exit::Success | Exit::KernelFailure, _) if !commands.is_empty() => match batch_done {
            Some(summary) if r.exit == Exit::Success => {
                eprintln!("xtask: batch: {summary}");
                Ok(ExitCode::SUCCESS)
            }
            Some(summary) => Err(format!("batch: {summary}")),
            None => Err(format!(
                "the shell did not finish the batch {commands:?} (see the log above)"
            )),
        },
        (Exit::Success, true) => {
            eprintln!(
                "xtask: system ready; run ended after {:.1} s",
                r.elapsed.as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        (Exit::Success, false) => Err("the kernel exited without reaching `system ready`".into()),
        (Exit::KernelFailure, _) => Err("the kernel reported a failure (see the log above)".into()),
        (Exit::Timeout, _) => Err(format!(
            "time limit of {} s reached{}",
            timeout.unwrap_or(0),
            if ready { "" } else { " before `system ready`" }
        )),
        (Exit::Other(code), _) if batch.is_none() && ready => {
            eprintln!("xtask: QEMU ended ({code:?})");
            Ok(ExitCode::SUCCESS)
        }
        (Exit::Other(code), _) => Err(format!(
            "QEMU ended with status {code:?} (command: {})",
            r.cmdline
        )),
        (Exit::Signal(sig), _) => Err(format!(
            "QEMU was ended by signal {sig} (command: {})",
            r.cmdline
        )),
    }
}

fn status_ok(mut c: Command, what: &str) -> Result<(), String> {
    let s = c.status().map_err(|e| format!("{what}: {e}"))?;
    if s.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({s})"))
    }
}

/// Crates left out of the host test run: those that only build for the bare-metal target,
/// the integration tests (run in the QEMU step), and the image tool (no tests; building it
/// in the test profile would build the bootloader's stages a second time).
const NOT_HOST_TESTED: [&str; 13] = [
    "mkimage",
    "kernel",
    "cpudriver",
    "libos",
    "monitor",
    "probe",
    "skbd",
    "pcid",
    "shell",
    "devmgr",
    "seriald",
    "fbcond",
    "integration-tests",
];

fn cmd_test(mut args: Args) -> Result<(), String> {
    let host_only = args.flag("--host");
    let qemu_only = args.flag("--qemu");
    let filters = args.finish()?;
    let (host, qemu_tests) = match (host_only, qemu_only) {
        (true, false) => (true, false),
        (false, true) => (false, true),
        _ => (true, true),
    };
    if host {
        // The SKB conformance tests compare against SWI-Prolog.
        deps::ensure(&[deps::SWIPL])?;
        eprintln!("xtask: host unit tests");
        let mut c = cargo();
        c.args(["test", "--workspace"]);
        for krate in NOT_HOST_TESTED {
            c.args(["--exclude", krate]);
        }
        if !filters.is_empty() {
            c.arg("--").args(&filters);
        }
        status_ok(c, "host tests")?;
    }
    if qemu_tests {
        deps::ensure(&[deps::QEMU, deps::OVMF])?;
        images::build_all()?;
        eprintln!("xtask: QEMU integration tests");
        let mut c = cargo();
        c.args([
            "test",
            "--package",
            "integration-tests",
            "--",
            "--test-threads=1",
        ]);
        c.args(&filters);
        status_ok(c, "QEMU integration tests")?;
    }
    Ok(())
}

fn cmd_image(args: Args) -> Result<(), String> {
    let rest = args.finish()?;
    let [dir] = rest.as_slice() else {
        return Err("usage: cargo xtask image DIR".into());
    };
    let dir = PathBuf::from(dir);
    let built = images::build_all()?;
    for fw in [Firmware::Bios, Firmware::Uefi] {
        let img = images::make_image(&built, &dir, fw, &xtask::boot_cfg(false, &[]))?;
        println!("{} image: {}", fw.name(), img.display());
    }
    println!(
        "write one to a USB stick with e.g. `dd if=IMAGE of=/dev/sdX bs=4M conv=fsync` \
         (BIOS or UEFI boot), or serve the UEFI one over PXE"
    );
    Ok(())
}

fn cmd_bench(mut args: Args) -> Result<(), String> {
    let smp_arg: Option<u32> = args.number("--smp")?;
    let smp_given = smp_arg.is_some();
    let smp = smp_arg.unwrap_or(4);
    let emulate = args.flag("--emulate");
    let no_host = args.flag("--no-host");
    let host_linux = args.flag("--host-linux");
    let host_linux_only = args.flag("--host-linux-only");
    let timeout = Duration::from_secs(args.number("--timeout")?.unwrap_or(900));
    let rest = args.finish()?;
    let m = Machine {
        smp,
        maxcpus: None,
        mem_mb: 1024,
        numa_nodes: 1,
        firmware: Firmware::Bios,
        kvm: !emulate,
        gdb: false,
        cpu: None,
        ..Machine::default()
    };
    let bench = rest.first().map(String::as_str);
    if (host_linux || host_linux_only) && bench != Some("tlb") {
        return Err("--host-linux and --host-linux-only are options of `bench tlb`".into());
    }
    match bench {
        Some("urpc") => xtask::bench::urpc(&m, timeout, !no_host),
        Some("lrpc") => xtask::bench::lrpc(&m, timeout, 10_000),
        Some("skb") => {
            // The 32-core machine `cargo xtask run` boots, unless --smp says otherwise.
            let mut m = m;
            if m.smp == 4 && !smp_given {
                m.smp = 32;
            }
            m.numa_nodes = 4.min(m.smp);
            m.mem_mb = 2048;
            xtask::bench::skb(&m, timeout, 50)
        }
        Some("tlb") => {
            let mut m = m;
            if !smp_given {
                m.smp = 32;
            }
            m.numa_nodes = 4.min(m.smp);
            m.mem_mb = 2048;
            let o = xtask::tlbbench::Options {
                machine: m,
                timeout,
                guest: !host_linux_only,
                host_linux: host_linux || host_linux_only,
            };
            xtask::tlbbench::tlb(&o).map_err(|e| e.to_string())
        }
        Some(other) => Err(format!(
            "unknown benchmark `{other}` (available: urpc, lrpc, skb, tlb)"
        )),
        None => Err(
            "usage: cargo xtask bench urpc|lrpc|skb|tlb [--smp N] [--emulate] [--no-host]".into(),
        ),
    }
}

fn cmd_topology(args: Args) -> Result<(), String> {
    let rest = args.finish()?;
    let [dump] = rest.as_slice() else {
        return Err("usage: cargo xtask topology DUMP (a Linux acpidump text file)".into());
    };
    let text = std::fs::read(dump).map_err(|e| format!("{dump}: {e}"))?;
    let text = String::from_utf8_lossy(&text);
    let source = std::path::Path::new(dump)
        .file_name()
        .map_or_else(|| dump.clone(), |n| n.to_string_lossy().into_owned());
    let t = topology::from_acpidump_text(&text, topology::CpuHint::NONE)
        .map_err(|e| format!("{dump}: {e}"))?;
    for w in &t.warnings {
        eprintln!("xtask: {dump}: ignored: {w}");
    }
    println!("{}", t.to_json_with_source(&source));
    Ok(())
}

fn cmd_skb(args: Vec<String>) -> Result<ExitCode, String> {
    let mut args = args;
    if let Some(i) = args.iter().position(|a| a == "--acpi") {
        let dump = args
            .get(i + 1)
            .cloned()
            .ok_or("--acpi needs a Linux acpidump file")?;
        args.drain(i..i + 2);
        let text = std::fs::read(&dump).map_err(|e| format!("{dump}: {e}"))?;
        let t =
            topology::from_acpidump_text(&String::from_utf8_lossy(&text), topology::CpuHint::NONE)
                .map_err(|e| format!("{dump}: {e}"))?;
        let dir = paths::xtask_out();
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let facts = dir.join("skb-acpi-facts.pl");
        std::fs::write(&facts, xtask::skbfacts::facts(&t)).map_err(|e| e.to_string())?;
        args.insert(0, facts.to_string_lossy().into_owned());
    }
    let mut out = std::io::stdout().lock();
    match skb::cli::cli_main(&args, &mut out) {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e.to_string()),
    }
}

fn main() -> ExitCode {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.is_empty() {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    let command = argv.remove(0);
    let args = Args(argv);
    let result = match command.as_str() {
        "build" => cmd_build().map(|()| ExitCode::SUCCESS),
        "run" => cmd_run(args),
        "test" => cmd_test(args).map(|()| ExitCode::SUCCESS),
        "image" => cmd_image(args).map(|()| ExitCode::SUCCESS),
        "bench" => cmd_bench(args).map(|()| ExitCode::SUCCESS),
        "topology" => cmd_topology(args).map(|()| ExitCode::SUCCESS),
        "skb" => cmd_skb(args.0),
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!(
            "unknown command `{other}` (see `cargo xtask help`)"
        )),
    };
    result.unwrap_or_else(fail)
}

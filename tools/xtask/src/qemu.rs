//! Running the system in QEMU: the machine description, the command line, and a runner
//! that streams the serial console, enforces a time limit and reports how the run ended.

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::images::Firmware;
use crate::paths;

/// QEMU's exit status when the kernel reports success through `isa-debug-exit`.
pub const EXIT_SUCCESS: i32 = 33;
/// QEMU's exit status when the kernel reports a failure (a panic) through `isa-debug-exit`.
pub const EXIT_FAILURE: i32 = 35;

/// The emulated machine.
#[derive(Clone, Debug)]
pub struct Machine {
    /// Cores present at boot.
    pub smp: u32,
    /// Cores the firmware lists (MADT entries); more than `smp` means disabled entries.
    pub maxcpus: Option<u32>,
    /// Memory in MiB.
    pub mem_mb: u64,
    /// NUMA nodes (0 or 1: no NUMA configuration).
    pub numa_nodes: u32,
    /// BIOS or UEFI.
    pub firmware: Firmware,
    /// Use KVM if it opens.
    pub kvm: bool,
    /// Wait for a debugger on localhost:1234.
    pub gdb: bool,
    /// QEMU CPU model (`-cpu`), or QEMU's default.
    pub cpu: Option<String>,
    /// A QMP socket at this path (tests type on the keyboard and take screenshots).
    pub qmp: Option<std::path::PathBuf>,
    /// The emulated chipset.
    pub chipset: Chipset,
    /// More devices, as QEMU `-device` values (e.g. PCI Express host bridges on a NUMA
    /// node: `pxb-pcie,id=pxb1,bus_nr=64,numa_node=1,bus=pcie.0`).
    pub devices: Vec<String>,
}

/// The chipset QEMU emulates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Chipset {
    /// Q35 (ICH9, PCI Express, an MCFG table): the default.
    #[default]
    Q35,
    /// i440FX (PIIX, conventional PCI, no MCFG: configuration ports only).
    I440fx,
}

impl Default for Machine {
    fn default() -> Self {
        Machine {
            smp: 32,
            maxcpus: None,
            mem_mb: 2048,
            numa_nodes: 4,
            firmware: Firmware::Bios,
            kvm: false,
            gdb: false,
            cpu: None,
            qmp: None,
            chipset: Chipset::Q35,
            devices: Vec::new(),
        }
    }
}

/// The accelerator a run used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualisation.
    Kvm,
    /// Software emulation (TCG), with the reason KVM was not used when it was asked for.
    Emulation(Option<String>),
}

impl Accel {
    /// "KVM" (saying when it is PVM) or "emulation (TCG)".
    pub fn describe(&self) -> &'static str {
        match self {
            Accel::Kvm if kvm_is_pvm() => "KVM (PVM: kernel emulated, user code native)",
            Accel::Kvm => "KVM",
            Accel::Emulation(_) => "emulation (TCG)",
        }
    }
}

/// Check that `/dev/kvm` opens for reading and writing.
pub fn kvm_usable() -> Result<(), String> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map(|_| ())
        .map_err(|e| format!("/dev/kvm does not open: {e}"))
}

/// Pick the accelerator for `m`.
pub fn choose_accel(m: &Machine) -> Accel {
    if !m.kvm {
        return Accel::Emulation(None);
    }
    match kvm_usable() {
        Ok(()) => Accel::Kvm,
        Err(why) => Accel::Emulation(Some(why)),
    }
}

/// Whether this host's `/dev/kvm` is PVM (Linux's `kvm_pvm` module, found in some cloud
/// VMs that have no hardware virtualisation): it runs guest user code natively but a
/// kernel that is not written for PVM (this one) in its instruction emulator.
pub fn kvm_is_pvm() -> bool {
    Path::new("/sys/module/kvm_pvm").exists()
}

/// Pick the accelerator for a benchmark on `m`: as [`choose_accel`], except that KVM
/// provided by PVM is not used (the kernel paths the benchmarks time would be timed in
/// PVM's instruction emulator, some thousand times slower than hardware).
pub fn choose_bench_accel(m: &Machine) -> Accel {
    match choose_accel(m) {
        Accel::Kvm if kvm_is_pvm() => Accel::Emulation(Some(String::from(
            "/dev/kvm is PVM (kvm_pvm), which runs this kernel in its instruction emulator",
        ))),
        a => a,
    }
}

/// The QEMU command line for `m` booting `image`.
/// With `console_input`, the serial console is multiplexed with QEMU's monitor on stdio
/// (`Ctrl-A X` quits, `Ctrl-C` goes to the guest).
pub fn command(
    m: &Machine,
    image: &Path,
    accel: &Accel,
    console_input: bool,
) -> Result<Command, String> {
    let mut c = Command::new("qemu-system-x86_64");
    let chipset = match m.chipset {
        Chipset::Q35 => "q35",
        Chipset::I440fx => "pc",
    };
    c.args(["-machine", chipset, "-display", "none", "-no-reboot"]);
    for d in &m.devices {
        c.args(["-device", d]);
    }
    let serial = if console_input { "mon:stdio" } else { "stdio" };
    c.args(["-serial", serial, "-monitor", "none"]);
    c.args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]);
    match accel {
        Accel::Kvm => c.args(["-accel", "kvm"]),
        Accel::Emulation(_) => c.args(["-accel", "tcg"]),
    };
    if let Some(cpu) = &m.cpu {
        c.args(["-cpu", cpu]);
    }
    if let Some(q) = &m.qmp {
        c.arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", q.display()));
    }
    let total = m.maxcpus.unwrap_or(m.smp).max(m.smp);
    let mut smp = match m.maxcpus {
        Some(max) => format!("{},maxcpus={max}", m.smp),
        None => m.smp.to_string(),
    };
    // A NUMA machine is emulated as one socket per node (a multi-socket server), when the
    // cores divide evenly.
    if m.numa_nodes > 1 && total.is_multiple_of(m.numa_nodes) {
        smp.push_str(&format!(
            ",sockets={},cores={},threads=1",
            m.numa_nodes,
            total / m.numa_nodes
        ));
    }
    c.args(["-smp", &smp]);
    c.args(["-m", &format!("{}M", m.mem_mb)]);
    if m.numa_nodes > 1 {
        let n = m.numa_nodes;
        if n > total {
            return Err(format!(
                "{n} NUMA nodes need at least {n} cores, not {total}"
            ));
        }
        if m.mem_mb < 16 * n as u64 {
            return Err(format!(
                "{} MiB is too little memory for {n} NUMA nodes",
                m.mem_mb
            ));
        }
        let per_mem = m.mem_mb / n as u64;
        for i in 0..n {
            let size = if i == n - 1 {
                m.mem_mb - per_mem * (n as u64 - 1)
            } else {
                per_mem
            };
            let first = total * i / n;
            let last = total * (i + 1) / n - 1;
            c.args([
                "-object",
                &format!("memory-backend-ram,id=m{i},size={size}M"),
            ]);
            c.args([
                "-numa",
                &format!("node,nodeid={i},cpus={first}-{last},memdev=m{i}"),
            ]);
        }
    }
    match m.firmware {
        Firmware::Bios => {}
        Firmware::Uefi => {
            let ovmf = paths::ovmf().ok_or("OVMF firmware is not installed")?;
            c.arg("-bios").arg(ovmf);
        }
    }
    c.arg("-drive")
        .arg(format!("format=raw,file={}", image.display()));
    if m.gdb {
        c.args(["-s", "-S"]);
    }
    Ok(c)
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The kernel reported success through isa-debug-exit.
    Success,
    /// The kernel reported a failure (a panic) through isa-debug-exit.
    KernelFailure,
    /// QEMU ended with another status (e.g. it could not start, or a triple fault).
    Other(Option<i32>),
    /// QEMU was ended by this signal (not by this program's time limit).
    Signal(i32),
    /// The time limit passed; QEMU was killed.
    Timeout,
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// How it ended.
    pub exit: Exit,
    /// Everything QEMU printed (serial console and QEMU's own messages).
    pub log: String,
    /// The QEMU command line, for reproducing the run.
    pub cmdline: String,
    /// The accelerator used.
    pub accel: Accel,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

impl RunResult {
    /// The last `n` lines of the log.
    pub fn tail(&self, n: usize) -> String {
        let lines: Vec<&str> = self.log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// Options of one run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Kill QEMU after this long.
    pub timeout: Option<Duration>,
    /// Copy the console to this process's stdout as it arrives.
    pub echo: bool,
    /// Connect this process's stdin to the serial console.
    pub interactive: bool,
}

fn describe(c: &Command) -> String {
    let mut s = c.get_program().to_string_lossy().into_owned();
    for a in c.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn pump(
    mut from: impl Read + Send + 'static,
    log: Arc<Mutex<Vec<u8>>>,
    echo: bool,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if echo {
                        let mut out = std::io::stdout().lock();
                        let _ = out.write_all(&buf[..n]);
                        let _ = out.flush();
                    }
                    log.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            }
        }
    })
}

/// Boot `image` on `m` and wait for the run to end.
pub fn run(m: &Machine, image: &Path, opts: &RunOptions) -> Result<RunResult, String> {
    let stdin = if opts.interactive {
        Stdio::inherit()
    } else {
        Stdio::null()
    };
    Session::spawn(m, image, stdin, opts.interactive, opts.echo)?.finish(opts.timeout)
}

/// A running QEMU whose serial console the caller types into (tests of the interactive
/// shell).
pub struct Session {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    log: Arc<Mutex<Vec<u8>>>,
    pumps: Vec<std::thread::JoinHandle<()>>,
    cmdline: String,
    accel: Accel,
    start: Instant,
}

/// A session dropped without [`Session::finish`] (a test that panicked) ends its QEMU,
/// which would otherwise hold the disk image and its sockets.
impl Drop for Session {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Session {
    fn spawn(
        m: &Machine,
        image: &Path,
        stdin: Stdio,
        console_input: bool,
        echo: bool,
    ) -> Result<Session, String> {
        let accel = choose_accel(m);
        let mut cmd = command(m, image, &accel, console_input)?;
        let cmdline = describe(&cmd);
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(stdin);
        let start = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("could not start QEMU ({cmdline}): {e}"))?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let pumps = vec![
            pump(child.stdout.take().unwrap(), log.clone(), echo),
            pump(child.stderr.take().unwrap(), log.clone(), echo),
        ];
        let stdin = child.stdin.take();
        Ok(Session {
            child,
            stdin,
            log,
            pumps,
            cmdline,
            accel,
            start,
        })
    }

    /// Boot `image` on `m` with the serial console's input taken from [`Session::send`].
    pub fn start(m: &Machine, image: &Path) -> Result<Session, String> {
        Session::spawn(m, image, Stdio::piped(), false, false)
    }

    /// Type `bytes` into the serial console.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("the console's input is closed")?;
        stdin
            .write_all(bytes)
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("typing into the console: {e}"))
    }

    /// The console output so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap()).into_owned()
    }

    /// Wait until the output from byte `from` on contains `needle` (at most `timeout`);
    /// the offset just after it.
    pub fn wait_for(
        &mut self,
        needle: &str,
        from: usize,
        timeout: Duration,
    ) -> Result<usize, String> {
        let end = Instant::now() + timeout;
        loop {
            {
                let log = self.log.lock().unwrap();
                let tail = &log[from.min(log.len())..];
                if let Some(i) = tail
                    .windows(needle.len().max(1))
                    .position(|w| w == needle.as_bytes())
                {
                    return Ok(from + i + needle.len());
                }
            }
            if Instant::now() >= end {
                return Err(format!(
                    "`{needle}` did not appear within {} s",
                    timeout.as_secs()
                ));
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                return Err(format!("QEMU ended ({st}) before `{needle}` appeared"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait for QEMU to end, at most `timeout` if given (killing it then), and return the
    /// run. The console's input is closed first.
    pub fn finish(mut self, timeout: Option<Duration>) -> Result<RunResult, String> {
        drop(self.stdin.take());
        let end = timeout.map(|t| Instant::now() + t);
        let status = loop {
            if let Some(st) = self.child.try_wait().map_err(|e| e.to_string())? {
                break Some(st);
            }
            if end.is_some_and(|e| Instant::now() >= e) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        for p in self.pumps.drain(..) {
            let _ = p.join();
        }
        let exit = match status.map(|s| (s.code(), s.signal())) {
            None => Exit::Timeout,
            Some((Some(EXIT_SUCCESS), _)) => Exit::Success,
            Some((Some(EXIT_FAILURE), _)) => Exit::KernelFailure,
            Some((None, Some(sig))) => Exit::Signal(sig),
            Some((code, _)) => Exit::Other(code),
        };
        Ok(RunResult {
            exit,
            log: self.log(),
            cmdline: self.cmdline.clone(),
            accel: self.accel.clone(),
            elapsed: self.start.elapsed(),
        })
    }
}

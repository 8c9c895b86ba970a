//! The boot configuration: `boot.cfg` in the ramdisk, `key=value` lines written by `xtask`.
//!
//! It is parsed once by the boot core before any other core starts and is read-only from
//! then on (a write-once global, listed in `tools/xtask/shared-globals.allow`). Unknown keys
//! and bad values are reported and ignored: a bad configuration never stops the boot.

use spin::Once;

/// A fault the kernel injects on purpose, to test that faults are reported (`inject=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inject {
    /// A Rust panic in the boot core's kernel code.
    Panic,
    /// A read of an unmapped kernel address.
    PageFault,
    /// A page fault whose handler cannot run (the stack pointer is unusable), ending in a
    /// double fault on its own IST stack.
    DoubleFault,
    /// A `ud2` instruction.
    InvalidOpcode,
    /// A Rust panic in core 0's timer tick once its timer has run this many milliseconds
    /// (`inject=panic@MS`): a panic while programs run, after the boot.
    PanicAfter(u64),
}

/// How the boot goes.
#[derive(Clone, Copy, Debug)]
pub struct BootConfig {
    /// Exit QEMU through the `isa-debug-exit` device when the system is ready (status
    /// success) or on a panic (status failure). Never set on real hardware images.
    pub qemu_exit: bool,
    /// Mirror the log on the framebuffer console.
    pub fbcon: bool,
    /// Maximum log level.
    pub log_level: log::LevelFilter,
    /// A fault to inject after boot, for tests.
    pub inject: Option<Inject>,
    /// A benchmark to run after boot.
    pub bench: Option<Bench>,
    /// Turn on SMEP and SMAP where the CPU has them (`smep_smap=0` to compare).
    pub smep_smap: bool,
    /// Start the device manager and the drivers (`devices=0`: a machine of cores, memory
    /// and monitors only, for benchmarks and tests that use no device).
    pub devices: bool,
    /// How programs enter the kernel (`syscall=syscall` or `syscall=int`: an
    /// `abi::SYSCALL_GATE_*`); without the key each core chooses (see
    /// `arch::syscall::choose_gate`).
    pub syscall_gate: Option<u32>,
    /// The consoles an interactive shell is started on, by core 0's CPU driver after its
    /// monitor (`shell=serial`, `fb`, `serial,fb` or `none`; without the key: both, except
    /// in runs that end QEMU when ready).
    pub shell: ShellConsoles,
}

/// Where interactive shells run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ShellConsoles {
    /// On the serial driver's console.
    pub serial: bool,
    /// On the framebuffer and keyboard driver's console.
    pub framebuffer: bool,
}

impl ShellConsoles {
    /// Parse `serial`, `fb`, `serial,fb` or `none`.
    fn parse(v: &str) -> Option<ShellConsoles> {
        let mut c = ShellConsoles::default();
        if v == "none" {
            return Some(c);
        }
        for part in v.split(',') {
            match part.trim() {
                "serial" => c.serial = true,
                "fb" => c.framebuffer = true,
                _ => return None,
            }
        }
        Some(c)
    }

    /// The shell's `--console` arguments of the chosen consoles.
    pub fn args(self) -> impl Iterator<Item = &'static str> {
        [(self.serial, "serial"), (self.framebuffer, "fb")]
            .into_iter()
            .filter_map(|(on, arg)| on.then_some(arg))
    }
}

/// A benchmark the kernel runs after boot (`bench=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bench {
    /// URPC latency and throughput against the cache-line ping-pong.
    Urpc,
}

impl Default for BootConfig {
    fn default() -> Self {
        BootConfig {
            qemu_exit: false,
            fbcon: true,
            log_level: log::LevelFilter::Info,
            inject: None,
            bench: None,
            smep_smap: true,
            devices: true,
            syscall_gate: None,
            shell: ShellConsoles {
                serial: true,
                framebuffer: true,
            },
        }
    }
}

/// A line of `boot.cfg` that was not understood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootCfgError<'a> {
    /// A line without `=`.
    NotKeyValue(&'a str),
    /// A key this kernel does not know.
    UnknownKey(&'a str),
    /// A value that is not valid for its key.
    BadValue(&'a str, &'a str),
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

impl BootConfig {
    /// Parse `text`, reporting every bad line to `report` and keeping the defaults for it.
    pub fn parse<'a>(text: &'a str, mut report: impl FnMut(BootCfgError<'a>)) -> BootConfig {
        let mut cfg = BootConfig::default();
        let mut shell_given = false;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                report(BootCfgError::NotKeyValue(line));
                continue;
            };
            let (k, v) = (k.trim(), v.trim());
            let ok = match k {
                "qemu_exit" => parse_bool(v).map(|b| cfg.qemu_exit = b),
                "fbcon" => parse_bool(v).map(|b| cfg.fbcon = b),
                "smep_smap" => parse_bool(v).map(|b| cfg.smep_smap = b),
                "devices" => parse_bool(v).map(|b| cfg.devices = b),
                "syscall" => match v {
                    "syscall" => Some(abi::SYSCALL_GATE_SYSCALL),
                    "int" => Some(abi::SYSCALL_GATE_INT),
                    _ => None,
                }
                .map(|g| cfg.syscall_gate = Some(g)),
                "shell" => ShellConsoles::parse(v).map(|c| {
                    cfg.shell = c;
                    shell_given = true;
                }),
                "log" => v.parse().ok().map(|l| cfg.log_level = l),
                "bench" => match v {
                    "urpc" => Some(Bench::Urpc),
                    _ => None,
                }
                .map(|b| cfg.bench = Some(b)),
                // Programs to start on every core (`run`) or on core N (`run@N`); read by
                // the kernel's program loader.
                "run" => (!v.is_empty()).then_some(()),
                k if run_core(k).is_some() => (!v.is_empty()).then_some(()),
                "inject" => match v {
                    "panic" => Some(Inject::Panic),
                    "page-fault" => Some(Inject::PageFault),
                    "double-fault" => Some(Inject::DoubleFault),
                    "invalid-opcode" => Some(Inject::InvalidOpcode),
                    v => v
                        .strip_prefix("panic@")
                        .and_then(|ms| ms.parse().ok())
                        .map(Inject::PanicAfter),
                }
                .map(|i| cfg.inject = Some(i)),
                _ => {
                    report(BootCfgError::UnknownKey(k));
                    continue;
                }
            };
            if ok.is_none() {
                report(BootCfgError::BadValue(k, v));
            }
        }
        if cfg.qemu_exit && !shell_given {
            cfg.shell = ShellConsoles::default();
        }
        cfg
    }
}

static BOOT_CONFIG: Once<BootConfig> = Once::new();

/// Publish the configuration. Called once by the boot core before other cores start;
/// later calls are ignored.
pub fn set(cfg: BootConfig) {
    BOOT_CONFIG.call_once(|| cfg);
}

/// The boot configuration (the defaults until [`set`] ran).
pub fn get() -> BootConfig {
    BOOT_CONFIG.get().copied().unwrap_or_default()
}

/// The core of a `run@N` key.
pub fn run_core(key: &str) -> Option<u32> {
    key.strip_prefix("run@").and_then(|n| n.parse().ok())
}

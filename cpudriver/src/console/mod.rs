//! The kernel's debug console: COM1 and, when the machine has one, the framebuffer, behind
//! the `log` crate. Every line names the core that wrote it. Each line is also kept in the
//! writing core's in-memory log ([`crate::percore::PerCore::klog`]), read back with
//! `KernelOp KLOG` (the shell's `dmesg`).
//!
//! The console is a device shared by all cores, like the APIC: one lock serialises whole
//! lines so output from different cores does not interleave. It is the one kernel global
//! that several cores write (listed in `tools/xtask/shared-globals.allow`); no OS state
//! lives in it.

pub mod framebuffer;
pub mod serial;

use core::fmt::Write;
use spin::Mutex;
use x86_64::instructions::interrupts::without_interrupts;

use framebuffer::{FbConsole, FbInfo};
use serial::{Serial, COM1};

struct Console {
    serial: Serial,
    fb: Option<FbConsole>,
    /// Where a panic is shown once a user-level driver has the framebuffer.
    panic_screen: Option<framebuffer::PanicScreen>,
}

impl Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.serial.write_str(s)?;
        if let Some(fb) = self.fb.as_mut() {
            fb.write_str(s)?;
        }
        Ok(())
    }
}

static CONSOLE: Mutex<Console> = Mutex::new(Console {
    serial: Serial::new(COM1),
    fb: None,
    panic_screen: None,
});

struct Logger;

static LOGGER: Logger = Logger;

/// A program's output line (the `Print` syscall): shown whatever the log level, in the
/// same form as an `INFO` line.
pub fn program_line(name: &str, text: &str) {
    emit(log::Level::Info, format_args!("{name}: {text}"));
}

/// Write one line, `[cNN LEVEL] text`, to the console and to this core's in-memory log.
/// The line is formatted once, for both; it is not kept in the in-memory log while that is
/// being read out.
fn emit(level: log::Level, text: core::fmt::Arguments<'_>) {
    let pc = crate::percore::try_current();
    let core = pc.map_or(0, |p| p.core_id);
    without_interrupts(|| {
        let mut console = CONSOLE.lock();
        let mut kept = pc.and_then(|p| p.klog.try_borrow_mut().ok());
        let mut both = Tee {
            console: &mut console,
            log: kept.as_deref_mut(),
        };
        let _ = writeln!(both, "[c{core:02} {level:5}] {text}");
    });
}

/// The console and, when it can be had, the core's in-memory log, written together.
struct Tee<'a> {
    console: &'a mut Console,
    log: Option<&'a mut logring::LogRing<alloc::vec::Vec<u8>>>,
}

impl Write for Tee<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        if let Some(log) = self.log.as_mut() {
            log.write_bytes(s.as_bytes());
        }
        self.console.write_str(s)
    }
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        emit(record.level(), *record.args());
    }

    fn flush(&self) {}
}

/// Set up COM1, optionally the framebuffer console, and the `log` backend.
///
/// # Safety
/// `fb`, if given, must satisfy [`FbConsole::new`]'s contract.
pub unsafe fn init(fb: Option<FbInfo>, level: log::LevelFilter) {
    let mut c = CONSOLE.lock();
    c.serial.init();
    // SAFETY: forwarded to the caller.
    c.fb = fb.map(|info| unsafe { FbConsole::new(info) });
    drop(c);
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// Stop drawing the log on the framebuffer (a user-level driver takes the screen over); a
/// later kernel panic still takes the screen back ([`show_panic`]).
pub fn release_framebuffer() {
    without_interrupts(|| {
        let mut c = CONSOLE.lock();
        if let Some(fb) = c.fb.take() {
            c.panic_screen = fb.panic_screen();
        }
    });
}

/// Show a kernel panic on the screen if a user-level driver has it (before the hand-over the
/// panic is in the log on the screen already). Gives up if the console lock stays taken.
/// Returns whether the panic was drawn: the user-level driver on another core keeps running
/// and may draw over it, so the panicking core redraws it from time to time.
pub fn show_panic(args: core::fmt::Arguments<'_>) -> bool {
    for _ in 0..10_000_000 {
        if let Some(mut c) = CONSOLE.try_lock() {
            return match c.panic_screen.as_mut() {
                Some(p) => {
                    p.show(args);
                    true
                }
                None => false,
            };
        }
        core::hint::spin_loop();
    }
    false
}

/// Write a message even if the console lock is held (a panic while logging, or a core
/// that died holding it): waits a bounded time for the lock, then writes to COM1 directly.
pub fn emergency_write(args: core::fmt::Arguments<'_>) {
    for _ in 0..10_000_000 {
        if let Some(mut c) = CONSOLE.try_lock() {
            let _ = c.write_fmt(args);
            return;
        }
        core::hint::spin_loop();
    }
    let mut s = Serial::new(COM1);
    let _ = s.write_fmt(args);
}

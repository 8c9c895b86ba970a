//! The framebuffer console driver: the boot framebuffer as a text terminal and the PS/2
//! keyboard as its input, offered as console [`libos::console::FRAMEBUFFER`] (the shell's
//! `--console fb`).
//!
//! The device manager starts it with the framebuffer's geometry as its argument
//! (`WIDTHxHEIGHTxSTRIDExBYTESxLAYOUT`) and, in root slots 10 to 14: a DevFrame
//! capability for the framebuffer, IO capabilities for the controller's data port `0x60`
//! and status/command port `0x64`, an IRQ capability for one vector and an IrqSrc
//! capability for the keyboard's interrupt line (ISA IRQ 1's GSI). It draws through
//! a window of its capability window ([`WINDOW_PAGES`] entries) where the pages of the
//! lines being drawn are mapped, moved as drawing goes on (the capability window is 2 MiB,
//! a 1280x720 screen at 32 bits is 3.5 MiB), enables the controller's keyboard interrupt
//! (ISA line 1, routed through the monitor to its vector on this core; the IrqSrc
//! capability is the authority over the line) and then, like the serial driver, runs
//! `libos::console`'s [`ConsoleServer::serve`] loop: scancodes become terminal bytes
//! (`console-core`'s decoder) for the client; the client's output is fed to the terminal
//! and the changed rows are drawn.
#![no_std]
#![no_main]

extern crate alloc;

use caps::abi::{CapError, CapRef};
use console_core::{Keyboard, PixelFormat, Renderer, Surface};
use libos::binding::BindError;
use libos::cap;
use libos::console::{ConsoleServer, ServeError, Terminal};
use libos::monitor::MonError;
use libos::println;

libos::entry!(main);

/// Root slot of the framebuffer's DevFrame capability.
const FB_SLOT: u32 = 10;
/// Root slot of the IO capability for the data port.
const DATA_SLOT: u32 = 11;
/// Root slot of the IO capability for the status/command port.
const STATUS_SLOT: u32 = 12;
/// Root slot of the IRQ capability.
const IRQ_SLOT: u32 = 13;
/// Root slot of the IrqSrc capability for the keyboard's interrupt line.
const IRQ_SRC_SLOT: u32 = 14;
/// The keyboard's ISA interrupt line (what the IrqSrc capability's GSI carries).
const ISA_LINE: u8 = 1;
/// Capability-window entries the framebuffer is drawn through (1 MiB; at least one text
/// row's lines must fit: 61 pages on a 3840-pixel-wide screen at 32 bits).
const WINDOW_PAGES: u16 = 256;
/// Controller polls before a command is given up.
const PS2_SPINS: u32 = 100_000;

/// Status register: the output buffer holds a byte for us.
const STATUS_OUTPUT_FULL: u32 = 0x01;
/// Status register: the input buffer is still full (the controller has not taken our
/// last byte).
const STATUS_INPUT_FULL: u32 = 0x02;
/// Status register: the byte in the output buffer comes from the second (mouse) port.
const STATUS_AUX: u32 = 0x20;

/// Why the driver could not start.
#[derive(Clone, Copy, Debug)]
enum FbconError {
    /// The argument is not `WIDTHxHEIGHTxSTRIDExBYTESxLAYOUT`.
    BadGeometry,
    /// A capability did not arrive.
    MissingCap(u32),
    /// A capability operation failed.
    Cap(CapError),
    /// The PS/2 controller did not take a command.
    ControllerStuck,
    /// The monitors did not route the keyboard's interrupt line.
    Route(MonError),
    /// The console could not be offered.
    Offer(BindError),
}

impl core::fmt::Display for FbconError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FbconError::BadGeometry => f.write_str("unusable framebuffer geometry"),
            FbconError::MissingCap(s) => write!(f, "no capability in root slot {s}"),
            FbconError::Cap(e) => write!(f, "capability operation failed: {e:?}"),
            FbconError::ControllerStuck => f.write_str("the PS/2 controller does not answer"),
            FbconError::Route(e) => write!(f, "keyboard interrupt not routed: {e:?}"),
            FbconError::Offer(e) => write!(f, "cannot offer the console: {e:?}"),
        }
    }
}

/// The PS/2 controller through its two port capabilities.
struct Ps2 {
    data: CapRef,
    status: CapRef,
}

impl Ps2 {
    fn status(&self) -> Result<u32, FbconError> {
        cap::io_in(self.status, 0x64, 1).map_err(FbconError::Cap)
    }

    fn wait_input_empty(&self) -> Result<(), FbconError> {
        for _ in 0..PS2_SPINS {
            if self.status()? & STATUS_INPUT_FULL == 0 {
                return Ok(());
            }
            core::hint::spin_loop();
        }
        Err(FbconError::ControllerStuck)
    }

    fn command(&self, c: u8) -> Result<(), FbconError> {
        self.wait_input_empty()?;
        cap::io_out(self.status, 0x64, 1, u32::from(c)).map_err(FbconError::Cap)
    }

    fn write_data(&self, b: u8) -> Result<(), FbconError> {
        self.wait_input_empty()?;
        cap::io_out(self.data, 0x60, 1, u32::from(b)).map_err(FbconError::Cap)
    }

    fn read_data(&self) -> Result<u8, FbconError> {
        cap::io_in(self.data, 0x60, 1)
            .map(|v| v as u8)
            .map_err(FbconError::Cap)
    }

    /// A byte waiting in the output buffer, if any: `(byte, from the mouse port)`.
    fn poll(&self) -> Result<Option<(u8, bool)>, FbconError> {
        let s = self.status()?;
        if s & STATUS_OUTPUT_FULL == 0 {
            return Ok(None);
        }
        Ok(Some((self.read_data()?, s & STATUS_AUX != 0)))
    }

    /// Keyboard port on, its interrupt on, scancode translation to set 1 on.
    fn enable_keyboard_interrupt(&self) -> Result<(), FbconError> {
        while self.poll()?.is_some() {}
        self.command(0xae)?; // enable the first port
        self.command(0x20)?; // read the configuration byte
        let mut config = None;
        for _ in 0..PS2_SPINS {
            if self.status()? & STATUS_OUTPUT_FULL != 0 {
                config = Some(self.read_data()?);
                break;
            }
            core::hint::spin_loop();
        }
        let config = config.ok_or(FbconError::ControllerStuck)?;
        self.command(0x60)?; // write the configuration byte
        self.write_data((config | 0x01 | 0x40) & !0x10)
    }
}

/// `WIDTHxHEIGHTxSTRIDExBYTESxLAYOUT`.
fn geometry(arg: &str) -> Result<Surface, FbconError> {
    let mut n = [0usize; 5];
    let mut it = arg.trim().split('x');
    for v in &mut n {
        *v = it
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or(FbconError::BadGeometry)?;
    }
    let format = match n[4] {
        0 => PixelFormat::Rgb,
        1 => PixelFormat::Bgr,
        2 => PixelFormat::Grey,
        _ => return Err(FbconError::BadGeometry),
    };
    Ok(Surface {
        width: n[0],
        height: n[1],
        stride: n[2],
        bytes_per_pixel: n[3],
        format,
    })
}

fn wait_for_cap(slot: u32) -> Result<CapRef, FbconError> {
    cap::wait_for(slot, 10_000).ok_or(FbconError::MissingCap(slot))
}

fn main() -> i32 {
    match run() {
        Ok(()) => 0,
        Err(e) => {
            println!("fbcond: {e}");
            1
        }
    }
}

fn run() -> Result<(), FbconError> {
    let mut surface = geometry(libos::args())?;
    let fb_cap = wait_for_cap(FB_SLOT)?;
    let ps2 = Ps2 {
        data: wait_for_cap(DATA_SLOT)?,
        status: wait_for_cap(STATUS_SLOT)?,
    };
    let irq = wait_for_cap(IRQ_SLOT)?;
    let irq_src = wait_for_cap(IRQ_SRC_SLOT)?;
    let fb_bytes = cap::identify(fb_cap).map_err(FbconError::Cap)?.bytes;
    // The lines the capability holds (all of them unless the geometry is wrong).
    let line_bytes = surface.stride * surface.bytes_per_pixel;
    let held = usize::try_from(fb_bytes).unwrap_or(usize::MAX) / line_bytes.max(1);
    surface.height = surface.height.min(held);
    let mut renderer = Renderer::new(surface).map_err(|_| FbconError::BadGeometry)?;
    let entry = libos::vspace::reserve(WINDOW_PAGES).map_err(FbconError::Cap)?;
    let mut fb = FbWindow {
        frame: fb_cap,
        frame_pages: fb_bytes / 4096,
        entry: entry as u16,
        line_bytes,
        mapped: None,
    };
    let mut term = renderer.terminal();
    renderer.invalidate();
    if let Err(e) = renderer.draw_lines(&mut term, &mut fb) {
        println!("fbcond: cannot draw: {e:?}");
        return Err(FbconError::BadGeometry);
    }
    cap::irq_bind(irq).map_err(FbconError::Cap)?;
    let gsi = libos::monitor::irq_route(irq_src, 0, irq).map_err(FbconError::Route)?;
    ps2.enable_keyboard_interrupt()?;
    let mut console =
        ConsoleServer::offer(libos::console::FRAMEBUFFER).map_err(FbconError::Offer)?;
    println!(
        "fbcond: {}x{} framebuffer ({} text rows of {} columns) and PS/2 keyboard (IRQ {ISA_LINE}, GSI {gsi}) on core {}, console `{}` offered",
        surface.width,
        surface.height,
        term.rows(),
        term.cols(),
        libos::core_id(),
        libos::console::FRAMEBUFFER
    );
    let mut screen = Screen {
        ps2: &ps2,
        keyboard: Keyboard::new(),
        term,
        renderer,
        fb,
    };
    Err(match console.serve(&mut screen, irq) {
        ServeError::Device(e) => e,
        ServeError::Irq(e) => FbconError::Cap(e),
    })
}

/// The framebuffer through [`WINDOW_PAGES`] entries of the capability window: the pages
/// holding the lines asked for are mapped there (uncached, from the DevFrame), as many
/// following pages as fit with them, and moved when lines outside are asked for.
struct FbWindow {
    frame: CapRef,
    /// Pages of the DevFrame.
    frame_pages: u64,
    /// First reserved entry.
    entry: u16,
    /// Bytes per line in memory.
    line_bytes: usize,
    /// First page of the DevFrame mapped at `entry`, and how many.
    mapped: Option<(u64, u16)>,
}

impl FbWindow {
    /// Map pages `first..` (at least `needed` of them) at the window's entries.
    fn map_from(&mut self, first: u64, needed: u64) -> Result<(), CapError> {
        let pt = cap::root_slot(abi::ROOT_SLOT_PT);
        if let Some((_, n)) = self.mapped.take() {
            cap::unmap(pt, self.entry, n)?;
        }
        let count = (self.frame_pages - first).min(u64::from(WINDOW_PAGES));
        if count < needed {
            return Err(CapError::OutOfRange);
        }
        let rw = caps::abi::Rights::READ | caps::abi::Rights::WRITE;
        cap::map(pt, self.frame, self.entry, count as u16, rw, first * 4096)?;
        self.mapped = Some((first, count as u16));
        Ok(())
    }
}

impl console_core::Lines for FbWindow {
    fn lines(&mut self, first: usize, count: usize) -> Option<&mut [u8]> {
        let start = first.checked_mul(self.line_bytes)? as u64;
        let len = count.checked_mul(self.line_bytes)? as u64;
        let (p0, p1) = (start / 4096, (start + len).div_ceil(4096));
        let covered = self
            .mapped
            .is_some_and(|(m, n)| m <= p0 && p1 <= m + u64::from(n));
        if !covered {
            if let Err(e) = self.map_from(p0, p1 - p0) {
                println!("fbcond: framebuffer lines {first}.. not mapped: {e:?}");
                return None;
            }
        }
        let (m, _) = self.mapped?;
        let va = abi::CAP_WINDOW + u64::from(self.entry) * 4096 + (start - m * 4096);
        // SAFETY: the pages holding bytes `start..start + len` of the framebuffer are mapped
        // read-write at `va` (checked above) and stay mapped until the next call, which
        // needs `&mut self` and so ends this borrow; only this program draws there.
        Some(unsafe { core::slice::from_raw_parts_mut(va as *mut u8, len as usize) })
    }
}

/// The keyboard and the screen as the console's device.
struct Screen<'a> {
    ps2: &'a Ps2,
    keyboard: Keyboard,
    term: console_core::Terminal,
    renderer: Renderer,
    fb: FbWindow,
}

impl Terminal for Screen<'_> {
    type Error = FbconError;

    fn receive(&mut self, console: &mut ConsoleServer) -> Result<bool, FbconError> {
        let mut got = false;
        while let Some((code, aux)) = self.ps2.poll()? {
            got = true;
            // Bytes from the second (mouse) port are not keys.
            if !aux {
                console.input(&self.keyboard.feed(code));
            }
        }
        Ok(got)
    }

    fn transmit(&mut self, bytes: &[u8]) -> Result<(), FbconError> {
        self.term.feed(bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), FbconError> {
        // A drawing error loses this redraw only: reported, the console goes on.
        if let Err(e) = self.renderer.draw_lines(&mut self.term, &mut self.fb) {
            println!("fbcond: cannot draw: {e:?}");
        }
        Ok(())
    }
}

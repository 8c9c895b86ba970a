//! A text console on the boot framebuffer, for machines without a serial port.
//!
//! Characters come from the pre-rasterised Noto Sans Mono bitmap font. When the text
//! reaches the bottom, it wraps to the top and clears the line it writes next (no scrolling
//! copy, which is slow on large framebuffers and under emulation).

use noto_sans_mono_bitmap::{get_raster, get_raster_width, FontWeight, RasterHeight};
use spin::Once;

const HEIGHT: RasterHeight = RasterHeight::Size16;
const WEIGHT: FontWeight = FontWeight::Regular;
const LINE_SPACING: usize = 2;

/// How a pixel's bytes are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelLayout {
    /// Red, green, blue.
    Rgb,
    /// Blue, green, red.
    Bgr,
    /// One grey byte.
    Grey,
}

/// The framebuffer's geometry.
#[derive(Clone, Copy, Debug)]
pub struct FbInfo {
    /// Virtual address of the first pixel.
    pub addr: *mut u8,
    /// Size of the buffer in bytes.
    pub len: usize,
    /// Visible pixels per line.
    pub width: usize,
    /// Lines.
    pub height: usize,
    /// Pixels per line in memory.
    pub stride: usize,
    /// Bytes per pixel.
    pub bytes_per_pixel: usize,
    /// Pixel layout.
    pub layout: PixelLayout,
}

/// The boot framebuffer as device memory, for handing it to a user-level driver.
static BOOT_FRAMEBUFFER: Once<abi::Framebuffer> = Once::new();

/// Publish the boot framebuffer (the boot core, before other cores start).
pub fn publish(dev: abi::Framebuffer) {
    BOOT_FRAMEBUFFER.call_once(|| dev);
}

/// The boot framebuffer, if the machine has one.
pub fn device() -> Option<abi::Framebuffer> {
    BOOT_FRAMEBUFFER.get().copied()
}

/// A text console drawing into a framebuffer.
pub struct FbConsole {
    info: FbInfo,
    x: usize,
    y: usize,
}

// SAFETY: the framebuffer memory is a device mapped for the kernel's whole life; the
// console is only reached through the console lock.
unsafe impl Send for FbConsole {}

impl FbConsole {
    /// A console on `info`, which must describe a mapped framebuffer.
    ///
    /// # Safety
    /// `info.addr .. info.addr + info.len` must be mapped and writable for the rest of the
    /// kernel's life, and used by nothing else.
    pub unsafe fn new(info: FbInfo) -> FbConsole {
        let mut c = FbConsole { info, x: 0, y: 0 };
        c.clear_lines(0, info.height);
        c
    }

    /// A panic screen on the same framebuffer, made now (it allocates) for use when the
    /// kernel panics after a user-level driver took the screen over.
    pub fn panic_screen(&self) -> Option<PanicScreen> {
        let i = self.info;
        let format = match i.layout {
            PixelLayout::Rgb => console_core::PixelFormat::Rgb,
            PixelLayout::Bgr => console_core::PixelFormat::Bgr,
            PixelLayout::Grey => console_core::PixelFormat::Grey,
        };
        let surface = console_core::Surface {
            width: i.width,
            height: i.height,
            stride: i.stride,
            bytes_per_pixel: i.bytes_per_pixel,
            format,
        };
        let renderer = console_core::Renderer::new(surface).ok()?;
        let term = renderer.terminal();
        Some(PanicScreen {
            info: i,
            renderer,
            term,
        })
    }

    fn line_height() -> usize {
        HEIGHT.val() + LINE_SPACING
    }

    fn clear_lines(&mut self, from: usize, count: usize) {
        let bpp = self.info.bytes_per_pixel;
        let start = from * self.info.stride * bpp;
        let end = ((from + count) * self.info.stride * bpp).min(self.info.len);
        if start >= end {
            return;
        }
        // SAFETY: the range lies inside the framebuffer (clamped to its length).
        unsafe { core::ptr::write_bytes(self.info.addr.add(start), 0, end - start) };
    }

    fn newline(&mut self) {
        self.x = 0;
        self.y += Self::line_height();
        if self.y + Self::line_height() > self.info.height {
            self.y = 0;
        }
        self.clear_lines(self.y, Self::line_height());
    }

    fn put_pixel(&mut self, x: usize, y: usize, intensity: u8) {
        let bpp = self.info.bytes_per_pixel;
        let offset = (y * self.info.stride + x) * bpp;
        if offset + bpp > self.info.len {
            return;
        }
        let color = match self.info.layout {
            PixelLayout::Rgb => [intensity, intensity, intensity / 2, 0],
            PixelLayout::Bgr => [intensity / 2, intensity, intensity, 0],
            PixelLayout::Grey => [intensity, 0, 0, 0],
        };
        let n = bpp.min(4);
        // SAFETY: `offset + bpp <= len` was checked; the framebuffer is mapped and ours.
        unsafe {
            core::ptr::copy_nonoverlapping(color.as_ptr(), self.info.addr.add(offset), n);
        }
    }

    /// Draw one character.
    pub fn write_char(&mut self, c: char) {
        match c {
            '\n' => self.newline(),
            '\r' => self.x = 0,
            c => {
                let w = get_raster_width(WEIGHT, HEIGHT);
                if self.x + w > self.info.width {
                    self.newline();
                }
                let raster =
                    get_raster(c, WEIGHT, HEIGHT).or_else(|| get_raster('?', WEIGHT, HEIGHT));
                if let Some(r) = raster {
                    for (dy, row) in r.rows().enumerate() {
                        for (dx, &v) in row.iter().enumerate() {
                            self.put_pixel(self.x + dx, self.y + dy, v);
                        }
                    }
                }
                self.x += w;
            }
        }
    }
}

/// The screen a kernel panic is shown on after the hand-over to a user-level driver: a
/// `console-core` terminal (the user-level console's renderer, so the text looks the same)
/// drawn over the whole framebuffer.
pub struct PanicScreen {
    info: FbInfo,
    renderer: console_core::Renderer,
    term: console_core::Terminal,
}

// SAFETY: as for `FbConsole`: the framebuffer is mapped for the kernel's whole life and the
// screen is only reached through the console lock.
unsafe impl Send for PanicScreen {}

impl PanicScreen {
    /// Clear the screen and show `text` from its top line (`\n` starts a line).
    pub fn show(&mut self, text: core::fmt::Arguments<'_>) {
        struct Feed<'a>(&'a mut console_core::Terminal);
        impl core::fmt::Write for Feed<'_> {
            fn write_str(&mut self, s: &str) -> core::fmt::Result {
                for (i, line) in s.split('\n').enumerate() {
                    if i > 0 {
                        self.0.feed(b"\r\n");
                    }
                    self.0.feed(line.as_bytes());
                }
                Ok(())
            }
        }
        let _ = core::fmt::Write::write_fmt(&mut Feed(&mut self.term), text);
        self.renderer.invalidate();
        // SAFETY: the framebuffer is mapped and writable for the kernel's whole life
        // (`FbConsole::new`'s contract); a user-level driver may draw into it too, which can
        // only garble pixels.
        let fb = unsafe { core::slice::from_raw_parts_mut(self.info.addr, self.info.len) };
        let _ = self.renderer.draw(&mut self.term, fb);
    }
}

impl core::fmt::Write for FbConsole {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for c in s.chars() {
            self.write_char(c);
        }
        Ok(())
    }
}

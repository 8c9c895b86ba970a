//! Drawing a [`Terminal`] into a linear framebuffer.
//!
//! The framebuffer is described by a [`Surface`]; a [`Renderer`] checks once that its
//! geometry is usable ([`Renderer::new`]) and then, on each [`Renderer::draw`], repaints only
//! the rows the terminal reports as damaged (every row after scrolling or clearing) and the
//! cursor, drawn as an inverted block. Glyphs come from the pre-rasterised Noto Sans Mono
//! font at 16 pixels; the foreground is [`FOREGROUND`] on black. Nothing is ever written
//! outside the first [`Renderer::buffer_len`] bytes of the buffer, nor into the padding
//! between `width` and `stride` of each line.
//!
//! The framebuffer need not be addressable all at once: [`Renderer::draw_lines`] asks a
//! [`Lines`] for one band of lines (a text row, [`cell_size`]`().1` lines) at a time, so a
//! driver with a small address-space window maps only the band being drawn.

use core::fmt;

use noto_sans_mono_bitmap::{get_raster, get_raster_width, FontWeight, RasterHeight};

use crate::terminal::Terminal;

const WEIGHT: FontWeight = FontWeight::Regular;
const HEIGHT: RasterHeight = RasterHeight::Size16;

/// The foreground colour as red, green, blue (the background is black).
pub const FOREGROUND: [u8; 3] = [0xf0, 0xf0, 0xe0];

/// Width and height in pixels of one character cell.
pub const fn cell_size() -> (usize, usize) {
    (get_raster_width(WEIGHT, HEIGHT), HEIGHT.val())
}

/// How the bytes of a pixel encode its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelFormat {
    /// Red, green, blue, then any further bytes (left zero).
    Rgb,
    /// Blue, green, red, then any further bytes (left zero).
    Bgr,
    /// Every byte holds the same grey level.
    Grey,
}

/// The geometry of a linear framebuffer: pixel `(x, y)` is the `bytes_per_pixel` bytes at
/// byte offset `(y * stride + x) * bytes_per_pixel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Surface {
    /// Visible pixels per line.
    pub width: usize,
    /// Lines.
    pub height: usize,
    /// Pixels per line in memory (at least `width`).
    pub stride: usize,
    /// Bytes per pixel, `1..=4`.
    pub bytes_per_pixel: usize,
    /// Colour encoding.
    pub format: PixelFormat,
}

/// Why a [`Renderer`] cannot be made or cannot draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenderError {
    /// The width or the height is zero.
    ZeroSize,
    /// The stride is smaller than the width.
    StrideTooSmall {
        /// The surface's stride.
        stride: usize,
        /// The surface's width.
        width: usize,
    },
    /// Bytes per pixel outside `1..=4`.
    UnsupportedBytesPerPixel(usize),
    /// Not even one character cell fits.
    TooSmall,
    /// `height * stride * bytes_per_pixel` does not fit in a `usize`.
    TooLarge,
    /// The [`Lines`] could not provide lines `first..first + count`; the next draw repaints
    /// everything.
    LinesUnavailable {
        /// First line asked for.
        first: usize,
        /// Lines asked for.
        count: usize,
    },
    /// The buffer passed to [`Renderer::draw`] is shorter than the surface.
    BufferTooShort {
        /// The buffer's length in bytes.
        len: usize,
        /// [`Renderer::buffer_len`].
        needed: usize,
    },
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderError::ZeroSize => write!(f, "framebuffer has zero width or height"),
            RenderError::StrideTooSmall { stride, width } => {
                write!(
                    f,
                    "framebuffer stride {stride} is smaller than its width {width}"
                )
            }
            RenderError::UnsupportedBytesPerPixel(n) => {
                write!(f, "unsupported framebuffer depth of {n} bytes per pixel")
            }
            RenderError::TooSmall => write!(f, "framebuffer too small for one character"),
            RenderError::TooLarge => write!(f, "framebuffer size overflows"),
            RenderError::LinesUnavailable { first, count } => {
                write!(
                    f,
                    "framebuffer lines {first}..{} unavailable",
                    first + count
                )
            }
            RenderError::BufferTooShort { len, needed } => {
                write!(f, "framebuffer buffer is {len} bytes, {needed} needed")
            }
        }
    }
}

impl core::error::Error for RenderError {}

/// Framebuffer memory handed out a band of lines at a time.
pub trait Lines {
    /// The bytes of lines `first..first + count`: `count * stride * bytes_per_pixel` bytes
    /// starting with line `first` (a longer slice is fine), or `None` if they cannot be
    /// reached.
    fn lines(&mut self, first: usize, count: usize) -> Option<&mut [u8]>;
}

/// A whole framebuffer in one slice.
struct Whole<'a> {
    fb: &'a mut [u8],
    line_bytes: usize,
}

impl Lines for Whole<'_> {
    fn lines(&mut self, first: usize, count: usize) -> Option<&mut [u8]> {
        let start = first.checked_mul(self.line_bytes)?;
        let end = start.checked_add(count.checked_mul(self.line_bytes)?)?;
        self.fb.get_mut(start..end)
    }
}

/// Draws terminals into a framebuffer of a fixed geometry.
#[derive(Clone, Debug)]
pub struct Renderer {
    surface: Surface,
    len: usize,
    cols: usize,
    rows: usize,
    /// The next draw repaints everything.
    full: bool,
}

impl Renderer {
    /// A renderer for `surface`, if its geometry is usable. Its first [`Renderer::draw`]
    /// repaints the whole surface.
    pub fn new(surface: Surface) -> Result<Renderer, RenderError> {
        let Surface {
            width,
            height,
            stride,
            bytes_per_pixel,
            ..
        } = surface;
        if width == 0 || height == 0 {
            return Err(RenderError::ZeroSize);
        }
        if stride < width {
            return Err(RenderError::StrideTooSmall { stride, width });
        }
        if !(1..=4).contains(&bytes_per_pixel) {
            return Err(RenderError::UnsupportedBytesPerPixel(bytes_per_pixel));
        }
        let len = height
            .checked_mul(stride)
            .and_then(|n| n.checked_mul(bytes_per_pixel))
            .ok_or(RenderError::TooLarge)?;
        let (cell_w, cell_h) = cell_size();
        let (cols, rows) = (width / cell_w, height / cell_h);
        if cols == 0 || rows == 0 {
            return Err(RenderError::TooSmall);
        }
        Ok(Renderer {
            surface,
            len,
            cols,
            rows,
            full: true,
        })
    }

    /// The surface drawn into.
    pub fn surface(&self) -> Surface {
        self.surface
    }

    /// Character columns that fit.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Character rows that fit.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes a buffer passed to [`Renderer::draw`] must have: `height * stride *
    /// bytes_per_pixel`.
    pub fn buffer_len(&self) -> usize {
        self.len
    }

    /// A blank terminal of the size that fits.
    pub fn terminal(&self) -> Terminal {
        Terminal::new(self.cols, self.rows)
    }

    /// Make the next [`Renderer::draw`] repaint everything (say, after something else drew
    /// into the framebuffer).
    pub fn invalidate(&mut self) {
        self.full = true;
    }

    /// Repaint the part of `term` damaged since its last [`Terminal::take_damage`], and the
    /// cursor, into `fb`. Cells of a terminal larger than the renderer's grid are not drawn.
    /// If `fb` is too short, nothing is drawn and the damage is kept for the next call.
    pub fn draw(&mut self, term: &mut Terminal, fb: &mut [u8]) -> Result<(), RenderError> {
        let (len, needed) = (fb.len(), self.len);
        let fb = fb
            .get_mut(..needed)
            .ok_or(RenderError::BufferTooShort { len, needed })?;
        let line_bytes = self.surface.stride * self.surface.bytes_per_pixel;
        self.draw_lines(term, &mut Whole { fb, line_bytes })
    }

    /// [`Renderer::draw`] through a [`Lines`], one text row's band of lines at a time. If a
    /// band is unavailable, drawing stops there with an error and the next draw repaints
    /// everything.
    pub fn draw_lines(
        &mut self,
        term: &mut Terminal,
        fb: &mut impl Lines,
    ) -> Result<(), RenderError> {
        let damage = term.take_damage();
        let result = self.paint(term, fb, &damage);
        self.full = result.is_err();
        result
    }

    fn paint(
        &self,
        term: &Terminal,
        fb: &mut impl Lines,
        damage: &crate::terminal::Damage,
    ) -> Result<(), RenderError> {
        if damage.all || self.full {
            let Surface {
                width,
                height,
                bytes_per_pixel: bpp,
                ..
            } = self.surface;
            let cell_h = cell_size().1;
            let line_bytes = self.surface.stride * bpp;
            // Every band of lines is cleared, those below the last text row too.
            for first in (0..height).step_by(cell_h) {
                let count = cell_h.min(height - first);
                let band = band(fb, first, count, line_bytes)?;
                for line in band.chunks_exact_mut(line_bytes) {
                    line[..width * bpp].fill(0);
                }
                let row = first / cell_h;
                if row < self.rows {
                    (0..self.cols).for_each(|col| self.draw_cell(term, band, (col, row), false));
                }
            }
        } else {
            for row in damage.rows() {
                let band = self.row_band(fb, row)?;
                (0..self.cols).for_each(|col| self.draw_cell(term, band, (col, row), false));
            }
            if damage.old_cursor != damage.cursor {
                let band = self.row_band(fb, damage.old_cursor.1)?;
                self.draw_cell(term, band, damage.old_cursor, false);
            }
        }
        let band = self.row_band(fb, damage.cursor.1)?;
        self.draw_cell(term, band, damage.cursor, true);
        Ok(())
    }

    /// The lines of text row `row` (a row past the grid gets the last row's: nothing is
    /// drawn there).
    fn row_band<'a>(
        &self,
        fb: &'a mut impl Lines,
        row: usize,
    ) -> Result<&'a mut [u8], RenderError> {
        let cell_h = cell_size().1;
        let row = row.min(self.rows - 1);
        let line_bytes = self.surface.stride * self.surface.bytes_per_pixel;
        band(fb, row * cell_h, cell_h, line_bytes)
    }

    /// Draw the cell at `(col, row)` into `band` (the lines of text row `row`), inverted if
    /// `cursor`; nothing if it lies outside the terminal or the renderer's grid.
    fn draw_cell(
        &self,
        term: &Terminal,
        band: &mut [u8],
        (col, row): (usize, usize),
        cursor: bool,
    ) {
        let Some(c) = term
            .cell(col, row)
            .filter(|_| col < self.cols && row < self.rows)
        else {
            return;
        };
        let glyph = get_raster(c, WEIGHT, HEIGHT).or_else(|| get_raster('?', WEIGHT, HEIGHT));
        let (cell_w, cell_h) = cell_size();
        let bpp = self.surface.bytes_per_pixel;
        for dy in 0..cell_h {
            let line = dy * self.surface.stride + col * cell_w;
            for dx in 0..cell_w {
                let v = glyph.and_then(|g| g.pixel(dx, dy)).unwrap_or(0);
                let pixel = self.pixel(if cursor { !v } else { v });
                let offset = (line + dx) * bpp;
                if let Some(dst) = band.get_mut(offset..offset + bpp) {
                    dst.copy_from_slice(&pixel[..bpp]);
                }
            }
        }
    }

    /// The bytes of a pixel of the foreground colour at `intensity` (0: black).
    fn pixel(&self, intensity: u8) -> [u8; 4] {
        let [r, g, b] = FOREGROUND.map(|c| (u16::from(c) * u16::from(intensity) / 255) as u8);
        match self.surface.format {
            PixelFormat::Rgb => [r, g, b, 0],
            PixelFormat::Bgr => [b, g, r, 0],
            PixelFormat::Grey => [g; 4],
        }
    }
}

/// Lines `first..first + count` from `fb`, exactly `count * line_bytes` bytes.
fn band(
    fb: &mut impl Lines,
    first: usize,
    count: usize,
    line_bytes: usize,
) -> Result<&mut [u8], RenderError> {
    let unavailable = RenderError::LinesUnavailable { first, count };
    let len = count.checked_mul(line_bytes).ok_or(unavailable)?;
    fb.lines(first, count)
        .and_then(|b| b.get_mut(..len))
        .ok_or(unavailable)
}

#[cfg(test)]
mod tests;

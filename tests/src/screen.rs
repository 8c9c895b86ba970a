//! Driving a machine's keyboard and reading its screen through QEMU's QMP socket: keys are
//! typed with `send-key`, the screen is taken with `screendump` and read back as text by
//! matching every character cell against the framebuffer console's own glyphs (drawn with
//! `console-core`'s renderer), so a test can assert on what the console shows.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use console_core::{PixelFormat, Renderer, Surface};

/// A QMP connection.
pub struct Qmp {
    stream: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Qmp {
    /// Connect to the socket at `path` (waiting at most `timeout` for QEMU to create it)
    /// and leave negotiation mode.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Qmp, String> {
        let end = Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if Instant::now() >= end => {
                    return Err(format!("QMP socket {}: {e}", path.display()))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        let reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
        let mut q = Qmp { stream, reader };
        q.line()?; // the greeting
        q.execute(r#"{"execute":"qmp_capabilities"}"#)?;
        Ok(q)
    }

    fn line(&mut self) -> Result<String, String> {
        let mut l = String::new();
        self.reader
            .read_line(&mut l)
            .map_err(|e| format!("QMP read: {e}"))?;
        Ok(l)
    }

    /// Run one command; its `return` line (events before it are skipped).
    pub fn execute(&mut self, json: &str) -> Result<String, String> {
        self.stream
            .write_all(format!("{json}\n").as_bytes())
            .map_err(|e| format!("QMP write: {e}"))?;
        loop {
            let l = self.line()?;
            if l.contains("\"return\"") {
                return Ok(l);
            }
            if l.contains("\"error\"") {
                return Err(format!("QMP `{json}`: {l}"));
            }
            if l.is_empty() {
                return Err("QMP connection closed".into());
            }
        }
    }

    /// Type `text` on the keyboard (lowercase letters, digits, space, `\r`, and a few
    /// punctuation characters; uppercase and shifted characters with Shift).
    pub fn type_text(&mut self, text: &str) -> Result<(), String> {
        for c in text.chars() {
            let (shift, code) = qcode(c).ok_or_else(|| format!("no key for {c:?}"))?;
            let keys = if shift {
                format!(r#"[{{"type":"qcode","data":"shift"}},{{"type":"qcode","data":"{code}"}}]"#)
            } else {
                format!(r#"[{{"type":"qcode","data":"{code}"}}]"#)
            };
            self.execute(&format!(
                r#"{{"execute":"send-key","arguments":{{"keys":{keys}}}}}"#
            ))?;
            std::thread::sleep(Duration::from_millis(40));
        }
        Ok(())
    }

    /// Save the screen as a PPM file at `path`.
    pub fn screendump(&mut self, path: &Path) -> Result<(), String> {
        let _ = std::fs::remove_file(path);
        self.execute(&format!(
            r#"{{"execute":"screendump","arguments":{{"filename":"{}"}}}}"#,
            path.display()
        ))
        .map(|_| ())
    }
}

/// The QEMU key code of `c`: (with Shift, code).
fn qcode(c: char) -> Option<(bool, String)> {
    let plain = |s: &str| Some((false, s.to_string()));
    let shifted = |s: &str| Some((true, s.to_string()));
    match c {
        'a'..='z' | '0'..='9' => plain(&c.to_string()),
        'A'..='Z' => shifted(&c.to_ascii_lowercase().to_string()),
        ' ' => plain("spc"),
        '\r' | '\n' => plain("ret"),
        '-' => plain("minus"),
        '_' => shifted("minus"),
        ',' => plain("comma"),
        '.' => plain("dot"),
        ';' => plain("semicolon"),
        '(' => shifted("9"),
        ')' => shifted("0"),
        '!' => shifted("1"),
        _ => None,
    }
}

/// A PPM (P6) image: width, height, RGB bytes.
fn read_ppm(path: &Path) -> Result<(usize, usize, Vec<u8>), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 && i < bytes.len() {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        fields.push(String::from_utf8_lossy(&bytes[start..i]).into_owned());
    }
    let data = &bytes[(i + 1).min(bytes.len())..];
    let num = |k: usize| fields.get(k).and_then(|f| f.parse::<usize>().ok());
    match (fields.first().map(String::as_str), num(1), num(2), num(3)) {
        (Some("P6"), Some(w), Some(h), Some(255)) if data.len() >= w * h * 3 => {
            Ok((w, h, data[..w * h * 3].to_vec()))
        }
        _ => Err(format!("{}: not a PPM image", path.display())),
    }
}

/// Which pixels of a `cw` x `ch` cell at (`x0`, `y0`) of an RGB image are lit.
fn cell_mask(rgb: &[u8], width: usize, x0: usize, y0: usize, cw: usize, ch: usize) -> Vec<bool> {
    let mut m = Vec::with_capacity(cw * ch);
    for y in y0..y0 + ch {
        for x in x0..x0 + cw {
            let p = (y * width + x) * 3;
            m.push(rgb[p..p + 3].iter().any(|&v| v >= 0x80));
        }
    }
    m
}

/// The screen in the PPM at `path` as text rows (trailing spaces trimmed; a cell that is
/// no character, such as the cursor, reads as `\u{2588}`).
pub fn screen_text(path: &Path) -> Result<Vec<String>, String> {
    let (w, h, rgb) = read_ppm(path)?;
    let (cw, ch) = console_core::cell_size();
    // Every printable character as the console draws it.
    let surface = Surface {
        width: 2 * cw,
        height: ch,
        stride: 2 * cw,
        bytes_per_pixel: 3,
        format: PixelFormat::Rgb,
    };
    let mut glyphs = Vec::new();
    for c in (0x20u8..0x7f).map(char::from) {
        let mut r = Renderer::new(surface).map_err(|e| format!("{e:?}"))?;
        let mut t = r.terminal();
        t.feed(&[c as u8]);
        let mut buf = vec![0u8; r.buffer_len()];
        r.draw(&mut t, &mut buf).map_err(|e| format!("{e:?}"))?;
        glyphs.push((c, cell_mask(&buf, 2 * cw, 0, 0, cw, ch)));
    }
    let mut rows = Vec::new();
    for row in 0..h / ch {
        let mut s = String::new();
        for col in 0..w / cw {
            let m = cell_mask(&rgb, w, col * cw, row * ch, cw, ch);
            let c = glyphs
                .iter()
                .find(|(_, g)| *g == m)
                .map_or('\u{2588}', |(c, _)| *c);
            s.push(c);
        }
        rows.push(s.trim_end().to_string());
    }
    Ok(rows)
}

use super::*;
use crate::terminal::tests::Rng;
use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

const CW: usize = cell_size().0;
const CH: usize = cell_size().1;

fn surface(cols: usize, rows: usize, bpp: usize, format: PixelFormat) -> Surface {
    Surface {
        width: cols * CW,
        height: rows * CH,
        stride: cols * CW,
        bytes_per_pixel: bpp,
        format,
    }
}

/// The bytes of pixel `(x, y)`.
fn px(s: &Surface, fb: &[u8], x: usize, y: usize) -> Vec<u8> {
    let at = (y * s.stride + x) * s.bytes_per_pixel;
    fb[at..at + s.bytes_per_pixel].to_vec()
}

/// How many pixels of cell `(col, row)` have a non-zero byte.
fn cell_lit(s: &Surface, fb: &[u8], col: usize, row: usize) -> usize {
    (0..CH)
        .flat_map(|dy| (0..CW).map(move |dx| (col * CW + dx, row * CH + dy)))
        .filter(|&(x, y)| px(s, fb, x, y).iter().any(|&b| b != 0))
        .count()
}

/// Draw `term` from scratch into a new buffer.
fn full_render(s: Surface, term: &Terminal) -> Vec<u8> {
    let mut fb = vec![0; Renderer::new(s).unwrap().buffer_len()];
    Renderer::new(s)
        .unwrap()
        .draw(&mut term.clone(), &mut fb)
        .unwrap();
    fb
}

#[test]
fn geometry_errors() {
    let ok = surface(10, 3, 4, PixelFormat::Rgb);
    let with = |f: fn(&mut Surface)| {
        let mut s = ok;
        f(&mut s);
        Renderer::new(s).map(|r| (r.cols(), r.rows()))
    };
    assert_eq!(with(|_| {}), Ok((10, 3)));
    assert_eq!(with(|s| s.width = 0), Err(RenderError::ZeroSize));
    assert_eq!(with(|s| s.height = 0), Err(RenderError::ZeroSize));
    assert_eq!(
        with(|s| s.stride = s.width - 1),
        Err(RenderError::StrideTooSmall {
            stride: 10 * CW - 1,
            width: 10 * CW
        })
    );
    assert_eq!(
        with(|s| s.bytes_per_pixel = 0),
        Err(RenderError::UnsupportedBytesPerPixel(0))
    );
    assert_eq!(
        with(|s| s.bytes_per_pixel = 5),
        Err(RenderError::UnsupportedBytesPerPixel(5))
    );
    assert_eq!(with(|s| s.width = CW - 1), Err(RenderError::TooSmall));
    assert_eq!(with(|s| s.height = CH - 1), Err(RenderError::TooSmall));
    assert_eq!(with(|s| s.height = CH * 2 - 1), Ok((10, 1)));
    assert_eq!(
        with(|s| s.stride = usize::MAX / 2),
        Err(RenderError::TooLarge)
    );
    assert!(RenderError::TooSmall.to_string().contains("too small"));
}

#[test]
fn size_fits_the_surface() {
    let r = Renderer::new(Surface {
        width: 1024,
        height: 768,
        stride: 1280,
        bytes_per_pixel: 4,
        format: PixelFormat::Bgr,
    })
    .unwrap();
    assert_eq!((r.cols(), r.rows()), (1024 / CW, 768 / CH));
    assert_eq!(r.buffer_len(), 768 * 1280 * 4);
    let t = r.terminal();
    assert_eq!((t.cols(), t.rows()), (r.cols(), r.rows()));
    const { assert!(CW > 4 && CH == 16) };
}

#[test]
fn glyph_lands_in_its_cell_and_cursor_is_a_block() {
    let s = surface(6, 3, 3, PixelFormat::Rgb);
    let mut r = Renderer::new(s).unwrap();
    let mut t = r.terminal();
    t.feed(b"\x1b[2;3HA\x1b[3;5H");
    let mut fb = vec![0x77; r.buffer_len()];
    r.draw(&mut t, &mut fb).unwrap();
    for row in 0..3 {
        for col in 0..6 {
            let lit = cell_lit(&s, &fb, col, row);
            match (col, row) {
                (2, 1) => assert!(lit > 10 && lit < CW * CH / 2, "glyph: {lit} pixels"),
                (4, 2) => assert_eq!(lit, CW * CH, "the cursor on a blank cell is a full block"),
                _ => assert_eq!(lit, 0, "cell {col},{row}"),
            }
        }
    }
    // The block is the foreground colour.
    assert_eq!(px(&s, &fb, 4 * CW, 2 * CH), FOREGROUND);

    // Moving the cursor erases the old block.
    t.feed(b"\x1b[H");
    r.draw(&mut t, &mut fb).unwrap();
    assert_eq!(cell_lit(&s, &fb, 4, 2), 0);
    assert_eq!(cell_lit(&s, &fb, 0, 0), CW * CH);
    assert_eq!(fb, full_render(s, &t));
}

#[test]
fn cursor_over_a_glyph_is_inverted() {
    let s = surface(4, 1, 1, PixelFormat::Grey);
    let mut r = Renderer::new(s).unwrap();
    let mut t = r.terminal();
    t.feed(b"W");
    let mut fb = vec![0; r.buffer_len()];
    r.draw(&mut t, &mut fb).unwrap();
    let glyph = cell_lit(&s, &fb, 0, 0);
    t.feed(b"\x08");
    r.draw(&mut t, &mut fb).unwrap();
    let inverted = (0..CH)
        .flat_map(|y| (0..CW).map(move |x| (x, y)))
        .filter(|&(x, y)| px(&s, &fb, x, y)[0] != FOREGROUND[1])
        .count();
    assert_eq!(inverted, glyph);
}

#[test]
fn only_damaged_rows_are_redrawn() {
    let s = surface(5, 3, 4, PixelFormat::Rgb);
    let mut r = Renderer::new(s).unwrap();
    let mut t = r.terminal();
    t.feed(b"a\r\nb\r\nc\x1b[H");
    let mut fb = vec![0; r.buffer_len()];
    r.draw(&mut t, &mut fb).unwrap();
    // Scribble over rows 1 and 2; change row 1 only.
    let row_bytes = s.stride * CH * 4;
    fb[row_bytes..].fill(0x55);
    t.feed(b"\x1b[2;3Hx\x1b[H");
    r.draw(&mut t, &mut fb).unwrap();
    assert!(fb[2 * row_bytes..].iter().all(|&b| b == 0x55));
    assert_eq!(fb[..2 * row_bytes], full_render(s, &t)[..2 * row_bytes]);
}

#[test]
fn scrolling_redraws_everything() {
    let s = surface(5, 2, 4, PixelFormat::Bgr);
    let mut r = Renderer::new(s).unwrap();
    let mut t = r.terminal();
    t.feed(b"a\r\nb");
    let mut fb = vec![0; r.buffer_len()];
    r.draw(&mut t, &mut fb).unwrap();
    assert!(cell_lit(&s, &fb, 0, 0) > 0);
    t.feed(b"\r\n");
    r.draw(&mut t, &mut fb).unwrap();
    assert_eq!(t.row_text(0), "b");
    assert_eq!(
        cell_lit(&s, &fb, 0, 1),
        CW * CH,
        "only the cursor on the new row"
    );
    assert_eq!(fb, full_render(s, &t));
}

#[test]
fn short_buffer_is_an_error_and_keeps_the_damage() {
    let s = surface(3, 2, 2, PixelFormat::Grey);
    let mut r = Renderer::new(s).unwrap();
    let mut t = r.terminal();
    t.feed(b"x");
    let mut fb = vec![0; r.buffer_len() - 1];
    assert_eq!(
        r.draw(&mut t, &mut fb),
        Err(RenderError::BufferTooShort {
            len: r.buffer_len() - 1,
            needed: r.buffer_len()
        })
    );
    assert!(fb.iter().all(|&b| b == 0));
    let mut fb = vec![0; r.buffer_len()];
    r.draw(&mut t, &mut fb).unwrap();
    assert!(cell_lit(&s, &fb, 0, 0) > 0);
}

#[test]
fn odd_stride_and_trailing_bytes_are_left_alone() {
    let s = Surface {
        width: 3 * CW + 5,
        height: 2 * CH + 3,
        stride: 3 * CW + 11,
        bytes_per_pixel: 3,
        format: PixelFormat::Rgb,
    };
    let mut r = Renderer::new(s).unwrap();
    assert_eq!((r.cols(), r.rows()), (3, 2));
    let mut t = r.terminal();
    t.feed(b"abc\r\ndef");
    let mut fb = vec![0xaa; r.buffer_len() + 100];
    r.draw(&mut t, &mut fb).unwrap();
    let (lines, tail) = fb.split_at(r.buffer_len());
    assert!(tail.iter().all(|&b| b == 0xaa));
    for (y, line) in lines.chunks(s.stride * 3).enumerate() {
        let (visible, padding) = line.split_at(s.width * 3);
        assert!(padding.iter().all(|&b| b == 0xaa), "padding of line {y}");
        assert!(!visible.contains(&0xaa), "line {y} is painted");
    }
    for (col, row) in [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)] {
        assert!(cell_lit(&s, lines, col, row) > 0);
    }
}

#[test]
fn byte_order_follows_the_pixel_format() {
    let [r, g, b] = FOREGROUND;
    assert_ne!(r, b, "the test needs a foreground that is not pure grey");
    for (bpp, format, expected) in [
        (4, PixelFormat::Rgb, vec![r, g, b, 0]),
        (4, PixelFormat::Bgr, vec![b, g, r, 0]),
        (3, PixelFormat::Rgb, vec![r, g, b]),
        (3, PixelFormat::Bgr, vec![b, g, r]),
        (2, PixelFormat::Grey, vec![g, g]),
        (1, PixelFormat::Grey, vec![g]),
        (1, PixelFormat::Rgb, vec![r]),
    ] {
        let s = surface(2, 1, bpp, format);
        let mut rend = Renderer::new(s).unwrap();
        let mut t = rend.terminal();
        let mut fb = vec![0; rend.buffer_len()];
        rend.draw(&mut t, &mut fb).unwrap();
        // The cursor block at (0, 0) has full intensity; the cell next to it is black.
        assert_eq!(px(&s, &fb, 0, 0), expected, "{bpp} {format:?}");
        assert_eq!(px(&s, &fb, CW, 0), vec![0; bpp]);
    }
}

#[test]
fn terminal_of_another_size() {
    let s = surface(3, 2, 1, PixelFormat::Grey);
    let mut r = Renderer::new(s).unwrap();
    let mut fb = vec![0; r.buffer_len()];
    let mut big = Terminal::new(10, 10);
    big.feed(b"abcdefgh\x1b[9;9H");
    r.draw(&mut big, &mut fb).unwrap();
    assert!(cell_lit(&s, &fb, 2, 0) > 0);
    let mut small = Terminal::new(1, 1);
    small.feed(b"x");
    r.invalidate();
    r.draw(&mut small, &mut fb).unwrap();
    assert_eq!(cell_lit(&s, &fb, 2, 0), 0);
}

#[test]
fn incremental_drawing_matches_a_full_redraw() {
    const ALPHABET: &[u8] = b"ab \r\n\x08\t\x1b[0123;HJKABCD";
    let s = surface(7, 4, 3, PixelFormat::Bgr);
    let mut r = Renderer::new(s).unwrap();
    let mut t = r.terminal();
    let mut fb = vec![0; r.buffer_len()];
    let mut rng = Rng::new(7);
    for step in 0..300 {
        let bytes: Vec<u8> = (0..rng.next() % 8)
            .map(|_| ALPHABET[rng.next() as usize % ALPHABET.len()])
            .collect();
        t.feed(&bytes);
        r.draw(&mut t, &mut fb).unwrap();
        if step % 30 == 0 {
            assert_eq!(fb, full_render(s, &t), "step {step}");
        }
    }
    assert_eq!(fb, full_render(s, &t));
}

/// A framebuffer reachable one band of at most `CH` lines at a time, as a driver with a
/// small mapping window sees it; `refuse_from` makes lines from there unreachable.
struct Banded {
    fb: Vec<u8>,
    line_bytes: usize,
    asked: Vec<(usize, usize)>,
    refuse_from: usize,
}

impl Lines for Banded {
    fn lines(&mut self, first: usize, count: usize) -> Option<&mut [u8]> {
        self.asked.push((first, count));
        if count > CH || first + count > self.refuse_from {
            return None;
        }
        let start = first * self.line_bytes;
        self.fb.get_mut(start..start + count * self.line_bytes)
    }
}

#[test]
fn drawing_a_band_at_a_time_gives_the_same_picture() {
    // A height that leaves 5 lines below the last text row, which are cleared too.
    let s = Surface {
        height: 3 * CH + 5,
        ..surface(6, 3, 4, PixelFormat::Bgr)
    };
    let mut r = Renderer::new(s).unwrap();
    let mut t = r.terminal();
    t.feed(b"one\r\ntwo\r\nthree");
    let whole = full_render(s, &t);
    let mut banded = Banded {
        fb: vec![0x55; r.buffer_len()],
        line_bytes: s.stride * 4,
        asked: Vec::new(),
        refuse_from: usize::MAX,
    };
    r.draw_lines(&mut t, &mut banded).unwrap();
    assert_eq!(banded.fb, whole);
    // Every band asked for is one text row's lines (or the rest below the last row).
    assert!(banded
        .asked
        .iter()
        .all(|&(first, count)| count <= CH && first % CH == 0 && first + count <= s.height));
    assert!(banded.asked.contains(&(3 * CH, 5)));
    // Typing on the last row only asks for that row's band.
    banded.asked.clear();
    t.feed(b"!");
    r.draw_lines(&mut t, &mut banded).unwrap();
    assert!(banded.asked.iter().all(|&a| a == (2 * CH, CH)));
}

#[test]
fn unreachable_lines_are_an_error_and_the_next_draw_repaints_everything() {
    let s = surface(4, 3, 2, PixelFormat::Grey);
    let mut r = Renderer::new(s).unwrap();
    let mut t = r.terminal();
    t.feed(b"a\r\nb\r\nc");
    let mut banded = Banded {
        fb: vec![0; r.buffer_len()],
        line_bytes: s.stride * 2,
        asked: Vec::new(),
        refuse_from: CH,
    };
    assert_eq!(
        r.draw_lines(&mut t, &mut banded),
        Err(RenderError::LinesUnavailable {
            first: CH,
            count: CH
        })
    );
    // Reachable again: no new damage, yet the whole picture is drawn.
    banded.refuse_from = usize::MAX;
    r.draw_lines(&mut t, &mut banded).unwrap();
    assert_eq!(banded.fb, full_render(s, &t));
}

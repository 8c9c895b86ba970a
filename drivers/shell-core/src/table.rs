//! A small column formatter for the output of `cores`, `ps` and `mem`.

use alloc::string::String;
use alloc::vec::Vec;

/// Space between columns.
const GAP: &str = "  ";

/// Formats a table: a header line, then one line per row, each ending with `\n`.
///
/// Columns are as wide as their widest cell (counted in characters) and separated by two
/// spaces. A column whose cells all look numeric ([`looks_numeric`]; empty cells are ignored,
/// at least one must be non-empty) is right-aligned, header included; other columns are
/// left-aligned. Lines carry no trailing spaces. Rows shorter than the header are padded with
/// empty cells; cells beyond the header get columns with an empty header.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let ncols = rows
        .iter()
        .map(Vec::len)
        .chain(core::iter::once(headers.len()))
        .max()
        .unwrap_or(0);
    let mut widths = Vec::with_capacity(ncols);
    let mut right = Vec::with_capacity(ncols);
    for c in 0..ncols {
        let header = headers.get(c).copied().unwrap_or("");
        let width = rows
            .iter()
            .map(|r| width(cell(r, c)))
            .chain(core::iter::once(width(header)))
            .max()
            .unwrap_or(0);
        widths.push(width);
        let mut cells = rows.iter().map(|r| cell(r, c)).filter(|s| !s.is_empty());
        let numeric = cells.clone().next().is_some() && cells.all(looks_numeric);
        right.push(numeric);
    }
    let mut out = String::new();
    let header_line: Vec<&str> = (0..ncols)
        .map(|c| headers.get(c).copied().unwrap_or(""))
        .collect();
    push_line(&mut out, &header_line, &widths, &right);
    for row in rows {
        let cells: Vec<&str> = (0..ncols).map(|c| cell(row, c)).collect();
        push_line(&mut out, &cells, &widths, &right);
    }
    out
}

fn cell(row: &[String], c: usize) -> &str {
    row.get(c).map(String::as_str).unwrap_or("")
}

fn width(s: &str) -> usize {
    s.chars().count()
}

fn push_line(out: &mut String, cells: &[&str], widths: &[usize], right: &[bool]) {
    let start = out.len();
    for (c, s) in cells.iter().enumerate() {
        if c > 0 {
            out.push_str(GAP);
        }
        let w = widths.get(c).copied().unwrap_or(0);
        let pad = w.saturating_sub(width(s));
        if right.get(c).copied().unwrap_or(false) {
            pad_with_spaces(out, pad);
            out.push_str(s);
        } else {
            out.push_str(s);
            pad_with_spaces(out, pad);
        }
    }
    // No trailing spaces (only ASCII spaces were added, so truncating is on a boundary).
    let kept = out[start..].trim_end_matches(' ').len();
    out.truncate(start + kept);
    out.push('\n');
}

fn pad_with_spaces(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

/// Whether a cell looks like a number, for right alignment: an optional sign, then either
/// `0x` and hex digits, or decimal digits (with `.`, `,` or `_` between them), optionally
/// followed by a unit of up to three letters or `%`, with or without a space: `42`, `-1`,
/// `3.14`, `0x1f`, `640K`, `12 MiB`, `99%`.
pub fn looks_numeric(s: &str) -> bool {
    let s = s.trim();
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    let number_end = s
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | ',' | '_')))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(number_end);
    let starts_and_ends_with_digit = number.starts_with(|c: char| c.is_ascii_digit())
        && number.ends_with(|c: char| c.is_ascii_digit());
    let unit = unit.strip_prefix(' ').unwrap_or(unit);
    starts_and_ends_with_digit
        && unit.len() <= 3
        && unit.chars().all(|c| c.is_ascii_alphabetic() || c == '%')
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn aligns_numbers_right_and_text_left() {
        let t = table(
            &["CORE", "APIC", "STATE", "FREE"],
            &[
                row(&["0", "0", "up", "640K"]),
                row(&["1", "2", "booting", "12 MiB"]),
                row(&["10", "0x1f", "down", "1,024K"]),
            ],
        );
        let want = "\
CORE  APIC  STATE      FREE
   0     0  up         640K
   1     2  booting  12 MiB
  10  0x1f  down     1,024K
";
        assert_eq!(t, want);
    }

    #[test]
    fn mixed_column_is_left_aligned() {
        let t = table(&["ID", "NAME"], &[row(&["7", "init"]), row(&["x", "42"])]);
        assert_eq!(t, "ID  NAME\n7   init\nx   42\n");
    }

    #[test]
    fn headers_only() {
        assert_eq!(table(&["A", "BB"], &[]), "A  BB\n");
        assert_eq!(table(&[], &[]), "\n");
    }

    #[test]
    fn ragged_rows() {
        let t = table(
            &["A", "B"],
            &[row(&["1"]), row(&["2", "x", "extra"]), row(&[])],
        );
        assert_eq!(t, "A  B\n1\n2  x  extra\n\n");
    }

    #[test]
    fn empty_cells_do_not_break_numeric_alignment() {
        let t = table(&["NAME", "PAGES"], &[row(&["a", "100"]), row(&["bb", ""])]);
        assert_eq!(t, "NAME  PAGES\na       100\nbb\n");
        // A column of only empty cells is text.
        let t = table(&["N", "E"], &[row(&["1", ""])]);
        assert_eq!(t, "N  E\n1\n");
    }

    #[test]
    fn wide_header_and_unicode() {
        let t = table(
            &["DOMAIN", "PROG"],
            &[row(&["3", "héllo"]), row(&["12", "x"])],
        );
        assert_eq!(t, "DOMAIN  PROG\n     3  héllo\n    12  x\n");
    }

    #[test]
    fn numeric_detection() {
        for yes in [
            "0", "42", "-1", "+7", "3.14", "1,024", "1_000", "0x1F", "0Xab", "640K", "12 MiB",
            "99%", " 5 ",
        ] {
            assert!(looks_numeric(yes), "{yes}");
        }
        for no in [
            "", "-", "0x", "0xg", "abc", "1.", ".5", "12 bytes", "up", "1 2", "K1", "1K2",
        ] {
            assert!(!looks_numeric(no), "{no}");
        }
    }

    #[test]
    fn no_trailing_spaces() {
        let t = table(&["A", "B"], &[row(&["looooong", "x"]), row(&["y", ""])]);
        for line in t.lines() {
            assert_eq!(line, line.trim_end());
        }
    }
}

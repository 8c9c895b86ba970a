//! A small hand-written SVG line plot (no dependency): one polyline with markers per
//! series, a legend, axis ticks and labels and a title. Used by `cargo xtask bench tlb` to
//! draw latency against core count in the style of Figure 7 of the Multikernel paper.

use std::fmt::Write as _;

/// One line of the plot.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The legend entry.
    pub name: String,
    /// The points, in the order they are joined.
    pub points: Vec<(f64, f64)>,
}

/// A line plot.
#[derive(Clone, Debug, PartialEq)]
pub struct LinePlot {
    /// The heading above the plot.
    pub title: String,
    /// The label under the x axis.
    pub x_label: String,
    /// The label beside the y axis.
    pub y_label: String,
    /// Tick positions for the x axis; `None` picks round numbers covering the data.
    pub x_ticks: Option<Vec<f64>>,
    /// Whether the y axis starts at zero (latencies) rather than at the smallest value.
    pub y_from_zero: bool,
    /// The lines.
    pub series: Vec<Series>,
}

/// An axis: the value range it spans and where its ticks are.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    /// The value at the start of the axis.
    pub lo: f64,
    /// The value at the end of the axis.
    pub hi: f64,
    /// Tick positions, ascending, within `lo..=hi`.
    pub ticks: Vec<f64>,
}

impl Axis {
    /// Where `v` falls on an axis drawn from pixel `from` (at `lo`) to pixel `to` (at `hi`).
    pub fn map(&self, v: f64, from: f64, to: f64) -> f64 {
        let span = self.hi - self.lo;
        if span <= 0.0 {
            return from;
        }
        from + (v - self.lo) / span * (to - from)
    }

    /// Tick labels: as few decimals as the tick spacing needs.
    pub fn labels(&self) -> Vec<String> {
        let step = self
            .ticks
            .windows(2)
            .map(|w| w[1] - w[0])
            .fold(f64::INFINITY, f64::min);
        let decimals = if step.is_finite() && step > 0.0 && step < 1.0 {
            (-step.log10().floor()) as usize
        } else {
            0
        };
        self.ticks
            .iter()
            .map(|t| format!("{t:.decimals$}"))
            .collect()
    }
}

/// Round tick positions covering `lo..=hi` with about `target` intervals: steps of 1, 2 or 5
/// times a power of ten, the first tick at or below `lo` and the last at or above `hi`.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    let (lo, hi) = if lo.is_finite() && hi.is_finite() && lo <= hi {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    let (lo, hi) = if hi - lo < 1e-9 {
        // A flat range: widen it around the value.
        let pad = if lo.abs() > 1e-9 { lo.abs() * 0.1 } else { 1.0 };
        (lo - pad, hi + pad)
    } else {
        (lo, hi)
    };
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).floor();
    let last = (hi / step).ceil();
    let n = (last - first) as i64;
    (0..=n)
        .map(|i| {
            let t = (first + i as f64) * step;
            // Avoid printing -0 and accumulated float noise.
            let t = (t / step).round() * step;
            if t == 0.0 {
                0.0
            } else {
                t
            }
        })
        .collect()
}

fn extent(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

impl LinePlot {
    /// The x axis: the given ticks (widened to cover the data), or round numbers.
    pub fn x_axis(&self) -> Axis {
        let data = extent(
            self.series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.0)),
        );
        match &self.x_ticks {
            Some(t) if !t.is_empty() => {
                let mut ticks: Vec<f64> = t.iter().copied().filter(|v| v.is_finite()).collect();
                ticks.sort_by(f64::total_cmp);
                ticks.dedup();
                let (tlo, thi) = (ticks[0], ticks[ticks.len() - 1]);
                let (lo, hi) = match data {
                    Some((dlo, dhi)) => (tlo.min(dlo), thi.max(dhi)),
                    None => (tlo, thi),
                };
                let (lo, hi) = if hi > lo {
                    (lo, hi)
                } else {
                    (lo - 1.0, hi + 1.0)
                };
                Axis { lo, hi, ticks }
            }
            _ => {
                let (lo, hi) = data.unwrap_or((0.0, 1.0));
                let ticks = nice_ticks(lo, hi, 8);
                Axis {
                    lo: ticks[0],
                    hi: ticks[ticks.len() - 1],
                    ticks,
                }
            }
        }
    }

    /// The y axis: round numbers from zero (or the smallest value) to at least the largest.
    pub fn y_axis(&self) -> Axis {
        let (lo, hi) = extent(
            self.series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.1)),
        )
        .unwrap_or((0.0, 1.0));
        let lo = if self.y_from_zero { lo.min(0.0) } else { lo };
        let hi = if self.y_from_zero && hi <= 0.0 && lo == 0.0 {
            1.0
        } else {
            hi
        };
        let ticks = nice_ticks(lo, hi, 7);
        Axis {
            lo: ticks[0],
            hi: ticks[ticks.len() - 1],
            ticks,
        }
    }
}

/// Escape text for SVG/XML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 500.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 56.0;
const BOTTOM: f64 = 64.0;

/// Line colours, one per series (repeating).
const COLOURS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#7f7f7f",
];

/// An SVG marker of shape `k` (circle, square, triangles, diamond, cross, ring) at (x, y).
fn marker(out: &mut String, k: usize, x: f64, y: f64, colour: &str) {
    let r = 4.5;
    let _ = match k % 7 {
        0 => writeln!(
            out,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="{r}" fill="{colour}"/>"#
        ),
        1 => writeln!(
            out,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{colour}"/>"#,
            x - r,
            y - r,
            2.0 * r,
            2.0 * r
        ),
        2 => writeln!(
            out,
            r#"<polygon points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="{colour}"/>"#,
            x,
            y - r - 1.0,
            x - r - 0.5,
            y + r,
            x + r + 0.5,
            y + r
        ),
        3 => writeln!(
            out,
            r#"<polygon points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="{colour}"/>"#,
            x,
            y - r - 1.0,
            x + r + 1.0,
            y,
            x,
            y + r + 1.0,
            x - r - 1.0,
            y
        ),
        4 => writeln!(
            out,
            r#"<polygon points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="{colour}"/>"#,
            x,
            y + r + 1.0,
            x - r - 0.5,
            y - r,
            x + r + 0.5,
            y - r
        ),
        5 => writeln!(
            out,
            r#"<path d="M{:.1},{:.1}L{:.1},{:.1}M{:.1},{:.1}L{:.1},{:.1}" stroke="{colour}" stroke-width="2"/>"#,
            x - r,
            y - r,
            x + r,
            y + r,
            x - r,
            y + r,
            x + r,
            y - r
        ),
        _ => writeln!(
            out,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="{r}" fill="white" stroke="{colour}" stroke-width="2"/>"#
        ),
    };
}

/// Render `plot` as a standalone SVG document.
pub fn render(plot: &LinePlot) -> String {
    let xa = plot.x_axis();
    let ya = plot.y_axis();
    let (x0, x1) = (LEFT, WIDTH - RIGHT);
    let (y0, y1) = (HEIGHT - BOTTOM, TOP);
    let px = |v: f64| xa.map(v, x0, x1);
    let py = |v: f64| ya.map(v, y0, y1);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="Helvetica, Arial, sans-serif" font-size="13">
<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>
<text x="{:.1}" y="28" text-anchor="middle" font-size="16" font-weight="bold">{}</text>"#,
        (x0 + x1) / 2.0,
        escape(&plot.title)
    );
    // Grid and y ticks.
    for (t, label) in ya.ticks.iter().zip(ya.labels()) {
        let y = py(*t);
        let _ = writeln!(
            s,
            r##"<line x1="{x0:.1}" y1="{y:.1}" x2="{x1:.1}" y2="{y:.1}" stroke="#e0e0e0"/>
<line x1="{:.1}" y1="{y:.1}" x2="{x0:.1}" y2="{y:.1}" stroke="black"/>
<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            x0 - 5.0,
            x0 - 8.0,
            y + 4.5,
            escape(&label)
        );
    }
    // X ticks.
    for (t, label) in xa.ticks.iter().zip(xa.labels()) {
        let x = px(*t);
        let _ = writeln!(
            s,
            r#"<line x1="{x:.1}" y1="{y0:.1}" x2="{x:.1}" y2="{:.1}" stroke="black"/>
<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            y0 + 5.0,
            y0 + 20.0,
            escape(&label)
        );
    }
    // Axes and their labels.
    let _ = writeln!(
        s,
        r#"<line x1="{x0:.1}" y1="{y0:.1}" x2="{x1:.1}" y2="{y0:.1}" stroke="black"/>
<line x1="{x0:.1}" y1="{y0:.1}" x2="{x0:.1}" y2="{y1:.1}" stroke="black"/>
<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>
<text x="{:.1}" y="{:.1}" text-anchor="middle" transform="rotate(-90 {:.1} {:.1})">{}</text>"#,
        (x0 + x1) / 2.0,
        HEIGHT - 18.0,
        escape(&plot.x_label),
        22.0,
        (y0 + y1) / 2.0,
        22.0,
        (y0 + y1) / 2.0,
        escape(&plot.y_label)
    );
    // The lines and their markers.
    for (k, series) in plot.series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let points: Vec<String> = series
            .points
            .iter()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = writeln!(
            s,
            r#"<g><title>{}</title>
<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            escape(&series.name),
            points.join(" ")
        );
        for &(x, y) in series
            .points
            .iter()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
        {
            marker(&mut s, k, px(x), py(y), colour);
        }
        s.push_str("</g>\n");
    }
    // The legend, top left inside the plot (latencies grow to the right).
    if !plot.series.is_empty() {
        let longest = plot
            .series
            .iter()
            .map(|x| x.name.chars().count())
            .max()
            .unwrap_or(0);
        let (lx, ly) = (x0 + 12.0, y1 + 10.0);
        let w = 52.0 + 7.2 * longest as f64;
        let h = 10.0 + 20.0 * plot.series.len() as f64;
        let _ = writeln!(
            s,
            r##"<rect x="{lx:.1}" y="{ly:.1}" width="{w:.1}" height="{h:.1}" fill="white" fill-opacity="0.9" stroke="#999999"/>"##
        );
        for (k, series) in plot.series.iter().enumerate() {
            let colour = COLOURS[k % COLOURS.len()];
            let y = ly + 15.0 + 20.0 * k as f64;
            let _ = writeln!(
                s,
                r#"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{colour}" stroke-width="2"/>"#,
                lx + 8.0,
                lx + 36.0
            );
            marker(&mut s, k, lx + 22.0, y, colour);
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
                lx + 44.0,
                y + 4.5,
                escape(&series.name)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Check that every element opened is closed in order (a rough well-formedness test:
    /// the renderer escapes all text, so `<` only starts tags).
    fn balanced(svg: &str) -> Result<(), String> {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = svg;
        while let Some(i) = rest.find('<') {
            let after = &rest[i + 1..];
            let end = after.find('>').ok_or("unclosed tag")?;
            let tag = &after[..end];
            rest = &after[end + 1..];
            if tag.starts_with('?') || tag.starts_with('!') {
                continue;
            }
            if let Some(name) = tag.strip_prefix('/') {
                match stack.pop() {
                    Some(open) if open == name.trim() => {}
                    other => return Err(format!("</{name}> closes {other:?}")),
                }
            } else if !tag.ends_with('/') {
                let name = tag.split_whitespace().next().unwrap_or("").to_string();
                stack.push(name);
            }
        }
        if stack.is_empty() {
            Ok(())
        } else {
            Err(format!("still open: {stack:?}"))
        }
    }

    fn plot(series: Vec<Series>) -> LinePlot {
        LinePlot {
            title: "TLB <shootdown> & \"friends\"".into(),
            x_label: "cores".into(),
            y_label: "latency (k cycles)".into(),
            x_ticks: Some(vec![2.0, 4.0, 8.0, 16.0, 32.0]),
            y_from_zero: true,
            series,
        }
    }

    fn sample() -> LinePlot {
        plot(vec![
            Series {
                name: "Broadcast".into(),
                points: vec![
                    (2.0, 1.0),
                    (4.0, 2.5),
                    (8.0, 4.0),
                    (16.0, 8.0),
                    (32.0, 13.2),
                ],
            },
            Series {
                name: "a<b & 'c'".into(),
                points: vec![(2.0, 0.8), (32.0, 6.0)],
            },
            Series {
                name: "single".into(),
                points: vec![(8.0, 3.0)],
            },
        ])
    }

    #[test]
    fn one_polyline_per_series_and_balanced() {
        let svg = render(&sample());
        assert_eq!(svg.matches("<polyline").count(), 3);
        assert_eq!(svg.matches("<svg").count(), 1);
        assert!(svg.trim_end().ends_with("</svg>"));
        balanced(&svg).unwrap();
    }

    #[test]
    fn text_is_escaped() {
        let svg = render(&sample());
        assert!(svg.contains("TLB &lt;shootdown&gt; &amp; &quot;friends&quot;"));
        assert!(svg.contains("a&lt;b &amp; &apos;c&apos;"));
        assert!(!svg.contains("a<b"));
        assert!(!svg.contains("<shootdown>"));
        assert_eq!(escape("x\u{1}y"), "x y");
    }

    #[test]
    fn axes_scale_from_data() {
        let p = sample();
        let y = p.y_axis();
        assert_eq!(y.lo, 0.0);
        assert!(y.hi >= 13.2 && y.hi <= 16.0, "{y:?}");
        let x = p.x_axis();
        assert_eq!((x.lo, x.hi), (2.0, 32.0));
        assert_eq!(x.ticks, vec![2.0, 4.0, 8.0, 16.0, 32.0]);
        // Ten times the data: ten times the axis.
        let big = plot(vec![Series {
            name: "x".into(),
            points: vec![(2.0, 10.0), (32.0, 132.0)],
        }]);
        let yb = big.y_axis();
        assert!(yb.hi >= 132.0 && yb.hi <= 160.0, "{yb:?}");
        let svg = render(&big);
        assert!(svg.contains(&format!(">{}</text>", yb.labels().last().unwrap())));
        // The largest point is drawn inside the plot area, at or below the top margin.
        let top = yb.map(132.0, HEIGHT - BOTTOM, TOP);
        assert!((TOP..=HEIGHT - BOTTOM).contains(&top));
        // Small values get decimals in their labels.
        let small = plot(vec![Series {
            name: "x".into(),
            points: vec![(2.0, 0.12), (32.0, 0.31)],
        }]);
        let ys = small.y_axis();
        assert!(ys.hi < 1.0 && ys.hi >= 0.31, "{ys:?}");
        assert!(ys.labels().iter().any(|l| l.contains('.')));
    }

    #[test]
    fn nice_ticks_cover_range() {
        assert_eq!(
            nice_ticks(0.0, 10.0, 5),
            vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
        );
        let t = nice_ticks(3.0, 47.0, 8);
        assert!(t[0] <= 3.0 && *t.last().unwrap() >= 47.0);
        // A flat or empty range still gives an axis.
        assert!(nice_ticks(5.0, 5.0, 5).len() >= 2);
        assert!(nice_ticks(f64::NAN, 1.0, 5).len() >= 2);
    }

    #[test]
    fn empty_plot_renders() {
        let p = LinePlot {
            x_ticks: None,
            ..plot(Vec::new())
        };
        let svg = render(&p);
        assert_eq!(svg.matches("<polyline").count(), 0);
        balanced(&svg).unwrap();
    }
}

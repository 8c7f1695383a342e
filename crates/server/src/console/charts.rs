//! Charts drawn on the server as SVG (no script, no CDN): stacked bars per day with axis
//! labels and a `<title>` tooltip per segment. The SVG scales to its container's width
//! (`viewBox`), so it stays legible at phone width.

use std::fmt::Write as _;

/// One stacked series: its name and a value per bar.
pub struct Series {
    pub name: String,
    pub values: Vec<i64>,
}

/// Colours of the series, in order; the tenth and later series reuse them.
const COLOURS: [&str; 9] = [
    "#4f6bed", "#e8a33d", "#3aa37a", "#c4515d", "#8a5cc4", "#2f9bb5", "#b5802f", "#6c7a89",
    "#d46fa4",
];

const WIDTH: i64 = 720;
const HEIGHT: i64 = 240;
const LEFT: i64 = 64;
const BOTTOM: i64 = 28;
const TOP: i64 = 10;

/// Escapes text for SVG content and attributes.
pub fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A "nice" axis maximum at or above `max`: 1, 2 or 5 times a power of ten.
fn nice_max(max: i64) -> i64 {
    let mut step: i64 = 1;
    loop {
        for m in [1, 2, 5] {
            let candidate = step.saturating_mul(m);
            if candidate >= max || candidate == i64::MAX {
                return candidate.max(1);
            }
        }
        step = step.saturating_mul(10);
    }
}

/// A stacked bar chart: one bar per label, the series stacked in order. `format` renders a
/// value for the axis and tooltips; `title` names the chart for screen readers.
pub fn stacked_bars(
    title: &str,
    labels: &[String],
    series: &[Series],
    format: &dyn Fn(i64) -> String,
) -> String {
    let totals: Vec<i64> = (0..labels.len())
        .map(|i| {
            series
                .iter()
                .filter_map(|s| s.values.get(i))
                .fold(0i64, |a, v| a.saturating_add((*v).max(0)))
        })
        .collect();
    let max = nice_max(totals.iter().copied().max().unwrap_or(0));
    let plot_h = HEIGHT - TOP - BOTTOM;
    let plot_w = WIDTH - LEFT - 8;
    let n = i64::try_from(labels.len().max(1)).unwrap_or(1);
    let slot = plot_w / n;
    let bar = (slot * 7 / 10).max(1);
    let y = |v: i64| -> i64 {
        // Scaled in i128 so that large values cannot overflow.
        let scaled = i128::from(v) * i128::from(plot_h) / i128::from(max);
        TOP + plot_h - i64::try_from(scaled).unwrap_or(plot_h)
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{t}\" \
         preserveAspectRatio=\"xMidYMid meet\" xmlns=\"http://www.w3.org/2000/svg\"><title>{t}</title>",
        t = xml(title)
    );
    // Y axis: 0, half and the maximum, with grid lines.
    for v in [0, max / 2, max] {
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{x2}\" y1=\"{yy}\" y2=\"{yy}\" stroke=\"currentColor\" stroke-opacity=\"0.15\"/>\
             <text class=\"axis\" x=\"{tx}\" y=\"{ty}\" text-anchor=\"end\" font-size=\"11\" fill=\"currentColor\">{label}</text>",
            x2 = WIDTH - 8,
            yy = y(v),
            tx = LEFT - 6,
            ty = y(v) + 4,
            label = xml(&format(v))
        );
    }
    // X axis labels: at most about eight, evenly spread.
    let every = (labels.len() / 8).max(1);
    for (i, label) in labels.iter().enumerate() {
        let x = LEFT + i64::try_from(i).unwrap_or(0) * slot + (slot - bar) / 2;
        let mut acc: i64 = 0;
        for (k, s) in series.iter().enumerate() {
            let v = s.values.get(i).copied().unwrap_or(0).max(0);
            if v == 0 {
                continue;
            }
            let low = y(acc);
            acc = acc.saturating_add(v).min(max);
            let high = y(acc);
            let _ = write!(
                svg,
                "<rect x=\"{x}\" y=\"{high}\" width=\"{bar}\" height=\"{h}\" fill=\"{c}\"><title>{l} · {n}: {v}</title></rect>",
                h = (low - high).max(1),
                c = COLOURS[k % COLOURS.len()],
                l = xml(label),
                n = xml(&s.name),
                v = xml(&format(v)),
            );
        }
        if i % every == 0 {
            let _ = write!(
                svg,
                "<text class=\"axis\" x=\"{cx}\" y=\"{ty}\" text-anchor=\"middle\" font-size=\"11\" fill=\"currentColor\">{l}</text>",
                cx = x + bar / 2,
                ty = HEIGHT - 8,
                l = xml(label)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// A legend for `stacked_bars`' series, as HTML.
pub fn legend(series: &[Series]) -> String {
    let mut out = String::from("<ul class=\"chart-legend\">");
    for (k, s) in series.iter().enumerate() {
        let _ = write!(
            out,
            "<li><span class=\"swatch\" style=\"background:{}\"></span>{}</li>",
            COLOURS[k % COLOURS.len()],
            xml(&s.name)
        );
    }
    out.push_str("</ul>");
    out
}

/// A small line of values (the Overview's 30-day cost), no axes, one tooltip per point.
pub fn sparkline(
    title: &str,
    labels: &[String],
    values: &[i64],
    format: &dyn Fn(i64) -> String,
) -> String {
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let (w, h) = (240i64, 48i64);
    let n = i64::try_from(values.len().saturating_sub(1).max(1)).unwrap_or(1);
    let point = |i: usize, v: i64| {
        let x = i64::try_from(i).unwrap_or(0) * (w - 4) / n + 2;
        let scaled = i128::from(v.max(0)) * i128::from(h - 6) / i128::from(max);
        (x, h - 3 - i64::try_from(scaled).unwrap_or(0))
    };
    let mut svg = format!(
        "<svg class=\"sparkline\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{t}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{t}</title><polyline fill=\"none\" stroke=\"#4f6bed\" stroke-width=\"2\" points=\"",
        t = xml(title)
    );
    for (i, v) in values.iter().enumerate() {
        let (x, y) = point(i, *v);
        let _ = write!(svg, "{x},{y} ");
    }
    svg.push_str("\"/>");
    for (i, v) in values.iter().enumerate() {
        let (x, y) = point(i, *v);
        let label = labels.get(i).map(String::as_str).unwrap_or_default();
        let _ = write!(
            svg,
            "<circle cx=\"{x}\" cy=\"{y}\" r=\"2\" fill=\"#4f6bed\"><title>{}: {}</title></circle>",
            xml(label),
            xml(&format(*v))
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_carry_axis_labels_and_escaped_tooltips() {
        let svg = stacked_bars(
            "Cost per day",
            &["Feb 1".to_owned(), "Feb 2".to_owned()],
            &[
                Series {
                    name: "a<b".to_owned(),
                    values: vec![3, 0],
                },
                Series {
                    name: "c".to_owned(),
                    values: vec![1, 7],
                },
            ],
            &|v| format!("${v}"),
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("<title>Feb 1 · a&lt;b: $3</title>"));
        assert!(svg.contains("<title>Feb 2 · c: $7</title>"));
        assert!(
            !svg.contains("Feb 2 · a&lt;b"),
            "zero segments are not drawn"
        );
        // The axis tops at a nice number over the largest bar (7 → 10).
        assert!(svg.contains(">$10</text>"));
        assert!(svg.contains(">Feb 1</text>") && svg.contains(">Feb 2</text>"));
    }

    #[test]
    fn axis_maxima_are_round() {
        assert_eq!(nice_max(0), 1);
        assert_eq!(nice_max(7), 10);
        assert_eq!(nice_max(11), 20);
        assert_eq!(nice_max(2_000_001), 5_000_000);
        assert!(nice_max(i64::MAX) >= i64::MAX / 10);
    }
}

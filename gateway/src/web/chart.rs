//! The clicks chart, drawn on the server as SVG: one bar per hour or day of the (zero-filled)
//! series, a few time labels, the peak on the axis, and a table-free text alternative.

use hop_proto::links::v1 as pb;
use maud::{Markup, html};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 36.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 12.0;

/// The chart of `series` (`unit`: "hour" or "day").
pub fn clicks(series: &[pb::SeriesPoint], unit: &str) -> Markup {
    let points: Vec<(String, u64)> = series
        .iter()
        .map(|p| {
            let t = p.bucket.as_ref().and_then(hop_kit::time::from_proto);
            let label = t.map_or_else(String::new, |t| match unit {
                "hour" => t.format("%d %b %H:00").to_string(),
                _ => t.format("%d %b").to_string(),
            });
            (label, p.clicks)
        })
        .collect();
    let peak = points.iter().map(|p| p.1).max().unwrap_or(0);
    let scale = peak.max(1) as f64;
    let total: u64 = points.iter().map(|p| p.1).sum();
    let n = points.len().max(1) as f64;
    let plot_w = WIDTH - LEFT;
    let plot_h = HEIGHT - BOTTOM - TOP;
    let slot = plot_w / n;
    let bar = (slot * 0.8).max(1.0);
    // About six labels, whatever the number of bars.
    let every = (points.len() / 6).max(1);
    let summary = format!(
        "{total} clicks over {} {unit}s, at most {peak} in one {unit}",
        points.len()
    );
    html! {
        figure {
            svg.chart viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label=(summary) {
                line.axis x1=(LEFT) y1=(HEIGHT - BOTTOM) x2=(WIDTH) y2=(HEIGHT - BOTTOM) {}
                text x="0" y=(TOP + 10.0) { (peak) }
                text x="0" y=(HEIGHT - BOTTOM) { "0" }
                @for (i, (label, clicks)) in points.iter().enumerate() {
                    @let h = (*clicks as f64 / scale) * plot_h;
                    @let x = LEFT + i as f64 * slot + (slot - bar) / 2.0;
                    rect.bar-rect x=(fmt(x)) y=(fmt(HEIGHT - BOTTOM - h)) width=(fmt(bar)) height=(fmt(h)) {
                        title { (label) ": " (clicks) }
                    }
                    @if i % every == 0 {
                        text x=(fmt(LEFT + i as f64 * slot)) y=(HEIGHT - 6.0) { (label) }
                    }
                }
            }
            figcaption.muted { (summary) }
        }
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_peak() {
        let at = |h: i64, clicks: u64| pb::SeriesPoint {
            bucket: Some(prost_types::Timestamp {
                seconds: 1_764_000_000 + h * 3600,
                nanos: 0,
            }),
            clicks,
        };
        let svg = clicks(&[at(0, 0), at(1, 4), at(2, 2)], "hour").into_string();
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(
            svg.contains("6 clicks over 3 hours, at most 4 in one hour"),
            "{svg}"
        );
        // The peak's bar is the plot's full height.
        assert!(
            svg.contains(&format!("height=\"{:.1}\"", HEIGHT - BOTTOM - TOP)),
            "{svg}"
        );
    }
}

//! Latency against load, one line per target server: the chart of a comparison run. Reads the JSON
//! reports of several runs (one per target and load), draws fan-out p99 (solid) and p50 (dashed) against
//! rooms, on a log latency axis (from a fraction of a millisecond to seconds), and writes an SVG.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use plotters::coord::combinators::{BindKeyPoints, IntoLogRange};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use serde::Deserialize;

/// The target of a report that names none: reports from before the comparison runs are all handoff's.
pub const DEFAULT_TARGET: &str = "handoff";

/// Targets in legend order, each with a fixed colour so charts of different runs compare at a glance.
const KNOWN_TARGETS: [(&str, RGBColor); 4] = [
    ("handoff", RGBColor(31, 119, 180)),     // blue
    ("relay", RGBColor(110, 110, 110)),      // grey: the no-CRDT baseline
    ("y-websocket", RGBColor(255, 127, 14)), // orange
    ("hocuspocus", RGBColor(44, 160, 44)),   // green
];
/// Colours for any other target, in legend order.
const OTHER_COLOURS: [RGBColor; 5] = [
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

const SIZE: (u32, u32) = (1024, 640);
/// Length of a line sample in the legend, px; its label starts 10 px after it.
const LEGEND_LINE: i32 = 30;

/// One target's measurements, by load.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<Point>,
}

/// One run: its load and its fan-out latency percentiles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Rooms of the run.
    pub load: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// The figures a chart needs from a report; everything else in it is ignored.
#[derive(Deserialize)]
struct ReportFigures {
    /// Only typing runs share an x axis; other scenarios' reports are skipped.
    scenario: Option<String>,
    target: Option<String>,
    rooms: Option<f64>,
    fanout: Option<Fanout>,
}

#[derive(Deserialize)]
struct Fanout {
    p50_us: f64,
    p99_us: f64,
}

/// Reads report JSON files into one series per target (`"target"`, [`DEFAULT_TARGET`] when absent), each
/// sorted by rooms; known targets first, in a fixed order. Files without fan-out figures (the idle
/// scenario's reports) are skipped, so a whole results directory can be passed; a file that has them but
/// not `"rooms"` is an error. Repeated runs at one load are all kept.
pub fn load_series(paths: &[PathBuf]) -> anyhow::Result<Vec<Series>> {
    let mut by_target: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for path in paths {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        // One report, or the array a --compare run writes.
        let value: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let values = match value {
            serde_json::Value::Array(reports) => reports,
            one => vec![one],
        };
        for value in values {
            let report: ReportFigures =
                serde_json::from_value(value).with_context(|| format!("parsing {}", path.display()))?;
            if report.scenario.as_deref().is_some_and(|s| s != "typing") {
                continue;
            }
            let Some(fanout) = report.fanout else { continue };
            let rooms = report.rooms.with_context(|| format!("{}: no \"rooms\"", path.display()))?;
            let target = report.target.unwrap_or_else(|| DEFAULT_TARGET.to_owned());
            by_target.entry(target).or_default().push(Point {
                load: rooms,
                p50_ms: fanout.p50_us / 1e3,
                p99_ms: fanout.p99_us / 1e3,
            });
        }
    }
    ensure!(!by_target.is_empty(), "none of the {} files has fan-out latencies", paths.len());
    let mut series: Vec<Series> = by_target
        .into_iter()
        .map(|(name, mut points)| {
            points.sort_by(|a, b| a.load.total_cmp(&b.load));
            Series { name, points }
        })
        .collect();
    // Stable: known targets in their order, then the others alphabetically (BTreeMap order).
    series.sort_by_key(|s| KNOWN_TARGETS.iter().position(|k| k.0 == s.name).unwrap_or(KNOWN_TARGETS.len()));
    Ok(series)
}

/// Draws p99 (solid, filled dots) and p50 (dashed, open dots) of each series against rooms, latency on a
/// log scale, and writes the SVG to `out`. Non-positive latencies (a run that delivered nothing) cannot sit
/// on a log axis and are left out.
pub fn latency_svg(series: &[Series], title: &str, out: &Path) -> anyhow::Result<()> {
    let positive = |v: f64| v > 0.0 && v.is_finite();
    let latencies = series.iter().flat_map(|s| &s.points).flat_map(|p| [p.p50_ms, p.p99_ms]);
    let (lo, hi) = latencies
        .filter(|&v| positive(v))
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if hi == 0.0 {
        bail!("no positive latency to draw");
    }
    // Whole decades, so the axis starts and ends on a labelled power of ten.
    let (lo_exp, mut hi_exp) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    if hi_exp <= lo_exp {
        hi_exp = lo_exp + 1;
    }
    let (bold, light) = log_ticks(lo_exp, hi_exp);
    // Widened by a hair so the end decades, computed back through powi, are surely inside the range.
    let y_range = (10f64.powi(lo_exp) * 0.999..10f64.powi(hi_exp) * 1.001).log_scale();
    let max_load = series.iter().flat_map(|s| &s.points).map(|p| p.load).fold(0.0, f64::max);
    let x_hi = if max_load > 0.0 { max_load * 1.05 } else { 1.0 };

    let root = SVGBackend::new(out, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 26))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..x_hi, y_range.with_key_points(bold).with_light_points(light))?;
    chart
        .configure_mesh()
        .x_desc("rooms")
        .y_desc("fan-out latency (log scale)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format_ms(*y))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17))
        .bold_line_style(RGBColor(215, 215, 215))
        .light_line_style(RGBColor(240, 240, 240))
        .x_max_light_lines(1)
        // Any non-zero value: the minor lines of the log axis are the fixed light points above.
        .y_max_light_lines(1)
        .draw()?;

    let mut others = OTHER_COLOURS.iter().cycle();
    for s in series {
        let colour = match KNOWN_TARGETS.iter().find(|k| k.0 == s.name) {
            Some(k) => k.1,
            None => *others.next().expect("cycle never ends"),
        };
        let solid = colour.stroke_width(3);
        let dashed = colour.mix(0.85).stroke_width(2);
        let p99: Vec<(f64, f64)> =
            s.points.iter().filter(|p| positive(p.p99_ms)).map(|p| (p.load, p.p99_ms)).collect();
        let p50: Vec<(f64, f64)> =
            s.points.iter().filter(|p| positive(p.p50_ms)).map(|p| (p.load, p.p50_ms)).collect();

        chart
            .draw_series(LineSeries::new(p99.iter().copied(), solid))?
            .label(format!("{} p99", s.name))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + LEGEND_LINE, y)], solid));
        chart.draw_series(p99.iter().map(|&c| Circle::new(c, 4, colour.filled())))?;
        chart
            .draw_series(DashedLineSeries::new(p50.iter().copied(), 8, 5, dashed))?
            .label(format!("{} p50", s.name))
            .legend(move |(x, y)| DashedPathElement::new(vec![(x, y), (x + LEGEND_LINE, y)], 8, 5, dashed));
        chart.draw_series(p50.iter().map(|&c| Circle::new(c, 4, colour.stroke_width(2))))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(160, 160, 160))
        .label_font(("sans-serif", 15))
        .legend_area_size(LEGEND_LINE + 10)
        .draw()?;
    root.present().with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// Ticks of a log axis from 10^lo to 10^hi: labelled decades, labelled k × 10^n too when the axis is
/// narrow (every k over one decade, 2 and 5 over two) so it still has a few labels, and unlabelled minor
/// lines at the other k × 10^n (k = 2…9). Our own, because plotters' log ticks can give the top decade twice
/// (once as a minor tick, once as a decade), and labels on a narrow axis then overlap.
fn log_ticks(lo: i32, hi: i32) -> (Vec<f64>, Vec<f64>) {
    let labelled: &[u32] = match hi - lo {
        1 => &[2, 3, 4, 5, 6, 7, 8, 9],
        2 => &[2, 5],
        _ => &[],
    };
    let (mut bold, mut light) = (Vec::new(), Vec::new());
    for e in lo..hi {
        let decade = 10f64.powi(e);
        bold.push(decade);
        for k in 2..=9 {
            let tick = f64::from(k) * decade;
            if labelled.contains(&k) { bold.push(tick) } else { light.push(tick) }
        }
    }
    bold.push(10f64.powi(hi));
    (bold, light)
}

/// A latency in ms as an axis label: "300 µs", "2 ms", "1.5 s".
fn format_ms(ms: f64) -> String {
    let (value, unit) = if ms >= 1000.0 {
        (ms / 1000.0, "s")
    } else if ms >= 1.0 {
        (ms, "ms")
    } else {
        (ms * 1000.0, "µs")
    };
    // Three significant digits at most, no trailing zeros: log ticks are 1, 2, … 9 × 10^n.
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} {unit}")
}

/// Reads the reports and writes the chart: the `plot` subcommand.
pub fn run_plot(inputs: &[PathBuf], out: &Path, title: &str) -> anyhow::Result<()> {
    let series = load_series(inputs)?;
    latency_svg(&series, title, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, json: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, json).unwrap();
        path
    }

    fn report(target: Option<&str>, rooms: u32, p50_us: u32, p99_us: u32) -> String {
        let mut report = serde_json::json!({
            "scenario": "typing",
            "rooms": rooms,
            "fanout": {"count": 9, "p50_us": p50_us, "p99_us": p99_us},
        });
        if let Some(t) = target {
            report["target"] = t.into();
        }
        report.to_string()
    }

    #[test]
    fn reports_group_by_target_and_sort_by_rooms() {
        let dir = tempfile::tempdir().unwrap();
        let paths = vec![
            write(dir.path(), "a.json", &report(Some("y-websocket"), 300, 2000, 9000)),
            write(dir.path(), "b.json", &report(None, 300, 1373, 2727)),
            write(dir.path(), "c.json", &report(Some("handoff"), 100, 1674, 2473)),
            write(dir.path(), "d.json", &report(Some("relay"), 100, 300, 700)),
            write(dir.path(), "idle.json", r#"{"rooms": 2000, "connections": 6000}"#),
        ];
        let series = load_series(&paths).unwrap();
        let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["handoff", "relay", "y-websocket"], "known order; the idle report is skipped");
        assert_eq!(
            series[0].points,
            [
                Point { load: 100.0, p50_ms: 1.674, p99_ms: 2.473 },
                Point { load: 300.0, p50_ms: 1.373, p99_ms: 2.727 }
            ]
        );

        let idle_only = vec![paths[4].clone()];
        assert!(load_series(&idle_only).is_err(), "nothing to plot");
        let no_rooms = write(dir.path(), "e.json", r#"{"fanout": {"p50_us": 1, "p99_us": 2}}"#);
        assert!(load_series(&[no_rooms]).is_err());
        let broken = write(dir.path(), "f.json", "{");
        assert!(load_series(&[broken]).is_err());
    }

    #[test]
    fn svg_has_every_series_and_its_lines() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("chart.svg");
        let point = |load, p50_ms, p99_ms| Point { load, p50_ms, p99_ms };
        let series = vec![
            Series { name: "handoff".into(), points: vec![point(100.0, 0.3, 0.9), point(1000.0, 0.5, 4.0)] },
            Series {
                name: "hocuspocus".into(),
                points: vec![point(100.0, 2.0, 30.0), point(1000.0, 400.0, 2500.0)],
            },
            Series { name: "mystery".into(), points: vec![point(100.0, 0.0, 0.0), point(500.0, 1.0, 2.0)] },
        ];
        latency_svg(&series, "fan-out latency", &out).unwrap();
        let svg = std::fs::read_to_string(&out).unwrap();
        for name in ["handoff p99", "handoff p50", "hocuspocus p99", "mystery p50", "fan-out latency"] {
            assert!(svg.contains(name), "{name} missing");
        }
        assert!(svg.contains("<polyline") || svg.contains("<path"), "no lines drawn");
        assert!(latency_svg(&[], "empty", &out).is_err());
    }

    #[test]
    fn log_ticks_label_decades() {
        let (bold, light) = log_ticks(-1, 3);
        assert_eq!(bold, [0.1, 1.0, 10.0, 100.0, 1000.0]);
        assert_eq!(light.len(), 4 * 8);
        let (bold, light) = log_ticks(0, 2);
        assert_eq!(bold, [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0], "a narrow axis gets 2 and 5 too");
        assert_eq!(light.len(), 2 * 6);
        let (bold, light) = log_ticks(0, 1);
        assert_eq!(bold.len(), 10, "one decade: every tick labelled");
        assert!(light.is_empty());
    }

    #[test]
    fn axis_labels_read_naturally() {
        assert_eq!(format_ms(0.3), "300 µs");
        assert_eq!(format_ms(2.0), "2 ms");
        assert_eq!(format_ms(20.0), "20 ms");
        assert_eq!(format_ms(1500.0), "1.5 s");
    }
}

//! Charts of training runs, drawn on the renderer's SVG canvas (the shipped font, so every
//! machine draws the same pixels): loss curves as CSV, SVG and PNG.

use std::fs;
use std::path::{Path, PathBuf};

use s2h_render::svg::{Anchor, SvgDoc, encode_png};

use crate::{EvalError, Result};

/// One run's loss curve: `(update, loss)` points in order.
#[derive(Debug, Clone, PartialEq)]
pub struct LossCurve {
    /// Names the run in the CSV and the legend.
    pub name: String,
    pub points: Vec<(u64, f32)>,
}

/// `run,step,loss`, one line per point.
pub fn loss_curves_csv(curves: &[LossCurve]) -> String {
    let mut csv = String::from("run,step,loss\n");
    for c in curves {
        for (step, loss) in &c.points {
            csv.push_str(&format!("{},{step},{loss}\n", c.name));
        }
    }
    csv
}

const COLORS: [&str; 6] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
];

/// A point marker, so series stay apart in grey print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    None,
    Circle,
    Square,
    Triangle,
    Star,
}

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    /// `(x, y)` in order; non-finite points are skipped.
    pub points: Vec<(f64, f64)>,
    pub marker: Marker,
}

/// A line chart with labelled, ticked axes and a legend.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// The y range; `None`: the data's range with a small margin.
    pub y_range: Option<(f64, f64)>,
}

/// `count + 1` round tick values covering `[lo, hi]`.
fn ticks(lo: f64, hi: f64, count: usize) -> Vec<f64> {
    let span = (hi - lo).max(1e-12);
    let raw = span / count.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(raw);
    let first = (lo / step).ceil() * step;
    let mut out = Vec::new();
    let mut v = first;
    while v <= hi + step * 1e-9 && out.len() < 50 {
        out.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        v += step;
    }
    out
}

fn tick_label(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

fn draw_marker(doc: &mut SvgDoc, marker: Marker, x: f32, y: f32, color: &str) {
    let r = 4.5f32;
    match marker {
        Marker::None => {}
        Marker::Circle => doc.circle(x, y, r, color, None),
        Marker::Square => doc.polygon(
            &[
                (x - r, y - r),
                (x + r, y - r),
                (x + r, y + r),
                (x - r, y + r),
            ],
            true,
            color,
            None,
        ),
        Marker::Triangle => doc.polygon(
            &[
                (x, y - r * 1.2),
                (x + r * 1.1, y + r * 0.8),
                (x - r * 1.1, y + r * 0.8),
            ],
            true,
            color,
            None,
        ),
        Marker::Star => {
            let points: Vec<(f32, f32)> = (0..10)
                .map(|k| {
                    let radius = if k % 2 == 0 { r * 1.4 } else { r * 0.6 };
                    let angle = std::f32::consts::PI * (k as f32 / 5.0 - 0.5);
                    (x + radius * angle.cos(), y + radius * angle.sin())
                })
                .collect();
            doc.polygon(&points, true, color, None);
        }
    }
}

/// The plotting area of a chart and its y scale: what line and bar charts share.
struct Axes {
    left: f32,
    top: f32,
    plot_w: f32,
    plot_h: f32,
    y_lo: f64,
    y_hi: f64,
}

impl Axes {
    fn y(&self, v: f64) -> f32 {
        let t = ((v.clamp(self.y_lo, self.y_hi) - self.y_lo) / (self.y_hi - self.y_lo)) as f32;
        self.top + self.plot_h * (1.0 - t)
    }

    /// A white canvas with the y grid and its tick labels, both axes, the title centred over
    /// the plot and the y label above the axis.
    fn frame(&self, w: f32, h: f32, title: &str, y_label: &str) -> SvgDoc {
        let (black, grid) = ("#000000", "#dddddd");
        let mut doc = SvgDoc::new(w as u32, h as u32, "#ffffff", false);
        for v in ticks(self.y_lo, self.y_hi, 5) {
            let y = self.y(v);
            doc.line(self.left, y, self.left + self.plot_w, y, grid, 1.0);
            doc.text(
                self.left - 8.0,
                y,
                12.0,
                false,
                black,
                Anchor::End,
                &tick_label(v),
            );
        }
        let bottom = self.top + self.plot_h;
        doc.line(
            self.left,
            bottom,
            self.left + self.plot_w,
            bottom,
            black,
            1.0,
        );
        doc.line(self.left, self.top, self.left, bottom, black, 1.0);
        let centre = self.left + self.plot_w / 2.0;
        doc.text(centre, 16.0, 15.0, true, black, Anchor::Middle, title);
        doc.text(
            8.0,
            self.top - 20.0,
            13.0,
            false,
            black,
            Anchor::Start,
            y_label,
        );
        doc
    }
}

impl LineChart {
    pub fn svg(&self) -> SvgDoc {
        let (w, h) = (720.0f32, 440.0f32);
        let (left, right, top, bottom) = (70.0f32, 190.0f32, 50.0f32, 60.0f32);
        let finite = || {
            self.series
                .iter()
                .flat_map(|s| s.points.iter())
                .filter(|p| p.0.is_finite() && p.1.is_finite())
        };
        let (mut x_lo, mut x_hi) = finite().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
            (lo.min(p.0), hi.max(p.0))
        });
        if x_lo > x_hi {
            (x_lo, x_hi) = (0.0, 1.0);
        }
        if x_hi - x_lo < 1e-12 {
            (x_lo, x_hi) = (x_lo - 1.0, x_hi + 1.0);
        }
        // A margin, so no marker sits on the frame.
        let x_pad = (x_hi - x_lo) * 0.03;
        let (x_lo, x_hi) = (x_lo - x_pad, x_hi + x_pad);
        let (y_lo, y_hi) = self.y_range.unwrap_or_else(|| {
            let (lo, hi) = finite().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
                (lo.min(p.1), hi.max(p.1))
            });
            if lo > hi {
                (0.0, 1.0)
            } else {
                // The data's range with a margin, so no point sits on the frame.
                let pad = ((hi - lo) * 0.08).max(hi.abs().max(1e-6) * 0.01);
                (lo - pad, hi + pad)
            }
        });
        let axes = Axes {
            left,
            top,
            plot_w: w - left - right,
            plot_h: h - top - bottom,
            y_lo,
            y_hi,
        };
        let (plot_w, plot_h) = (axes.plot_w, axes.plot_h);
        let x = |v: f64| left + plot_w * ((v - x_lo) / (x_hi - x_lo)) as f32;
        let y = |v: f64| axes.y(v);
        let black = "#000000";
        let mut doc = axes.frame(w, h, &self.title, &self.y_label);
        for v in ticks(x_lo, x_hi, 6) {
            doc.line(x(v), top + plot_h, x(v), top + plot_h + 5.0, black, 1.0);
            doc.text(
                x(v),
                top + plot_h + 18.0,
                12.0,
                false,
                black,
                Anchor::Middle,
                &tick_label(v),
            );
        }
        doc.text(
            left + plot_w / 2.0,
            h - 16.0,
            14.0,
            false,
            black,
            Anchor::Middle,
            &self.x_label,
        );
        for (i, s) in self.series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let line: Vec<(f32, f32)> = s
                .points
                .iter()
                .filter(|p| p.0.is_finite() && p.1.is_finite())
                .map(|&(px, py)| (x(px), y(py)))
                .collect();
            if line.len() > 1 {
                doc.polygon(&line, false, "none", Some((color, 2.0)));
            }
            for &(px, py) in &line {
                draw_marker(&mut doc, s.marker, px, py, color);
            }
            let ly = top + 10.0 + 22.0 * i as f32;
            let lx = w - right + 16.0;
            doc.line(lx, ly, lx + 28.0, ly, color, 2.0);
            draw_marker(&mut doc, s.marker, lx + 14.0, ly, color);
            doc.text(lx + 36.0, ly, 13.0, false, black, Anchor::Start, &s.name);
        }
        doc
    }

    /// `series,x,y`, one line per point.
    pub fn csv(&self) -> String {
        let mut csv = format!(
            "series,{},{}\n",
            csv_field(&self.x_label),
            csv_field(&self.y_label)
        );
        for s in &self.series {
            for (px, py) in &s.points {
                csv.push_str(&format!("{},{px},{py}\n", csv_field(&s.name)));
            }
        }
        csv
    }

    /// Write `DIR/NAME.csv`, `.svg` and `.png`; returns their paths.
    pub fn write(&self, dir: &Path, name: &str) -> Result<[PathBuf; 3]> {
        write_files(dir, name, &self.csv(), &self.svg())
    }
}

/// A bar chart: one bar per label, its value written above it.
#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    pub title: String,
    pub y_label: String,
    pub bars: Vec<(String, f64)>,
    /// The y range; `None`: from 0 to the highest value with a margin.
    pub y_range: Option<(f64, f64)>,
}

impl BarChart {
    pub fn svg(&self) -> SvgDoc {
        let (left, right, top, bottom) = (70.0f32, 30.0f32, 50.0f32, 70.0f32);
        // Wide enough that a label of two 15-character lines fits under each bar.
        let w = (left + right + 110.0 * self.bars.len() as f32).max(720.0);
        let h = 440.0f32;
        let hi = self
            .bars
            .iter()
            .map(|b| b.1)
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max);
        let (y_lo, y_hi) = self
            .y_range
            .unwrap_or((0.0, if hi > 0.0 { hi * 1.1 } else { 1.0 }));
        let axes = Axes {
            left,
            top,
            plot_w: w - left - right,
            plot_h: h - top - bottom,
            y_lo,
            y_hi,
        };
        let (plot_w, plot_h) = (axes.plot_w, axes.plot_h);
        let y = |v: f64| axes.y(v);
        let black = "#000000";
        let mut doc = axes.frame(w, h, &self.title, &self.y_label);
        let slot = plot_w / self.bars.len().max(1) as f32;
        for (i, (label, value)) in self.bars.iter().enumerate() {
            let cx = left + slot * (i as f32 + 0.5);
            let color = COLORS[i % COLORS.len()];
            if value.is_finite() {
                let (y0, y1) = (y(y_lo.max(0.0)), y(*value));
                doc.rect(
                    cx - slot * 0.3,
                    y1.min(y0),
                    slot * 0.6,
                    (y0 - y1).abs(),
                    color,
                    None,
                );
                doc.text(
                    cx,
                    y1 - 10.0,
                    12.0,
                    false,
                    black,
                    Anchor::Middle,
                    &tick_label(*value),
                );
            } else {
                doc.text(
                    cx,
                    y(y_lo) - 10.0,
                    12.0,
                    false,
                    black,
                    Anchor::Middle,
                    "n/a",
                );
            }
            // A label wider than its slot (about 7 px a character) goes on two lines.
            for (row, line) in label_lines(label, slot).iter().enumerate() {
                doc.text(
                    cx,
                    top + plot_h + 18.0 + 15.0 * row as f32,
                    12.0,
                    false,
                    black,
                    Anchor::Middle,
                    line,
                );
            }
        }
        doc
    }

    /// `label,value`, one line per bar.
    pub fn csv(&self) -> String {
        let mut csv = format!("label,{}\n", csv_field(&self.y_label));
        for (label, value) in &self.bars {
            csv.push_str(&format!("{},{value}\n", csv_field(label)));
        }
        csv
    }

    /// Write `DIR/NAME.csv`, `.svg` and `.png`; returns their paths.
    pub fn write(&self, dir: &Path, name: &str) -> Result<[PathBuf; 3]> {
        write_files(dir, name, &self.csv(), &self.svg())
    }
}

/// `label` as one line, or two split at the space nearest its middle when it is wider than
/// `width` pixels.
fn label_lines(label: &str, width: f32) -> Vec<String> {
    if label.chars().count() as f32 * 7.0 <= width * 0.95 {
        return vec![label.to_string()];
    }
    let middle = label.len() / 2;
    let split = label
        .match_indices(' ')
        .map(|(i, _)| i)
        .min_by_key(|i| i.abs_diff(middle));
    match split {
        Some(i) => vec![label[..i].to_string(), label[i + 1..].to_string()],
        None => vec![label.to_string()],
    }
}

/// A CSV field, quoted when it holds a comma or a quote.
fn csv_field(s: &str) -> String {
    if s.contains(',') || s.contains('"') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Every curve on one chart: loss against update, with a legend.
pub fn loss_curves_svg(curves: &[LossCurve]) -> SvgDoc {
    loss_chart(curves).svg()
}

fn loss_chart(curves: &[LossCurve]) -> LineChart {
    LineChart {
        title: "Training loss".into(),
        x_label: "update".into(),
        y_label: "loss".into(),
        series: curves
            .iter()
            .map(|c| Series {
                name: c.name.clone(),
                points: c
                    .points
                    .iter()
                    .map(|&(s, l)| (s as f64, l as f64))
                    .collect(),
                marker: Marker::None,
            })
            .collect(),
        y_range: None,
    }
}

/// Write `DIR/loss_curves.csv`, `.svg` and `.png`; returns their paths.
pub fn write_loss_curves(dir: &Path, curves: &[LossCurve]) -> Result<[PathBuf; 3]> {
    write_files(
        dir,
        "loss_curves",
        &loss_curves_csv(curves),
        &loss_curves_svg(curves),
    )
}

/// `DIR/NAME.csv`, `.svg` and `.png` (the SVG rasterised), each written atomically.
fn write_files(dir: &Path, name: &str, csv: &str, doc: &SvgDoc) -> Result<[PathBuf; 3]> {
    fs::create_dir_all(dir).map_err(EvalError::io("cannot create directory", dir))?;
    let [csv_path, svg, png] = ["csv", "svg", "png"].map(|ext| dir.join(format!("{name}.{ext}")));
    let write = |path: &Path, bytes: &[u8]| -> Result<()> {
        Ok(s2h_mixture::files::write_atomically(path, bytes)?)
    };
    write(&csv_path, csv.as_bytes())?;
    write(&svg, doc.finish().as_bytes())?;
    let pixmap = doc.rasterize()?;
    write(
        &png,
        &encode_png(pixmap.data(), pixmap.width(), pixmap.height())?,
    )?;
    Ok([csv_path, svg, png])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_curve_is_drawn_and_written() {
        let curves = vec![
            LossCurve {
                name: "text".into(),
                points: vec![(10, 4.0), (20, 2.0), (30, 1.0)],
            },
            LossCurve {
                name: "image".into(),
                points: vec![(10, 5.0), (20, f32::NAN), (30, 3.0)],
            },
        ];
        let csv = loss_curves_csv(&curves);
        assert_eq!(csv.lines().count(), 1 + 6);
        assert!(csv.contains("image,30,3\n"));
        let svg = loss_curves_svg(&curves).finish();
        // Two curves, each drawn as one polyline in its own colour.
        assert!(svg.contains(COLORS[0]) && svg.contains(COLORS[1]));
        let dir = tempfile::tempdir().unwrap();
        let files = write_loss_curves(dir.path(), &curves).unwrap();
        let png = image::open(&files[2]).unwrap();
        assert_eq!((png.width(), png.height()), (720, 440));
    }

    #[test]
    fn a_bar_chart_writes_one_bar_per_label() {
        let chart = BarChart {
            title: "Generation length".into(),
            y_label: "tokens".into(),
            bars: vec![("Mix".into(), 120.0), ("Image-via-Text".into(), 360.0)],
            y_range: None,
        };
        assert_eq!(chart.csv(), "label,tokens\nMix,120\nImage-via-Text,360\n");
        let svg = chart.svg().finish();
        assert_eq!(svg.matches("<rect").count(), 2, "one rectangle per bar");
        let dir = tempfile::tempdir().unwrap();
        let files = chart.write(dir.path(), "bars").unwrap();
        assert!(image::open(&files[2]).is_ok());
    }

    #[test]
    fn long_bar_labels_go_on_two_lines() {
        assert_eq!(label_lines("Mix+ recall", 100.0), ["Mix+ recall"]);
        assert_eq!(
            label_lines("Text (on text) precision", 100.0),
            ["Text (on text)", "precision"]
        );
        assert_eq!(
            label_lines("unbreakable_long_label", 20.0),
            ["unbreakable_long_label"]
        );
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(
            ticks(0.0, 1.0, 5),
            [0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        let t = ticks(3.0, 24.0, 6);
        assert_eq!(t.first(), Some(&5.0));
        assert!(t.windows(2).all(|w| (w[1] - w[0] - 5.0).abs() < 1e-9));
        assert_eq!(tick_label(0.6000000000000001), "0.6");
        assert_eq!(tick_label(25.0), "25");
    }

    #[test]
    fn a_line_chart_draws_each_series_with_its_marker_and_writes_its_numbers() {
        let chart = LineChart {
            title: "S2H, hard".into(),
            x_label: "training records".into(),
            y_label: "accuracy".into(),
            series: vec![
                Series {
                    name: "Mix, image".into(),
                    points: vec![(30000.0, 0.1), (60000.0, 0.4)],
                    marker: Marker::Circle,
                },
                Series {
                    name: "Text".into(),
                    points: vec![(30000.0, 0.5), (60000.0, f64::NAN)],
                    marker: Marker::Star,
                },
            ],
            y_range: Some((0.0, 1.0)),
        };
        let csv = chart.csv();
        assert_eq!(csv.lines().next(), Some("series,training records,accuracy"));
        assert!(csv.contains("\"Mix, image\",60000,0.4\n"));
        let svg = chart.svg().finish();
        assert!(svg.contains(COLORS[0]) && svg.contains(COLORS[1]));
        let dir = tempfile::tempdir().unwrap();
        let files = chart.write(dir.path(), "fig").unwrap();
        assert!(image::open(&files[2]).is_ok());
    }
}

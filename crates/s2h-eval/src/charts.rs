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

/// Every curve on one chart: loss against update, from 0 to the largest of each, with a legend.
pub fn loss_curves_svg(curves: &[LossCurve]) -> SvgDoc {
    let (w, h, margin) = (720.0f32, 420.0f32, 60.0f32);
    let points = || curves.iter().flat_map(|c| c.points.iter());
    let max_step = points().map(|p| p.0).max().unwrap_or(1).max(1) as f32;
    let max_loss = points()
        .map(|p| p.1)
        .filter(|l| l.is_finite())
        .fold(0.0f32, f32::max)
        .max(1e-3);
    let x = |step: f32| margin + (w - 2.0 * margin) * step / max_step;
    let y = |loss: f32| h - margin - (h - 2.0 * margin) * loss.min(max_loss) / max_loss;
    let black = "#000000";
    let mut doc = SvgDoc::new(w as u32, h as u32, "#ffffff", false);
    doc.line(margin, h - margin, w - margin, h - margin, black, 1.0);
    doc.line(margin, margin, margin, h - margin, black, 1.0);
    doc.text(
        w / 2.0,
        h - 20.0,
        14.0,
        false,
        black,
        Anchor::Middle,
        "update",
    );
    doc.text(
        margin,
        margin - 20.0,
        14.0,
        false,
        black,
        Anchor::Middle,
        "loss",
    );
    let top = format!("{max_loss:.2}");
    doc.text(
        margin - 8.0,
        y(max_loss),
        12.0,
        false,
        black,
        Anchor::End,
        &top,
    );
    doc.text(margin - 8.0, y(0.0), 12.0, false, black, Anchor::End, "0");
    let right = format!("{max_step}");
    doc.text(
        x(max_step),
        h - margin + 16.0,
        12.0,
        false,
        black,
        Anchor::Middle,
        &right,
    );
    for (i, c) in curves.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let line: Vec<(f32, f32)> = c
            .points
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|&(step, loss)| (x(step as f32), y(loss)))
            .collect();
        doc.polygon(&line, false, "none", Some((color, 2.0)));
        let ly = margin + 20.0 * i as f32;
        doc.line(w - margin - 130.0, ly, w - margin - 100.0, ly, color, 2.0);
        doc.text(
            w - margin - 92.0,
            ly,
            13.0,
            false,
            black,
            Anchor::Start,
            &c.name,
        );
    }
    doc
}

/// Write `DIR/loss_curves.csv`, `.svg` and `.png`; returns their paths.
pub fn write_loss_curves(dir: &Path, curves: &[LossCurve]) -> Result<[PathBuf; 3]> {
    fs::create_dir_all(dir).map_err(EvalError::io("cannot create directory", dir))?;
    let [csv, svg, png] = ["csv", "svg", "png"].map(|ext| dir.join(format!("loss_curves.{ext}")));
    let write = |path: &Path, bytes: &[u8]| -> Result<()> {
        Ok(s2h_mixture::files::write_atomically(path, bytes)?)
    };
    write(&csv, loss_curves_csv(curves).as_bytes())?;
    let doc = loss_curves_svg(curves);
    write(&svg, doc.finish().as_bytes())?;
    let pixmap = doc.rasterize()?;
    write(
        &png,
        &encode_png(pixmap.data(), pixmap.width(), pixmap.height())?,
    )?;
    Ok([csv, svg, png])
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
        assert_eq!((png.width(), png.height()), (720, 420));
    }
}

//! Renderings of s2h instances (SPEC §6–7): the `text` modality (LaTeX tables, grid and puzzle
//! descriptions) and the `image` modality (SVG rasterised with resvg, encoded as PNG), each
//! image with the [`Layout`] of what it drew.
//!
//! One module per task family, named as in `s2h-tasks`: [`table`], [`grid`], [`analogy`].

mod error;
mod font;
mod layout;
pub mod svg;

pub mod analogy;
pub mod grid;
pub mod table;

use image::RgbImage;
use s2h_tasks::{Instance, TaskKind};
use serde::{Deserialize, Serialize};

pub use error::{RenderError, Result};
pub use font::{has_glyph, text_width_em};
pub use layout::{BBox, Layout, Region, Role};

/// Smallest and largest canvas side accepted.
pub const MIN_SIDE: u32 = 32;
pub const MAX_SIDE: u32 = 8192;

/// Largest font scale: at 1 every renderer fits its widest label inside its cell with a margin
/// (table text spans at most 88% of a column, grid glyphs 70% of a cell, puzzle labels their
/// paper size); larger values overflow cells (100 paints a table black).
pub const MAX_FONT_SCALE: f32 = 1.0;
/// Smallest font scale: at a quarter of the fitted size every label of every task still leaves
/// ink in its cell on the paper canvases (table values, the smallest text, keep 20 or more dark
/// pixels a cell; a test renders every task and split at this scale), while at 0.1 table values
/// leave none. Smaller canvases shrink text further, so this is a floor, not a promise.
pub const MIN_FONT_SCALE: f32 = 0.25;

/// Refuse a font scale outside [`MIN_FONT_SCALE`]`..=`[`MAX_FONT_SCALE`] (and NaN or infinity).
pub fn check_font_scale(scale: f32) -> Result<()> {
    if (MIN_FONT_SCALE..=MAX_FONT_SCALE).contains(&scale) {
        Ok(())
    } else {
        Err(RenderError::BadFontScale(scale))
    }
}

/// How images are drawn: canvas size and a multiplier on the automatically fitted font sizes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ImageOptions {
    pub width: u32,
    pub height: u32,
    /// 1.0 fits every label in its cell; smaller values leave more margin. Between
    /// [`MIN_FONT_SCALE`] and [`MAX_FONT_SCALE`].
    pub font_scale: f32,
}

impl ImageOptions {
    /// The paper's canvas for a task: tables 1500x800, grids 1000x1000, puzzles 800x900.
    pub fn paper(task: TaskKind) -> Self {
        let (width, height) = match task {
            TaskKind::Ctr | TaskKind::Tr => (1500, 800),
            TaskKind::Grid => (1000, 1000),
            TaskKind::Va => (800, 900),
        };
        Self {
            width,
            height,
            font_scale: 1.0,
        }
    }

    pub fn with_size(mut self, width: u32, height: u32) -> Self {
        self.width = width;
        self.height = height;
        self
    }

    pub fn validate(&self) -> Result<()> {
        let (width, height) = (self.width, self.height);
        if width < MIN_SIDE || height < MIN_SIDE {
            return Err(RenderError::CanvasTooSmall {
                width,
                height,
                min: MIN_SIDE,
            });
        }
        if width > MAX_SIDE || height > MAX_SIDE {
            return Err(RenderError::CanvasTooLarge {
                width,
                height,
                max: MAX_SIDE,
            });
        }
        check_font_scale(self.font_scale)
    }
}

/// Which text rendering of Visual Analogy puzzles to write (SPEC §6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnalogyTextFormat {
    /// Per panel, the set of values of each attribute (the paper's default).
    #[default]
    Lossy,
    /// Each object as a short code such as `CIR-90-41-TL` (paper appendix I.5).
    Lossless,
}

impl std::str::FromStr for AnalogyTextFormat {
    type Err = RenderError;

    /// `lossy` or `lossless`.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "lossy" => Ok(AnalogyTextFormat::Lossy),
            "lossless" => Ok(AnalogyTextFormat::Lossless),
            _ => Err(RenderError::UnknownTextFormat(s.to_string())),
        }
    }
}

/// Options of the text modality.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextOptions {
    pub analogy: AnalogyTextFormat,
}

/// A rendered image and the layout of what it shows.
#[derive(Debug, Clone)]
pub struct RenderedImage {
    pixmap: resvg::tiny_skia::Pixmap,
    pub layout: Layout,
}

impl RenderedImage {
    pub fn width(&self) -> u32 {
        self.pixmap.width()
    }

    pub fn height(&self) -> u32 {
        self.pixmap.height()
    }

    /// The colour at `(x, y)`, or `None` outside the image.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 3]> {
        let p = self.pixmap.pixel(x, y)?;
        Some([p.red(), p.green(), p.blue()])
    }

    /// The pixels as an `image` RGB buffer (canvases are opaque).
    pub fn to_rgb(&self) -> RgbImage {
        let rgb = svg::rgb_bytes(self.pixmap.data());
        // The buffer has exactly width*height*3 bytes, so `from_raw` always succeeds.
        RgbImage::from_raw(self.width(), self.height(), rgb).unwrap_or_default()
    }

    /// The image as PNG bytes.
    pub fn png(&self) -> Result<Vec<u8>> {
        svg::encode_png(self.pixmap.data(), self.width(), self.height())
    }
}

/// The text rendering of an instance (the `text` modality).
pub fn render_text(instance: &Instance, options: &TextOptions) -> String {
    match instance {
        Instance::Table(t) => table::latex(t),
        Instance::Grid(g) => grid::latex(g),
        Instance::Analogy(a) => analogy::describe(a, options.analogy),
    }
}

/// The image rendering of an instance (the `image` modality).
pub fn render_image(instance: &Instance, options: &ImageOptions) -> Result<RenderedImage> {
    options.validate()?;
    match instance {
        Instance::Table(t) => table::image(t, options),
        Instance::Grid(g) => grid::image(g, options),
        Instance::Analogy(a) => analogy::image(a, options),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s2h_tasks::TaskConfig;

    #[test]
    fn font_scales_outside_what_the_layouts_hold_are_refused() {
        let paper = ImageOptions::paper(TaskKind::Ctr);
        for scale in [MIN_FONT_SCALE, 0.5, 0.8, MAX_FONT_SCALE] {
            let options = ImageOptions {
                font_scale: scale,
                ..paper
            };
            assert!(options.validate().is_ok(), "{scale}");
        }
        let instance = TaskConfig::default()
            .generate(TaskKind::Ctr, s2h_tasks::Split::Simple, 0, 0)
            .unwrap();
        for scale in [
            0.0,
            -1.0,
            0.001,
            0.24,
            1.01,
            1.5,
            100.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ] {
            let options = ImageOptions {
                font_scale: scale,
                ..paper
            };
            let err = options.validate().unwrap_err().to_string();
            assert!(err.contains("from 0.25 to 1"), "{scale}: {err}");
            // Rendering checks it too: no black canvas, no empty one.
            assert!(render_image(&instance, &options).is_err(), "{scale}");
        }
    }

    /// Pixels inside `b` (less `inset` on each side) for which `ink` holds.
    fn count(image: &RenderedImage, b: BBox, inset: f32, ink: fn([u8; 3]) -> bool) -> usize {
        let (x0, y0) = ((b.x + inset).ceil() as u32, (b.y + inset).ceil() as u32);
        let (x1, y1) = ((b.x + b.w - inset) as u32, (b.y + b.h - inset) as u32);
        (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .filter(|&(x, y)| image.pixel(x, y).is_some_and(ink))
            .count()
    }

    fn dark(p: [u8; 3]) -> bool {
        p.iter().all(|&v| v < 128)
    }

    fn light(p: [u8; 3]) -> bool {
        p.iter().all(|&v| v > 160)
    }

    /// The floor is what it claims: at [`MIN_FONT_SCALE`] on the paper canvas every label of
    /// every task still leaves ink in its cell.
    #[test]
    fn every_label_has_ink_at_the_smallest_font_scale() {
        // A few pixels of a glyph, not one stray anti-aliased edge.
        const MIN_INK: usize = 4;
        let tasks = TaskConfig::default();
        for &task in TaskKind::ALL {
            let options = ImageOptions {
                font_scale: MIN_FONT_SCALE,
                ..ImageOptions::paper(task)
            };
            for &split in task.splits() {
                let instance = tasks.generate(task, split, 0, 0).unwrap();
                let image = render_image(&instance, &options).unwrap();
                let regions = &image.layout.regions;
                let check = |what: &str, b: BBox, inset: f32, ink: fn([u8; 3]) -> bool| {
                    let n = count(&image, b, inset, ink);
                    assert!(n >= MIN_INK, "{task} {split} {what}: {n} ink pixels");
                };
                match &instance {
                    s2h_tasks::Instance::Table(_) => {
                        for r in regions {
                            match r.role {
                                Role::Cell => check("value", r.bbox, 2.0, dark),
                                Role::RowLabel | Role::ColLabel => {
                                    check("label", r.bbox, 2.0, light)
                                }
                                _ => {}
                            }
                        }
                    }
                    s2h_tasks::Instance::Grid(g) => {
                        for r in regions {
                            let glyph = match (r.role, r.cell) {
                                (Role::RowLabel | Role::ColLabel, _) => true,
                                (Role::Cell, Some(cell)) => matches!(
                                    g.content(cell),
                                    s2h_tasks::grid::CellContent::Object(_)
                                        | s2h_tasks::grid::CellContent::Obstacle(_)
                                        | s2h_tasks::grid::CellContent::Start
                                ),
                                _ => false,
                            };
                            if glyph {
                                check("glyph or number", r.bbox, 3.0, dark);
                            }
                        }
                    }
                    s2h_tasks::Instance::Analogy(_) => {
                        let question = image.layout.named("query panel 3").unwrap();
                        check("`?`", question, 4.0, dark);
                        for o in 1..=4 {
                            let panel = image.layout.named(&format!("option {o}")).unwrap();
                            let below = BBox::new(
                                panel.x,
                                panel.y + panel.h + 2.0,
                                panel.w,
                                options.height as f32 - panel.y - panel.h - 2.0,
                            );
                            check("option number", below, 0.0, dark);
                        }
                    }
                }
            }
        }
    }
}

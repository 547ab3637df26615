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

/// How images are drawn: canvas size and a multiplier on the automatically fitted font sizes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ImageOptions {
    pub width: u32,
    pub height: u32,
    /// 1.0 fits every label in its cell; smaller values leave more margin.
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
        if !(self.font_scale.is_finite() && self.font_scale > 0.0) {
            return Err(RenderError::BadFontScale(self.font_scale));
        }
        Ok(())
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

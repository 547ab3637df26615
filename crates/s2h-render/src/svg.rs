//! A small SVG writer and the rasteriser: every image is drawn as SVG text, parsed by usvg with
//! the shipped font, rasterised by resvg/tiny-skia and encoded as PNG by `image`.

use std::fmt::Write as _;

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ImageEncoder, RgbImage};
use resvg::{tiny_skia, usvg};

use crate::font;
use crate::{RenderError, Result};

/// Horizontal anchoring of a text run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

/// An SVG document being written. Coordinates are pixels of the final image.
pub struct SvgDoc {
    width: u32,
    height: u32,
    body: String,
}

impl SvgDoc {
    pub fn new(width: u32, height: u32, background: &str) -> Self {
        let mut doc = Self {
            width,
            height,
            body: String::with_capacity(16 * 1024),
        };
        doc.rect(0.0, 0.0, width as f32, height as f32, background, None);
        doc
    }

    /// A filled rectangle, optionally outlined (`(colour, width)`).
    pub fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, fill: &str, stroke: Option<(&str, f32)>) {
        let _ = write!(
            self.body,
            r#"<rect x="{x:.2}" y="{y:.2}" width="{w:.2}" height="{h:.2}" fill="{fill}"{}/>"#,
            stroke_attrs(stroke)
        );
    }

    pub fn line(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, stroke: &str, width: f32) {
        let _ = write!(
            self.body,
            r#"<line x1="{x1:.2}" y1="{y1:.2}" x2="{x2:.2}" y2="{y2:.2}" stroke="{stroke}" stroke-width="{width:.2}" stroke-linecap="square"/>"#
        );
    }

    pub fn circle(&mut self, cx: f32, cy: f32, r: f32, fill: &str, stroke: Option<(&str, f32)>) {
        let _ = write!(
            self.body,
            r#"<circle cx="{cx:.2}" cy="{cy:.2}" r="{r:.2}" fill="{fill}"{}/>"#,
            stroke_attrs(stroke)
        );
    }

    /// A polygon (closed) or polyline (open, `fill = "none"`) through `points`.
    pub fn polygon(&mut self, points: &[(f32, f32)], closed: bool, fill: &str, stroke: Option<(&str, f32)>) {
        let tag = if closed { "polygon" } else { "polyline" };
        let mut pts = String::new();
        for (x, y) in points {
            let _ = write!(pts, "{x:.2},{y:.2} ");
        }
        let _ = write!(
            self.body,
            r#"<{tag} points="{}" fill="{fill}" stroke-linejoin="round"{}/>"#,
            pts.trim_end(),
            stroke_attrs(stroke)
        );
    }

    /// Text whose capital letters are centred vertically on `cy`.
    pub fn text(&mut self, x: f32, cy: f32, size: f32, bold: bool, fill: &str, anchor: Anchor, text: &str) {
        let baseline = cy + size * font::cap_height_em() / 2.0;
        let anchor = match anchor {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        };
        let weight = if bold { "bold" } else { "normal" };
        let _ = write!(
            self.body,
            r#"<text x="{x:.2}" y="{baseline:.2}" font-family="{}" font-size="{size:.2}" font-weight="{weight}" fill="{fill}" text-anchor="{anchor}">{}</text>"#,
            font::FAMILY,
            escape(text)
        );
    }

    /// The finished SVG document.
    pub fn finish(&self) -> String {
        format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">{}</svg>"#,
            self.body,
            w = self.width,
            h = self.height
        )
    }

    /// Rasterise the document at its own size.
    pub fn rasterize(&self) -> Result<tiny_skia::Pixmap> {
        rasterize(&self.finish(), self.width, self.height)
    }
}

fn stroke_attrs(stroke: Option<(&str, f32)>) -> String {
    match stroke {
        Some((colour, width)) => format!(r#" stroke="{colour}" stroke-width="{width:.2}""#),
        None => String::new(),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Rasterise an SVG document into a `width` x `height` pixmap, with only the shipped font.
pub fn rasterize(svg: &str, width: u32, height: u32) -> Result<tiny_skia::Pixmap> {
    let options = usvg::Options {
        font_family: font::FAMILY.to_string(),
        fontdb: font::database(),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| RenderError::Svg(e.to_string()))?;
    let mut pixmap = tiny_skia::Pixmap::new(width, height).ok_or(RenderError::CanvasTooSmall {
        width,
        height,
        min: 1,
    })?;
    resvg::render(&tree, tiny_skia::Transform::identity(), &mut pixmap.as_mut());
    Ok(pixmap)
}

/// Drop the alpha channel (our canvases are opaque) so the PNG stores 3 bytes per pixel.
pub fn to_rgb(pixmap: &tiny_skia::Pixmap) -> RgbImage {
    let mut rgb = Vec::with_capacity(pixmap.width() as usize * pixmap.height() as usize * 3);
    for px in pixmap.data().chunks_exact(4) {
        rgb.extend_from_slice(&px[..3]);
    }
    // The buffer has exactly width*height*3 bytes, so this cannot fail.
    RgbImage::from_raw(pixmap.width(), pixmap.height(), rgb).unwrap_or_default()
}

/// Encode an RGB image as PNG.
pub fn encode_png(image: &RgbImage) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive)
        .write_image(image.as_raw(), image.width(), image.height(), image::ExtendedColorType::Rgb8)
        .map_err(|e| RenderError::Png(e.to_string()))?;
    Ok(out)
}

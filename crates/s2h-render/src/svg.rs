//! A small SVG writer and the rasteriser: every image is an SVG document (text as glyph-outline
//! paths of the shipped font), rasterised by resvg/tiny-skia and encoded as PNG.
//!
//! Text is the costly part of rasterising (anti-aliased curves), and the same strings recur in
//! every image (digit words, month and product names, grid symbols). So the rasteriser draws the
//! shapes of a document in one pass and then stamps each text run from a per-thread cache of
//! pre-rendered runs, at whole-pixel positions; [`SvgDoc::finish`] writes the same runs, at the
//! same positions, as paths, so the SVG and the raster agree.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::rc::Rc;

use resvg::{tiny_skia, usvg};

use crate::font;
use crate::{Layout, RenderError, RenderedImage, Result};

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
    crisp: bool,
    background: String,
    body: String,
    texts: Vec<TextRun>,
}

/// A text run placed at whole pixels: `left` and `baseline` of its first glyph's origin.
struct TextRun {
    left: i32,
    baseline: i32,
    size: f32,
    bold: bool,
    fill: String,
    text: String,
}

impl SvgDoc {
    /// A document on a `background` fill. `crisp` turns off anti-aliasing of shapes (not of
    /// text): right for pixel-aligned tables and grids, wrong for slanted lines and round shapes.
    pub fn new(width: u32, height: u32, background: &str, crisp: bool) -> Self {
        Self {
            width,
            height,
            crisp,
            background: background.to_string(),
            body: String::with_capacity(64 * 1024),
            texts: Vec::new(),
        }
    }

    /// A filled rectangle, optionally outlined (`(colour, width)`).
    pub fn rect(
        &mut self,
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        fill: &str,
        stroke: Option<(&str, f32)>,
    ) {
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
    pub fn polygon(
        &mut self,
        points: &[(f32, f32)],
        closed: bool,
        fill: &str,
        stroke: Option<(&str, f32)>,
    ) {
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

    /// Text whose capital letters are centred vertically on `cy`, drawn from the shipped font's
    /// glyph outlines, snapped to whole pixels. Text is drawn above every shape of the document.
    #[allow(clippy::too_many_arguments)]
    pub fn text(
        &mut self,
        x: f32,
        cy: f32,
        size: f32,
        bold: bool,
        fill: &str,
        anchor: Anchor,
        text: &str,
    ) {
        let width = font::text_width_em(text, bold) * size;
        let left = match anchor {
            Anchor::Start => x,
            Anchor::Middle => x - width / 2.0,
            Anchor::End => x - width,
        };
        let baseline = cy + size * font::cap_height_em() / 2.0;
        self.texts.push(TextRun {
            left: left.round() as i32,
            baseline: baseline.round() as i32,
            size,
            bold,
            fill: fill.to_string(),
            text: text.to_string(),
        });
    }

    /// The finished SVG document, text included as paths.
    pub fn finish(&self) -> String {
        let mut text_paths = String::new();
        for run in &self.texts {
            let outline = font::outline(&run.text, run.bold);
            text_paths.push_str(&text_path(
                &outline.path,
                run.size,
                run.left as f32,
                run.baseline as f32,
                &run.fill,
            ));
        }
        self.document(&text_paths)
    }

    fn document(&self, extra: &str) -> String {
        format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" shape-rendering="{}" style="background-color:{}">{}{extra}</svg>"#,
            if self.crisp {
                "crispEdges"
            } else {
                "geometricPrecision"
            },
            self.background,
            self.body,
            w = self.width,
            h = self.height
        )
    }

    /// Rasterise the document at its own size: shapes in one pass, then every text run stamped
    /// from the per-thread cache.
    pub fn rasterize(&self) -> Result<tiny_skia::Pixmap> {
        let mut pixmap = rasterize(
            &self.document(""),
            self.width,
            self.height,
            &self.background,
        )?;
        for run in &self.texts {
            let sprite = sprite(run)?;
            pixmap.draw_pixmap(
                run.left - sprite.origin.0,
                run.baseline - sprite.origin.1,
                sprite.pixmap.as_ref(),
                &tiny_skia::PixmapPaint::default(),
                tiny_skia::Transform::identity(),
                None,
            );
        }
        Ok(pixmap)
    }

    /// Rasterise the document into a finished image with the layout of what it drew.
    pub fn render(&self, layout: Layout) -> Result<RenderedImage> {
        Ok(RenderedImage {
            pixmap: self.rasterize()?,
            layout,
        })
    }
}

/// A glyph-outline path (ems, y up) placed with its origin at `(left, baseline)`.
fn text_path(path: &str, size: f32, left: f32, baseline: f32, fill: &str) -> String {
    format!(
        r#"<path transform="matrix({size:.3} 0 0 {neg:.3} {left:.2} {baseline:.2})" fill="{fill}" shape-rendering="geometricPrecision" d="{path}"/>"#,
        neg = -size
    )
}

/// A text run rendered once on a transparent canvas; `origin` is where its pen starts.
struct Sprite {
    pixmap: tiny_skia::Pixmap,
    origin: (i32, i32),
}

/// The rendered run, from this thread's cache.
fn sprite(run: &TextRun) -> Result<Rc<Sprite>> {
    type Key = (String, bool, u32, String);
    thread_local! {
        static CACHE: RefCell<HashMap<Key, Rc<Sprite>>> = RefCell::new(HashMap::new());
    }
    let key: Key = (
        run.text.clone(),
        run.bold,
        run.size.to_bits(),
        run.fill.clone(),
    );
    if let Some(hit) = CACHE.with(|c| c.borrow().get(&key).cloned()) {
        return Ok(hit);
    }
    let outline = font::outline(&run.text, run.bold);
    let [x0, y0, x1, y1] = outline.bounds;
    // One pixel of margin around the outline's bounds keeps anti-aliased edges whole.
    let origin = (
        (-x0 * run.size).ceil() as i32 + 1,
        (y1 * run.size).ceil() as i32 + 1,
    );
    let width = (origin.0 + (x1 * run.size).ceil() as i32 + 2).max(1) as u32;
    let height = (origin.1 + (-y0 * run.size).ceil() as i32 + 2).max(1) as u32;
    let svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">{}</svg>"#,
        text_path(
            &outline.path,
            run.size,
            origin.0 as f32,
            origin.1 as f32,
            &run.fill
        )
    );
    let tree = usvg::Tree::from_str(&svg, &usvg::Options::default())
        .map_err(|e| RenderError::Svg(e.to_string()))?;
    let mut pixmap = tiny_skia::Pixmap::new(width, height).ok_or(RenderError::CanvasTooSmall {
        width,
        height,
        min: 1,
    })?;
    resvg::render(
        &tree,
        tiny_skia::Transform::identity(),
        &mut pixmap.as_mut(),
    );
    let sprite = Rc::new(Sprite { pixmap, origin });
    CACHE.with(|c| {
        let mut cache = c.borrow_mut();
        // Sizes follow the canvas; a process rendering many canvas sizes must not grow forever.
        if cache.len() > 4096 {
            cache.clear();
        }
        cache.insert(key, sprite.clone());
    });
    Ok(sprite)
}

/// `#rrggbb` as an opaque colour.
fn parse_hex(hex: &str) -> Option<tiny_skia::Color> {
    let hex = hex.strip_prefix('#')?;
    if hex.len() != 6 {
        return None;
    }
    let channel = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
    Some(tiny_skia::Color::from_rgba8(
        channel(0)?,
        channel(2)?,
        channel(4)?,
        255,
    ))
}

fn stroke_attrs(stroke: Option<(&str, f32)>) -> String {
    match stroke {
        Some((colour, width)) => format!(r#" stroke="{colour}" stroke-width="{width:.2}""#),
        None => String::new(),
    }
}

/// Rasterise an SVG document into a `width` x `height` pixmap filled with `background` (a
/// `#rrggbb` colour) first. Text must already be paths (see [`SvgDoc::text`]): no system font is
/// ever consulted.
pub fn rasterize(
    svg: &str,
    width: u32,
    height: u32,
    background: &str,
) -> Result<tiny_skia::Pixmap> {
    let options = usvg::Options::default();
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| RenderError::Svg(e.to_string()))?;
    let mut pixmap = tiny_skia::Pixmap::new(width, height).ok_or(RenderError::CanvasTooSmall {
        width,
        height,
        min: 1,
    })?;
    pixmap.fill(
        parse_hex(background)
            .ok_or_else(|| RenderError::Svg(format!("bad background colour `{background}`")))?,
    );
    resvg::render(
        &tree,
        tiny_skia::Transform::identity(),
        &mut pixmap.as_mut(),
    );
    Ok(pixmap)
}

/// Encode opaque RGBA pixels (tiny-skia's layout, alpha always 255) as PNG. Our drawings use
/// few colours (flat fills, and anti-aliased text with a limited number of coverage levels), so
/// most fit an 8-bit palette, a third of the raw size that compresses far better; images with
/// more than 256 colours are stored as RGB.
pub fn encode_png(rgba: &[u8], width: u32, height: u32) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_depth(png::BitDepth::Eight);
    // fdeflate with its own filter choice: several times faster than zlib's default level.
    encoder.set_compression(png::Compression::Fast);
    let data = match palette(rgba) {
        Some((palette, indices)) => {
            encoder.set_color(png::ColorType::Indexed);
            encoder.set_palette(palette);
            indices
        }
        None => {
            encoder.set_color(png::ColorType::Rgb);
            rgb_bytes(rgba)
        }
    };
    let png_err = |e: png::EncodingError| RenderError::Png(e.to_string());
    let mut writer = encoder.write_header().map_err(png_err)?;
    writer.write_image_data(&data).map_err(png_err)?;
    writer.finish().map_err(png_err)?;
    Ok(out)
}

/// RGBA to RGB, dropping the (opaque) alpha channel.
pub(crate) fn rgb_bytes(rgba: &[u8]) -> Vec<u8> {
    let mut rgb = vec![0u8; rgba.len() / 4 * 3];
    for (dst, src) in rgb.chunks_exact_mut(3).zip(rgba.chunks_exact(4)) {
        dst.copy_from_slice(&src[..3]);
    }
    rgb
}

/// The palette (RGB triples) and per-pixel indices of RGBA pixels with at most 256 colours.
fn palette(rgba: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    // An open-addressing table from packed colour to palette index: with at most 256 colours
    // in 1024 slots, probes stay short.
    const SLOTS: usize = 1024;
    const EMPTY: u32 = 0;
    let mut keys = [EMPTY; SLOTS];
    let mut values = [0u8; SLOTS];
    let mut colours: Vec<u8> = Vec::with_capacity(256 * 3);
    let mut indices = vec![0u8; rgba.len() / 4];
    let mut last = (EMPTY, 0u8);
    for (px, out) in rgba.chunks_exact(4).zip(indices.iter_mut()) {
        // Opaque pixels never pack to 0, so 0 marks an empty slot.
        let key = u32::from_le_bytes([px[0], px[1], px[2], px[3]]) | 1 << 31;
        // Runs of one colour are the common case; look up only when the colour changes.
        if key != last.0 {
            let mut slot = (key.wrapping_mul(0x9E37_79B1) >> 22) as usize;
            let index = loop {
                if keys[slot] == key {
                    break values[slot];
                }
                if keys[slot] == EMPTY {
                    if colours.len() == 256 * 3 {
                        return None;
                    }
                    let index = (colours.len() / 3) as u8;
                    colours.extend_from_slice(&px[..3]);
                    keys[slot] = key;
                    values[slot] = index;
                    break index;
                }
                slot = (slot + 1) % SLOTS;
            };
            last = (key, index);
        }
        *out = last.1;
    }
    Some((colours, indices))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rgba(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
        let mut out = Vec::new();
        for y in 0..h {
            for x in 0..w {
                out.extend(f(x, y));
                out.push(255);
            }
        }
        out
    }

    #[test]
    fn palette_images_round_trip_and_many_colours_fall_back_to_rgb() {
        let few = |x: u32, y: u32| [(x % 7) as u8 * 30, (y % 5) as u8 * 40, 9];
        let many = |x: u32, y: u32| [x as u8 * 6, y as u8 * 8, (x * y) as u8];
        for f in [&few as &dyn Fn(u32, u32) -> [u8; 3], &many] {
            let pixels = rgba(40, 30, f);
            let png = encode_png(&pixels, 40, 30).unwrap();
            let back = image::load_from_memory(&png).unwrap().to_rgb8();
            assert_eq!(back.as_raw(), &rgb_bytes(&pixels));
        }
        assert!(palette(&rgba(40, 30, few)).is_some());
        assert!(palette(&rgba(17, 17, |x, y| [x as u8, y as u8, 0])).is_none());
    }

    #[test]
    fn stamped_text_matches_the_svg_document_it_belongs_to() {
        let mut doc = SvgDoc::new(200, 60, "#f5f5f5", true);
        doc.rect(10.0, 10.0, 80.0, 40.0, "#ffff00", None);
        doc.text(50.0, 30.0, 21.3, false, "#000000", Anchor::Middle, "SEVEN");
        doc.text(150.0, 30.0, 17.0, true, "#40466e", Anchor::Middle, "May");
        let stamped = doc.rasterize().unwrap();
        let svg = doc.finish();
        assert_eq!(svg.matches("<path").count(), 2);
        let whole = rasterize(&svg, 200, 60, "#f5f5f5").unwrap();
        let worst = stamped
            .data()
            .iter()
            .zip(whole.data())
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(
            worst <= 2,
            "stamped text differs from the document by up to {worst}"
        );
        let dark = stamped.pixels().iter().filter(|p| p.red() < 100).count();
        assert!(dark > 100, "{dark}");
    }

    #[test]
    fn text_is_drawn_without_any_system_font() {
        let mut doc = SvgDoc::new(120, 40, "#ffffff", false);
        doc.text(60.0, 20.0, 24.0, true, "#000000", Anchor::Middle, "Hi");
        let pixmap = doc.rasterize().unwrap();
        let dark = pixmap.pixels().iter().filter(|p| p.red() < 100).count();
        assert!(dark > 50, "the glyphs left {dark} dark pixels");
        assert!(parse_hex("#12345").is_none() && parse_hex("#0a0B0c").is_some());
    }
}

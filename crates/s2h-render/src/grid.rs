//! Grid Navigation renderings (SPEC §6–7.2).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::OnceLock;

use s2h_tasks::Cell;
use s2h_tasks::grid::{CellContent, GridInstance, OBJECTS, OBSTACLES, object_glyph};

use crate::svg::{Anchor, SvgDoc};
use crate::{BBox, ImageOptions, Layout, RenderError, RenderedImage, Result, Role, font};

/// Fill of the start cell S (sky blue).
pub const START_FILL: &str = "#87ceeb";
/// Fill of the destination cell D (dark green).
pub const DESTINATION_FILL: &str = "#006400";
const BORDER: &str = "#000000";
const GLYPH_FILL: &str = "#000000";
const LABEL_FILL: &str = "#000000";
/// Colour of the `S` / `D` letters drawn on the coloured cells, chosen for contrast.
const START_LETTER_FILL: &str = "#000000";
const DESTINATION_LETTER_FILL: &str = "#ffffff";

/// Whether S and D also carry their letter on top of their fill. The colours alone are the
/// paper's look; the letters make the image say what the text rendering and the chain of
/// thought call these cells, at no cost to the colour cue (the letter covers a small part of
/// the cell and the fill stays visible around it).
pub const LETTER_ENDPOINTS: bool = true;

/// What an empty cell holds in the text rendering.
pub const EMPTY_MARK: &str = ".";

/// The word a cell is written as in the text rendering: `S`, `D`, an object name, an obstacle
/// type name, or [`EMPTY_MARK`].
pub fn cell_word<'a>(content: CellContent<'a>) -> &'a str {
    match content {
        CellContent::Empty => EMPTY_MARK,
        CellContent::Start => "S",
        CellContent::Destination => "D",
        CellContent::Object(name) => name,
        CellContent::Obstacle(kind) => kind.name(),
    }
}

/// The LaTeX `tabular` of a grid: column numbers (from 1) as the header row, row numbers as the
/// first column, and each cell as `S`, `D`, an object name, an obstacle type name or `.`. Every
/// column has the same alignment.
pub fn latex(instance: &GridInstance) -> String {
    let (rows, cols) = (instance.rows, instance.cols);
    // A hint only: a malformed instance read from a file may claim any size.
    let cells = (rows as usize).saturating_mul(cols as usize);
    let mut out = String::with_capacity(cells.saturating_mul(8).min(1 << 20) + 64);
    let spec = "c|".repeat(cols as usize + 1);
    let _ = writeln!(out, "\\begin{{tabular}}{{|{spec}}}");
    out.push_str("\\hline\n");
    for c in 1..=cols {
        let _ = write!(out, " & {c}");
    }
    out.push_str(" \\\\\n\\hline\n");
    for r in 1..=rows {
        let _ = write!(out, "{r}");
        for c in 1..=cols {
            let word = cell_word(instance.content(Cell::new(r, c)));
            let _ = write!(out, " & {word}");
        }
        out.push_str(" \\\\\n\\hline\n");
    }
    out.push_str("\\end{tabular}");
    out
}

/// The glyph a cell is drawn with, if any (S and D are drawn as fills).
fn cell_glyph(content: CellContent<'_>) -> Option<char> {
    match content {
        CellContent::Object(name) => object_glyph(name),
        CellContent::Obstacle(kind) => Some(kind.glyph()),
        CellContent::Empty | CellContent::Start | CellContent::Destination => None,
    }
}

/// What a cell shows, in words (see [`crate::Region::shows`]): its endpoint, or the object or
/// obstacle whose glyph is drawn; `None` for an empty cell (or an object without a glyph).
fn shows(content: CellContent<'_>) -> Option<String> {
    match content {
        CellContent::Start => Some("start".into()),
        CellContent::Destination => Some("destination".into()),
        CellContent::Object(name) => object_glyph(name).map(|_| name.to_string()),
        CellContent::Obstacle(kind) => Some(kind.to_string()),
        CellContent::Empty => None,
    }
}

/// Ink bounds of a glyph of the regular face in ems, `[x_min, y_min, x_max, y_max]` with y up.
type GlyphBounds = [f32; 4];

/// Ink bounds of the 36 grid glyphs, computed once from the shipped font. A glyph the font
/// lacks (none, see the tests) is missing from the map and drawn with its cap-height centring.
fn glyph_bounds() -> &'static HashMap<char, GlyphBounds> {
    static BOUNDS: OnceLock<HashMap<char, GlyphBounds>> = OnceLock::new();
    BOUNDS.get_or_init(|| {
        OBJECTS
            .iter()
            .chain(OBSTACLES.iter())
            .filter_map(|&(_, c)| Some((c, font::glyph_bounds_em(c, false)?)))
            .collect()
    })
}

/// Ink extent (the larger of width and height, in ems) a glyph is sized for. Most grid glyphs
/// span 0.7–0.8 em and are drawn at one size, fitted so this extent fills [`GLYPH_FILL_SHARE`]
/// of a cell; the few larger ones (the phone is 1.1 em wide) are shrunk to fit the same share,
/// and small ones (the approx sign) are not blown up.
const TYPICAL_GLYPH_EXTENT: f32 = 0.8;

/// Share of a cell side a glyph's ink spans at most (at `font_scale` 1).
const GLYPH_FILL_SHARE: f32 = 0.7;

/// The font size of `glyph` in a cell of side `cell` (before `font_scale`).
fn glyph_size(bounds: Option<&GlyphBounds>, cell: f32) -> f32 {
    let extent = bounds.map_or(TYPICAL_GLYPH_EXTENT, |b| (b[2] - b[0]).max(b[3] - b[1]));
    cell * GLYPH_FILL_SHARE / extent.max(TYPICAL_GLYPH_EXTENT)
}

/// Smallest cell side, in pixels, a grid is drawn with.
pub const MIN_CELL_PX: f32 = 4.0;

/// Pixel geometry of one grid image: integer cell sizes and offsets so every border and fill
/// lands on whole pixels.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    /// Side of a square cell.
    cell: f32,
    /// Width of the row-number column and height of the column-number row.
    label: f32,
    /// Top-left corner of the cell at row 1, column 1.
    grid_x: f32,
    grid_y: f32,
    /// Border thickness.
    border: f32,
}

impl Geometry {
    fn new(rows: u32, cols: u32, width: u32, height: u32) -> Self {
        let (w, h) = (width as f32, height as f32);
        let margin = (w.min(h) * 0.01).max(1.0).round();
        // The number bands are this share of a cell: enough for two digits at the label size.
        const LABEL_SHARE: f32 = 0.75;
        let per_side = |avail: f32, n: u32| (avail - 2.0 * margin) / (n as f32 + LABEL_SHARE);
        let cell = per_side(w, cols).min(per_side(h, rows)).floor().max(1.0);
        let label = (cell * LABEL_SHARE).round().max(1.0);
        let block_w = label + cols as f32 * cell;
        let block_h = label + rows as f32 * cell;
        let left = ((w - block_w) / 2.0).round().max(0.0);
        let top = ((h - block_h) / 2.0).round().max(0.0);
        let border = (w.min(h) / 500.0).round().clamp(1.0, (cell / 8.0).max(1.0));
        Self {
            cell,
            label,
            grid_x: left + label,
            grid_y: top + label,
            border,
        }
    }

    fn cell_box(&self, cell: Cell) -> BBox {
        BBox::new(
            self.grid_x + (cell.col - 1) as f32 * self.cell,
            self.grid_y + (cell.row - 1) as f32 * self.cell,
            self.cell,
            self.cell,
        )
    }
}

/// The grid image (SPEC §7.2): square cells with black borders on white, S filled sky blue and
/// D dark green (each with its letter, see [`LETTER_ENDPOINTS`]), objects and obstacles as their
/// glyphs in black, row numbers on the left and column numbers on top. The grid is fitted into
/// the canvas with square cells and centred.
///
/// A canvas too small for cells of [`MIN_CELL_PX`] pixels is an error that says how large a
/// canvas the grid needs (only a malformed instance, or a tiny canvas, gets there).
pub fn image(instance: &GridInstance, options: &ImageOptions) -> Result<RenderedImage> {
    let (rows, cols) = (instance.rows, instance.cols);
    let g = Geometry::new(rows, cols, options.width, options.height);
    if g.cell < MIN_CELL_PX {
        // Cells of MIN_CELL_PX plus the number band and a margin of 1% on each side.
        let side = f64::from(rows.max(cols)) + 0.75;
        let min = (side * f64::from(MIN_CELL_PX) / 0.98).ceil();
        return Err(RenderError::CanvasTooSmall {
            width: options.width,
            height: options.height,
            min: min.min(f64::from(u32::MAX)) as u32,
        });
    }
    let mut doc = SvgDoc::new(options.width, options.height, "#ffffff", true);
    let mut layout = Layout::new(options.width, options.height);
    let cap = font::cap_height_em();

    // Row and column numbers, one size for both, fitted to the widest number and the band.
    let widest = font::text_width_em(&rows.max(cols).to_string(), false).max(0.3);
    let label_size = (g.label * 0.85 / widest).min(g.cell * 0.42) * options.font_scale;
    let letter_size = g.cell * 0.5 * options.font_scale;
    let bounds = glyph_bounds();

    for c in 1..=cols {
        let b = BBox::new(
            g.grid_x + (c - 1) as f32 * g.cell,
            g.grid_y - g.label,
            g.cell,
            g.label,
        );
        let (cx, cy) = b.center();
        let text = c.to_string();
        doc.text(cx, cy, label_size, false, LABEL_FILL, Anchor::Middle, &text);
        layout.push_cell(Role::ColLabel, Cell::new(0, c), b, Some(text));
    }
    for r in 1..=rows {
        let b = BBox::new(
            g.grid_x - g.label,
            g.grid_y + (r - 1) as f32 * g.cell,
            g.label,
            g.cell,
        );
        let (cx, cy) = b.center();
        let text = r.to_string();
        doc.text(cx, cy, label_size, false, LABEL_FILL, Anchor::Middle, &text);
        layout.push_cell(Role::RowLabel, Cell::new(r, 0), b, Some(text));
    }

    for r in 1..=rows {
        for c in 1..=cols {
            let cell = Cell::new(r, c);
            let b = g.cell_box(cell);
            let (cx, cy) = b.center();
            let content = instance.content(cell);
            let endpoint = match content {
                CellContent::Start => Some((START_FILL, START_LETTER_FILL, "S")),
                CellContent::Destination => Some((DESTINATION_FILL, DESTINATION_LETTER_FILL, "D")),
                _ => None,
            };
            if let Some((fill, letter_fill, letter)) = endpoint {
                doc.rect(b.x, b.y, b.w, b.h, fill, None);
                if LETTER_ENDPOINTS {
                    doc.text(
                        cx,
                        cy,
                        letter_size,
                        true,
                        letter_fill,
                        Anchor::Middle,
                        letter,
                    );
                }
            } else if let Some(glyph) = cell_glyph(content) {
                let mut buf = [0u8; 4];
                let text = glyph.encode_utf8(&mut buf);
                let found = bounds.get(&glyph);
                let size = glyph_size(found, g.cell) * options.font_scale;
                match found {
                    // Centre the glyph's ink, not its advance box: symbol glyphs sit at
                    // different heights and widths.
                    Some(&[x0, y0, x1, y1]) => {
                        let left = cx - size * (x0 + x1) / 2.0;
                        let baseline = cy + size * (y0 + y1) / 2.0;
                        let text_cy = baseline - size * cap / 2.0;
                        doc.text(left, text_cy, size, false, GLYPH_FILL, Anchor::Start, text);
                    }
                    None => {
                        doc.text(cx, cy, size, false, GLYPH_FILL, Anchor::Middle, text);
                    }
                }
            }
            layout.push_cell(Role::Cell, cell, b, shows(content));
        }
    }

    // Borders as thin filled rectangles along the grid lines, drawn last so fills never cover
    // them. Integer offsets keep them pixel-aligned.
    let t = g.border;
    let half = (t / 2.0).floor();
    let (grid_w, grid_h) = (cols as f32 * g.cell, rows as f32 * g.cell);
    for c in 0..=cols {
        let x = g.grid_x + c as f32 * g.cell - half;
        doc.rect(x, g.grid_y - half, t, grid_h + t, BORDER, None);
    }
    for r in 0..=rows {
        let y = g.grid_y + r as f32 * g.cell - half;
        doc.rect(g.grid_x - half, y, grid_w + t, t, BORDER, None);
    }

    doc.render(layout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use s2h_tasks::grid::{GridConfig, GridObject, GridObstacle, ObstacleKind, generate};
    use s2h_tasks::{Split, TaskKind};

    fn grid(split: Split, index: u64) -> GridInstance {
        generate(&GridConfig::default(), split, 0, index).unwrap()
    }

    /// A hand-made 8x9 grid holding every obstacle type and several objects, the phone (the
    /// widest glyph) and the integral (the tallest) among them.
    fn showcase() -> GridInstance {
        let objects = ["phone", "integral", "cloud", "approx", "heart", "null"]
            .iter()
            .enumerate()
            .map(|(i, &name)| GridObject {
                name: name.to_string(),
                cell: Cell::new(3, 2 + i as u32),
            })
            .collect();
        let obstacles = ObstacleKind::ALL
            .iter()
            .enumerate()
            .map(|(i, &kind)| GridObstacle {
                kind,
                cell: Cell::new(5, 2 + i as u32),
            })
            .collect();
        GridInstance::from_layout(8, 9, Cell::new(1, 1), Cell::new(8, 9), objects, obstacles)
    }

    #[test]
    fn every_grid_glyph_is_in_the_shipped_font() {
        for &(name, glyph) in OBJECTS.iter().chain(OBSTACLES.iter()) {
            assert!(
                crate::has_glyph(glyph, false),
                "{name} U+{:04X} is missing from DejaVuSans.ttf",
                u32::from(glyph)
            );
            let b = glyph_bounds().get(&glyph).copied();
            assert!(
                b.is_some_and(|[x0, y0, x1, y1]| x1 > x0 && y1 > y0),
                "{name}: {b:?}"
            );
        }
        assert_eq!(glyph_bounds().len(), OBJECTS.len() + OBSTACLES.len());
    }

    #[test]
    fn latex_cells_match_the_instance_and_the_header_numbers_the_columns() {
        for inst in [grid(Split::Hard, 3), grid(Split::Simple, 8), showcase()] {
            let tex = latex(&inst);
            let lines: Vec<&str> = tex.lines().collect();
            let spec = lines[0]
                .strip_prefix("\\begin{tabular}{")
                .and_then(|s| s.strip_suffix('}'))
                .unwrap();
            assert_eq!(spec, format!("|{}", "c|".repeat(inst.cols as usize + 1)));
            assert_eq!(lines[1], "\\hline");
            let header: Vec<&str> = lines[2].trim_end_matches(" \\\\").split(" & ").collect();
            let numbers: Vec<String> = (1..=inst.cols).map(|c| c.to_string()).collect();
            assert_eq!(header[0], "");
            assert_eq!(header[1..], numbers);
            let body: Vec<&str> = lines[3..]
                .iter()
                .copied()
                .filter(|l| *l != "\\hline" && !l.starts_with("\\end"))
                .collect();
            assert_eq!(body.len(), inst.rows as usize);
            for (r, line) in body.iter().enumerate() {
                let cells: Vec<&str> = line.trim_end_matches(" \\\\").split(" & ").collect();
                assert_eq!(cells.len(), inst.cols as usize + 1, "{line}");
                assert_eq!(cells[0], (r + 1).to_string());
                for (c, word) in cells[1..].iter().enumerate() {
                    let cell = Cell::new(r as u32 + 1, c as u32 + 1);
                    let want = match inst.content(cell) {
                        CellContent::Empty => ".".to_string(),
                        CellContent::Start => "S".to_string(),
                        CellContent::Destination => "D".to_string(),
                        CellContent::Object(name) => name.to_string(),
                        CellContent::Obstacle(kind) => kind.name().to_string(),
                    };
                    assert_eq!(*word, want, "{cell}");
                }
            }
            assert_eq!(lines.last(), Some(&"\\end{tabular}"));
            assert_eq!(
                tex.matches(" & S ").count() + tex.matches(" & S \\\\").count(),
                1
            );
        }
    }

    /// The colour just inside the top-left corner of a box, clear of the border and the letter.
    fn corner_pixel(image: &RenderedImage, b: BBox) -> [u8; 3] {
        let inset = (b.w * 0.12).max(3.0);
        image
            .pixel((b.x + inset) as u32, (b.y + inset) as u32)
            .unwrap()
    }

    fn is_dark(p: [u8; 3]) -> bool {
        p.iter().all(|&v| v < 110)
    }

    /// Dark pixels strictly inside a box, away from its border lines.
    fn dark_inside(image: &RenderedImage, b: BBox, border: f32) -> usize {
        let pad = border + 1.0;
        let (x0, y0) = ((b.x + pad) as u32, (b.y + pad) as u32);
        let (x1, y1) = ((b.x + b.w - pad) as u32, (b.y + b.h - pad) as u32);
        (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .filter(|&(x, y)| image.pixel(x, y).is_some_and(is_dark))
            .count()
    }

    fn hex(colour: &str) -> [u8; 3] {
        let v = u32::from_str_radix(&colour[1..], 16).unwrap();
        [(v >> 16) as u8, (v >> 8) as u8, v as u8]
    }

    #[test]
    fn images_have_the_requested_size_coloured_endpoints_and_a_region_per_cell() {
        // The SPEC's colours: sky blue and dark green.
        assert_eq!(hex(START_FILL), [0x87, 0xce, 0xeb]);
        assert_eq!(hex(DESTINATION_FILL), [0x00, 0x64, 0x00]);
        for inst in [grid(Split::Hard, 5), grid(Split::Simple, 2), showcase()] {
            for (w, h) in [(1000, 1000), (448, 448), (640, 360)] {
                let options = ImageOptions::paper(TaskKind::Grid).with_size(w, h);
                let rendered = image(&inst, &options).unwrap();
                assert_eq!((rendered.width(), rendered.height()), (w, h));
                let regions = &rendered.layout.regions;
                let count = |role| regions.iter().filter(|r| r.role == role).count();
                let (rows, cols) = (inst.rows as usize, inst.cols as usize);
                assert_eq!(count(Role::Cell), rows * cols);
                assert_eq!(count(Role::RowLabel), rows);
                assert_eq!(count(Role::ColLabel), cols);
                for r in regions {
                    let b = r.bbox;
                    assert!(b.x >= 0.0 && b.y >= 0.0, "{r:?}");
                    assert!(b.x + b.w <= w as f32 && b.y + b.h <= h as f32, "{r:?}");
                    if r.role == Role::Cell {
                        assert_eq!(b.w, b.h, "square cells");
                    }
                }
                let sky = corner_pixel(&rendered, rendered.layout.cell(inst.start).unwrap());
                let green =
                    corner_pixel(&rendered, rendered.layout.cell(inst.destination).unwrap());
                assert_eq!(sky, hex(START_FILL), "S at {w}x{h}");
                assert_eq!(green, hex(DESTINATION_FILL), "D at {w}x{h}");
                // Every other cell is white in its corner.
                for r in 1..=inst.rows {
                    for c in 1..=inst.cols {
                        let cell = Cell::new(r, c);
                        if cell != inst.start && cell != inst.destination {
                            let b = rendered.layout.cell(cell).unwrap();
                            assert_eq!(corner_pixel(&rendered, b), [255; 3], "{cell} {w}x{h}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn each_region_says_what_it_shows() {
        let inst = showcase();
        let rendered = image(&inst, &ImageOptions::paper(TaskKind::Grid)).unwrap();
        for region in &rendered.layout.regions {
            let cell = region.cell.unwrap();
            let expected = match region.role {
                Role::ColLabel => Some(cell.col.to_string()),
                Role::RowLabel => Some(cell.row.to_string()),
                _ if cell == inst.start => Some("start".to_string()),
                _ if cell == inst.destination => Some("destination".to_string()),
                _ => inst
                    .objects
                    .iter()
                    .find(|o| o.cell == cell)
                    .map(|o| o.name.clone())
                    .or_else(|| {
                        let obstacle = inst.obstacles.iter().find(|o| o.cell == cell);
                        obstacle.map(|o| o.kind.to_string())
                    }),
            };
            assert_eq!(region.shows, expected, "{region:?}");
        }
        let named = rendered.layout.regions.iter().filter(|r| r.shows.is_some());
        let (rows, cols) = (inst.rows as usize, inst.cols as usize);
        let held = 2 + inst.objects.len() + inst.obstacles.len();
        assert_eq!(named.count(), rows + cols + held);
    }

    #[test]
    fn glyph_cells_hold_ink_and_empty_cells_stay_blank() {
        for inst in [grid(Split::Hard, 7), showcase()] {
            for (w, h) in [(1000, 1000), (448, 448)] {
                let options = ImageOptions::paper(TaskKind::Grid).with_size(w, h);
                let rendered = image(&inst, &options).unwrap();
                let g = Geometry::new(inst.rows, inst.cols, w, h);
                let area = (g.cell * g.cell) as usize;
                for r in 1..=inst.rows {
                    for c in 1..=inst.cols {
                        let cell = Cell::new(r, c);
                        let b = rendered.layout.cell(cell).unwrap();
                        let dark = dark_inside(&rendered, b, g.border);
                        match inst.content(cell) {
                            CellContent::Object(_) | CellContent::Obstacle(_) => assert!(
                                dark * 50 > area,
                                "{cell} {:?} at {w}x{h}: {dark} dark of {area}",
                                inst.content(cell)
                            ),
                            // Glyphs never spill into neighbouring cells.
                            CellContent::Empty => assert_eq!(dark, 0, "{cell} at {w}x{h}"),
                            CellContent::Start | CellContent::Destination => {}
                        }
                    }
                }
                // Numbers are drawn in their bands.
                for region in &rendered.layout.regions {
                    if matches!(region.role, Role::RowLabel | Role::ColLabel) {
                        assert!(dark_inside(&rendered, region.bbox, 0.0) > 0, "{region:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn borders_are_black_grid_lines() {
        let inst = showcase();
        let rendered = image(&inst, &ImageOptions::paper(TaskKind::Grid)).unwrap();
        let b = rendered.layout.cell(Cell::new(2, 2)).unwrap();
        let mid = (b.y + b.h / 2.0) as u32;
        assert_eq!(rendered.pixel(b.x as u32, mid), Some([0, 0, 0]));
        assert_eq!(
            rendered.pixel((b.x + b.w / 2.0) as u32, b.y as u32),
            Some([0, 0, 0])
        );
        // The grid is centred: equal white space left and right (within a pixel).
        let first = rendered.layout.cell(Cell::new(1, 1)).unwrap();
        let last = rendered.layout.cell(Cell::new(8, 9)).unwrap();
        let left = first.x - Geometry::new(8, 9, 1000, 1000).label;
        let right = 1000.0 - (last.x + last.w);
        assert!((left - right).abs() <= 1.0, "{left} {right}");
    }

    #[test]
    fn tiny_canvases_and_huge_grids_are_refused_or_drawn_without_panicking() {
        let mut inst = showcase();
        let tiny = ImageOptions::paper(TaskKind::Grid).with_size(48, 48);
        let rendered = image(&inst, &tiny).unwrap();
        assert_eq!(rendered.layout.regions.len(), 8 * 9 + 8 + 9);
        assert!(latex(&inst).lines().count() > 8);
        // 100x100 still fits 1000x1000 (9-pixel cells); 300x300 does not.
        inst.rows = 100;
        inst.cols = 100;
        assert!(image(&inst, &ImageOptions::paper(TaskKind::Grid)).is_ok());
        for side in [300, 1_000_000_000] {
            inst.rows = side;
            inst.cols = side;
            let Err(err) = image(&inst, &ImageOptions::paper(TaskKind::Grid)) else {
                panic!("a {side}x{side} grid was drawn on 1000x1000");
            };
            assert!(
                matches!(err, RenderError::CanvasTooSmall { min, .. } if min >= 4 * side),
                "{err}"
            );
        }
        let Err(err) = image(&showcase(), &tiny.with_size(32, 32)) else {
            panic!("an 8x9 grid was drawn on 32x32");
        };
        assert!(err.to_string().contains("at least"), "{err}");
    }
}

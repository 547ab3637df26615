//! Visual Analogy renderings (SPEC §6–7.3).
//!
//! # Text
//!
//! One line per panel, in the order example 1 panels 1–3, example 2 panels 1–3, query panels
//! 1–2, options 1–4, each labelled `Example 1 panel 1: …`, `Query panel 2: …`, `Option 3: …`
//! (the query's missing third panel is not written). Two formats:
//!
//! - **lossy** (the paper's default): the panel's kind, then for each attribute of that kind the
//!   *set* of values present, written with [`ValueSet`](s2h_tasks::analogy::ValueSet)'s
//!   `Display` (the chain of thought writes the same sets the same way):
//!   `shapes; type: circle, square; color: 0, 90; size: 20, 34; quantity: 2; position: (1, 1), (2, 3)`
//!   or `lines; type: horizontal, v_up; color: 0`.
//! - **lossless** (paper appendix I.5): the panel's kind, then every object as a code, in the
//!   panel's (canonical) order: `shapes; CIR-90-41-TL, SQU-0-20-MC` or `lines; VUP-135, HOR-0`.
//!   A shape is `TYPE-GRAY-SIZE-POSITION`, a line `TYPE-GRAY`, with these codes:
//!
//! | line type | code | | shape type | code | | position (row, col) | code |
//! |---|---|---|---|---|---|---|---|
//! | falling_diagonal | `FAL` | | circle | `CIR` | | (1, 1) / (1, 2) / (1, 3) | `TL` / `TC` / `TR` |
//! | rising_diagonal | `RIS` | | square | `SQU` | | (2, 1) / (2, 2) / (2, 3) | `ML` / `MC` / `MR` |
//! | horizontal | `HOR` | | triangle | `TRI` | | (3, 1) / (3, 2) / (3, 3) | `BL` / `BC` / `BR` |
//! | vertical | `VER` | | pentagon | `PEN` | | | |
//! | diamond | `DIA` | | hexagon | `HEX` | | | |
//! | circle | `RNG` (ring) | | | | | | |
//! | v_up / v_left | `VUP` / `VLT` | | | | | | |
//! | v_down / v_right | `VDN` / `VRT` | | | | | | |
//!
//! Gray is the level 0–255 (0 is black) and size the shape's size in pixels on a 160-px panel,
//! both as decimal numbers. A position outside the 3×3 layout (only a hand-made, defective panel
//! has one) is written `R{row}C{col}`.
//!
//! # Image
//!
//! The paper's geometry is an 800×900 canvas with 160-px panels: a 3×3 block of panels (row 1
//! example 1, row 2 example 2, row 3 the two query panels and a cell holding a `?`), a gap, then
//! the four options in a row, each with its number below. Other canvas sizes scale that
//! geometry uniformly (so panels stay square and circles round) and centre it.
//!
//! Each panel is white with a thin black border. A shape is filled with its gray and outlined in
//! black (so a white shape still shows), centred on the centre of its cell of the panel's 3×3
//! layout; its bounding box's longer side is its size (scaled with the panel); polygons are
//! regular with a vertex (or, for the square, a side) on top. A line is 4 px wide (scaled), in
//! its gray, and spans the panel, inset by its own width from the border: diagonals join
//! opposite corners, the diamond joins the midpoints of the four sides, the circle touches the
//! four sides, and a V joins two corners through the midpoint of the opposite side, its vertex
//! pointing the way it faces (`v_up` looks like `^`, `v_left` like `<`).
//!
//! The layout holds one [`Role::Panel`] region per panel drawn, 13 in all: `example 1 panel 1`
//! … `example 2 panel 3`, `query panel 1` … `query panel 3` (the `?` cell), `option 1` …
//! `option 4`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use s2h_tasks::Cell;
use s2h_tasks::analogy::{
    AnalogyInstance, AttributeValue, Domain, LAYOUT_SIDE, Line, LineType, Panel, Shape, ShapeType,
};

use crate::svg::{Anchor, SvgDoc};
use crate::{AnalogyTextFormat, BBox, ImageOptions, Layout, RenderedImage, Result, Role};

// ---------------------------------------------------------------------------------------------
// Text

/// The text description of a puzzle, one line per panel.
pub fn describe(instance: &AnalogyInstance, format: AnalogyTextFormat) -> String {
    let mut out = String::with_capacity(2048);
    for (label, panel) in labelled_panels(instance) {
        if !out.is_empty() {
            out.push('\n');
        }
        let _ = write!(out, "{label}: ");
        match format {
            AnalogyTextFormat::Lossy => write_lossy(&mut out, panel),
            AnalogyTextFormat::Lossless => write_lossless(&mut out, panel),
        }
    }
    out
}

/// Every panel of the puzzle with its text label, in reading order.
fn labelled_panels(instance: &AnalogyInstance) -> Vec<(String, &Panel)> {
    let mut out = Vec::with_capacity(12);
    for (e, row) in instance.examples.iter().enumerate() {
        for (p, panel) in row.iter().enumerate() {
            out.push((format!("Example {} panel {}", e + 1, p + 1), panel));
        }
    }
    for (p, panel) in instance.query.iter().enumerate() {
        out.push((format!("Query panel {}", p + 1), panel));
    }
    for (o, panel) in instance.options.iter().enumerate() {
        out.push((format!("Option {}", o + 1), panel));
    }
    out
}

/// The short name of an attribute in the lossy text (`type`, `color`, …).
pub fn attribute_label(domain: Domain) -> &'static str {
    match domain {
        Domain::LineType | Domain::ShapeType => "type",
        Domain::LineColor | Domain::ShapeColor => "color",
        Domain::ShapeSize => "size",
        Domain::ShapeQuantity => "quantity",
        Domain::ShapePosition => "position",
    }
}

fn write_lossy(out: &mut String, panel: &Panel) {
    out.push_str(panel.kind().name());
    for &domain in Domain::of_kind(panel.kind()) {
        let _ = write!(
            out,
            "; {}: {}",
            attribute_label(domain),
            attribute_text(panel, domain)
        );
    }
}

/// The values of one attribute of a panel, as the chain of thought writes them. A defective
/// panel (a value outside the tables) has no [`ValueSet`](s2h_tasks::analogy::ValueSet); its
/// values are then listed as they are, still sorted and without duplicates.
pub fn attribute_text(panel: &Panel, domain: Domain) -> String {
    if let Some(set) = panel.value_set(domain) {
        return set.to_string();
    }
    let values: BTreeSet<AttributeValue> = match (panel, domain) {
        (Panel::Lines(lines), Domain::LineType) => lines
            .iter()
            .map(|l| AttributeValue::LineType(l.line_type))
            .collect(),
        (Panel::Lines(lines), Domain::LineColor) => lines
            .iter()
            .map(|l| AttributeValue::Color(l.color))
            .collect(),
        (Panel::Shapes(shapes), Domain::ShapeType) => shapes
            .iter()
            .map(|s| AttributeValue::ShapeType(s.shape_type))
            .collect(),
        (Panel::Shapes(shapes), Domain::ShapeColor) => shapes
            .iter()
            .map(|s| AttributeValue::Color(s.color))
            .collect(),
        (Panel::Shapes(shapes), Domain::ShapeSize) => shapes
            .iter()
            .map(|s| AttributeValue::Size(s.size))
            .collect(),
        (Panel::Shapes(shapes), Domain::ShapeQuantity) => {
            BTreeSet::from([AttributeValue::Quantity(shapes.len() as u32)])
        }
        (Panel::Shapes(shapes), Domain::ShapePosition) => shapes
            .iter()
            .map(|s| AttributeValue::Position(s.position))
            .collect(),
        _ => BTreeSet::new(),
    };
    values
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn write_lossless(out: &mut String, panel: &Panel) {
    out.push_str(panel.kind().name());
    out.push_str("; ");
    match panel {
        Panel::Lines(lines) => {
            for (i, line) in lines.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&line_code(line));
            }
        }
        Panel::Shapes(shapes) => {
            for (i, shape) in shapes.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&shape_code(shape));
            }
        }
    }
}

/// The three-letter code of a line type (see the module documentation).
pub fn line_type_code(t: LineType) -> &'static str {
    match t {
        LineType::FallingDiagonal => "FAL",
        LineType::RisingDiagonal => "RIS",
        LineType::Horizontal => "HOR",
        LineType::Vertical => "VER",
        LineType::Diamond => "DIA",
        LineType::Circle => "RNG",
        LineType::VUp => "VUP",
        LineType::VLeft => "VLT",
        LineType::VDown => "VDN",
        LineType::VRight => "VRT",
    }
}

/// The three-letter code of a shape type.
pub fn shape_type_code(t: ShapeType) -> &'static str {
    match t {
        ShapeType::Circle => "CIR",
        ShapeType::Square => "SQU",
        ShapeType::Triangle => "TRI",
        ShapeType::Pentagon => "PEN",
        ShapeType::Hexagon => "HEX",
    }
}

/// Codes of the layout cells in reading order: top/middle/bottom row, left/centre/right column.
pub const POSITION_CODES: [&str; 9] = ["TL", "TC", "TR", "ML", "MC", "MR", "BL", "BC", "BR"];

/// The two-letter code of a layout cell, `None` outside the 3×3 layout.
pub fn position_code(cell: Cell) -> Option<&'static str> {
    let side = 1..=LAYOUT_SIDE;
    if !side.contains(&cell.row) || !side.contains(&cell.col) {
        return None;
    }
    POSITION_CODES
        .get(((cell.row - 1) * LAYOUT_SIDE + cell.col - 1) as usize)
        .copied()
}

/// `VUP-135`.
pub fn line_code(line: &Line) -> String {
    format!("{}-{}", line_type_code(line.line_type), line.color)
}

/// `CIR-90-41-TL`.
pub fn shape_code(shape: &Shape) -> String {
    let position = match position_code(shape.position) {
        Some(code) => code.to_string(),
        None => format!("R{}C{}", shape.position.row, shape.position.col),
    };
    format!(
        "{}-{}-{}-{position}",
        shape_type_code(shape.shape_type),
        shape.color,
        shape.size
    )
}

// ---------------------------------------------------------------------------------------------
// Image

/// The paper's canvas, in which every length below is given.
const REF_W: f32 = 800.0;
const REF_H: f32 = 900.0;
/// Side of a panel.
const PANEL: f32 = 160.0;
/// Space between panels of the 3×3 block, and its top edge.
const BLOCK_GAP: f32 = 10.0;
const BLOCK_TOP: f32 = 40.0;
/// Space between options, and the options' top edge (the gap above sets them off the block).
const OPTION_GAP: f32 = 20.0;
const OPTIONS_TOP: f32 = 615.0;
/// Vertical centre and size of the option numbers.
const LABEL_CY: f32 = 820.0;
const LABEL_FONT: f32 = 36.0;
/// Size of the `?` in the query's third cell.
const QUESTION_FONT: f32 = 96.0;
const BORDER: f32 = 2.0;
const LINE_WIDTH: f32 = 4.0;
/// Lines stop this far inside the panel so their ends stay off the border.
const LINE_INSET: f32 = 4.0;
const OUTLINE: f32 = 2.0;
/// Thinnest stroke drawn, in output pixels, however small the canvas.
const MIN_STROKE: f32 = 1.0;

const WHITE: &str = "#ffffff";
const BLACK: &str = "#000000";

/// The paper's geometry scaled by `scale` and moved to `(ox, oy)`.
struct Frame {
    scale: f32,
    ox: f32,
    oy: f32,
}

impl Frame {
    fn new(options: &ImageOptions) -> Self {
        let (w, h) = (options.width as f32, options.height as f32);
        let scale = (w / REF_W).min(h / REF_H);
        Self {
            scale,
            ox: (w - REF_W * scale) / 2.0,
            oy: (h - REF_H * scale) / 2.0,
        }
    }

    /// The box of a panel whose top-left corner is at `(x, y)` in paper coordinates.
    fn panel(&self, x: f32, y: f32) -> BBox {
        BBox::new(
            self.ox + x * self.scale,
            self.oy + y * self.scale,
            PANEL * self.scale,
            PANEL * self.scale,
        )
    }

    fn stroke(&self, width: f32) -> f32 {
        (width * self.scale).max(MIN_STROKE)
    }
}

/// `#gggggg`: a gray level as an SVG colour.
fn gray(level: u8) -> String {
    format!("#{level:02x}{level:02x}{level:02x}")
}

/// The puzzle image (see the module documentation for what is drawn where).
pub fn image(instance: &AnalogyInstance, options: &ImageOptions) -> Result<RenderedImage> {
    options.validate()?;
    let frame = Frame::new(options);
    let mut doc = SvgDoc::new(options.width, options.height, WHITE, false);
    let mut layout = Layout::new(options.width, options.height);

    let block_left = (REF_W - 3.0 * PANEL - 2.0 * BLOCK_GAP) / 2.0;
    let block_cell = |row: usize, col: usize| {
        frame.panel(
            block_left + col as f32 * (PANEL + BLOCK_GAP),
            BLOCK_TOP + row as f32 * (PANEL + BLOCK_GAP),
        )
    };
    for (e, row) in instance.examples.iter().enumerate() {
        for (p, panel) in row.iter().enumerate() {
            let bbox = block_cell(e, p);
            draw_panel(&mut doc, &frame, bbox, Some(panel));
            layout.push_named(
                Role::Panel,
                format!("example {} panel {}", e + 1, p + 1),
                bbox,
            );
        }
    }
    for (p, panel) in instance.query.iter().enumerate() {
        let bbox = block_cell(2, p);
        draw_panel(&mut doc, &frame, bbox, Some(panel));
        layout.push_named(Role::Panel, format!("query panel {}", p + 1), bbox);
    }
    let missing = block_cell(2, 2);
    draw_panel(&mut doc, &frame, missing, None);
    let (cx, cy) = missing.center();
    let question_size = QUESTION_FONT * frame.scale * options.font_scale;
    doc.text(cx, cy, question_size, true, BLACK, Anchor::Middle, "?");
    layout.push_named(Role::Panel, "query panel 3".to_string(), missing);

    let options_left = (REF_W - 4.0 * PANEL - 3.0 * OPTION_GAP) / 2.0;
    let label_size = LABEL_FONT * frame.scale * options.font_scale;
    for (o, panel) in instance.options.iter().enumerate() {
        let x = options_left + o as f32 * (PANEL + OPTION_GAP);
        let bbox = frame.panel(x, OPTIONS_TOP);
        draw_panel(&mut doc, &frame, bbox, Some(panel));
        let (cx, _) = bbox.center();
        let label_cy = frame.oy + LABEL_CY * frame.scale;
        let number = (o + 1).to_string();
        doc.text(
            cx,
            label_cy,
            label_size,
            true,
            BLACK,
            Anchor::Middle,
            &number,
        );
        layout.push_named(Role::Panel, format!("option {}", o + 1), bbox);
    }

    doc.render(layout)
}

/// A white panel with its border, and its contents (none for the `?` cell).
fn draw_panel(doc: &mut SvgDoc, frame: &Frame, b: BBox, panel: Option<&Panel>) {
    let border = frame.stroke(BORDER);
    doc.rect(b.x, b.y, b.w, b.h, WHITE, Some((BLACK, border)));
    match panel {
        Some(Panel::Lines(lines)) => {
            for line in lines {
                draw_line(doc, frame, b, line);
            }
        }
        Some(Panel::Shapes(shapes)) => {
            for shape in shapes {
                draw_shape(doc, frame, b, shape);
            }
        }
        None => {}
    }
}

fn draw_line(doc: &mut SvgDoc, frame: &Frame, b: BBox, line: &Line) {
    let width = frame.stroke(LINE_WIDTH);
    let colour = gray(line.color);
    let inset = LINE_INSET * frame.scale + width / 2.0;
    let (left, top) = (b.x + inset, b.y + inset);
    let (right, bottom) = (b.x + b.w - inset, b.y + b.h - inset);
    let (mx, my) = b.center();
    let stroke = Some((colour.as_str(), width));
    let mut polyline = |points: &[(f32, f32)], closed: bool| {
        doc.polygon(points, closed, "none", stroke);
    };
    match line.line_type {
        LineType::FallingDiagonal => polyline(&[(left, top), (right, bottom)], false),
        LineType::RisingDiagonal => polyline(&[(left, bottom), (right, top)], false),
        LineType::Horizontal => polyline(&[(left, my), (right, my)], false),
        LineType::Vertical => polyline(&[(mx, top), (mx, bottom)], false),
        LineType::Diamond => polyline(&[(mx, top), (right, my), (mx, bottom), (left, my)], true),
        LineType::VUp => polyline(&[(left, bottom), (mx, top), (right, bottom)], false),
        LineType::VDown => polyline(&[(left, top), (mx, bottom), (right, top)], false),
        LineType::VLeft => polyline(&[(right, top), (left, my), (right, bottom)], false),
        LineType::VRight => polyline(&[(left, top), (right, my), (left, bottom)], false),
        LineType::Circle => doc.circle(mx, my, (right - left) / 2.0, "none", stroke),
    }
}

/// The centre of layout cell `cell` of a panel (a cell outside the layout is placed as if the
/// layout went on, so a defective panel still draws).
fn cell_centre(b: BBox, cell: Cell) -> (f32, f32) {
    let side = LAYOUT_SIDE as f32;
    (
        b.x + (cell.col as f32 - 0.5) * b.w / side,
        b.y + (cell.row as f32 - 0.5) * b.h / side,
    )
}

/// Unit regular polygon with `n` vertices, the first straight up (y grows downwards).
fn regular(n: usize, rotation: f32) -> Vec<(f32, f32)> {
    (0..n)
        .map(|k| {
            let a = -std::f32::consts::FRAC_PI_2
                + rotation
                + k as f32 * std::f32::consts::TAU / n as f32;
            (a.cos(), a.sin())
        })
        .collect()
}

fn draw_shape(doc: &mut SvgDoc, frame: &Frame, b: BBox, shape: &Shape) {
    let (cx, cy) = cell_centre(b, shape.position);
    let size = shape.size as f32 * b.w / PANEL;
    let fill = gray(shape.color);
    let outline = Some((BLACK, frame.stroke(OUTLINE)));
    let unit = match shape.shape_type {
        ShapeType::Circle => {
            doc.circle(cx, cy, size / 2.0, &fill, outline);
            return;
        }
        ShapeType::Square => regular(4, std::f32::consts::FRAC_PI_4),
        ShapeType::Triangle => regular(3, 0.0),
        ShapeType::Pentagon => regular(5, 0.0),
        ShapeType::Hexagon => regular(6, 0.0),
    };
    // Scale so the bounding box's longer side is `size`, and centre the box on the cell.
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for &(x, y) in &unit {
        x0 = x0.min(x);
        y0 = y0.min(y);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    let k = size / (x1 - x0).max(y1 - y0);
    let (ux, uy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let points: Vec<(f32, f32)> = unit
        .iter()
        .map(|&(x, y)| (cx + (x - ux) * k, cy + (y - uy) * k))
        .collect();
    doc.polygon(&points, true, &fill, outline);
}

#[cfg(test)]
mod tests {
    use super::*;
    use s2h_tasks::analogy::{AnalogyConfig, PanelKind, generate};
    use s2h_tasks::{Split, TaskKind};

    fn puzzles(split: Split, n: u64) -> Vec<AnalogyInstance> {
        (0..n)
            .map(|i| generate(&AnalogyConfig::default(), split, 7, i).unwrap())
            .collect()
    }

    fn all_panels(inst: &AnalogyInstance) -> Vec<&Panel> {
        labelled_panels(inst).into_iter().map(|(_, p)| p).collect()
    }

    #[test]
    fn lossy_text_lists_exactly_each_panels_value_sets() {
        for split in [Split::Simple, Split::Hard, Split::PatternHeldout] {
            for inst in puzzles(split, 30) {
                let text = describe(&inst, AnalogyTextFormat::Lossy);
                let lines: Vec<&str> = text.lines().collect();
                let panels = all_panels(&inst);
                assert_eq!(lines.len(), 12);
                let labels = [
                    "Example 1 panel 1",
                    "Example 1 panel 2",
                    "Example 1 panel 3",
                    "Example 2 panel 1",
                    "Example 2 panel 2",
                    "Example 2 panel 3",
                    "Query panel 1",
                    "Query panel 2",
                    "Option 1",
                    "Option 2",
                    "Option 3",
                    "Option 4",
                ];
                for ((line, panel), label) in lines.iter().zip(&panels).zip(labels) {
                    let rest = line.strip_prefix(&format!("{label}: ")).unwrap();
                    let mut fields = rest.split("; ");
                    assert_eq!(fields.next(), Some(panel.kind().name()), "{line}");
                    let domains = Domain::of_kind(panel.kind());
                    let fields: Vec<&str> = fields.collect();
                    assert_eq!(fields.len(), domains.len(), "{line}");
                    for (field, &d) in fields.iter().zip(domains) {
                        let (name, values) = field.split_once(": ").unwrap();
                        assert_eq!(name, attribute_label(d));
                        // Read the listed values back and compare with the panel's set.
                        let want = panel.value_set(d).unwrap();
                        let listed: Vec<String> =
                            want.values().iter().map(|v| v.to_string()).collect();
                        assert_eq!(values, listed.join(", "), "{line}");
                        let count = match d {
                            Domain::ShapePosition => values.matches('(').count(),
                            _ => values.split(", ").count(),
                        };
                        assert_eq!(count, want.len(), "{line}");
                        for v in want.values() {
                            assert!(values.contains(&v.to_string()));
                        }
                    }
                }
            }
        }
    }

    /// Decode a lossless panel description without the encoder's helpers' output, from the
    /// code tables alone.
    fn decode(text: &str) -> Panel {
        let (kind, objects) = text.split_once("; ").unwrap();
        let codes: Vec<&str> = objects.split(", ").collect();
        match kind {
            "lines" => Panel::Lines(
                codes
                    .iter()
                    .map(|c| {
                        let parts: Vec<&str> = c.split('-').collect();
                        assert_eq!(parts.len(), 2, "{c}");
                        let matching: Vec<LineType> = LineType::ALL
                            .iter()
                            .copied()
                            .filter(|&t| line_type_code(t) == parts[0])
                            .collect();
                        assert_eq!(matching.len(), 1, "{c}");
                        Line {
                            line_type: matching[0],
                            color: parts[1].parse().unwrap(),
                        }
                    })
                    .collect(),
            ),
            "shapes" => Panel::Shapes(
                codes
                    .iter()
                    .map(|c| {
                        let parts: Vec<&str> = c.split('-').collect();
                        assert_eq!(parts.len(), 4, "{c}");
                        let matching: Vec<ShapeType> = ShapeType::ALL
                            .iter()
                            .copied()
                            .filter(|&t| shape_type_code(t) == parts[0])
                            .collect();
                        assert_eq!(matching.len(), 1, "{c}");
                        let pos = POSITION_CODES.iter().position(|&p| p == parts[3]).unwrap();
                        Shape {
                            shape_type: matching[0],
                            color: parts[1].parse().unwrap(),
                            size: parts[2].parse().unwrap(),
                            position: Cell::new(pos as u32 / 3 + 1, pos as u32 % 3 + 1),
                        }
                    })
                    .collect(),
            ),
            other => panic!("unknown kind {other}"),
        }
    }

    #[test]
    fn lossless_codes_round_trip_to_the_panels_objects() {
        let line_codes: BTreeSet<&str> = LineType::ALL.iter().map(|&t| line_type_code(t)).collect();
        let shape_codes: BTreeSet<&str> =
            ShapeType::ALL.iter().map(|&t| shape_type_code(t)).collect();
        assert_eq!(line_codes.len(), LineType::ALL.len());
        assert_eq!(shape_codes.len(), ShapeType::ALL.len());
        assert!(line_codes.is_disjoint(&shape_codes));
        let mut seen_kinds = BTreeSet::new();
        for split in [Split::Simple, Split::Hard] {
            for inst in puzzles(split, 40) {
                let text = describe(&inst, AnalogyTextFormat::Lossless);
                let panels = all_panels(&inst);
                assert_eq!(text.lines().count(), panels.len());
                for (line, panel) in text.lines().zip(panels) {
                    let (_, rest) = line.split_once(": ").unwrap();
                    assert_eq!(&decode(rest), panel, "{line}");
                    seen_kinds.insert(panel.kind().name());
                }
            }
        }
        assert_eq!(seen_kinds.len(), 2);
        let shape = Shape {
            shape_type: ShapeType::Circle,
            color: 90,
            size: 41,
            position: Cell::new(1, 1),
        };
        assert_eq!(shape_code(&shape), "CIR-90-41-TL");
        let line = Line {
            line_type: LineType::VUp,
            color: 135,
        };
        assert_eq!(line_code(&line), "VUP-135");
        assert_eq!(position_code(Cell::new(4, 1)), None);
        assert_eq!(
            shape_code(&Shape {
                position: Cell::new(4, 1),
                ..shape
            }),
            "CIR-90-41-R4C1"
        );
    }

    #[test]
    fn defective_panels_are_still_described() {
        let panel = Panel::Shapes(vec![
            Shape {
                shape_type: ShapeType::Square,
                color: 7,
                size: 20,
                position: Cell::new(1, 2),
            },
            Shape {
                shape_type: ShapeType::Circle,
                color: 7,
                size: 20,
                position: Cell::new(1, 1),
            },
        ]);
        assert_eq!(attribute_text(&panel, Domain::ShapeColor), "7");
        assert_eq!(attribute_text(&panel, Domain::ShapeType), "circle, square");
        assert_eq!(
            attribute_text(&panel, Domain::ShapePosition),
            "(1, 1), (1, 2)"
        );
        assert_eq!(attribute_text(&panel, Domain::LineType), "");
    }

    fn hand_made() -> AnalogyInstance {
        let mut inst = generate(&AnalogyConfig::default(), Split::Simple, 0, 0).unwrap();
        let shapes = |colors: [u8; 5]| {
            Panel::Shapes(
                [(1, 1), (1, 3), (2, 2), (3, 1), (3, 3)]
                    .iter()
                    .zip(colors)
                    .zip(ShapeType::ALL)
                    .map(|((&(r, c), color), &shape_type)| Shape {
                        shape_type,
                        color,
                        size: 20,
                        position: Cell::new(r, c),
                    })
                    .collect(),
            )
        };
        let lines = |types: &[LineType], color: u8| {
            Panel::Lines(
                types
                    .iter()
                    .map(|&line_type| Line { line_type, color })
                    .collect(),
            )
        };
        inst.examples[0] = [
            shapes([0, 90, 135, 189, 255]),
            shapes([255, 0, 90, 135, 189]),
            shapes([189, 255, 0, 90, 135]),
        ];
        inst.examples[1] = [
            lines(&[LineType::Horizontal], 90),
            lines(&[LineType::VUp], 0),
            lines(&[LineType::VLeft], 135),
        ];
        inst.query = [lines(&[LineType::VDown], 0), lines(&[LineType::VRight], 0)];
        inst.options = [
            lines(&[LineType::Circle], 0),
            lines(&[LineType::Diamond], 0),
            lines(&[LineType::FallingDiagonal], 0),
            lines(&[LineType::RisingDiagonal], 0),
        ];
        inst
    }

    #[test]
    fn image_has_its_size_thirteen_panels_and_shapes_in_their_gray() {
        let inst = hand_made();
        let rendered = image(&inst, &ImageOptions::paper(TaskKind::Va)).unwrap();
        assert_eq!((rendered.width(), rendered.height()), (800, 900));
        let regions = &rendered.layout.regions;
        assert_eq!(regions.len(), 13);
        assert!(regions.iter().all(|r| r.role == Role::Panel));
        let px = |x: f32, y: f32| rendered.pixel(x as u32, y as u32).unwrap();
        // Shapes: exactly their gray at the centre of their cell.
        let Panel::Shapes(shapes) = &inst.examples[0][1] else {
            unreachable!()
        };
        let b = rendered.layout.named("example 1 panel 2").unwrap();
        assert!((b.w - 160.0).abs() < 1e-3 && (b.h - 160.0).abs() < 1e-3);
        for s in shapes {
            let (cx, cy) = cell_centre(b, s.position);
            assert_eq!(px(cx, cy), [s.color; 3], "{s:?}");
        }
        // An empty layout cell stays white.
        let (cx, cy) = cell_centre(b, Cell::new(2, 1));
        assert_eq!(px(cx, cy), [255; 3]);
        // Lines: a horizontal line crosses the middle in its gray; a V points its vertex the way
        // it faces.
        let b = rendered.layout.named("example 2 panel 1").unwrap();
        let (mx, my) = b.center();
        assert_eq!(px(mx, my), [90; 3]);
        assert_eq!(px(mx, b.y + 20.0), [255; 3]);
        let dark = |b: BBox, fx: f32, fy: f32| px(b.x + fx * b.w, b.y + fy * b.h)[0] < 100;
        let near = 0.04;
        let v_up = rendered.layout.named("example 2 panel 2").unwrap();
        assert!(dark(v_up, 0.5, near) && !dark(v_up, 0.5, 1.0 - near));
        let v_down = rendered.layout.named("query panel 1").unwrap();
        assert!(dark(v_down, 0.5, 1.0 - near) && !dark(v_down, 0.5, near));
        let v_right = rendered.layout.named("query panel 2").unwrap();
        assert!(dark(v_right, 1.0 - near, 0.5) && !dark(v_right, near, 0.5));
        let v_left = rendered.layout.named("example 2 panel 3").unwrap();
        // v_left is gray 135.
        let v_left_px = |fx: f32| px(v_left.x + fx * v_left.w, v_left.y + 0.5 * v_left.h)[0];
        assert!(v_left_px(near) < 200 && v_left_px(1.0 - near) == 255);
        let circle = rendered.layout.named("option 1").unwrap();
        assert!(dark(circle, 0.5, near) && !dark(circle, 0.5, 0.5));
        let diamond = rendered.layout.named("option 2").unwrap();
        assert!(dark(diamond, 0.5, near) && dark(diamond, near, 0.5) && !dark(diamond, near, near));
        assert!(!dark(diamond, 0.5, 0.5));
        let falling = rendered.layout.named("option 3").unwrap();
        assert!(dark(falling, 0.1, 0.1) && !dark(falling, 0.9, 0.1));
        let rising = rendered.layout.named("option 4").unwrap();
        assert!(dark(rising, 0.9, 0.1) && !dark(rising, 0.1, 0.1));
        // The `?` cell holds its mark.
        let q = rendered.layout.named("query panel 3").unwrap();
        let inner = (q.x as u32 + 10..(q.x + q.w) as u32 - 10)
            .flat_map(|x| (q.y as u32 + 10..(q.y + q.h) as u32 - 10).map(move |y| (x, y)))
            .filter(|&(x, y)| rendered.pixel(x, y).unwrap()[0] < 128)
            .count();
        assert!(inner > 200, "the ? left {inner} dark pixels");
    }

    #[test]
    fn other_sizes_scale_the_geometry_and_keep_panels_square() {
        let inst = puzzles(Split::Hard, 1).remove(0);
        for (w, h) in [(448, 448), (400, 450), (1600, 900)] {
            let options = ImageOptions::paper(TaskKind::Va).with_size(w, h);
            let rendered = image(&inst, &options).unwrap();
            assert_eq!((rendered.width(), rendered.height()), (w, h));
            assert_eq!(rendered.layout.regions.len(), 13);
            let scale = (w as f32 / REF_W).min(h as f32 / REF_H);
            for r in &rendered.layout.regions {
                let b = r.bbox;
                assert!((b.w - b.h).abs() < 1e-3 && (b.w - PANEL * scale).abs() < 1e-3);
                assert!(b.x >= 0.0 && b.y >= 0.0);
                assert!(b.x + b.w <= w as f32 && b.y + b.h <= h as f32);
            }
            // No two panels overlap.
            for (i, a) in rendered.layout.regions.iter().enumerate() {
                for b in &rendered.layout.regions[i + 1..] {
                    let (a, b) = (a.bbox, b.bbox);
                    let apart = a.x + a.w <= b.x
                        || b.x + b.w <= a.x
                        || a.y + a.h <= b.y
                        || b.y + b.h <= a.y;
                    assert!(apart, "{a:?} {b:?}");
                }
            }
        }
        assert!(image(&inst, &ImageOptions::paper(TaskKind::Va).with_size(8, 8)).is_err());
    }

    #[test]
    fn every_panel_kind_is_drawn_inside_its_box() {
        for inst in puzzles(Split::Hard, 6) {
            let rendered = image(&inst, &ImageOptions::paper(TaskKind::Va)).unwrap();
            let kinds: Vec<PanelKind> = all_panels(&inst).iter().map(|p| p.kind()).collect();
            assert_eq!(kinds.len(), 12);
            for r in &rendered.layout.regions {
                let b = r.bbox;
                let dark = (b.x as u32 + 8..(b.x + b.w) as u32 - 8)
                    .flat_map(|x| (b.y as u32 + 8..(b.y + b.h) as u32 - 8).map(move |y| (x, y)))
                    .any(|(x, y)| rendered.pixel(x, y).unwrap() != [255; 3]);
                assert!(dark, "{:?} is empty", r.name);
            }
        }
    }
}

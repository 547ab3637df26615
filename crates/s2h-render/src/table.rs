//! Renderings of the table tasks, CTR and TR (SPEC §6–7.1).

use std::fmt::Write as _;

use s2h_tasks::Cell;
use s2h_tasks::labels::{DIGIT_WORDS, MONTHS, product_names};
use s2h_tasks::table::TableInstance;

use crate::svg::{Anchor, SvgDoc};
use crate::{BBox, ImageOptions, Layout, RenderedImage, Result, Role, font};

/// Colours of the paper's table look.
const HEADER_FILL: &str = "#40466e";
const HEADER_TEXT: &str = "#ffffff";
const BODY_FILL: &str = "#f5f5f5";
/// Highlighted path cells.
pub const HIGHLIGHT_FILL: &str = "#ffff00";
const BORDER: &str = "#000000";

/// Marker written after a highlighted value in the text rendering.
pub const HIGHLIGHT_MARK: &str = " *";

/// The LaTeX `tabular` of a table instance: month names as the header row, product names as the
/// first column, digits as values, each highlighted value followed by ` *`. Every column has the
/// same alignment so the column spec reveals nothing about the path.
pub fn latex(instance: &TableInstance) -> String {
    let table = &instance.table;
    let highlighted = instance.highlighted();
    let mut out = String::new();
    let spec = "c|".repeat(table.cols() as usize + 1);
    let _ = writeln!(out, "\\begin{{tabular}}{{|{spec}}}");
    out.push_str("\\hline\n");
    for label in &table.col_labels {
        let _ = write!(out, " & {label}");
    }
    out.push_str(" \\\\\n\\hline\n");
    for (r, label) in table.row_labels.iter().enumerate() {
        out.push_str(label);
        for (c, value) in table.values[r].iter().enumerate() {
            let cell = Cell::new(r as u32 + 1, c as u32 + 1);
            let mark = if highlighted.contains(&cell) {
                HIGHLIGHT_MARK
            } else {
                ""
            };
            let _ = write!(out, " & {value}{mark}");
        }
        out.push_str(" \\\\\n\\hline\n");
    }
    out.push_str("\\end{tabular}");
    out
}

/// Font sizes are fitted to the widest text any table of this kind can hold (all month names,
/// all product names, all digit words), so every instance of one shape looks the same.
struct Fonts {
    header: f32,
    label: f32,
    value: f32,
}

fn widest(texts: impl IntoIterator<Item = impl AsRef<str>>, bold: bool) -> f32 {
    texts
        .into_iter()
        .map(|t| font::text_width_em(t.as_ref(), bold))
        .fold(0.0, f32::max)
}

/// The table image: header row and label column dark blue-grey with bold white text, body
/// cells light grey, highlighted cells yellow, values as words ZERO…NINE, thin black borders.
pub fn image(instance: &TableInstance, options: &ImageOptions) -> Result<RenderedImage> {
    let table = &instance.table;
    let (rows, cols) = (table.rows() as usize, table.cols() as usize);
    let (width, height) = (options.width as f32, options.height as f32);
    let margin = (width.min(height) * 0.01).max(1.0);
    let border = (width.min(height) / 800.0).max(1.0);
    // The label column is twice as wide as a value column, as in the paper's figures.
    let unit = (width - 2.0 * margin) / (cols as f32 + 2.0);
    let label_w = 2.0 * unit;
    let row_h = (height - 2.0 * margin) / (rows as f32 + 1.0);

    let fit = |cell_w: f32, text_em: f32| {
        (row_h * 0.45).min(cell_w * 0.88 / text_em) * options.font_scale
    };
    let fonts = Fonts {
        header: fit(unit, widest(MONTHS, true)),
        label: fit(label_w, widest(product_names(), true)),
        value: fit(unit, widest(DIGIT_WORDS, false)),
    };

    let mut doc = SvgDoc::new(options.width, options.height, "#ffffff", true);
    let mut layout = Layout::new(options.width, options.height);
    let highlighted = instance.highlighted();
    let col_x = |c: usize| margin + label_w + c as f32 * unit;
    let row_y = |r: usize| margin + (r as f32 + 1.0) * row_h;
    let (right, bottom) = (col_x(cols), row_y(rows));

    // Fills go down as a few large rectangles (header band, label column, body) plus one per
    // highlighted cell, and the borders as grid lines: far fewer shapes than one outlined
    // rectangle per cell, for the same pixels.
    doc.rect(margin, margin, right - margin, row_h, HEADER_FILL, None);
    doc.rect(margin, margin, label_w, bottom - margin, HEADER_FILL, None);
    doc.rect(
        col_x(0),
        row_y(0),
        right - col_x(0),
        bottom - row_y(0),
        BODY_FILL,
        None,
    );
    for cell in &instance.path {
        let (r, c) = (cell.row as usize - 1, cell.col as usize - 1);
        doc.rect(col_x(c), row_y(r), unit, row_h, HIGHLIGHT_FILL, None);
    }
    for c in 0..=cols + 1 {
        let x = if c == 0 { margin } else { col_x(c - 1) };
        doc.rect(
            x - border / 2.0,
            margin - border / 2.0,
            border,
            bottom - margin + border,
            BORDER,
            None,
        );
    }
    for r in 0..=rows + 1 {
        let y = margin + r as f32 * row_h;
        doc.rect(
            margin - border / 2.0,
            y - border / 2.0,
            right - margin + border,
            border,
            BORDER,
            None,
        );
    }

    layout.push_cell(
        Role::Corner,
        Cell::new(0, 0),
        BBox::new(margin, margin, label_w, row_h),
        None,
    );
    for (c, label) in table.col_labels.iter().enumerate() {
        let b = BBox::new(col_x(c), margin, unit, row_h);
        let (cx, cy) = b.center();
        doc.text(
            cx,
            cy,
            fonts.header,
            true,
            HEADER_TEXT,
            Anchor::Middle,
            label,
        );
        layout.push_cell(
            Role::ColLabel,
            Cell::new(0, c as u32 + 1),
            b,
            Some(label.clone()),
        );
    }
    for (r, label) in table.row_labels.iter().enumerate() {
        let b = BBox::new(margin, row_y(r), label_w, row_h);
        let (cx, cy) = b.center();
        doc.text(
            cx,
            cy,
            fonts.label,
            true,
            HEADER_TEXT,
            Anchor::Middle,
            label,
        );
        layout.push_cell(
            Role::RowLabel,
            Cell::new(r as u32 + 1, 0),
            b,
            Some(label.clone()),
        );
        for (c, &value) in table.values[r].iter().enumerate() {
            let cell = Cell::new(r as u32 + 1, c as u32 + 1);
            let b = BBox::new(col_x(c), row_y(r), unit, row_h);
            let (cx, cy) = b.center();
            let word = DIGIT_WORDS[usize::from(value)];
            doc.text(cx, cy, fonts.value, false, "#000000", Anchor::Middle, word);
            // The highlight is part of what a cell shows, marked as the text rendering marks it.
            let mark = if highlighted.contains(&cell) {
                HIGHLIGHT_MARK
            } else {
                ""
            };
            layout.push_cell(Role::Cell, cell, b, Some(format!("{word}{mark}")));
        }
    }
    doc.render(layout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use s2h_tasks::table::{CtrConfig, TrConfig, generate_ctr, generate_tr};
    use s2h_tasks::{Split, TaskKind};
    use std::collections::HashSet;

    fn tr() -> TableInstance {
        generate_tr(&TrConfig::default(), Split::Hard, 0, 4).unwrap()
    }

    #[test]
    fn latex_marks_exactly_the_path_and_hides_it_from_the_column_spec() {
        let inst = tr();
        let tex = latex(&inst);
        assert_eq!(tex.matches(HIGHLIGHT_MARK).count(), inst.path.len());
        let spec_line = tex.lines().next().unwrap();
        let spec = spec_line
            .trim_start_matches("\\begin{tabular}{")
            .trim_end_matches('}');
        let columns: HashSet<char> = spec.chars().filter(|c| *c != '|').collect();
        assert_eq!(columns, HashSet::from(['c']), "{spec_line}");
        assert_eq!(spec.matches('c').count(), inst.table.cols() as usize + 1);
        // Every highlighted value sits in the row and column of a path cell.
        for (r, line) in tex
            .lines()
            .skip(4)
            .step_by(2)
            .take(inst.table.rows() as usize)
            .enumerate()
        {
            let cells: Vec<&str> = line.trim_end_matches(" \\\\").split(" & ").collect();
            assert_eq!(cells[0], inst.table.row_labels[r]);
            for (c, text) in cells[1..].iter().enumerate() {
                let cell = Cell::new(r as u32 + 1, c as u32 + 1);
                assert_eq!(
                    text.ends_with(" *"),
                    inst.path.contains(&cell),
                    "{text} at {cell}"
                );
                assert_eq!(
                    text.trim_end_matches(" *"),
                    inst.table.value(cell).to_string()
                );
            }
        }
    }

    #[test]
    fn image_has_the_requested_size_and_yellow_path_cells() {
        let inst = generate_ctr(&CtrConfig::default(), Split::Simple, 0, 1).unwrap();
        for (w, h) in [(1500, 800), (448, 448)] {
            let options = ImageOptions::paper(TaskKind::Ctr).with_size(w, h);
            let rendered = image(&inst, &options).unwrap();
            assert_eq!((rendered.width(), rendered.height()), (w, h));
            assert_eq!(rendered.layout.regions.len(), 1 + 10 + 5 + 50);
            for r in 1..=5 {
                for c in 1..=10 {
                    let cell = Cell::new(r, c);
                    let b = rendered.layout.cell(cell).unwrap();
                    // Sample just inside the top-left corner, away from the border and text.
                    let px = rendered
                        .pixel((b.x + b.w * 0.08) as u32, (b.y + b.h * 0.12) as u32)
                        .unwrap();
                    let yellow = px == [255, 255, 0];
                    assert_eq!(
                        yellow,
                        inst.path.contains(&cell),
                        "{cell} at {w}x{h}: {px:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn each_region_says_what_it_shows() {
        let inst = tr();
        let rendered = image(&inst, &ImageOptions::paper(TaskKind::Tr)).unwrap();
        let table = &inst.table;
        for region in &rendered.layout.regions {
            let cell = region.cell.unwrap();
            let (r, c) = (cell.row as usize, cell.col as usize);
            let expected = match region.role {
                Role::Corner => None,
                Role::ColLabel => Some(table.col_labels[c - 1].clone()),
                Role::RowLabel => Some(table.row_labels[r - 1].clone()),
                Role::Cell => {
                    let word = DIGIT_WORDS[usize::from(table.value(cell))];
                    let mark = if inst.path.contains(&cell) { " *" } else { "" };
                    Some(format!("{word}{mark}"))
                }
                Role::Panel => panic!("a table has no panel"),
            };
            assert_eq!(region.shows, expected, "{region:?}");
        }
        let marked = rendered.layout.regions.iter();
        let marked = marked.filter(|r| r.shows.as_deref().is_some_and(|s| s.ends_with(" *")));
        assert_eq!(marked.count(), inst.path.len());
    }

    #[test]
    fn fonts_fit_their_cells() {
        // The widest month at the fitted header size fits inside a value column.
        let options = ImageOptions::paper(TaskKind::Ctr);
        let unit = (1500.0 - 30.0) / 12.0;
        let rendered = image(&tr(), &options).unwrap();
        let header = rendered
            .layout
            .regions
            .iter()
            .find(|r| r.role == Role::ColLabel)
            .unwrap();
        assert!(header.bbox.w <= unit + 1.0);
        assert!(widest(MONTHS, true) > 0.0);
    }
}

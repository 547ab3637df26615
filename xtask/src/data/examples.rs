//! Example figures: Figure 1 (CTR), Figure 2 (TR, Grid, VA), Figure 12 (the Grid glyphs) and
//! Figures 32–37 (simple and hard example images of TR, Grid and VA).
//!
//! Every instance is drawn from the paper's task configuration with [`EXAMPLE_SEED`]; Figures 1
//! and 2 show index 0 of their split, Figures 32–37 indices 1 and 2 (so they are not Figure 2's
//! pictures again). Images are at the paper's canvas of the task ([`ImageOptions::paper`]).

use anyhow::{Result, bail};
use s2h::cot::{self, PromptInput};
use s2h::render::svg::{Anchor, SvgDoc};
use s2h::render::{ImageOptions, Layout, TextOptions, render_image, render_text};
use s2h::tasks::grid::{OBJECTS, ObstacleKind};
use s2h::tasks::{Instance, Split, TaskKind};

use super::{csv, instance, output, write, write_png};
use crate::{Agreement, Ctx, Output};

/// The seed of every example instance.
pub const EXAMPLE_SEED: u64 = 0;
/// The index Figures 1 and 2 show.
pub const FIGURE_INDEX: u64 = 0;
/// The indices each of Figures 32–37 shows.
pub const APPENDIX_INDICES: [u64; 2] = [1, 2];

/// The text of an example: which instance it is, its text rendering, the prompts for image and
/// text input, the verbose chain of thought and the final answer (SPEC §6, §8).
fn example_text(instance: &Instance, split: Split, index: u64) -> String {
    let task = instance.task();
    let text = render_text(instance, &TextOptions::default());
    format!(
        "{task} {split}, seed {EXAMPLE_SEED}, index {index} (paper task configuration)\n\n\
         === text rendering (the `text` modality) ===\n{text}\n\n\
         === prompt with image input ===\n{}\n\n\
         === question with text input (the prompt is the text rendering, a blank line, then this) ===\n{}\n\n\
         === chain of thought ===\n{}\n\n\
         === final answer ===\n{}\n",
        cot::prompt(instance, PromptInput::Image),
        cot::question(instance, s2h::tasks::Modality::Text),
        cot::chain_of_thought(instance),
        cot::answer_text(&instance.gold_answer()),
    )
}

/// Render `instance` at the paper canvas of its task.
fn paper_image(instance: &Instance) -> Result<s2h::render::RenderedImage> {
    Ok(render_image(
        instance,
        &ImageOptions::paper(instance.task()),
    )?)
}

/// Figure 1: a CTR example, its image and its LaTeX table, with prompt and chain of thought.
pub fn fig01(ctx: &Ctx) -> Result<Output> {
    let (task, split) = (TaskKind::Ctr, Split::Simple);
    let inst = instance(task, split, EXAMPLE_SEED, FIGURE_INDEX)?;
    let files = vec![
        write_png(&ctx.dir, "ctr_simple.png", &paper_image(&inst)?)?,
        write(
            &ctx.dir,
            "ctr_simple.tex",
            render_text(&inst, &TextOptions::default()).as_bytes(),
        )?,
        write(
            &ctx.dir,
            "ctr_simple.txt",
            example_text(&inst, split, FIGURE_INDEX).as_bytes(),
        )?,
    ];
    let Instance::Table(t) = &inst else {
        bail!("a CTR instance is a table instance");
    };
    let options = ImageOptions::paper(task);
    Ok(output(
        ctx,
        format!(
            "CTR simple, seed {EXAMPLE_SEED} index {FIGURE_INDEX} (paper configuration, a {}-cell \
             path on a {}x{} table): the image at the paper canvas {}x{} and its LaTeX table \
             (.tex); prompt, chain of thought and answer in the .txt; the paper's concept sketch \
             (right half) is not data; exact at every tier.",
            t.path.len(),
            t.table.rows(),
            t.table.cols(),
            options.width,
            options.height
        ),
        files,
        Vec::new(),
        Agreement::Exact,
    ))
}

/// Figure 2: one example each of TR, Grid Navigation and Visual Analogy.
pub fn fig02(ctx: &Ctx) -> Result<Output> {
    let split = Split::Simple;
    let mut pngs = Vec::new();
    let mut texts = Vec::new();
    for task in [TaskKind::Tr, TaskKind::Grid, TaskKind::Va] {
        let inst = instance(task, split, EXAMPLE_SEED, FIGURE_INDEX)?;
        let stem = format!("{task}_{split}");
        pngs.push(write_png(
            &ctx.dir,
            &format!("{stem}.png"),
            &paper_image(&inst)?,
        )?);
        texts.push(write(
            &ctx.dir,
            &format!("{stem}.txt"),
            example_text(&inst, split, FIGURE_INDEX).as_bytes(),
        )?);
    }
    pngs.extend(texts);
    Ok(output(
        ctx,
        format!(
            "TR, Grid Navigation and Visual Analogy, simple split, seed {EXAMPLE_SEED} index \
             {FIGURE_INDEX} each, at the paper canvases (1500x800, 1000x1000, 800x900), with \
             text rendering, prompt, chain of thought and answer in the .txt files; without the \
             paper's hand-drawn annotations; exact at every tier."
        ),
        pngs,
        Vec::new(),
        Agreement::Exact,
    ))
}

// ---------------------------------------------------------------------------------------------
// Figure 12: the glyphs

/// The glyph table's layout: 6 × 6 cells (31 objects, then 5 obstacle types).
const GLYPH_COLS: u32 = 6;
const GLYPH_CELL_W: u32 = 200;
const GLYPH_CELL_H: u32 = 180;
pub const GLYPH_TABLE_SIZE: (u32, u32) = (GLYPH_COLS * GLYPH_CELL_W, 6 * GLYPH_CELL_H);
/// Obstacle cells are shaded.
const OBSTACLE_FILL: &str = "#e4e4e4";

/// Every Grid symbol: (name, glyph, kind), objects first, from s2h-tasks' own tables.
fn glyphs() -> Vec<(&'static str, char, &'static str)> {
    let objects = OBJECTS.iter().map(|&(name, g)| (name, g, "object"));
    let obstacles = ObstacleKind::ALL
        .iter()
        .map(|&k| (k.name(), k.glyph(), "obstacle"));
    objects.chain(obstacles).collect()
}

/// Figure 12: the Unicode glyphs of the 31 objects and 5 obstacle types, drawn with the shipped
/// font by the project's own SVG layer, and as CSV.
pub fn fig12(ctx: &Ctx) -> Result<Output> {
    let symbols = glyphs();
    let (width, height) = GLYPH_TABLE_SIZE;
    if symbols.len() as u32 > GLYPH_COLS * (height / GLYPH_CELL_H) {
        bail!("{} glyphs do not fit the table", symbols.len());
    }
    let mut doc = SvgDoc::new(width, height, "#ffffff", true);
    let (cw, ch) = (GLYPH_CELL_W as f32, GLYPH_CELL_H as f32);
    for (i, &(name, glyph, kind)) in symbols.iter().enumerate() {
        if !s2h::render::has_glyph(glyph, false) {
            bail!(
                "the shipped font has no glyph for {name} (U+{:04X})",
                glyph as u32
            );
        }
        let (col, row) = (i as u32 % GLYPH_COLS, i as u32 / GLYPH_COLS);
        let (x, y) = (col as f32 * cw, row as f32 * ch);
        let fill = if kind == "obstacle" {
            OBSTACLE_FILL
        } else {
            "#ffffff"
        };
        doc.rect(x, y, cw, ch, fill, Some(("#000000", 1.0)));
        let cx = x + cw / 2.0;
        let text = glyph.to_string();
        doc.text(cx, y + 68.0, 72.0, false, "#000000", Anchor::Middle, &text);
        doc.text(cx, y + 132.0, 24.0, true, "#000000", Anchor::Middle, name);
        let code = format!("U+{:04X} · {kind}", glyph as u32);
        doc.text(cx, y + 160.0, 18.0, false, "#404040", Anchor::Middle, &code);
    }
    let image = doc.render(Layout::new(width, height))?;
    let rows: Vec<Vec<String>> = symbols
        .iter()
        .map(|&(name, glyph, kind)| {
            vec![
                name.to_string(),
                format!("U+{:04X}", glyph as u32),
                glyph.to_string(),
                kind.to_string(),
            ]
        })
        .collect();
    let files = vec![
        write_png(&ctx.dir, "glyphs.png", &image)?,
        write(
            &ctx.dir,
            "glyphs.csv",
            csv(&["name", "codepoint", "glyph", "kind"], &rows).as_bytes(),
        )?,
        write(&ctx.dir, "glyphs.svg", doc.finish().as_bytes())?,
    ];
    Ok(output(
        ctx,
        format!(
            "The {} Grid objects (white) and {} obstacle types (shaded) with their Unicode code \
             points (SPEC §4, from s2h-tasks' OBJECTS and ObstacleKind::glyph), drawn in the \
             shipped DejaVu Sans by s2h-render's SVG layer; also as CSV; exact at every tier.",
            OBJECTS.len(),
            ObstacleKind::ALL.len()
        ),
        files,
        Vec::new(),
        Agreement::Exact,
    ))
}

// ---------------------------------------------------------------------------------------------
// Figures 32–37

/// Figures 32–37: example images of one task and split, [`APPENDIX_INDICES`], with their text
/// renderings.
fn appendix_examples(ctx: &Ctx, task: TaskKind, split: Split) -> Result<Output> {
    let mut files = Vec::new();
    let mut texts = String::new();
    for index in APPENDIX_INDICES {
        let inst = instance(task, split, EXAMPLE_SEED, index)?;
        files.push(write_png(
            &ctx.dir,
            &format!("{task}_{split}_{index}.png"),
            &paper_image(&inst)?,
        )?);
        texts.push_str(&format!(
            "=== {task} {split}, seed {EXAMPLE_SEED}, index {index} ===\n{}\n\n",
            render_text(&inst, &TextOptions::default())
        ));
    }
    files.push(write(
        &ctx.dir,
        &format!("{task}_{split}.txt"),
        texts.as_bytes(),
    )?);
    let options = ImageOptions::paper(task);
    let indices = APPENDIX_INDICES.map(|i| i.to_string()).join(" and ");
    Ok(output(
        ctx,
        format!(
            "{} {split} examples, seed {EXAMPLE_SEED} indices {indices}, at the paper canvas {}x{}, \
             text renderings in the .txt; the paper's appendix Figures 32–37 show simple and hard \
             examples of TR, Grid and VA, and which split each of our figures holds (32 TR simple, \
             33 TR hard, 34 Grid simple, 35 Grid hard, 36 VA simple, 37 VA hard) is our \
             assignment; exact at every tier.",
            task_title(task),
            options.width,
            options.height
        ),
        files,
        Vec::new(),
        Agreement::Exact,
    ))
}

fn task_title(task: TaskKind) -> &'static str {
    match task {
        TaskKind::Ctr => "Consecutive Table Readout",
        TaskKind::Tr => "Table Readout",
        TaskKind::Grid => "Grid Navigation",
        TaskKind::Va => "Visual Analogy",
    }
}

pub fn fig32(ctx: &Ctx) -> Result<Output> {
    appendix_examples(ctx, TaskKind::Tr, Split::Simple)
}
pub fn fig33(ctx: &Ctx) -> Result<Output> {
    appendix_examples(ctx, TaskKind::Tr, Split::Hard)
}
pub fn fig34(ctx: &Ctx) -> Result<Output> {
    appendix_examples(ctx, TaskKind::Grid, Split::Simple)
}
pub fn fig35(ctx: &Ctx) -> Result<Output> {
    appendix_examples(ctx, TaskKind::Grid, Split::Hard)
}
pub fn fig36(ctx: &Ctx) -> Result<Output> {
    appendix_examples(ctx, TaskKind::Va, Split::Simple)
}
pub fn fig37(ctx: &Ctx) -> Result<Output> {
    appendix_examples(ctx, TaskKind::Va, Split::Hard)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tests::{check_deterministic, check_files, make, png_size};
    use crate::registry::Tier;

    /// The paper canvas of the task a file name starts with.
    fn canvas_of(name: &str) -> (u32, u32) {
        let task: TaskKind = name.split('_').next().unwrap().parse().unwrap();
        let o = ImageOptions::paper(task);
        (o.width, o.height)
    }

    fn check_example_target(f: fn(&Ctx) -> Result<Output>, pngs: usize) {
        let (dir, out) = make(f, Tier::Smoke);
        check_files(dir.path(), &out);
        assert_eq!(out.agreement, Agreement::Exact);
        assert!(out.caption.contains("exact at every tier"));
        let found: Vec<&String> = out.files.iter().filter(|f| f.ends_with(".png")).collect();
        assert_eq!(found.len(), pngs, "{:?}", out.files);
        assert!(out.files[0].ends_with(".png"), "the main PNG comes first");
        for name in found {
            assert_eq!(png_size(&dir.path().join(name)), canvas_of(name), "{name}");
        }
        check_deterministic(f, dir.path(), &out);
    }

    #[test]
    fn fig01_writes_the_ctr_image_latex_and_chain_of_thought() {
        check_example_target(fig01, 1);
        let (dir, out) = make(fig01, Tier::Cpu);
        let tex = std::fs::read_to_string(dir.path().join("ctr_simple.tex")).unwrap();
        assert!(tex.contains("\\begin{tabular}"), "{tex}");
        let txt = std::fs::read_to_string(dir.path().join("ctr_simple.txt")).unwrap();
        assert!(txt.contains("<image>") && txt.contains("Answer:"), "{txt}");
        assert!(out.files.iter().any(|f| f.ends_with(".tex")));
    }

    #[test]
    fn fig02_writes_one_example_of_each_task() {
        check_example_target(fig02, 3);
    }

    #[test]
    fn appendix_figures_write_two_examples_at_the_paper_canvas() {
        for f in [fig32, fig33, fig34, fig35, fig36, fig37] {
            check_example_target(f, APPENDIX_INDICES.len());
        }
    }

    #[test]
    fn fig12_draws_every_glyph_and_lists_it() {
        let (dir, out) = make(fig12, Tier::Gpu);
        check_files(dir.path(), &out);
        assert_eq!(out.files[0], "glyphs.png");
        assert_eq!(png_size(&dir.path().join("glyphs.png")), GLYPH_TABLE_SIZE);
        let text = std::fs::read_to_string(dir.path().join("glyphs.csv")).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("name,codepoint,glyph,kind"));
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
        assert_eq!(rows.len(), 36);
        assert_eq!(rows[0], ["heart", "U+2764", "\u{2764}", "object"]);
        assert_eq!(rows[35], ["plus", "U+271A", "\u{271A}", "obstacle"]);
        assert_eq!(rows.iter().filter(|r| r[3] == "object").count(), 31);
        for r in &rows {
            let code = u32::from_str_radix(&r[1][2..], 16).unwrap();
            assert_eq!(char::from_u32(code).unwrap().to_string(), r[2]);
        }
        check_deterministic(fig12, dir.path(), &out);
    }
}

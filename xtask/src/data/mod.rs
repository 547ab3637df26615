//! The data targets (class D): example renderings and statistics measured on generated data,
//! exact at every tier — no model, fixed seeds, so every tier writes the same bytes.
//!
//! - [`examples`]: Figures 1, 2, 12 and 32–37 (images, text renderings, prompts, chains of
//!   thought, the Grid glyph table);
//! - [`stats`]: Tables 1 and 2 (simple vs hard statistics measured on generated instances, the
//!   Visual Analogy attribute values);
//! - [`configs`]: Tables 3 and 4 (the training and model configurations s2h uses, in place of the
//!   paper's Eagle and Qwen2.5-VL hyper-parameters).
//!
//! Every instance comes from the paper's task configuration ([`TaskConfig::default`]); the seeds
//! and indices are constants of the module that draws them.

mod configs;
mod examples;
mod stats;

use std::path::Path;

use anyhow::{Context, Result};
use s2h::render::RenderedImage;
use s2h::tasks::{Instance, Split, TaskConfig, TaskKind};

use crate::{Agreement, Ctx, Output};

pub use configs::{tab03, tab04};
pub use examples::{fig01, fig02, fig12, fig32, fig33, fig34, fig35, fig36, fig37};
pub use stats::{tab01, tab02};

/// Instance `(task, split, seed, index)` under the paper's task configuration.
fn instance(task: TaskKind, split: Split, seed: u64, index: u64) -> Result<Instance> {
    TaskConfig::default()
        .generate(task, split, seed, index)
        .with_context(|| format!("generating {task} {split} seed {seed} index {index}"))
}

/// Write `bytes` to `dir/name` atomically and return `name` (for [`Output::files`]).
fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<String> {
    let path = dir.join(name);
    s2h::mixture::files::write_atomically(&path, bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(name.to_string())
}

/// Write a rendered image as PNG.
fn write_png(dir: &Path, name: &str, image: &RenderedImage) -> Result<String> {
    let png = image
        .png()
        .with_context(|| format!("encoding {name} as PNG"))?;
    write(dir, name, &png)
}

/// One CSV field: quoted when it holds a comma, a quote or a line break.
fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// A CSV document: a header line, then one line per row.
fn csv(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = String::new();
    let line = |fields: Vec<String>| fields.join(",") + "\n";
    s.push_str(&line(header.iter().map(|h| csv_field(h)).collect()));
    for row in rows {
        s.push_str(&line(row.iter().map(|f| csv_field(f)).collect()));
    }
    s
}

/// A Markdown (GitHub) table.
fn markdown_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut s = format!(
        "| {} |\n|{}\n",
        header
            .iter()
            .map(|h| cell(h))
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(header.len())
    );
    for row in rows {
        s.push_str(&format!(
            "| {} |\n",
            row.iter().map(|f| cell(f)).collect::<Vec<_>>().join(" | ")
        ));
    }
    s
}

/// Write a table as `stem.md` (shown in the gallery) and `stem.csv`; returns the file names.
pub(crate) fn write_table(
    dir: &Path,
    stem: &str,
    header: &[&str],
    rows: &[Vec<String>],
) -> Result<Vec<String>> {
    Ok(vec![
        write(
            dir,
            &format!("{stem}.md"),
            markdown_table(header, rows).as_bytes(),
        )?,
        write(dir, &format!("{stem}.csv"), csv(header, rows).as_bytes())?,
    ])
}

/// What a data target returns: its files (the main PNG first), a caption and our numbers.
fn output(
    ctx: &Ctx,
    caption: String,
    files: Vec<String>,
    numbers: Vec<(String, String)>,
    agreement: Agreement,
) -> Output {
    Output {
        files,
        caption,
        numbers,
        agreement,
        ..Output::at(ctx)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;

    use super::*;
    use crate::registry::Tier;

    /// Make a target into a fresh temporary directory.
    pub fn make(f: fn(&Ctx) -> Result<Output>, tier: Tier) -> (tempfile::TempDir, Output) {
        let tmp = tempfile::tempdir().unwrap();
        let ctx = Ctx {
            id: "data",
            tier,
            dir: tmp.path().to_path_buf(),
            cache: tmp.path().join(".cache"),
        };
        let out = f(&ctx).unwrap();
        (tmp, out)
    }

    /// Every listed file exists and is not empty; the target is exact; the caption says so.
    pub fn check_files(dir: &Path, out: &Output) {
        assert!(!out.files.is_empty());
        for f in &out.files {
            let len = std::fs::metadata(dir.join(f)).unwrap().len();
            assert!(len > 0, "{f} is empty");
        }
        assert!(!out.caption.is_empty() && !out.caption.contains('\n'));
    }

    /// The size of a PNG, decoded in full.
    pub fn png_size(path: &Path) -> (u32, u32) {
        let img = image::open(path).unwrap();
        (img.width(), img.height())
    }

    /// A second make of the target (at another tier) writes byte-identical files.
    pub fn check_deterministic(f: fn(&Ctx) -> Result<Output>, dir: &Path, out: &Output) {
        let (again, out2) = make(f, Tier::Paper);
        assert_eq!(out.files, out2.files);
        assert_eq!(out.numbers, out2.numbers);
        for name in &out.files {
            let a = std::fs::read(dir.join(name)).unwrap();
            let b = std::fs::read(again.path().join(name)).unwrap();
            assert!(a == b, "{name} differs between two makes");
        }
    }

    #[test]
    fn csv_and_markdown_quote_what_they_must() {
        let rows = vec![vec!["a,b".to_string(), "say \"x\"".to_string()]];
        assert_eq!(csv(&["k", "v"], &rows), "k,v\n\"a,b\",\"say \"\"x\"\"\"\n");
        assert_eq!(
            markdown_table(&["k", "v"], &[vec!["a|b".into(), "c".into()]]),
            "| k | v |\n|---|---|\n| a\\|b | c |\n"
        );
    }
}

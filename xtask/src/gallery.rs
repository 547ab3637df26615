//! `OUT/README.md`: every target with its picture, tier and scale, the paper's numbers beside
//! ours, and one line on agreement — rebuilt from the targets' `output.json`, so a run of a few
//! targets keeps the others' entries.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::registry::TARGETS;
use crate::{Agreement, OUTPUT_FILE, Output};

pub const GALLERY_FILE: &str = "README.md";

/// The recorded output of target `id` under `out`, if it was made.
pub fn read_output(out: &Path, id: &str) -> Option<Output> {
    let text = std::fs::read_to_string(out.join(id).join(OUTPUT_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// One line on agreement.
pub fn verdict(output: Option<&Output>) -> String {
    match output.map(|o| &o.agreement) {
        None => "not run: this target has not been made in this directory".into(),
        Some(Agreement::Exact) => "exact: made from the generators as the paper defines it".into(),
        Some(Agreement::Reproduced(why)) => format!("reproduced: {why}"),
        Some(Agreement::NotReproduced(why)) => format!("not reproduced: {why}"),
        Some(Agreement::Exercised(why)) => format!("pipeline exercised only: {why}"),
        Some(Agreement::NotRun(why)) => format!("not run at this tier: {why}"),
    }
}

pub fn markdown(out: &Path) -> String {
    let mut s = String::from(
        "# Figures and tables of the paper, reproduced by s2h\n\n\
         Made by `cargo xtask reproduce-figures`; each entry says its tier and scale. \
         Paper numbers are those the reference documents transcribe.\n\n",
    );
    s.push_str("| target | class | tier | agreement |\n|---|---|---|---|\n");
    let outputs: Vec<Option<Output>> = TARGETS.iter().map(|t| read_output(out, t.id)).collect();
    for (t, o) in TARGETS.iter().zip(&outputs) {
        s.push_str(&format!(
            "| [{}](#{}) | {} | {} | {} |\n",
            t.id,
            t.id,
            t.class.letter(),
            o.as_ref().map_or("-", |o| o.tier.as_str()),
            verdict(o.as_ref())
        ));
    }
    for (t, o) in TARGETS.iter().zip(&outputs) {
        s.push_str(&format!(
            "\n## {}\n\n{} (class {}; the paper uses: {})\n\n",
            t.id,
            t.title,
            t.class.letter(),
            t.needs
        ));
        if let Some(o) = o {
            if !o.caption.is_empty() {
                s.push_str(&format!("{}\n\n", o.caption));
            }
            for f in &o.files {
                if f.ends_with(".png") {
                    s.push_str(&format!("![{}]({}/{})\n", f, t.id, f));
                } else if f.ends_with(".md")
                    && let Ok(table) = std::fs::read_to_string(out.join(t.id).join(f))
                {
                    // A table target's Markdown table, inline.
                    s.push_str(&format!("{}\n", table.trim_end()));
                }
            }
            let others: Vec<String> = o
                .files
                .iter()
                .filter(|f| !f.ends_with(".png"))
                .map(|f| format!("[{f}]({}/{f})", t.id))
                .collect();
            if !others.is_empty() {
                s.push_str(&format!("\nFiles: {}\n", others.join(", ")));
            }
            for (what, value) in &o.numbers {
                s.push_str(&format!("\n- ours: {what}: {value}"));
            }
            if !o.numbers.is_empty() {
                s.push('\n');
            }
        }
        for p in t.paper {
            s.push_str(&format!("\n- paper: {}: {}", p.what, p.value));
        }
        if !t.paper.is_empty() {
            s.push('\n');
        }
        s.push_str(&format!("\n**{}**\n", verdict(o.as_ref())));
    }
    s
}

/// Write `OUT/README.md`.
pub fn write(out: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(out)?;
    let path = out.join(GALLERY_FILE);
    s2h_mixture::files::write_atomically(&path, markdown(out).as_bytes())?;
    Ok(path)
}

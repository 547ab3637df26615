//! The outside-model target (class X) s2h can score: Table 10, the simple and hard accuracy of
//! frontier and open models. s2h does not call those models; it writes the image sets they are
//! to answer, and scores the predictions a user puts beside them with the same scoring as every
//! other evaluation (`s2h_eval::score_files`: JSONL `{"id", "output"}` lines or a VLMEvalKit
//! result `.xlsx`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use s2h::mixture::{EvalSetSpec, Existing, RenderOptions, WriteOptions, write_eval_set};
use s2h::tasks::{Modality, Split, TaskKind};

use crate::data::write_table;
use crate::parts::{accuracy, pct};
use crate::registry::Tier;
use crate::{Agreement, Ctx, Output};

/// Where a tier's Table 10 inputs live: `OUT/inputs/tab10/<tier>/`, with the sets in `sets/` and
/// one directory of predictions per model.
fn inputs(ctx: &Ctx) -> PathBuf {
    let out = ctx.dir.parent().unwrap_or(&ctx.dir);
    out.join("inputs").join("tab10").join(ctx.tier.name())
}

/// Records per set: the paper's 500 from the cpu tier up, a handful at the smoke tier.
fn set_size(tier: Tier) -> u64 {
    match tier {
        Tier::Smoke => 8,
        _ => s2h::mixture::eval_set::DEFAULT_EVAL_COUNT,
    }
}

/// The image sets of every task and split, at the paper's task sizes and canvases.
fn sets(ctx: &Ctx) -> Result<Vec<(TaskKind, Split, PathBuf)>> {
    let mut out = Vec::new();
    for task in [TaskKind::Ctr, TaskKind::Tr, TaskKind::Grid, TaskKind::Va] {
        for split in [Split::Simple, Split::Hard] {
            let spec = EvalSetSpec::new(task, split, Modality::Image, set_size(ctx.tier));
            let dir = inputs(ctx).join("sets").join(format!("{task}-{split}"));
            let options = WriteOptions {
                existing: Existing::Keep,
                ..WriteOptions::default()
            };
            write_eval_set(&spec, &RenderOptions::default(), &dir, &options, &|| {})
                .with_context(|| format!("writing the {task} {split} set"))?;
            out.push((task, split, dir));
        }
    }
    Ok(out)
}

/// The predictions file of `model` for a set, if given: `<task>-<split>.jsonl` or `.xlsx`.
fn predictions(model: &Path, task: TaskKind, split: Split) -> Option<PathBuf> {
    ["jsonl", "xlsx"]
        .iter()
        .map(|ext| model.join(format!("{task}-{split}.{ext}")))
        .find(|p| p.is_file())
}

/// Table 10: every model directory under the inputs, scored on each set it has predictions for.
pub fn tab10(ctx: &Ctx) -> Result<Output> {
    let sets = sets(ctx)?;
    let root = inputs(ctx);
    let mut models: Vec<PathBuf> = std::fs::read_dir(&root)
        .with_context(|| format!("reading {}", root.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "sets"))
        .collect();
    models.sort();
    let how = format!(
        "Put one directory per model in {}: `<task>-<split>.jsonl` ({{\"id\", \"output\"}} per \
         line) or a VLMEvalKit `.xlsx`, answering the image sets in its `sets/` ({} records each, \
         the paper's task sizes and canvases)",
        root.display(),
        set_size(ctx.tier)
    );
    let mut rows = Vec::new();
    let mut numbers = Vec::new();
    for model in &models {
        let name = model
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let mut row = vec![name.clone()];
        for (task, split, set) in &sets {
            let cell = match predictions(model, *task, *split) {
                Some(file) => {
                    let scored = s2h::eval::score_files(set, &file)
                        .with_context(|| format!("scoring {}", file.display()))?;
                    let a = accuracy(&scored.metrics, *task);
                    numbers.push((format!("{name} {task} {split}"), pct(a)));
                    pct(a)
                }
                None => "-".into(),
            };
            row.push(cell);
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Ok(Output {
            caption: format!("{how}."),
            agreement: Agreement::NotRun(format!(
                "no outside model's predictions given; the sets to answer are written. {how}"
            )),
            ..Output::at(ctx)
        });
    }
    let header: Vec<String> = std::iter::once("model".to_string())
        .chain(sets.iter().map(|(t, s, _)| format!("{t} {s}")))
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let files = write_table(&ctx.dir, "tab10", &header, &rows)?;
    Ok(Output {
        files,
        caption: format!(
            "Accuracy of the outside models' predictions with s2h's scoring (image sets, {} \
             records each). {how}.",
            set_size(ctx.tier)
        ),
        numbers,
        agreement: Agreement::Exercised(
            "the given predictions are scored; the paper's Table 10 numbers are not transcribed \
             here, so compare with the paper by eye"
                .into(),
        ),
        ..Output::at(ctx)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without predictions the target writes the sets and says what it needs; with a model's
    /// predictions beside them it scores them: the gold answers score 100%, empty outputs 0%.
    #[test]
    fn tab10_writes_the_sets_then_scores_given_predictions() {
        let out = tempfile::tempdir().unwrap();
        let target = crate::registry::TARGETS
            .iter()
            .find(|t| t.id == "tab10")
            .unwrap();
        let first = crate::make(target, Tier::Smoke, out.path()).unwrap();
        assert!(matches!(first.agreement, Agreement::NotRun(_)), "{first:?}");
        let root = out.path().join("inputs/tab10/smoke");
        let set = root.join("sets/ctr-simple");
        let records = s2h::mixture::read_records(&set).unwrap();
        assert_eq!(records.len(), 8);
        for (model, gold) in [("gold", true), ("silent", false)] {
            let dir = root.join(model);
            std::fs::create_dir_all(&dir).unwrap();
            let lines: String = records
                .iter()
                .map(|r| {
                    let output = if gold {
                        r.target.clone()
                    } else {
                        String::new()
                    };
                    serde_json::json!({"id": r.id, "output": output}).to_string() + "\n"
                })
                .collect();
            std::fs::write(dir.join("ctr-simple.jsonl"), lines).unwrap();
        }
        let second = crate::make(target, Tier::Smoke, out.path()).unwrap();
        let number = |what: &str| {
            second
                .numbers
                .iter()
                .find(|(w, _)| w == what)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(number("gold ctr simple").as_deref(), Some("100.0%"));
        assert_eq!(number("silent ctr simple").as_deref(), Some("0.0%"));
        let table = std::fs::read_to_string(out.path().join("tab10/tab10.md")).unwrap();
        assert_eq!(table.lines().count(), 2 + 2, "{table}");
        // A predictions file that does not match the set is an error naming it.
        std::fs::write(root.join("gold/tr-hard.jsonl"), "{\"id\": \"nope\"}\n").unwrap();
        let err = crate::make(target, Tier::Smoke, out.path()).unwrap_err();
        assert!(format!("{err:#}").contains("tr-hard.jsonl"), "{err:#}");
    }
}

//! The ablations of the paper's appendices (G, I) as evaluated targets: Figs 22–27 and Tables 7,
//! 11 and 13. Each changes one field of the runs' plan phases ([`Variant`]), so its data comes
//! from the same generators and mixtures as every other run.

use anyhow::Result;
use s2h::eval::charts::{Marker, Series};
use s2h::mixture::CotMode;
use s2h::mixture::MixtureKind::{Align, Image, Mix, MixPlus, Text, TextWarmup};
use s2h::render::AnalogyTextFormat;
use s2h::tasks::{Modality, Split, TaskKind};

use crate::evaluated::task_title;
use crate::experiments::{Arm, RunSpec, Variant};
use crate::parts::{
    CurveOf, Part, accuracy, align_recipes, bars, curves, first_phase, hard_curves, largest,
    none_made, pct, per_task, table_per_task, tasks_made,
};
use crate::{Ctx, Output};

/// The Mix+ recipes of the Visual Analogy ablations (Figs 22, 25; Table 13): Mix+, (TW)Mix+ and
/// (TW)Align-Mix+, each with a first phase of `first` records.
fn va_recipes(task: TaskKind, budget: u64, first: u64) -> [(&'static str, RunSpec); 3] {
    let mix_plus = RunSpec::new(task, MixPlus, budget);
    [
        ("Mix+", mix_plus.clone()),
        ("(TW)Mix+", mix_plus.clone().after(TextWarmup, first)),
        (
            "(TW)Align-Mix+",
            mix_plus.after(Align, first).after(TextWarmup, first),
        ),
    ]
}

/// Explicit counts of `types` summing to `total`, in even shares (the last takes the remainder).
fn shares(total: u64, types: &[&'static str]) -> Vec<(&'static str, u64)> {
    let n = types.len().max(1) as u64;
    let each = total / n;
    types
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let extra = if i + 1 == types.len() {
                total - each * n
            } else {
                0
            };
            (t, each + extra)
        })
        .collect()
}

/// Fig 22: which simple records Mix+ holds. Half the budget is hard text, as in Mix+; the other
/// half is shared evenly by the simple types of each composition.
pub fn fig22(ctx: &Ctx) -> Result<Output> {
    const COMPOSITIONS: [(&str, &[&str]); 3] = [
        (
            "text+image+via-text",
            &["simple_text", "simple_image", "simple_image_via_text"],
        ),
        ("text+image", &["simple_text", "simple_image"]),
        ("image+via-text", &["simple_image", "simple_image_via_text"]),
    ];
    per_task(
        ctx,
        &[TaskKind::Va],
        "Hard-image accuracy at the tier's largest budget by the simple part of the last phase \
         (half its records; the other half hard text).",
        |cache, task| {
            let b = largest(cache)?;
            let mut arms = Vec::new();
            for (recipe, run) in va_recipes(task, b, first_phase(cache)?) {
                for (name, types) in COMPOSITIONS {
                    let mut counts = shares(b - b / 2, types);
                    counts.push(("hard_text", b / 2));
                    arms.push(Arm::hard(
                        format!("{recipe} {name}"),
                        run.clone().with(Variant::LastCounts(counts)),
                        Modality::Image,
                    ));
                }
            }
            bar_part(ctx, cache, task, "fig22", "simple composition", &arms)
        },
    )
}

/// A bar per arm of hard accuracy, with the numbers.
fn bar_part(
    ctx: &Ctx,
    cache: &crate::experiments::Cache,
    task: TaskKind,
    stem: &str,
    what: &str,
    arms: &[Arm],
) -> Result<Part> {
    let metrics = cache.measure(arms)?;
    let mut part = Part::default();
    let mut values = Vec::new();
    for (arm, m) in arms.iter().zip(&metrics) {
        let a = accuracy(m, task);
        part.number(format!("{task} {}", arm.name), pct(a));
        values.push((arm.name.clone(), a));
    }
    part.files = bars(
        ctx,
        &format!("{stem}-{task}"),
        format!("{}: {what} ({} tier)", task_title(task), ctx.tier),
        "hard accuracy",
        values,
        Some((0.0, 1.0)),
    )?;
    Ok(part)
}

/// Fig 23: the alignment phase's size. Align-Mix+ with a last phase of the tier's largest
/// budget, after alignment phases of 0 (Mix+), ½, 1 and 2 times the usual first phase.
pub fn fig23(ctx: &Ctx) -> Result<Output> {
    per_task(
        ctx,
        &[TaskKind::Tr],
        "Hard-image accuracy of Align-Mix+ by the records of its alignment phase (0: Mix+), \
         the last phase at the tier's largest budget.",
        |cache, task| {
            let b = largest(cache)?;
            let first = first_phase(cache)?;
            let sizes = [0, (first / 2).max(1), first, 2 * first];
            let arms: Vec<Arm> = sizes
                .iter()
                .map(|&n| {
                    let run = RunSpec::new(task, MixPlus, b);
                    let run = if n == 0 { run } else { run.after(Align, n) };
                    Arm::hard(format!("alignment {n}"), run, Modality::Image)
                })
                .collect();
            let metrics = cache.measure(&arms)?;
            let points: Vec<(f64, f64)> = sizes
                .iter()
                .zip(&metrics)
                .map(|(&n, m)| (n as f64, accuracy(m, task)))
                .collect();
            let mut part = Part::default();
            for (n, a) in &points {
                part.number(format!("{task} alignment phase of {n} records"), pct(*a));
            }
            part.files = curves(
                ctx,
                &format!("fig23-{task}"),
                format!(
                    "{}: alignment-phase size ({} tier)",
                    task_title(task),
                    ctx.tier
                ),
                "alignment-phase records",
                "hard accuracy",
                vec![Series {
                    name: "Align-Mix+".into(),
                    points,
                    marker: Marker::Triangle,
                }],
                Some((0.0, 1.0)),
            )?;
            Ok(part)
        },
    )
}

/// Fig 24: the text warm-up's size (1, 2, 3 times the usual first phase): (TW)Mix+ and
/// (TW)Align-Mix+ on hard images, and the warm-up alone on hard text (the paper's gray bars).
pub fn fig24(ctx: &Ctx) -> Result<Output> {
    per_task(
        ctx,
        &[TaskKind::Va],
        "Hard accuracy by the records of the text warm-up; the last phase at the tier's largest \
         budget; the warm-up alone is evaluated on hard text.",
        |cache, task| {
            let b = largest(cache)?;
            let first = first_phase(cache)?;
            let sizes = [first, 2 * first, 3 * first];
            let tw_mix_plus = |n| RunSpec::new(task, MixPlus, b).after(TextWarmup, n);
            let tw_align = |n| {
                RunSpec::new(task, MixPlus, b)
                    .after(Align, first)
                    .after(TextWarmup, n)
            };
            let alone = |n| RunSpec::new(task, TextWarmup, n);
            let recipes: [CurveOf; 3] = [
                (
                    "(TW)Mix+".into(),
                    Marker::Square,
                    Modality::Image,
                    &tw_mix_plus,
                ),
                (
                    "(TW)Align-Mix+".into(),
                    Marker::Triangle,
                    Modality::Image,
                    &tw_align,
                ),
                (
                    "warm-up alone (on text)".into(),
                    Marker::Star,
                    Modality::Text,
                    &alone,
                ),
            ];
            let series = hard_curves(cache, task, &sizes, &recipes)?;
            let mut part = Part::default();
            for s in &series {
                for (n, a) in &s.points {
                    part.number(format!("{task} {}, warm-up of {n}", s.name), pct(*a));
                }
            }
            part.files = curves(
                ctx,
                &format!("fig24-{task}"),
                format!(
                    "{}: text warm-up size ({} tier)",
                    task_title(task),
                    ctx.tier
                ),
                "warm-up records",
                "hard accuracy",
                series,
                Some((0.0, 1.0)),
            )?;
            Ok(part)
        },
    )
}

/// Fig 25: lossy (the paper's default) against lossless Visual Analogy text (App I.5), for
/// Mix+, Align-Mix+ and (TW)Align-Mix+ at the largest budget.
pub fn fig25(ctx: &Ctx) -> Result<Output> {
    per_task(
        ctx,
        &[TaskKind::Va],
        "Hard-image accuracy with the puzzles' text lossy (sets of values per panel) or \
         lossless (one code per object), at the tier's largest budget.",
        |cache, task| {
            let b = largest(cache)?;
            let first = first_phase(cache)?;
            let recipes = align_recipes(task, b, first);
            let mut arms = Vec::new();
            for (name, run) in &recipes {
                for (format, label) in [
                    (AnalogyTextFormat::Lossy, "lossy"),
                    (AnalogyTextFormat::Lossless, "lossless"),
                ] {
                    arms.push(Arm::hard(
                        format!("{name} {label}"),
                        run.clone().with(Variant::TextFormat(format)),
                        Modality::Image,
                    ));
                }
            }
            bar_part(ctx, cache, task, "fig25", "lossy vs lossless text", &arms)
        },
    )
}

/// Fig 26: multi-task training. Each supervision trained on every task of the tier together
/// (each task getting the records an individual run gets) and on each task alone; bars of the
/// hard-image accuracy per task, joint and individual, and their averages.
pub fn fig26(ctx: &Ctx) -> Result<Output> {
    let candidates = [TaskKind::Tr, TaskKind::Grid, TaskKind::Va];
    let (made, left_out) = tasks_made(ctx, &candidates);
    let tasks: Vec<TaskKind> = made.iter().map(|(t, _)| *t).collect();
    let Some((lead, lead_scale)) = made.into_iter().next() else {
        return Ok(none_made(ctx, &left_out));
    };
    let mut joint_acc: Vec<(String, TaskKind, f64)> = Vec::new();
    let output = per_task(
        ctx,
        &tasks,
        "Hard-image accuracy per task at the tier's largest budget, trained on each task alone \
         and on all of them together (the joint run renders every task on its first task's \
         canvas and evaluates there).",
        |cache, task| {
            let b = largest(cache)?;
            let first = first_phase(cache)?;
            let recipes = [
                ("Image", RunSpec::new(task, Image, b)),
                (
                    "Image-via-Text+",
                    RunSpec::new(task, s2h::mixture::MixtureKind::ImageViaTextPlus, b),
                ),
                ("Mix+", RunSpec::new(task, MixPlus, b)),
                (
                    "Align-Mix+",
                    RunSpec::new(task, MixPlus, b).after(Align, first),
                ),
            ];
            let mut arms = Vec::new();
            for (name, run) in &recipes {
                arms.push(Arm::hard(
                    format!("{name} alone"),
                    run.clone(),
                    Modality::Image,
                ));
            }
            let alone = cache.measure(&arms)?;
            // The joint runs live in the lead task's cache (its scale and canvas).
            let lead_cache = crate::experiments::Cache::new(&ctx.cache, lead_scale.clone());
            let n = tasks.len() as u64;
            let mut joint_arms = Vec::new();
            for (name, run) in &recipes {
                let joint = RunSpec {
                    task: lead,
                    budget: run.budget * n,
                    before: run.before.iter().map(|&(k, r)| (k, r * n)).collect(),
                    ..run.clone()
                }
                .with(Variant::Tasks(tasks.clone()));
                joint_arms.push(Arm {
                    task,
                    ..Arm::hard(format!("{name} joint"), joint, Modality::Image)
                });
            }
            let joint = lead_cache.measure(&joint_arms)?;
            let mut part = Part::default();
            let mut values = Vec::new();
            for (((name, _), a), j) in recipes.iter().zip(&alone).zip(&joint) {
                let (a, j) = (accuracy(a, task), accuracy(j, task));
                part.number(
                    format!("{task} {name}: alone / joint"),
                    format!("{} / {}", pct(a), pct(j)),
                );
                values.push((format!("{name} alone"), a));
                values.push((format!("{name} joint"), j));
                joint_acc.push((name.to_string(), task, j));
            }
            part.files = bars(
                ctx,
                &format!("fig26-{task}"),
                format!(
                    "{}: joint vs individual ({} tier)",
                    task_title(task),
                    ctx.tier
                ),
                "hard accuracy",
                values,
                Some((0.0, 1.0)),
            )?;
            Ok(part)
        },
    )?;
    if joint_acc.is_empty() {
        return Ok(output);
    }
    // Left panel: each supervision's joint accuracy averaged over the tasks.
    let mut averages: Vec<(String, f64)> = Vec::new();
    for (name, _, _) in &joint_acc {
        if averages.iter().any(|(n, _)| n == name) {
            continue;
        }
        let v: Vec<f64> = joint_acc
            .iter()
            .filter(|(n, ..)| n == name)
            .map(|(.., a)| *a)
            .collect();
        averages.push((name.clone(), v.iter().sum::<f64>() / v.len() as f64));
    }
    let mut files = bars(
        ctx,
        "fig26-average",
        format!("Multi-task: average over tasks ({} tier)", ctx.tier),
        "hard accuracy, joint run",
        averages,
        Some((0.0, 1.0)),
    )?;
    files.extend(output.files.clone());
    Ok(Output { files, ..output })
}

/// Fig 27: repetitions of the unique hard text records (App I.9): Mix+ and Align-Mix+ at the
/// largest budget with each unique hard record seen 1, 2 or 4 times.
pub fn fig27(ctx: &Ctx) -> Result<Output> {
    per_task(
        ctx,
        &[TaskKind::Tr, TaskKind::Va],
        "Hard-image accuracy by how often each unique hard text record is repeated (the number \
         of hard records fixed), at the tier's largest budget.",
        |cache, task| {
            let b = largest(cache)?;
            let first = first_phase(cache)?;
            let repeats = [1u64, 2, 4];
            let repeated = |run: RunSpec, k: u64| {
                if k == 1 {
                    run
                } else {
                    run.with(Variant::HardRepeat(k))
                }
            };
            let mix_plus = |k| repeated(RunSpec::new(task, MixPlus, b), k);
            let align = |k| repeated(RunSpec::new(task, MixPlus, b).after(Align, first), k);
            let recipes: [CurveOf; 2] = [
                ("Mix+".into(), Marker::Square, Modality::Image, &mix_plus),
                (
                    "Align-Mix+".into(),
                    Marker::Triangle,
                    Modality::Image,
                    &align,
                ),
            ];
            let series = hard_curves(cache, task, &repeats, &recipes)?;
            let mut part = Part::default();
            for s in &series {
                for (k, a) in &s.points {
                    part.number(
                        format!("{task} {}, hard records repeated {k}x", s.name),
                        pct(*a),
                    );
                }
            }
            part.files = curves(
                ctx,
                &format!("fig27-{task}"),
                format!(
                    "{}: repeated hard text ({} tier)",
                    task_title(task),
                    ctx.tier
                ),
                "repetitions of each unique hard record",
                "hard accuracy",
                series,
                Some((0.0, 1.0)),
            )?;
            Ok(part)
        },
    )
}

/// Table 7: Visual Analogy on held-out patterns (the `pattern_heldout` split: simple-level
/// puzzles whose patterns only hard puzzles use), for Text, Image and Mix at every budget.
pub fn tab07(ctx: &Ctx) -> Result<Output> {
    table_per_task(
        ctx,
        &[TaskKind::Va],
        "tab07",
        "Accuracy on pattern-held-out puzzles, as text and as images, by training data and budget.",
        &[
            "task",
            "training",
            "records",
            "held-out text",
            "held-out image",
        ],
        3,
        |cache, task| {
            let mut arms = Vec::new();
            for (name, kind) in [("Text", Text), ("Image", Image), ("Mix", Mix)] {
                for &b in &cache.scale.budgets {
                    for modality in [Modality::Text, Modality::Image] {
                        arms.push(Arm {
                            split: Split::PatternHeldout,
                            ..Arm::hard(name, RunSpec::new(task, kind, b), modality)
                        });
                    }
                }
            }
            pairs_to_rows(cache, task, &arms)
        },
    )
}

/// Rows `task, arm name, budget, accuracy of arm 2i, accuracy of arm 2i+1`.
fn pairs_to_rows(
    cache: &crate::experiments::Cache,
    task: TaskKind,
    arms: &[Arm],
) -> Result<Vec<Vec<String>>> {
    let metrics = cache.measure(arms)?;
    Ok(arms
        .chunks(2)
        .zip(metrics.chunks(2))
        .map(|(pair, m)| {
            let mut row = vec![
                task.to_string(),
                pair[0].name.clone(),
                pair[0].run.budget.to_string(),
            ];
            row.extend(m.iter().map(|m| pct(accuracy(m, task))));
            row
        })
        .collect())
}

/// Table 11: the alignment phase's composition. Align-Mix+ at the largest budget after an
/// alignment phase of text + image-via-text (the paper's), text + image, or image +
/// image-via-text, in even shares.
pub fn tab11(ctx: &Ctx) -> Result<Output> {
    const COMPOSITIONS: [(&str, &[&str]); 3] = [
        (
            "text + image-via-text",
            &["simple_text", "simple_image_via_text"],
        ),
        ("text + image", &["simple_text", "simple_image"]),
        (
            "image + image-via-text",
            &["simple_image", "simple_image_via_text"],
        ),
    ];
    table_per_task(
        ctx,
        &[TaskKind::Tr, TaskKind::Va],
        "tab11",
        "Hard-image accuracy of Align-Mix+ by the alignment phase's composition (even shares of \
         its records), the last phase at the tier's largest budget.",
        &["task", "alignment phase", "records", "hard image"],
        3,
        |cache, task| {
            let b = largest(cache)?;
            let first = first_phase(cache)?;
            let arms: Vec<Arm> = COMPOSITIONS
                .iter()
                .map(|(name, types)| {
                    Arm::hard(
                        *name,
                        RunSpec::new(task, MixPlus, b)
                            .after(Align, first)
                            .with(Variant::FirstCounts(shares(first, types))),
                        Modality::Image,
                    )
                })
                .collect();
            let metrics = cache.measure(&arms)?;
            Ok(arms
                .iter()
                .zip(&metrics)
                .map(|(arm, m)| {
                    vec![
                        task.to_string(),
                        arm.name.clone(),
                        format!("{first} + {b}"),
                        pct(accuracy(m, task)),
                    ]
                })
                .collect())
        },
    )
}

/// Table 13: chain of thought removed (`none`) or progressively truncated (App I.7), against the
/// full one, for Mix+, (TW)Mix+ and (TW)Align-Mix+ at the largest budget.
pub fn tab13(ctx: &Ctx) -> Result<Output> {
    table_per_task(
        ctx,
        &[TaskKind::Va],
        "tab13",
        "Hard-image accuracy with the chain of thought of every phase full, removed or \
         progressively truncated, at the tier's largest budget.",
        &["task", "training", "records", "full", "none", "truncated"],
        3,
        |cache, task| {
            let b = largest(cache)?;
            let modes = [CotMode::Full, CotMode::None, CotMode::Truncated];
            let mut arms = Vec::new();
            for (name, run) in va_recipes(task, b, first_phase(cache)?) {
                for mode in modes {
                    let run = if mode == CotMode::Full {
                        run.clone()
                    } else {
                        run.clone().with(Variant::Cot(mode))
                    };
                    arms.push(Arm::hard(name, run, Modality::Image));
                }
            }
            let metrics = cache.measure(&arms)?;
            Ok(arms
                .chunks(modes.len())
                .zip(metrics.chunks(modes.len()))
                .map(|(trio, m)| {
                    let mut row = vec![task.to_string(), trio[0].name.clone(), b.to_string()];
                    row.extend(m.iter().map(|m| pct(accuracy(m, task))));
                    row
                })
                .collect())
        },
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::registry::{TARGETS, Tier};
    use crate::{Agreement, Output};

    fn make(id: &str, tier: Tier, out: &Path) -> Output {
        let target = TARGETS.iter().find(|t| t.id == id).unwrap();
        let output = crate::make(target, tier, out).unwrap();
        for file in &output.files {
            let path = out.join(id).join(file);
            assert!(path.is_file(), "{id}: {file}");
            if file.ends_with(".png") {
                image::open(&path).unwrap();
            }
        }
        output
    }

    /// Lines of a target's Markdown table (header and rule included).
    fn table_lines(out: &Path, id: &str) -> usize {
        std::fs::read_to_string(out.join(id).join(format!("{id}.md")))
            .unwrap()
            .lines()
            .count()
    }

    /// The recipe and ablation targets at the smoke tier, on TR and VA: each trains its
    /// variants of the plans and writes a chart or a table with a row per arm.
    #[test]
    fn recipe_and_ablation_targets_run_at_the_smoke_tier() {
        s2h::cli::keep_freed_memory();
        let out = tempfile::tempdir().unwrap();
        let out = out.path();
        for id in [
            "fig06", "fig23", "fig27", "tab08", "tab11", "tab12", "tab14",
        ] {
            let output = make(id, Tier::Smoke, out);
            assert!(
                matches!(output.agreement, Agreement::Exercised(_)),
                "{id}: {output:?}"
            );
            assert!(!output.numbers.is_empty(), "{id}");
        }
        // Fig 6: accuracy and length bars for TR and VA.
        let csv = std::fs::read_to_string(out.join("fig06/fig06-va-length.csv")).unwrap();
        assert_eq!(csv.lines().count(), 1 + 4, "{csv}");
        // Fig 23: Mix+ and three alignment-phase sizes.
        let csv = std::fs::read_to_string(out.join("fig23/fig23-tr.csv")).unwrap();
        assert_eq!(csv.lines().count(), 1 + 4, "{csv}");
        // Fig 27: two recipes at three repetitions, per task.
        let csv = std::fs::read_to_string(out.join("fig27/fig27-va.csv")).unwrap();
        assert_eq!(csv.lines().count(), 1 + 2 * 3, "{csv}");
        // Tables: two tasks × two trainings × two budgets; two tasks × three compositions; two
        // tasks × three recipes; Table 14's steps.
        assert_eq!(table_lines(out, "tab08"), 2 + 2 * 2 * 2);
        assert_eq!(table_lines(out, "tab11"), 2 + 2 * 3);
        assert_eq!(table_lines(out, "tab12"), 2 + 2 * 3);
        assert!(table_lines(out, "tab14") > 2 + 10);
        // Hard records repeated, and as images, are their own runs.
        let runs: Vec<String> = std::fs::read_dir(out.join(".cache/smoke/runs"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        for prefix in ["va-mix_plus-16-repeat4-", "tr-mix_plus-32-hard_image-"] {
            assert!(
                runs.iter().any(|r| r.starts_with(prefix)),
                "{prefix}: {runs:?}"
            );
        }
    }

    /// The paper tier trains nothing: it writes each run's plan (which reads back as a valid
    /// plan) and the commands that train and evaluate them, with the compute they would take.
    #[test]
    fn paper_tier_writes_plans_and_commands_without_training() {
        let out = tempfile::tempdir().unwrap();
        let out = out.path();
        let output = make("fig05", Tier::Paper, out);
        assert!(
            matches!(output.agreement, Agreement::NotRun(_)),
            "{output:?}"
        );
        let plans: Vec<_> = std::fs::read_dir(out.join("fig05/plans"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        // Three tasks × five recipes × four budgets.
        assert_eq!(plans.len(), 3 * 5 * 4);
        for plan in &plans {
            let text = std::fs::read_to_string(plan).unwrap();
            let parsed = s2h::mixture::Plan::from_toml_str(&text).unwrap();
            assert!(!parsed.phases.is_empty());
        }
        let commands = std::fs::read_to_string(out.join("fig05/commands.sh")).unwrap();
        assert_eq!(commands.matches("--example train").count(), 3 * 5 * 4);
        assert_eq!(commands.matches("--example evaluate").count(), 3 * 5 * 4);
        assert!(commands.contains("runs/va-mix_plus-240000-"), "{commands}");
        assert!(!out.join(".cache/paper/runs").exists(), "nothing trained");
        let hours = output
            .numbers
            .iter()
            .find(|(w, _)| w.starts_with("H100-hours for the paper's 8B"))
            .map(|(_, v)| v.parse::<f64>().unwrap())
            .unwrap();
        assert!(hours > 100.0, "{hours}");
    }
}

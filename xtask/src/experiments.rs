//! The tiers of `reproduce-figures` as [`Scale`]s of the library's pipeline (`s2h::pipeline`:
//! runs, evaluations and analyses, cached): what each tier runs for each task.

use s2h::tasks::grid::GridConfig;
use s2h::tasks::table::{CtrConfig, TrConfig};
use s2h::tasks::{TaskConfig, TaskKind};
use s2h::train::ReadingStage;
use s2h::vlm::{BackendKind, VlmConfig};

pub use s2h::pipeline::{Arm, Cache, Planned, RunSpec, Scale, Variant, run_config};

use crate::registry::Tier;

/// `task` at a tier; `None` where the tier is not run by this pipeline (yet) for that task.
pub fn scale(tier: Tier, task: TaskKind) -> Option<Scale> {
    // The smoke tier's values; the other tiers change what differs.
    let smoke = Scale {
        name: tier.name().into(),
        label: format!(
            "smoke tier: {task} on small tasks (CTR 2x4 tables, TR 6x6 tables, 5-6 cell grids), \
             a 0.3M-parameter model, 16 and 32 training records; it exercises the pipeline and \
             learns nothing"
        ),
        tasks: smoke_tasks(),
        canvas: match task {
            TaskKind::Ctr => [150, 80],
            TaskKind::Tr => [180, 160],
            TaskKind::Grid => [160, 160],
            TaskKind::Va => [160, 180],
        },
        model: VlmConfig::micro(),
        budgets: vec![16, 32],
        batch_size: 8,
        lr: 3e-3,
        eval_records: 8,
        max_new_tokens: 96,
        log_every: 1,
        check_eval_overlap: tier != Tier::Smoke,
        plan_only: tier == Tier::Paper,
        backend: backend(tier),
        // A few updates on the runs' own few images: the stage runs, and reads nothing.
        reading: Some(ReadingStage {
            steps: 10,
            batch_size: 8,
            images: 32,
            ..ReadingStage::default()
        }),
    };
    // The paper's tasks and canvases, s2h's `base` preset.
    let paper_shaped = Scale {
        tasks: TaskConfig::default(),
        canvas: paper_canvas(task),
        model: VlmConfig::base(),
        batch_size: 32,
        lr: 2e-4,
        eval_records: 500,
        max_new_tokens: 2048,
        log_every: 10,
        // A tower trained from scratch learns to read before the recipes start, as the cpu
        // tier's does (docs/figures.md).
        reading: Some(ReadingStage::default()),
        ..smoke.clone()
    };
    let scale = match (tier, task) {
        // A Visual Analogy record is long (its chain of thought lists every attribute of every
        // panel, and the task has no size to shrink): the smoke tier trains it on fewer records
        // and evaluates fewer.
        (Tier::Smoke, TaskKind::Va) => Some(Scale {
            label: "smoke tier: va at the paper's task size on a 160x180 canvas, a 0.3M-parameter \
                    model, 8 and 16 training records; it exercises the pipeline and learns nothing"
                .into(),
            budgets: vec![8, 16],
            eval_records: 4,
            ..smoke
        }),
        (Tier::Smoke, _) => Some(smoke),
        (Tier::Cpu, TaskKind::Ctr) => Some(Scale {
            label: format!(
                "cpu tier: CTR at quickstart scale (3x4 table, paths 2-3 / 5-6 / 8-10 cells), \
                 the quickstart model (0.8M parameters), 8,000-32,000 training records; {}",
                reads(&ReadingStage::default())
            ),
            tasks: TaskConfig::quickstart(),
            canvas: [256, 160],
            model: VlmConfig::quickstart(),
            // 1,000-4,000 updates of 8: the quickstart's Text model looks values up after
            // about 3,000 (docs/quickstart.md).
            budgets: vec![8000, 16000, 32000],
            // The quickstart's learning rate (`TrainConfig::preset("quickstart")`).
            lr: 1.5e-3,
            eval_records: 100,
            max_new_tokens: 256,
            reading: Some(ReadingStage::default()),
            ..smoke
        }),
        // TR and Grid on 4x4 tables and grids, where the quickstart model learns simple text
        // partly within 4,000 updates (docs/figures.md has the probes' learning curves). The
        // budgets are CTR's, 1,000-4,000 updates of 8: twice as many cost twice the hours and
        // taught the probes little more (TR simple text 41% exact at 4,000 updates, 45% at
        // 8,000).
        (Tier::Cpu, TaskKind::Tr) => Some(Scale {
            label: format!(
                "cpu tier: TR on 4x4 tables (paths of 2-6 / 7-11 cells), the quickstart model \
                 with RoPE alone (0.7M parameters), 8,000-32,000 training records; {}",
                reads(&tr_reading())
            ),
            tasks: cpu_tasks(),
            canvas: [256, 192],
            model: rope_only(VlmConfig::quickstart()),
            budgets: vec![8_000, 16_000, 32_000],
            lr: 1.5e-3,
            eval_records: 100,
            max_new_tokens: 320,
            reading: Some(tr_reading()),
            ..smoke
        }),
        (Tier::Cpu, TaskKind::Grid) => Some(Scale {
            label: format!(
                "cpu tier: Grid on 4x4 grids (2-6 / 9-16 search steps, 1 / 2-3 objects), the \
                 quickstart model with RoPE alone and a 1,024-token context (0.7M parameters), \
                 8,000-32,000 training records; {}",
                reads(&ReadingStage::default())
            ),
            tasks: cpu_tasks(),
            canvas: [192, 192],
            model: {
                // Hard Grid records run to about 800 tokens.
                let mut model = rope_only(VlmConfig::quickstart());
                model.decoder.max_seq_len = 1024;
                model
            },
            budgets: vec![8_000, 16_000, 32_000],
            lr: 1.5e-3,
            eval_records: 100,
            max_new_tokens: 720,
            reading: Some(ReadingStage::default()),
            ..smoke
        }),
        (Tier::Gpu, _) => Some(Scale {
            label: format!(
                "gpu tier: {task} at the paper's task size and canvas, s2h's `base` preset \
                 (about 100M parameters) on one GPU, 1-4x10^4 training records (the paper's \
                 3-24x10^4 on an 8B model is the paper tier)"
            ),
            budgets: vec![10_000, 20_000, 40_000],
            ..paper_shaped
        }),
        (Tier::Paper, _) => Some(Scale {
            label: format!(
                "paper tier: {task} at the paper's task size, canvas and budgets (3-24x10^4 \
                 records); plans and commands only, for s2h's `base` preset until pretrained \
                 weights load"
            ),
            budgets: vec![30_000, 60_000, 120_000, 240_000],
            ..paper_shaped
        }),
        _ => None,
    };
    // Visual Analogy's renderer does not name what its panels show, so its tower has nothing to
    // learn to read there: it trains jointly.
    scale.map(|s| match task {
        TaskKind::Va => Scale { reading: None, ..s },
        _ => s,
    })
}

/// The targets that vary a recipe of Figs 5 and 16 (the ablations of the paper's appendices G
/// and I), which the cpu tier does not make on TR and Grid ([`part_scale`]).
const ABLATIONS: [&str; 10] = [
    "fig16", "fig22", "fig23", "fig24", "fig25", "fig26", "fig27", "tab08", "tab11", "tab13",
];

/// Why the cpu tier makes no ablation on TR and Grid.
const NO_CPU_ABLATIONS: &str = "the cpu tier's TR and Grid models, trained from scratch, get 0% \
     of hard records with every recipe measured (Text, Image and Mix+ at 64,000 records: Figs 30 \
     and 31), so an ablation, which compares the hard accuracy of variants of a recipe, has \
     nothing to separate there; its runs are left to the gpu tier";

/// The scale `target`'s part on `task` is made at, at `tier`, or why the tier leaves that part
/// out: the task has no scale there, or the target is an ablation the tier does not make on it.
pub fn part_scale(tier: Tier, target: &str, task: TaskKind) -> Result<Scale, String> {
    if tier == Tier::Cpu
        && matches!(task, TaskKind::Tr | TaskKind::Grid)
        && ABLATIONS.contains(&target)
    {
        return Err(NO_CPU_ABLATIONS.into());
    }
    scale(tier, task).ok_or_else(|| format!("the {tier} tier has no scale for {task}"))
}

/// A model without learned absolute positions. The quickstart's model has them because they
/// make CTR's fixed-layout table quick to learn (docs/quickstart.md), but they bind what it
/// writes to where it is, and TR and Grid learn faster with RoPE alone: TR's Mix+ at 32,000
/// records ends at half the loss (0.20 against 0.40 nats per token), Grid's Text at 16,000
/// finds 9% of simple paths against 0% (docs/figures.md).
fn rope_only(mut model: VlmConfig) -> VlmConfig {
    model.decoder.absolute_positions = false;
    model
}

/// What a caption says of the reading stage.
fn reads(stage: &ReadingStage) -> String {
    format!(
        "image runs start with the vision tower taught to read the images' cells ({} updates of \
         its own on {} training images, s2h_train::reading), then frozen",
        group_thousands(stage.steps),
        group_thousands(stage.images as u64)
    )
}

/// `6000` as `6,000`.
fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// TR's stage at the cpu tier: a 4x4 table's sixteen values in small print take longer to
/// learn than CTR's twelve (on the Mix+ run's 4,800 training images the tower names 78% of
/// held-out cells after 400 updates, 99.9% after 1,200; docs/figures.md). CTR (99.2% at 400)
/// and Grid (94.4% at 400, 95.6% at 1,200) keep the default.
fn tr_reading() -> ReadingStage {
    ReadingStage {
        steps: 1200,
        ..ReadingStage::default()
    }
}

/// The gpu tier trains with CUDA (a build with `--features cuda`; without it the first run says
/// so); the others on the CPU.
fn backend(tier: Tier) -> BackendKind {
    if tier == Tier::Gpu {
        BackendKind::Cuda
    } else {
        BackendKind::Flex
    }
}

/// The paper's canvas of `task`.
fn paper_canvas(task: TaskKind) -> [u32; 2] {
    let o = s2h::render::ImageOptions::paper(task);
    [o.width, o.height]
}

/// CTR at a tier.
pub fn ctr_scale(tier: Tier) -> Option<Scale> {
    scale(tier, TaskKind::Ctr)
}

/// Task sizes of the cpu tier's TR and Grid: 4x4 tables and grids (CTR keeps the quickstart's
/// 3x4 table, which its own scale sets).
pub fn cpu_tasks() -> TaskConfig {
    TaskConfig {
        tr: TrConfig {
            rows: [4, 4],
            cols: [4, 4],
            simple_length: [4, 6],
            hard_length: [9, 12],
            simple_segments: [1, 2],
            hard_min_segments: 3,
            max_trim: 1,
        },
        grid: GridConfig {
            rows: [4, 4],
            cols: [4, 4],
            simple_objects: [1, 1],
            hard_objects: [2, 3],
            simple_obstacle_types: [1, 1],
            hard_obstacle_types: [2, 3],
            simple_steps: [2, 6],
            hard_steps: [9, 16],
            ..GridConfig::default()
        },
        ..TaskConfig::quickstart()
    }
}

/// Task sizes of the smoke tier for every task: small enough that records fit the smoke model's
/// 1,024-token context and train in seconds.
pub fn smoke_tasks() -> TaskConfig {
    let mut tasks = TaskConfig {
        ctr: CtrConfig::tiny(),
        ..TaskConfig::default()
    };
    tasks.tr.rows = [6, 6];
    tasks.tr.cols = [6, 6];
    tasks.tr.simple_length = [5, 8];
    tasks.tr.hard_length = [14, 18];
    tasks.tr.max_trim = 1;
    tasks.tr.hard_min_segments = 4;
    tasks.grid.rows = [5, 6];
    tasks.grid.cols = [5, 6];
    tasks.grid.simple_objects = [1, 1];
    tasks.grid.hard_objects = [2, 3];
    tasks.grid.hard_obstacle_types = [2, 3];
    tasks.grid.simple_steps = [3, 10];
    tasks.grid.hard_steps = [11, 30];
    tasks
}

#[cfg(test)]
mod tests {
    use s2h::mixture::{CotMode, MixtureKind, Supervision};
    use s2h::pipeline::{key, run_plan};
    use s2h::render::AnalogyTextFormat;
    use s2h::tasks::Split;

    use super::*;

    /// The smoke and cpu tiers' small tasks generate every split the figures use.
    #[test]
    fn small_tasks_generate_every_split() {
        let splits = |task| match task {
            TaskKind::Ctr => &[Split::Simple, Split::Medium, Split::Hard][..],
            _ => &[Split::Simple, Split::Hard],
        };
        for tier in [Tier::Smoke, Tier::Cpu] {
            for &task in TaskKind::ALL {
                let Some(scale) = scale(tier, task) else {
                    continue;
                };
                for &split in splits(task) {
                    for index in 0..20 {
                        let made = scale.tasks.generate(task, split, 1, index);
                        assert!(made.is_ok(), "{tier} {task} {split} {index}: {made:?}");
                    }
                }
            }
        }
    }

    /// Every ablation sets its field of the plan, and the plan's mixtures count: the data an
    /// ablation trains on comes from the same generator, and an impossible combination (explicit
    /// counts that miss the budget) would fail here rather than mid-run.
    #[test]
    fn every_variant_sets_its_field_and_the_plan_is_valid() {
        let scale = scale(Tier::Smoke, TaskKind::Tr).unwrap();
        let mix_plus = RunSpec::new(TaskKind::Tr, MixtureKind::MixPlus, 32);
        let cases = [
            mix_plus
                .clone()
                .after(MixtureKind::Mix, 16)
                .with(Variant::Continues),
            mix_plus.clone().with(Variant::HardImage),
            mix_plus.clone().with(Variant::HardRepeat(4)),
            mix_plus.clone().with(Variant::Cot(CotMode::None)),
            RunSpec::new(TaskKind::Va, MixtureKind::MixPlus, 32)
                .with(Variant::TextFormat(AnalogyTextFormat::Lossless)),
            RunSpec::new(TaskKind::Tr, MixtureKind::MixPlus, 64)
                .with(Variant::Tasks(vec![TaskKind::Tr, TaskKind::Grid])),
            mix_plus
                .clone()
                .after(MixtureKind::Align, 8)
                .with(Variant::FirstCounts(vec![
                    ("simple_text", 4),
                    ("simple_image", 4),
                ])),
            mix_plus.clone().with(Variant::LastCounts(vec![
                ("simple_image", 16),
                ("hard_text", 16),
            ])),
            mix_plus
                .clone()
                .after(MixtureKind::Align, 8)
                .after(MixtureKind::TextWarmup, 8),
        ];
        let mut names = Vec::new();
        for run in &cases {
            let plan = run_plan(&scale, run);
            assert_eq!(plan.phases.len(), run.before.len() + 1, "{}", run.name());
            let last = plan.phases.last().unwrap();
            for phase in &plan.phases {
                let counts = phase.mixture(0).and_then(|m| m.counts());
                assert!(counts.is_ok(), "{}: {counts:?}", run.name());
            }
            for variant in &run.variants {
                let set = match variant {
                    Variant::Continues => last.continues,
                    Variant::HardImage => last.hard_supervision == Some(Supervision::Image),
                    Variant::HardRepeat(k) => last.hard_repeat == Some(*k),
                    Variant::Cot(mode) => plan.phases.iter().all(|p| p.cot == *mode),
                    Variant::TextFormat(f) => plan.phases.iter().all(|p| p.text_format == *f),
                    Variant::Tasks(t) => plan.phases.iter().all(|p| &p.tasks == t),
                    Variant::FirstCounts(c) => plan.phases[0].counts.len() == c.len(),
                    Variant::LastCounts(c) => last.counts.len() == c.len(),
                };
                assert!(set, "{}: {variant:?} not applied", run.name());
            }
            names.push(run.name());
        }
        assert_eq!(
            cases[8].name(),
            "tr-text_warmup-8-then-align-8-then-mix_plus-32"
        );
        names.sort();
        names.dedup();
        assert_eq!(names.len(), cases.len(), "run names are distinct");
    }

    /// The cpu tier makes no ablation on TR and Grid, and says why; it makes them on CTR, every
    /// other tier makes them everywhere, and the recipes themselves are made at the cpu tier.
    #[test]
    fn the_cpu_tier_leaves_out_tr_and_grid_ablations() {
        for id in ABLATIONS {
            assert!(
                crate::registry::TARGETS.iter().any(|t| t.id == id),
                "{id} is not a target"
            );
        }
        for task in [TaskKind::Tr, TaskKind::Grid] {
            let why = part_scale(Tier::Cpu, "fig23", task).unwrap_err();
            assert!(why.contains("0% of hard records"), "{why}");
            assert!(part_scale(Tier::Cpu, "fig05", task).is_ok());
            assert!(part_scale(Tier::Smoke, "fig23", task).is_ok());
            assert!(part_scale(Tier::Gpu, "fig23", task).is_ok());
        }
        assert!(part_scale(Tier::Cpu, "fig16", TaskKind::Ctr).is_ok());
        let va = part_scale(Tier::Cpu, "fig05", TaskKind::Va).unwrap_err();
        assert!(va.contains("no scale for va"), "{va}");

        // Made at the cpu tier, Fig 23 (TR only) trains nothing and says why in the gallery.
        let out = tempfile::tempdir().unwrap();
        let target = crate::registry::TARGETS
            .iter()
            .find(|t| t.id == "fig23")
            .unwrap();
        let output = crate::make(target, Tier::Cpu, out.path()).unwrap();
        let crate::Agreement::NotRun(why) = &output.agreement else {
            panic!("{:?}", output.agreement);
        };
        assert!(
            why.contains("tr (the cpu tier's TR and Grid models"),
            "{why}"
        );
        assert!(!out.path().join(".cache").join("cpu").join("runs").exists());
    }

    #[test]
    fn cache_keys_follow_the_configuration() {
        let scale = scale(Tier::Smoke, TaskKind::Ctr).unwrap();
        let run = RunSpec::new(TaskKind::Ctr, MixtureKind::Mix, 32);
        let a = key(&run_config(&scale, &run));
        assert_eq!(a, key(&run_config(&scale, &run)));
        let other = run.clone().after(MixtureKind::Align, 16);
        assert_ne!(a, key(&run_config(&scale, &other)));
        assert_eq!(other.name(), "ctr-align-16-then-mix-32");
        let mut bigger = scale.clone();
        bigger.lr = 1e-3;
        assert_ne!(a, key(&run_config(&bigger, &run)));
    }

    /// At the cpu tier a run that sees images teaches its tower to read first and then trains
    /// only the projector and the language model; a text run has no stage (its key stays what
    /// it was), nor has Visual Analogy, whose panels the renderer does not name.
    #[test]
    fn image_runs_read_first_and_freeze_the_tower() {
        use s2h::mixture::Component;
        let frozen = [Component::Projector, Component::Lm];
        for task in [TaskKind::Ctr, TaskKind::Tr, TaskKind::Grid] {
            let scale = scale(Tier::Cpu, task).unwrap();
            let run = RunSpec::new(task, MixtureKind::MixPlus, 16_000)
                .after(MixtureKind::Align, 8_000)
                .after(MixtureKind::TextWarmup, 8_000);
            let config = run_config(&scale, &run);
            assert_eq!(config.reading, scale.reading, "{task}");
            let steps = if task == TaskKind::Tr { 1200 } else { 400 };
            assert_eq!(config.reading.map(|r| r.steps), Some(steps), "{task}");
            assert!(
                scale
                    .label
                    .contains(&format!("({} updates of its own", group_thousands(steps))),
                "{task}: {}",
                scale.label
            );
            let plan = run_plan(&scale, &run);
            let trains: Vec<Vec<Component>> = plan.phases.iter().map(|p| p.trainable()).collect();
            assert_eq!(
                trains,
                [vec![Component::Lm], frozen.to_vec(), frozen.to_vec()]
            );
            assert!(scale.label.contains("taught to read"), "{task}");

            let text = RunSpec::new(task, MixtureKind::Text, 16_000);
            assert_eq!(run_config(&scale, &text).reading, None, "{task}");
            let plan = run_plan(&scale, &text);
            assert!(plan.phases.iter().all(|p| p.train.is_none()), "{task}");
        }
        // Hard image records alone make a run read first.
        let scale = scale(Tier::Smoke, TaskKind::Tr).unwrap();
        let warmup = RunSpec::new(TaskKind::Tr, MixtureKind::TextWarmup, 32);
        assert_eq!(run_config(&scale, &warmup).reading, None);
        let hard_image = warmup.with(Variant::HardImage);
        assert!(run_config(&scale, &hard_image).reading.is_some());
        for tier in [Tier::Smoke, Tier::Gpu] {
            let va = scale_of(tier, TaskKind::Va);
            let run = RunSpec::new(TaskKind::Va, MixtureKind::Mix, 32);
            assert_eq!(run_config(&va, &run).reading, None, "{tier}");
        }
    }

    fn scale_of(tier: Tier, task: TaskKind) -> Scale {
        scale(tier, task).unwrap()
    }
}

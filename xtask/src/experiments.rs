//! Runs and evaluations of the evaluated (E) and analysed (G) targets, through the library's
//! layers only (plans → `s2h-train` → `s2h-eval`), cached under `OUT/.cache/`: data written once
//! and kept, a run resumed from its checkpoint, an evaluation reused when its metrics exist.
//! Targets that need the same run share it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use s2h::eval::{EvalOptions, Metrics, read_metrics};
use s2h::mixture::{EvalSetSpec, Existing, MixtureKind, Phase, Plan, WriteOptions, write_eval_set};
use s2h::tasks::{Modality, Split, TaskConfig, TaskKind};
use s2h::train::{DataSource, Duration, KeepSteps, TrainConfig};
use s2h::vlm::{
    BackendKind, ConvNextConfig, DecoderConfig, GenerateOptions, TokenizerKind, VisionConfig,
    VitConfig, VlmConfig, special,
};

use crate::registry::Tier;

/// Everything a tier fixes about the runs of one task.
#[derive(Debug, Clone, PartialEq)]
pub struct Scale {
    pub tier: Tier,
    /// One line for captions: task size, model, budgets.
    pub label: String,
    pub tasks: TaskConfig,
    /// Image canvas `[width, height]`.
    pub canvas: [u32; 2],
    pub model: VlmConfig,
    /// Training records of each run (the x-axis of the S2H figures).
    pub budgets: Vec<u64>,
    pub batch_size: usize,
    pub lr: f64,
    pub eval_records: u64,
    pub max_new_tokens: usize,
}

/// A decoder of width 64 and a 16-pixel vision tower: trains in seconds, learns nothing. Its
/// context holds the longest smoke records (Visual Analogy with the conversion).
fn smoke_model() -> VlmConfig {
    VlmConfig::new(
        DecoderConfig::new(1024, 64, 2, 4, 2, 128, 4096),
        special::IMAGE_ID as usize,
    )
    .with_vision(Some(
        VisionConfig::new()
            .with_vit(Some(VitConfig::new(16, 4, 16, 1, 2)))
            .with_convnext(Some(ConvNextConfig::new(16, vec![8], vec![1]))),
    ))
}

/// `task` at a tier; `None` where the tier is not run by this pipeline (yet) for that task.
pub fn scale(tier: Tier, task: TaskKind) -> Option<Scale> {
    match (tier, task) {
        // A Visual Analogy record is about 2,000 tokens (its chain of thought lists every
        // attribute of every panel): minutes per update even for the smoke model, whose
        // attention is quadratic in that. The smoke tier leaves VA out.
        (Tier::Smoke, TaskKind::Va) => None,
        (Tier::Smoke, _) => Some(Scale {
            tier,
            label: format!(
                "smoke tier: {task} on small tasks (CTR 2x4 tables, TR 6x6 tables, 5-6 cell \
                 grids), a 0.3M-parameter model, 16 and 32 training records; it exercises the \
                 pipeline and learns nothing"
            ),
            tasks: smoke_tasks(),
            canvas: match task {
                TaskKind::Ctr => [150, 80],
                TaskKind::Tr => [180, 160],
                TaskKind::Grid | TaskKind::Va => [160, 160],
            },
            model: smoke_model(),
            budgets: vec![16, 32],
            batch_size: 8,
            lr: 3e-3,
            eval_records: 8,
            max_new_tokens: 96,
        }),
        (Tier::Cpu, TaskKind::Ctr) => Some(Scale {
            tier,
            label: "cpu tier: CTR at quickstart scale (3x4 table, paths 2-3 / 5-6 / 8-9 cells), \
                    the quickstart model (0.7M parameters), 2,000-8,000 training records"
                .into(),
            tasks: TaskConfig::quickstart(),
            canvas: [256, 160],
            model: VlmConfig::quickstart(),
            budgets: vec![2000, 4000, 8000],
            batch_size: 8,
            lr: 3e-3,
            eval_records: 100,
            max_new_tokens: 256,
        }),
        _ => None,
    }
}

/// CTR at a tier.
pub fn ctr_scale(tier: Tier) -> Option<Scale> {
    scale(tier, TaskKind::Ctr)
}

/// One training run: a plan of `supervision` with `budget` records, after an optional first
/// phase (`before`: the alignment phase of Align-Mix+, a text warm-up), each trained for
/// `epochs` passes over its records.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    pub task: TaskKind,
    pub supervision: MixtureKind,
    pub budget: u64,
    pub epochs: u64,
    pub before: Option<(MixtureKind, u64)>,
}

impl RunSpec {
    /// One epoch of a `budget`-record mixture.
    pub fn new(task: TaskKind, supervision: MixtureKind, budget: u64) -> Self {
        RunSpec {
            task,
            supervision,
            budget,
            epochs: 1,
            before: None,
        }
    }

    /// A readable name (the cache adds a hash of the whole configuration).
    pub fn name(&self) -> String {
        let mut name = format!("{}-", self.task);
        if let Some((kind, budget)) = self.before {
            name.push_str(&format!("{kind}-{budget}-then-"));
        }
        name.push_str(&format!("{}-{}", self.supervision, self.budget));
        if self.epochs != 1 {
            name.push_str(&format!("-e{}", self.epochs));
        }
        name
    }

    /// Optimizer updates of the run.
    pub fn updates(&self, batch_size: usize) -> u64 {
        let batch = batch_size.max(1) as u64;
        let before = self.before.map_or(0, |(_, b)| b.div_ceil(batch));
        (before + self.budget.div_ceil(batch)) * self.epochs
    }
}

/// The first 12 hex digits of the SHA-256 of `value`'s JSON: cache entries are keyed by
/// everything that decides them, so a changed configuration never reuses a stale result.
fn key(value: &impl serde::Serialize) -> String {
    use sha2::{Digest, Sha256};
    let json = serde_json::to_string(value).unwrap_or_default();
    let digest = Sha256::digest(json.as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The plan of `run` at `scale`.
pub fn run_plan(scale: &Scale, run: &RunSpec) -> Plan {
    let mut phases = Vec::new();
    if let Some((kind, budget)) = run.before {
        phases.push(Phase::new(kind, run.task, budget));
    }
    phases.push(Phase::new(run.supervision, run.task, run.budget));
    let mut plan = Plan::single(phases.remove(0), 0);
    plan.phases.extend(phases);
    plan.task_config = scale.tasks.clone();
    plan.image_size = Some(scale.canvas);
    plan
}

/// The training configuration of `run` at `scale` (its `out` and `resume` are the cache's to
/// set); the trainer writes the plan's data into the run directory.
pub fn run_config(scale: &Scale, run: &RunSpec) -> TrainConfig {
    TrainConfig {
        data: DataSource::Plan {
            plan: run_plan(scale, run),
        },
        model: scale.model.clone(),
        tokenizer: TokenizerKind::Compact,
        task_config: scale.tasks.clone(),
        corpus_per_set: 2,
        batch_size: scale.batch_size,
        lr: scale.lr,
        duration: Duration::Epochs(run.epochs),
        save_every: 100,
        // Four checkpoints per run are kept for the analysis targets (Figs 7, 9, 17–21).
        keep_steps: Some(KeepSteps::Every(
            run.updates(scale.batch_size).div_ceil(4).max(1),
        )),
        log_every: 1,
        bucket_batches: 0,
        check_eval_overlap: false,
        progress: false,
        ..TrainConfig::default()
    }
}

/// The cache of one tier: `OUT/.cache/<tier>/`.
pub struct Cache {
    pub root: PathBuf,
    pub scale: Scale,
    pub backend: BackendKind,
}

impl Cache {
    pub fn new(cache: &Path, scale: Scale) -> Self {
        Cache {
            root: cache.join(scale.tier.name()),
            scale,
            backend: BackendKind::Flex,
        }
    }

    fn write_options() -> WriteOptions {
        WriteOptions {
            existing: Existing::Keep,
            ..WriteOptions::default()
        }
    }

    /// The evaluation set of `task`, `split`, `modality` (written once).
    pub fn eval_set(&self, task: TaskKind, split: Split, modality: Modality) -> Result<PathBuf> {
        let spec = EvalSetSpec::new(task, split, modality, self.scale.eval_records);
        let probe = run_plan(&self.scale, &RunSpec::new(task, MixtureKind::Image, 1));
        let render = probe.render_options(&probe.phases[0]);
        let dir = self.root.join("eval-sets").join(format!(
            "{task}-{split}-{modality}-{}",
            key(&(&spec, &render.tasks, render.image_size))
        ));
        write_eval_set(&spec, &render, &dir, &Self::write_options(), &|| {})?;
        Ok(dir)
    }

    /// The directory of `run`: its name and the key of its whole configuration.
    fn run_dir(&self, run: &RunSpec) -> PathBuf {
        let config = run_config(&self.scale, run);
        self.root
            .join("runs")
            .join(format!("{}-{}", run.name(), key(&config)))
    }

    /// Unique instances in `run`'s training data, its last phase's (the manifest's count;
    /// Fig 14's x-axis).
    pub fn unique_instances(&self, run: &RunSpec) -> Result<u64> {
        let data = self.run_dir(run).join(s2h::train::DATA_DIR);
        let mut phases: Vec<PathBuf> = std::fs::read_dir(&data)
            .with_context(|| format!("reading {}", data.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        phases.sort();
        let Some(last) = phases.last() else {
            bail!("run {} has no phase data", run.name());
        };
        Ok(s2h::mixture::read_manifest(last)?.counts.unique_instances)
    }

    /// Train every run of `runs` not finished yet (resuming interrupted ones), side by side.
    pub fn train(&self, runs: &[RunSpec]) -> Result<()> {
        let mut configs = Vec::new();
        for run in runs {
            let dir = self.run_dir(run);
            if dir
                .join(s2h::train::MODEL_DIR)
                .join(s2h::vlm::store::WEIGHTS_FILE)
                .is_file()
            {
                continue;
            }
            let mut config = run_config(&self.scale, run);
            config.out = dir.clone();
            config.resume = dir.join(s2h::train::CONFIG_FILE).exists();
            configs.push(config);
        }
        if !configs.is_empty() {
            s2h::train::train_all(self.backend, &configs)?;
        }
        Ok(())
    }

    /// The metrics of `run`'s model on the set in `eval`, computed once.
    pub fn evaluate(&self, run: &RunSpec, eval: &Path) -> Result<Metrics> {
        let name = eval
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let run_key = self
            .run_dir(run)
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let dir = self.root.join("evals").join(run_key).join(name);
        let metrics_file = dir.join(s2h::eval::METRICS_FILE);
        if metrics_file.is_file() {
            return Ok(read_metrics(&metrics_file)?);
        }
        let model = self.run_dir(run).join(s2h::train::MODEL_DIR);
        if !model.is_dir() {
            bail!("run {} has no model yet", run.name());
        }
        let options = EvalOptions {
            generate: GenerateOptions {
                max_new_tokens: self.scale.max_new_tokens,
                batch: 16,
                ..GenerateOptions::default()
            },
            convert: false,
            task: Some(run.task),
        };
        let mut reports = s2h::eval::evaluate_on(
            self.backend,
            &model,
            eval,
            None,
            &[options],
            &mut |_, _, _| {},
        )?;
        let report = reports
            .pop()
            .ok_or_else(|| anyhow::anyhow!("no evaluation report"))?;
        report.write(&dir)?;
        Ok(report.metrics)
    }

    /// The analysis of every kept checkpoint of `run` on the simple and hard Image sets
    /// (`s2h-analysis`: Eqs 2, 3, 7, 8), computed once per checkpoint.
    pub fn analyze(
        &self,
        run: &RunSpec,
        simple: &Path,
        hard: &Path,
    ) -> Result<Vec<s2h::analysis::StepReport>> {
        use s2h::analysis::{Options, Sets, Source, analyze_on};
        let source = Source::open(&self.run_dir(run))?;

        let sets = Sets::read(simple, hard, None, None)?;
        let run_dir = self.run_dir(run);
        let out = self
            .root
            .join("analysis")
            .join(run_dir.file_name().unwrap_or_default());
        Ok(analyze_on(
            self.backend,
            &source,
            None,
            &sets,
            &Options::default(),
            &out,
            false,
            &mut |_, _, _, _| {},
        )?)
    }
}

/// Task sizes of the smoke tier for every task: small enough that records fit the smoke model's
/// 1,024-token context and train in seconds.
pub fn smoke_tasks() -> TaskConfig {
    let mut tasks = TaskConfig::default();
    tasks.ctr.rows = 2;
    tasks.ctr.cols = 4;
    tasks.ctr.simple_length = [2, 3];
    tasks.ctr.medium_length = [4, 5];
    tasks.ctr.hard_length = [6, 7];
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
    use super::*;

    /// The smoke tier's small tasks generate every split the figures use.
    #[test]
    fn smoke_tasks_generate_every_split() {
        let tasks = smoke_tasks();
        for (task, splits) in [
            (
                TaskKind::Ctr,
                &[Split::Simple, Split::Medium, Split::Hard][..],
            ),
            (TaskKind::Tr, &[Split::Simple, Split::Hard]),
            (TaskKind::Grid, &[Split::Simple, Split::Hard]),
            (TaskKind::Va, &[Split::Simple, Split::Hard]),
        ] {
            for &split in splits {
                for index in 0..20 {
                    let made = tasks.generate(task, split, 1, index);
                    assert!(made.is_ok(), "{task} {split} {index}: {made:?}");
                }
            }
        }
    }

    #[test]
    fn cache_keys_follow_the_configuration() {
        let scale = scale(Tier::Smoke, TaskKind::Ctr).unwrap();
        let run = RunSpec::new(TaskKind::Ctr, MixtureKind::Mix, 32);
        let a = key(&run_config(&scale, &run));
        assert_eq!(a, key(&run_config(&scale, &run)));
        let other = RunSpec {
            before: Some((MixtureKind::Align, 16)),
            ..run.clone()
        };
        assert_ne!(a, key(&run_config(&scale, &other)));
        assert_eq!(other.name(), "ctr-align-16-then-mix-32");
        let mut bigger = scale.clone();
        bigger.lr = 1e-3;
        assert_ne!(a, key(&run_config(&bigger, &run)));
    }
}

//! Runs and evaluations of the evaluated (E) and analysed (G) targets, through the library's
//! layers only (plans → `s2h-train` → `s2h-eval`), cached under `OUT/.cache/`: data written once
//! and kept, a run resumed from its checkpoint, an evaluation reused when its metrics exist.
//! Targets that need the same run share it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use s2h::eval::{EvalOptions, Metrics, read_metrics};
use s2h::mixture::{
    EvalCheck, EvalSetSpec, Existing, MixtureKind, Phase, Plan, WriteOptions, write_eval_set,
    write_phase,
};
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

/// A decoder of width 64 and a 16-pixel vision tower: trains in seconds, learns nothing.
fn smoke_model() -> VlmConfig {
    VlmConfig::new(
        DecoderConfig::new(1024, 64, 2, 4, 2, 128, 1024),
        special::IMAGE_ID as usize,
    )
    .with_vision(Some(
        VisionConfig::new()
            .with_vit(Some(VitConfig::new(16, 4, 16, 1, 2)))
            .with_convnext(Some(ConvNextConfig::new(16, vec![8], vec![1]))),
    ))
}

/// CTR at a tier; `None` where the tier is not run by this pipeline on this machine.
pub fn ctr_scale(tier: Tier) -> Option<Scale> {
    match tier {
        Tier::Smoke => {
            let mut tasks = TaskConfig::default();
            tasks.ctr.rows = 2;
            tasks.ctr.cols = 4;
            tasks.ctr.simple_length = [2, 3];
            tasks.ctr.medium_length = [4, 5];
            tasks.ctr.hard_length = [6, 7];
            Some(Scale {
                tier,
                label: "smoke tier: CTR on a 2x4 table (paths 2-3 / 4-5 / 6-7 cells), a 0.3M-parameter \
                        model, 32 and 64 training records; it exercises the pipeline and learns nothing"
                    .into(),
                tasks,
                canvas: [150, 80],
                model: smoke_model(),
                budgets: vec![32, 64],
                batch_size: 8,
                lr: 3e-3,
                eval_records: 8,
                max_new_tokens: 96,
            })
        }
        Tier::Cpu => Some(Scale {
            tier,
            label:
                "cpu tier: CTR at quickstart scale (3x4 table, paths 2-3 / 5-6 / 8-9 cells), the \
                    quickstart model (0.7M parameters), 2,000-8,000 training records"
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
        Tier::Gpu | Tier::Paper => None,
    }
}

/// One training run: a one-phase plan of `supervision` with `budget` records, trained for one
/// epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    pub task: TaskKind,
    pub supervision: MixtureKind,
    pub budget: u64,
}

impl RunSpec {
    pub fn name(&self) -> String {
        format!("{}-{}-{}", self.task, self.supervision, self.budget)
    }
}

/// The training configuration of `run` at `scale`, on the records in `data` (its `out` and
/// `resume` are the cache's to set).
pub fn run_config(scale: &Scale, run: &RunSpec, data: PathBuf) -> TrainConfig {
    TrainConfig {
        data: DataSource::Records { dir: data },
        model: scale.model.clone(),
        tokenizer: TokenizerKind::Compact,
        task_config: scale.tasks.clone(),
        corpus_per_set: 2,
        batch_size: scale.batch_size,
        lr: scale.lr,
        duration: Duration::Epochs(1),
        save_every: 100,
        // Four checkpoints per run are kept for the analysis targets (Figs 7, 9, 17–21).
        keep_steps: Some(KeepSteps::Every(
            run.budget
                .div_ceil(scale.batch_size as u64)
                .div_ceil(4)
                .max(1),
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

    fn plan(&self, run: &RunSpec) -> Plan {
        let mut plan = Plan::single(Phase::new(run.supervision, run.task, run.budget), 0);
        plan.task_config = self.scale.tasks.clone();
        plan.image_size = Some(self.scale.canvas);
        plan
    }

    /// The evaluation set of `task`, `split`, `modality` (written once).
    pub fn eval_set(&self, task: TaskKind, split: Split, modality: Modality) -> Result<PathBuf> {
        let dir = self
            .root
            .join("eval-sets")
            .join(format!("{task}-{split}-{modality}"));
        let spec = EvalSetSpec::new(task, split, modality, self.scale.eval_records);
        let probe = self.plan(&RunSpec {
            task,
            supervision: MixtureKind::Image,
            budget: 1,
        });
        let render = probe.render_options(&probe.phases[0]);
        write_eval_set(&spec, &render, &dir, &Self::write_options(), &|| {})?;
        Ok(dir)
    }

    fn run_dir(&self, run: &RunSpec) -> PathBuf {
        self.root.join("runs").join(run.name())
    }

    /// Train every run of `runs` not finished yet (resuming interrupted ones), side by side.
    pub fn train(&self, runs: &[RunSpec], eval_sets: &[PathBuf]) -> Result<()> {
        let mut configs = Vec::new();
        for run in runs {
            let dir = self.run_dir(run);
            if dir
                .join(s2h::train::MODEL_DIR)
                .join("model.safetensors")
                .is_file()
            {
                continue;
            }
            let data = self.root.join("data").join(run.name());
            let check = EvalCheck {
                dirs: eval_sets.to_vec(),
                ..EvalCheck::none()
            };
            write_phase(
                &self.plan(run),
                0,
                &data,
                &check,
                &Self::write_options(),
                &|| {},
            )
            .with_context(|| format!("data of run {}", run.name()))?;
            let mut config = run_config(&self.scale, run, data);
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
        let dir = self.root.join("evals").join(run.name()).join(name);
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
        let out = self.root.join("analysis").join(run.name());
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

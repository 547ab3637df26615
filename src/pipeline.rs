//! Runs, evaluations and analyses at a stated scale, through the library's layers only (plans →
//! `s2h-train` → `s2h-eval` → `s2h-analysis`), cached: data written once and kept, a run resumed
//! from its checkpoint, an evaluation or analysis reused when its inputs are unchanged. Cache
//! entries are keyed by a hash of everything that decides them. `cargo xtask reproduce-figures`
//! makes every figure of the paper with it, one [`Scale`] per tier; the quickstart example is its
//! smallest use.
//!
//! A run is a [`RunSpec`] (a supervision and budget after optional earlier phases, with the
//! appendices' ablations as [`Variant`]s); an [`Arm`] is a run and the set it is evaluated on;
//! [`Cache::measure`] trains the runs of some arms side by side and evaluates each. With
//! [`Scale::plan_only`] nothing trains: [`Cache::train`] writes the runs' plans and fails with
//! [`Planned`], which carries the commands to run elsewhere.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use s2h_eval::{EvalOptions, Metrics, read_metrics};
use s2h_mixture::{
    Component, CotMode, EvalSetSpec, Existing, MixtureKind, Phase, Plan, Supervision, WriteOptions,
    write_eval_set,
};
use s2h_render::AnalogyTextFormat;
use s2h_tasks::{Modality, Split, TaskConfig, TaskKind};
use s2h_train::{DataSource, Duration, KeepSteps, ReadingStage, TrainConfig};
use s2h_vlm::{BackendKind, GenerateOptions, TokenizerKind, VlmConfig};

/// Everything that fixes the runs of one task at one scale (a tier of `reproduce-figures`, the
/// quickstart).
#[derive(Debug, Clone, PartialEq)]
pub struct Scale {
    /// Names the cache directory of the scale's runs (`smoke`, `cpu`, …).
    pub name: String,
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
    /// Updates between two lines of a run's training log (its loss curve).
    pub log_every: u64,
    /// Refuse a training instance whose text is an evaluation set's (small tasks repeat
    /// instances across seeds; the check renders the default evaluation sets once per run).
    pub check_eval_overlap: bool,
    /// Only write each run's plan and commands (the paper tier): nothing is trained.
    pub plan_only: bool,
    /// The backend runs train and are evaluated on.
    pub backend: BackendKind,
    /// Teach the vision tower to read before a run's first phase, then freeze it in every phase
    /// (`s2h_train::reading`); applied to runs whose records show images. `None`: the tower
    /// trains jointly with the rest, as the plans say.
    pub reading: Option<ReadingStage>,
}

/// One training run: a plan of `supervision` with `budget` records, after earlier phases
/// (`before`: the alignment phase of Align-Mix+, a text warm-up, or both), each trained for
/// `epochs` passes over its records (or for a fixed number of updates, `steps`), with the
/// ablations of `variants` applied.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    pub task: TaskKind,
    pub supervision: MixtureKind,
    pub budget: u64,
    pub epochs: u64,
    /// Train this many updates instead of `epochs` passes (the quickstart's budget).
    pub steps: Option<u64>,
    pub before: Vec<(MixtureKind, u64)>,
    pub variants: Vec<Variant>,
}

/// What an ablation of the paper's appendices changes in a run's plan beyond its supervisions
/// and budgets: each is a field of `s2h-mixture`'s plan phases, so the data comes from the same
/// generator as every other run.
#[derive(Debug, Clone, PartialEq)]
pub enum Variant {
    /// The last phase continues the first one's optimizer and learning-rate schedule (Fig 8's
    /// "Mix → Mix+", footnote 12).
    Continues,
    /// Hard records of the last phase as images instead of text (Table 8, App G.4).
    HardImage,
    /// Each unique hard record of the last phase seen `k` times (Fig 27, App I.9).
    HardRepeat(u64),
    /// The chain of thought of every phase (Table 13, App I.7).
    Cot(CotMode),
    /// Visual Analogy's text rendering in every phase (Fig 25, App I.5).
    TextFormat(AnalogyTextFormat),
    /// Every phase trains on these tasks together (Fig 26, App I.8).
    Tasks(Vec<TaskKind>),
    /// Explicit records per type (`simple_text`, `hard_text`, …) of the first phase
    /// (Table 11's alignment-phase compositions).
    FirstCounts(Vec<(&'static str, u64)>),
    /// Explicit records per type of the last phase (Fig 22's simple compositions of Mix+).
    LastCounts(Vec<(&'static str, u64)>),
}

impl Variant {
    /// A short tag for run names.
    fn tag(&self) -> String {
        let counts = |c: &[(&str, u64)]| {
            c.iter()
                .map(|(t, n)| format!("{t}{n}"))
                .collect::<Vec<_>>()
                .join("-")
        };
        match self {
            Variant::Continues => "continued".into(),
            Variant::HardImage => "hard_image".into(),
            Variant::HardRepeat(k) => format!("repeat{k}"),
            Variant::Cot(mode) => format!("cot_{}", serde_plain(mode)),
            Variant::TextFormat(format) => format!("text_{}", serde_plain(format)),
            Variant::Tasks(tasks) => tasks
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join("+"),
            Variant::FirstCounts(c) => format!("first_{}", counts(c)),
            Variant::LastCounts(c) => format!("last_{}", counts(c)),
        }
    }

    /// Apply to the phases of a plan (first, …, last).
    fn apply(&self, phases: &mut [Phase]) {
        let n = phases.len();
        match self {
            Variant::Continues => {
                if n > 1 {
                    phases[n - 1].continues = true;
                }
            }
            Variant::HardImage => phases[n - 1].hard_supervision = Some(Supervision::Image),
            Variant::HardRepeat(k) => phases[n - 1].hard_repeat = Some(*k),
            Variant::Cot(mode) => phases.iter_mut().for_each(|p| p.cot = *mode),
            Variant::TextFormat(format) => phases.iter_mut().for_each(|p| p.text_format = *format),
            Variant::Tasks(tasks) => phases.iter_mut().for_each(|p| p.tasks = tasks.clone()),
            Variant::FirstCounts(c) => {
                phases[0].counts = c.iter().map(|(t, k)| (t.to_string(), *k)).collect()
            }
            Variant::LastCounts(c) => {
                phases[n - 1].counts = c.iter().map(|(t, k)| (t.to_string(), *k)).collect()
            }
        }
    }
}

/// A unit enum's serde name (`none`, `lossless`).
fn serde_plain(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl RunSpec {
    /// One epoch of a `budget`-record mixture.
    pub fn new(task: TaskKind, supervision: MixtureKind, budget: u64) -> Self {
        RunSpec {
            task,
            supervision,
            budget,
            epochs: 1,
            steps: None,
            before: Vec::new(),
            variants: Vec::new(),
        }
    }

    /// `self` after a phase of `kind` with `budget` records (before any earlier phase given
    /// so far: `run.after(Align, a).after(TextWarmup, w)` is warm-up, alignment, then `run`).
    pub fn after(mut self, kind: MixtureKind, budget: u64) -> Self {
        self.before.insert(0, (kind, budget));
        self
    }

    /// `self` with an ablation.
    pub fn with(mut self, variant: Variant) -> Self {
        self.variants.push(variant);
        self
    }

    /// A readable name (the cache adds a hash of the whole configuration).
    pub fn name(&self) -> String {
        let mut name = format!("{}-", self.task);
        for (kind, budget) in &self.before {
            name.push_str(&format!("{kind}-{budget}-then-"));
        }
        name.push_str(&format!("{}-{}", self.supervision, self.budget));
        if self.epochs != 1 {
            name.push_str(&format!("-e{}", self.epochs));
        }
        if let Some(steps) = self.steps {
            name.push_str(&format!("-s{steps}"));
        }
        for v in &self.variants {
            name.push('-');
            name.push_str(&v.tag());
        }
        name
    }

    /// Optimizer updates of the run.
    pub fn updates(&self, batch_size: usize) -> u64 {
        let batch = batch_size.max(1) as u64;
        let before: u64 = self.before.iter().map(|(_, b)| b.div_ceil(batch)).sum();
        match self.steps {
            Some(steps) => steps,
            None => (before + self.budget.div_ceil(batch)) * self.epochs,
        }
    }
}

/// The first 12 hex digits of the SHA-256 of `value`'s JSON: cache entries are keyed by
/// everything that decides them, so a changed configuration never reuses a stale result.
pub fn key(value: &impl serde::Serialize) -> String {
    use sha2::{Digest, Sha256};
    let json = serde_json::to_string(value).unwrap_or_default();
    let digest = Sha256::digest(json.as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The plan of `run` at `scale`.
pub fn run_plan(scale: &Scale, run: &RunSpec) -> Plan {
    let mut phases = Vec::new();
    for &(kind, budget) in &run.before {
        phases.push(Phase::new(kind, run.task, budget));
    }
    phases.push(Phase::new(run.supervision, run.task, run.budget));
    for variant in &run.variants {
        variant.apply(&mut phases);
    }
    let mut plan = Plan::single(phases.remove(0), 0);
    plan.phases.extend(phases);
    plan.task_config = scale.tasks.clone();
    plan.image_size = Some(scale.canvas);
    if reads_first(scale, &plan) {
        // The tower is taught to read before the first phase and kept as it is.
        for phase in &mut plan.phases {
            if phase.trainable().contains(&Component::Vision) {
                phase.train = Some(vec![Component::Projector, Component::Lm]);
            }
        }
    }
    plan
}

/// Whether a run of `plan` at `scale` has the reading stage: the scale asks for it and some
/// phase's records show images (a text-only run never uses its tower).
fn reads_first(scale: &Scale, plan: &Plan) -> bool {
    scale.reading.is_some()
        && plan
            .phases
            .iter()
            .any(|p| p.mixture(plan.seed).is_ok_and(|m| m.has_images()))
}

/// The training configuration of `run` at `scale` (its `out` and `resume` are the cache's to
/// set); the trainer writes the plan's data into the run directory.
pub fn run_config(scale: &Scale, run: &RunSpec) -> TrainConfig {
    let plan = run_plan(scale, run);
    let reading = reads_first(scale, &plan)
        .then(|| scale.reading.clone())
        .flatten();
    TrainConfig {
        data: DataSource::Plan { plan },
        model: scale.model.clone(),
        reading,
        tokenizer: TokenizerKind::Compact,
        task_config: scale.tasks.clone(),
        batch_size: scale.batch_size,
        lr: scale.lr,
        duration: match run.steps {
            Some(steps) => Duration::Steps(steps),
            None => Duration::Epochs(run.epochs),
        },
        save_every: 100,
        keep_steps: Some(KeepSteps::Every(keep_every(scale, run))),
        log_every: scale.log_every,
        bucket_batches: 0,
        check_eval_overlap: scale.check_eval_overlap,
        progress: false,
        ..TrainConfig::default()
    }
}

/// The evaluation directory's suffix of a "Convert"-prompted evaluation.
fn convert_variant(convert: bool) -> &'static str {
    // Not `-convert`: evaluations under that name pre-filled the word `Convert` alone, which
    // the compact tokenizer's models never saw (`s2h_eval::convert::prefill`); they are not
    // reused.
    if convert { "-convert-token" } else { "" }
}

/// Updates between the checkpoints `run` keeps for good: four per run, for the analysis targets
/// (Figs 7, 9, 17–21) and the learning curves ([`Cache::kept_steps`]).
fn keep_every(scale: &Scale, run: &RunSpec) -> u64 {
    run.updates(scale.batch_size).div_ceil(4).max(1)
}

/// A run the `paper` tier writes down instead of training.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRun {
    pub name: String,
    /// Its plan file (TOML), for `train --plan`.
    pub plan: PathBuf,
    /// The command that trains it.
    pub command: String,
    /// Training records over all phases and epochs.
    pub records: u64,
    /// Estimated tokens per record (text characters / 4).
    pub tokens_per_record: f64,
}

/// What a target returns at the `paper` tier instead of results: the runs it needs, with their
/// plans and commands, and the evaluations of them. An error, so that nothing downstream of a
/// run that was not trained can run; `make` turns it into the target's output.
#[derive(Debug, Default, Clone)]
pub struct Planned {
    pub runs: Vec<PlannedRun>,
    pub evaluations: Vec<String>,
}

impl std::fmt::Display for Planned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} run(s) planned, not trained", self.runs.len())
    }
}

impl std::error::Error for Planned {}

impl Planned {
    /// Add `other`'s runs and evaluations not already here.
    pub fn merge(&mut self, other: Planned) {
        for run in other.runs {
            if !self.runs.iter().any(|r| r.name == run.name) {
                self.runs.push(run);
            }
        }
        for e in other.evaluations {
            if !self.evaluations.contains(&e) {
                self.evaluations.push(e);
            }
        }
    }

    /// `result`, with a [`Planned`] error moved into `self` (`Ok(None)`): a target that makes
    /// several parts plans them all.
    pub fn collect<T>(&mut self, result: Result<T>) -> Result<Option<T>> {
        match result {
            Ok(v) => Ok(Some(v)),
            Err(e) => match e.downcast::<Planned>() {
                Ok(planned) => {
                    self.merge(planned);
                    Ok(None)
                }
                Err(e) => Err(e),
            },
        }
    }
}

/// Mean tokens of a record of `task` and `split`, estimated as the characters of its text form
/// over 4 (about what a Llama-3-style BPE averages on English; an image record swaps the table
/// text for a few hundred image tokens, of the same order) over 16 generated instances.
fn tokens_per_record(tasks: &TaskConfig, task: TaskKind, split: Split) -> f64 {
    let mut chars = 0usize;
    let mut n = 0usize;
    for index in 0..16 {
        let Ok(instance) = tasks.generate(task, split, 1, index) else {
            continue;
        };
        let Ok(record) = s2h_mixture::build_record(
            &instance,
            split,
            1,
            index,
            Supervision::Text,
            None,
            &Default::default(),
        ) else {
            continue;
        };
        chars += record.prompt.len() + record.target.len();
        n += 1;
    }
    chars as f64 / n.max(1) as f64 / 4.0
}

/// The runs, sets, evaluations and analyses of one scale: `CACHE/<scale name>/`.
pub struct Cache {
    pub root: PathBuf,
    pub scale: Scale,
    pub backend: BackendKind,
    /// Show the trainers' progress bars.
    pub progress: bool,
}

impl Cache {
    pub fn new(cache: &Path, scale: Scale) -> Self {
        Cache {
            root: cache.join(&scale.name),
            backend: scale.backend,
            progress: false,
            scale,
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
        self.eval_set_of(EvalSetSpec::new(
            task,
            split,
            modality,
            self.scale.eval_records,
        ))
    }

    /// The hard Image-via-Text set of `task`: image records with the conversion step, the same
    /// instances as the hard image set (Eqs 4 and 5 of Figs 8 and 21).
    pub fn via_text_set(&self, task: TaskKind) -> Result<PathBuf> {
        let mut spec =
            EvalSetSpec::new(task, Split::Hard, Modality::Image, self.scale.eval_records);
        spec.via_text = true;
        self.eval_set_of(spec)
    }

    fn eval_set_of(&self, spec: EvalSetSpec) -> Result<PathBuf> {
        let task = spec.task;
        let probe = run_plan(&self.scale, &RunSpec::new(task, MixtureKind::Image, 1));
        let render = probe.render_options(&probe.phases[0]);
        let via = if spec.via_text { "-via-text" } else { "" };
        let dir = self.root.join("eval-sets").join(format!(
            "{task}-{}-{}{via}-{}",
            spec.split,
            spec.modality,
            key(&(&spec, &render.tasks, render.image_size))
        ));
        // At the paper tier the commands generate the sets where the runs are.
        if !self.scale.plan_only {
            write_eval_set(&spec, &render, &dir, &Self::write_options(), &|| {})?;
        }
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
        let data = self.run_dir(run).join(s2h_train::DATA_DIR);
        let mut phases: Vec<PathBuf> = std::fs::read_dir(&data)
            .with_context(|| format!("reading {}", data.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        phases.sort();
        let Some(last) = phases.last() else {
            bail!("run {} has no phase data", run.name());
        };
        Ok(s2h_mixture::read_manifest(last)?.counts.unique_instances)
    }

    /// The plans and commands of `runs` (the `paper` tier), written under `plans/`.
    fn plan(&self, runs: &[RunSpec]) -> Result<Vec<PlannedRun>> {
        let Some(first) = runs.first() else {
            return Ok(Vec::new());
        };
        let simple = tokens_per_record(&self.scale.tasks, first.task, Split::Simple);
        let hard = tokens_per_record(&self.scale.tasks, first.task, Split::Hard);
        let mut planned = Vec::new();
        for run in runs {
            let dir = self.run_dir(run);
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let plan_file = self.root.join("plans").join(format!("{name}.toml"));
            if let Some(parent) = plan_file.parent() {
                std::fs::create_dir_all(parent)?;
            }
            run_plan(&self.scale, run).write(&plan_file)?;
            let keep = run.updates(self.scale.batch_size).div_ceil(4).max(1);
            let reading = match run_config(&self.scale, run).reading {
                Some(stage) => format!(
                    " --reading-steps {} --reading-images {}",
                    stage.steps, stage.images
                ),
                None => String::new(),
            };
            let command = format!(
                "cargo run --release --features cuda --example train -- --plan \"$HERE/plans/{name}.toml\" \
                 --preset base --backend cuda --tokenizer compact --batch {} --lr {} --epochs {} \
                 --keep-every {keep}{reading} --out \"$HERE/runs/{name}\"",
                self.scale.batch_size, self.scale.lr, run.epochs
            );
            let mut records = run.budget;
            let mut tokens = run.budget as f64
                * if run.supervision.has_hard() {
                    (simple + hard) / 2.0
                } else {
                    simple
                };
            for (kind, b) in &run.before {
                records += b;
                tokens += *b as f64
                    * if kind.has_hard() {
                        (simple + hard) / 2.0
                    } else {
                        simple
                    };
            }
            planned.push(PlannedRun {
                name,
                plan: plan_file,
                command,
                records: records * run.epochs,
                tokens_per_record: tokens / records.max(1) as f64,
            });
        }
        Ok(planned)
    }

    /// Train every run of `runs` not finished yet (resuming interrupted ones), side by side. At
    /// the `paper` tier, write their plans and fail with [`Planned`].
    pub fn train(&self, runs: &[RunSpec]) -> Result<()> {
        if self.scale.plan_only {
            return Err(Planned {
                runs: self.plan(runs)?,
                evaluations: Vec::new(),
            }
            .into());
        }
        let mut configs = Vec::new();
        for run in runs {
            let dir = self.run_dir(run);
            if dir
                .join(s2h_train::MODEL_DIR)
                .join(s2h_vlm::store::WEIGHTS_FILE)
                .is_file()
            {
                continue;
            }
            let mut config = run_config(&self.scale, run);
            config.out = dir.clone();
            config.resume = dir.join(s2h_train::CONFIG_FILE).exists();
            config.progress = self.progress;
            configs.push(config);
        }
        if !configs.is_empty() {
            s2h_train::train_all(self.backend, &configs)?;
        }
        Ok(())
    }

    /// What training `run` did (updates, wall time, tokens/s, the loss curve), from its run
    /// directory.
    pub fn summary(&self, run: &RunSpec) -> Result<s2h_train::TrainSummary> {
        let path = self.run_dir(run).join(s2h_train::SUMMARY_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// The metrics of `run`'s model on the set in `eval`, computed once.
    pub fn evaluate(&self, run: &RunSpec, eval: &Path) -> Result<Metrics> {
        self.evaluate_with(run, eval, false)
    }

    /// [`Cache::evaluate`], with `convert`: the assistant turn pre-filled with the first word of
    /// the conversion prompt, and the conversion scored too (Fig 6's "Mix+ +Convert", Table 12).
    pub fn evaluate_with(&self, run: &RunSpec, eval: &Path, convert: bool) -> Result<Metrics> {
        let model = self.run_dir(run).join(s2h_train::MODEL_DIR);
        if !model.is_dir() {
            bail!("run {} has no model yet", run.name());
        }
        let dir = self.eval_dir(run, eval, convert_variant(convert));
        self.evaluate_model(&model, eval, &dir, convert)
    }

    /// The updates at which `run` keeps a checkpoint for good (a quarter of its updates apart,
    /// its last update included): the points of a learning curve ([`Cache::evaluate_at`]).
    pub fn kept_steps(&self, run: &RunSpec) -> Vec<u64> {
        let total = run.updates(self.scale.batch_size);
        let every = keep_every(&self.scale, run);
        let mut steps: Vec<u64> = (1..)
            .map(|k| k * every)
            .take_while(|&s| s < total)
            .collect();
        steps.push(total);
        steps
    }

    /// The metrics of `run`'s model after update `step` (one of [`Cache::kept_steps`]) on the
    /// set in `eval`, computed once. The checkpoint is written as a model directory beside the
    /// run's evaluations first; the last update is the run's final model.
    pub fn evaluate_at(&self, run: &RunSpec, step: u64, eval: &Path) -> Result<Metrics> {
        if step == run.updates(self.scale.batch_size) {
            return self.evaluate(run, eval);
        }
        let dir = self.eval_dir(run, eval, &format!("-step-{step}"));
        let model = self.evals_of(run).join(format!("model-step-{step}"));
        let evaluated = dir.join(s2h_eval::METRICS_FILE).is_file();
        if !evaluated && !model.join(s2h_vlm::store::WEIGHTS_FILE).is_file() {
            // Written aside and renamed into place: an interrupted export is redone.
            let tmp = self.evals_of(run).join(format!(".model-step-{step}.tmp"));
            if tmp.exists() {
                std::fs::remove_dir_all(&tmp)
                    .with_context(|| format!("removing {}", tmp.display()))?;
            }
            s2h_train::export_model_on(self.backend, &self.run_dir(run), step, &tmp)?;
            std::fs::rename(&tmp, &model)
                .with_context(|| format!("renaming {} into place", tmp.display()))?;
        }
        self.evaluate_model(&model, eval, &dir, false)
    }

    /// The metrics of the model in `model` on the set in `eval`, written to `dir` once.
    fn evaluate_model(
        &self,
        model: &Path,
        eval: &Path,
        dir: &Path,
        convert: bool,
    ) -> Result<Metrics> {
        let metrics_file = dir.join(s2h_eval::METRICS_FILE);
        if metrics_file.is_file() {
            return Ok(read_metrics(&metrics_file)?);
        }
        let options = EvalOptions {
            generate: GenerateOptions {
                max_new_tokens: self.scale.max_new_tokens,
                batch: 16,
                ..GenerateOptions::default()
            },
            convert,
            task: None,
        };
        let mut reports = s2h_eval::evaluate_on(
            self.backend,
            model,
            eval,
            None,
            &[options],
            &mut |_, _, _| {},
        )?;
        let report = reports
            .pop()
            .ok_or_else(|| anyhow::anyhow!("no evaluation report"))?;
        report.write(dir)?;
        Ok(report.metrics)
    }

    /// Where `run`'s evaluations (and the models of its kept checkpoints) are kept.
    fn evals_of(&self, run: &RunSpec) -> PathBuf {
        let run_key = self
            .run_dir(run)
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        self.root.join("evals").join(run_key)
    }

    /// Where the evaluation of `run` on `eval` is kept; `variant` (`-convert`, `-step-N`) tells
    /// apart the evaluations of one model on one set.
    fn eval_dir(&self, run: &RunSpec, eval: &Path, variant: &str) -> PathBuf {
        let set = eval
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        self.evals_of(run).join(format!("{set}{variant}"))
    }

    /// The scored outputs, one per record, of `arm`'s evaluation (made by [`Cache::measure`]).
    pub fn example_results(&self, arm: &Arm) -> Result<Vec<s2h_eval::ExampleResult>> {
        let set = self.eval_set(arm.task, arm.split, arm.modality)?;
        let metrics = self
            .eval_dir(&arm.run, &set, convert_variant(arm.convert))
            .join(s2h_eval::METRICS_FILE);
        Ok(s2h_eval::read_example_results(
            &s2h_eval::per_example_path(&metrics),
        )?)
    }

    /// The analysis of every kept checkpoint of `run` on the simple and hard Image sets
    /// (`s2h-analysis`: Eqs 2, 3, 7, 8), computed once per checkpoint.
    pub fn analyze(
        &self,
        run: &RunSpec,
        simple: &Path,
        hard: &Path,
    ) -> Result<Vec<s2h_analysis::StepReport>> {
        self.analyze_with(
            run,
            simple,
            hard,
            None,
            &s2h_analysis::Options::default(),
            None,
        )
    }

    /// The analysis of `run`'s last checkpoint alone (attribution), and the directory its files
    /// are under.
    pub fn analyze_last(
        &self,
        run: &RunSpec,
        simple: &Path,
        hard: &Path,
        options: &s2h_analysis::Options,
    ) -> Result<(Vec<s2h_analysis::StepReport>, PathBuf)> {
        let source = s2h_analysis::Source::open(&self.run_dir(run))?;
        let Some(last) = source.checkpoints.last().map(|c| c.step) else {
            bail!("run {} has no checkpoint", run.name());
        };
        let reports = self.analyze_with(run, simple, hard, None, options, Some(&[last]))?;
        Ok((reports, self.analysis_dir(run, simple, hard, None, options)))
    }

    /// [`Cache::analyze`] with the hard Image-via-Text set (Eqs 4 and 5) and other options
    /// (attribution); each combination of sets and options is its own cache entry.
    pub fn analyze_with(
        &self,
        run: &RunSpec,
        simple: &Path,
        hard: &Path,
        hard_via_text: Option<&Path>,
        options: &s2h_analysis::Options,
        steps: Option<&[u64]>,
    ) -> Result<Vec<s2h_analysis::StepReport>> {
        use s2h_analysis::{Sets, Source, analyze_on};
        let source = Source::open(&self.run_dir(run))?;
        let sets = Sets::read(simple, hard, hard_via_text, None)?;
        Ok(analyze_on(
            self.backend,
            &source,
            steps,
            &sets,
            options,
            &self.analysis_dir(run, simple, hard, hard_via_text, options),
            false,
            &mut |_, _, _, _| {},
        )?)
    }

    /// Where the analysis of `run` on these sets with these options is kept.
    fn analysis_dir(
        &self,
        run: &RunSpec,
        simple: &Path,
        hard: &Path,
        hard_via_text: Option<&Path>,
        options: &s2h_analysis::Options,
    ) -> PathBuf {
        let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().to_string());
        let inputs = format!(
            "{:?} {:?} {:?} {options:?}",
            name(simple),
            name(hard),
            hard_via_text.and_then(name)
        );
        self.root
            .join("analysis")
            .join(self.run_dir(run).file_name().unwrap_or_default())
            .join(key(&inputs))
    }
}

/// One measured arm of a figure: a run, and the set it is evaluated on.
#[derive(Debug, Clone)]
pub struct Arm {
    /// Legend name or table row.
    pub name: String,
    pub run: RunSpec,
    /// The evaluation set's task (the run's own unless it is multi-task).
    pub task: TaskKind,
    pub split: Split,
    pub modality: Modality,
    /// Prompted to convert first (Fig 6's "+Convert", Table 12).
    pub convert: bool,
}

impl Arm {
    /// `run` evaluated on its task's hard `modality` set, without the conversion prompt.
    pub fn hard(name: impl Into<String>, run: RunSpec, modality: Modality) -> Self {
        Arm {
            name: name.into(),
            task: run.task,
            run,
            split: Split::Hard,
            modality,
            convert: false,
        }
    }
}

impl Cache {
    /// Train every arm's run not trained yet (side by side), then evaluate each arm on its set:
    /// the metrics in the arms' order.
    pub fn measure(&self, arms: &[Arm]) -> Result<Vec<Metrics>> {
        let mut runs: Vec<RunSpec> = Vec::new();
        for arm in arms {
            if !runs.contains(&arm.run) {
                runs.push(arm.run.clone());
            }
        }
        if self.scale.plan_only {
            let evaluations = arms
                .iter()
                .map(|arm| {
                    let run = self
                        .run_dir(&arm.run)
                        .file_name()
                        .map(|n| n.to_string_lossy().to_string())
                        .unwrap_or_default();
                    let set = format!("{}-{}-{}", arm.task, arm.split, arm.modality);
                    let [w, h] = self.scale.canvas;
                    let convert = if arm.convert { "-convert" } else { "" };
                    format!(
                        "[ -d \"$HERE/sets/{set}\" ] || cargo run --release --example generate -- eval-set \
                         --task {} --split {} --modality {} --count {} --size {w}x{h} --out \
                         \"$HERE/sets/{set}\"\n\
                         cargo run --release --features cuda --example evaluate -- --model \
                         \"$HERE/runs/{run}/model\" --eval \"$HERE/sets/{set}\" --out \
                         \"$HERE/evals/{run}/{set}{convert}\" \
                         --backend cuda --max-new-tokens {}{}",
                        arm.task,
                        arm.split,
                        arm.modality,
                        self.scale.eval_records,
                        self.scale.max_new_tokens,
                        if arm.convert { " --convert" } else { "" }
                    )
                })
                .collect();
            return Err(Planned {
                runs: self.plan(&runs)?,
                evaluations,
            }
            .into());
        }
        self.train(&runs)?;
        // The sets first, one at a time (two arms may share one); then each distinct evaluation
        // once, side by side: small models use a core each.
        let sets = arms
            .iter()
            .map(|arm| self.eval_set(arm.task, arm.split, arm.modality))
            .collect::<Result<Vec<PathBuf>>>()?;
        let mut distinct: Vec<(&RunSpec, &Path, bool)> = Vec::new();
        for (arm, set) in arms.iter().zip(&sets) {
            let job = (&arm.run, set.as_path(), arm.convert);
            if !distinct.contains(&job) {
                distinct.push(job);
            }
        }
        let done = distinct
            .par_iter()
            .map(|&(run, set, convert)| self.evaluate_with(run, set, convert))
            .collect::<Result<Vec<Metrics>>>()?;
        Ok(arms
            .iter()
            .zip(&sets)
            .map(|(arm, set)| {
                let job = (&arm.run, set.as_path(), arm.convert);
                let i = distinct.iter().position(|d| *d == job).unwrap_or(0);
                done[i].clone()
            })
            .collect())
    }
}

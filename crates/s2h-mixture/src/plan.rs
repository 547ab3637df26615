//! Training plans (SPEC §9, §12): a list of phases, each a mixture with its own budget, tasks
//! and seed, plus the fields the trainer reads (learning rate, trainable components). Plans are
//! small TOML files; unknown fields, unknown names and impossible budgets are errors that name
//! the phase.
//!
//! ```toml
//! name = "align-mix-plus-tr"
//! seed = 0                  # default seed of every phase
//! image_size = [448, 448]   # default: the paper's canvas of each task
//!
//! [[phase]]
//! supervision = "align"
//! task = "tr"
//! budget = 10000
//! lr = 2e-5
//!
//! [[phase]]
//! supervision = "mix_plus"
//! task = "tr"
//! budget = 30000
//! ```
//!
//! A phase with `continues = true` goes on with the previous phase's optimizer and schedule
//! (the paper's "Mix → Mix+", Fig 8) instead of starting afresh.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use s2h_render::{AnalogyTextFormat, TextOptions};
use s2h_tasks::{TaskConfig, TaskKind};
use serde::{Deserialize, Deserializer, Serialize};

use crate::files::write_atomically;
use crate::materialize::RenderOptions;
use crate::mixture::{CotMode, ExplicitCount, Mixture, MixtureKind};
use crate::record::Supervision;
use crate::seeds::check_training_seed;
use crate::{MixtureError, Result};

/// A part of the model the trainer may train or freeze.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    Vision,
    Projector,
    /// The language model.
    Lm,
}

impl Component {
    pub const ALL: [Component; 3] = [Component::Vision, Component::Projector, Component::Lm];

    /// The name plans write (`vision`, `projector`, `lm`).
    pub fn name(self) -> &'static str {
        match self {
            Component::Vision => "vision",
            Component::Projector => "projector",
            Component::Lm => "lm",
        }
    }
}

/// A training plan: phases run in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Seed of every phase that sets none; below 2^63.
    #[serde(default)]
    pub seed: u64,
    /// Canvas `[width, height]` of every image; default: the paper's canvas of each task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size: Option<[u32; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub font_scale: Option<f32>,
    /// Task parameters (default: the paper's).
    #[serde(default, skip_serializing_if = "is_default")]
    pub task_config: TaskConfig,
    #[serde(rename = "phase", default)]
    pub phases: Vec<Phase>,
}

/// One phase: a mixture and how the trainer treats it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// Names the phase's output directory; letters, digits, `-` and `_`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub supervision: MixtureKind,
    /// `task = "tr"` or `tasks = ["ctr", "tr", "grid", "va"]` (multi-task, paper I.8).
    #[serde(alias = "task", deserialize_with = "one_or_many")]
    pub tasks: Vec<TaskKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<u64>,
    /// Default: the plan's seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Learning rate, for the trainer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Components the trainer updates; default: the language model alone for `text_warmup`,
    /// everything otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train: Option<Vec<Component>>,
    /// Continue the previous phase's training on this phase's data: the trainer keeps its
    /// optimizer state (AdamW moments and step counts), and the chained phases share one
    /// warmup-cosine schedule over their combined updates (paper Fig 8, "Mix → Mix+": "We
    /// preserved the optimizer states and learning rate schedule"). Its `lr` is the previous
    /// phase's and it trains the same components.
    #[serde(default, skip_serializing_if = "is_default")]
    pub continues: bool,
    /// Supervision of hard records (default text; `image` is paper G.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_supervision: Option<Supervision>,
    /// k-fold repeated hard records (paper I.9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_repeat: Option<u64>,
    /// `full`, `none` or `truncated` (paper I.7).
    #[serde(default, skip_serializing_if = "is_default")]
    pub cot: CotMode,
    /// Visual Analogy text: `lossy` or `lossless` (paper I.5).
    #[serde(default, skip_serializing_if = "is_default")]
    pub text_format: AnalogyTextFormat,
    /// Explicit records per type, e.g. `{ simple_text = 1000, hard_text = 500 }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: BTreeMap<String, u64>,
    /// Keep the nominal type ratio in every batch of this size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interleave_batch: Option<u64>,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// A task name or a list of them.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<TaskKind>, D::Error> {
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Vec<TaskKind>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a task name or a list of task names")
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> std::result::Result<Self::Value, E> {
            s.parse().map(|t| vec![t]).map_err(E::custom)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            let mut tasks = Vec::new();
            while let Some(name) = seq.next_element::<String>()? {
                tasks.push(name.parse().map_err(serde::de::Error::custom)?);
            }
            Ok(tasks)
        }
    }
    d.deserialize_any(Visitor)
}

impl Phase {
    /// A phase of one task with everything else at its default.
    pub fn new(supervision: MixtureKind, task: TaskKind, budget: u64) -> Self {
        Self {
            name: None,
            supervision,
            tasks: vec![task],
            budget: Some(budget),
            seed: None,
            lr: None,
            train: None,
            continues: false,
            hard_supervision: None,
            hard_repeat: None,
            cot: CotMode::Full,
            text_format: AnalogyTextFormat::Lossy,
            counts: BTreeMap::new(),
            interleave_batch: None,
        }
    }

    /// The mixture of this phase; `plan_seed` stands in for a missing seed.
    pub fn mixture(&self, plan_seed: u64) -> Result<Mixture> {
        let counts = self
            .counts
            .iter()
            .map(|(key, &count)| ExplicitCount::parse(key, count))
            .collect::<Result<Vec<_>>>()?;
        Ok(Mixture {
            kind: self.supervision,
            tasks: self.tasks.clone(),
            budget: self.budget,
            seed: self.seed.unwrap_or(plan_seed),
            hard_supervision: self.hard_supervision.unwrap_or(Supervision::Text),
            hard_repeat: self.hard_repeat.unwrap_or(1),
            cot: self.cot,
            counts,
            interleave_batch: self.interleave_batch,
        })
    }

    /// The components the trainer updates in this phase.
    pub fn trainable(&self) -> Vec<Component> {
        match (&self.train, self.supervision) {
            (Some(list), _) => list.clone(),
            (None, MixtureKind::TextWarmup) => vec![Component::Lm],
            (None, _) => Component::ALL.to_vec(),
        }
    }

    /// What to call the phase and its directory.
    pub fn label(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| self.supervision.name().replace('_', "-"))
    }

    fn validate(&self, plan_seed: u64) -> std::result::Result<(), String> {
        if let Some(name) = &self.name
            && (name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return Err(format!(
                "name `{name}` must be letters, digits, `-` and `_` (it names a directory)"
            ));
        }
        if let Some(lr) = self.lr
            && !(lr.is_finite() && lr > 0.0)
        {
            return Err(format!("lr must be a positive number, not {lr}"));
        }
        if let Some(train) = &self.train {
            if train.is_empty() {
                return Err(
                    "`train` lists no component; leave it out to train everything".to_string(),
                );
            }
            for (i, c) in train.iter().enumerate() {
                if train[..i].contains(c) {
                    return Err(format!("`train` lists `{c:?}` twice"));
                }
            }
        }
        let reason = |e: MixtureError| match e {
            MixtureError::InvalidMixture(reason) => reason,
            other => other.to_string(),
        };
        self.mixture(plan_seed)
            .and_then(|m| m.counts())
            .map_err(reason)?;
        Ok(())
    }
}

impl Plan {
    /// A plan of one phase.
    pub fn single(phase: Phase, seed: u64) -> Self {
        Self {
            name: None,
            seed,
            image_size: None,
            font_scale: None,
            task_config: TaskConfig::default(),
            phases: vec![phase],
        }
    }

    /// A checked plan of one phase drawn with `render`: the inverse of
    /// [`Plan::render_options`] (the canvas, font scale and task parameters become the plan's,
    /// the text format the phase's).
    pub fn of_phase(mut phase: Phase, seed: u64, render: &RenderOptions) -> Result<Self> {
        phase.text_format = render.text.analogy;
        let plan = Self {
            image_size: render.image_size,
            font_scale: Some(render.font_scale),
            task_config: render.tasks.clone(),
            ..Self::single(phase, seed)
        };
        plan.validate()?;
        Ok(plan)
    }

    /// Check every phase; errors name the phase.
    pub fn validate(&self) -> Result<()> {
        let invalid = |reason: String| MixtureError::InvalidPlan { path: None, reason };
        if self.phases.is_empty() {
            return Err(invalid(
                "it has no phase; add at least one [[phase]] table".to_string(),
            ));
        }
        check_training_seed(self.seed)?;
        if let Some(f) = self.font_scale {
            s2h_render::check_font_scale(f).map_err(|e| invalid(format!("font_scale: {e}")))?;
        }
        if let Some(size) = self.image_size {
            for task in self.phases.iter().flat_map(|p| &p.tasks) {
                self.render_options(&self.phases[0])
                    .image_options(*task)
                    .validate()
                    .map_err(|e| invalid(format!("image_size {size:?}: {e}")))?;
            }
        }
        for (i, phase) in self.phases.iter().enumerate() {
            phase.validate(self.seed).map_err(|reason| {
                invalid(format!(
                    "phase {} (`{}`): {reason}",
                    i + 1,
                    phase.supervision
                ))
            })?;
            if phase.continues {
                self.check_continuation(i).map_err(|reason| {
                    invalid(format!(
                        "phase {} (`{}`): {reason}",
                        i + 1,
                        phase.supervision
                    ))
                })?;
            }
            if self.phases[..i].iter().any(|p| p.label() == phase.label()) {
                return Err(invalid(format!(
                    "phase {} is named `{}` like an earlier one; give it another `name`",
                    i + 1,
                    phase.label()
                )));
            }
        }
        Ok(())
    }

    /// The learning rate phase `i` (0-based) trains at: its own `lr`, or for a phase that
    /// `continues` without one, that of the phase it continues; `None`: the trainer's default.
    pub fn phase_lr(&self, i: usize) -> Option<f64> {
        let phase = self.phases.get(i)?;
        match phase.lr {
            Some(lr) => Some(lr),
            None if phase.continues && i > 0 => self.phase_lr(i - 1),
            None => None,
        }
    }

    /// Why phase `i`, which `continues`, cannot: it is the first phase, or its learning rate
    /// or trainable components differ from the phase it continues (that phase's optimizer
    /// state and schedule carry over, so both must be the same).
    fn check_continuation(&self, i: usize) -> std::result::Result<(), String> {
        if i == 0 {
            return Err(
                "`continues = true` on the first phase: there is no phase before it to continue"
                    .to_string(),
            );
        }
        let (phase, previous) = (&self.phases[i], &self.phases[i - 1]);
        let previous_lr = self.phase_lr(i - 1);
        if let Some(lr) = phase.lr
            && previous_lr != Some(lr)
        {
            return Err(format!(
                "`lr = {lr}` differs from the learning rate of the phase it continues ({}); a \
                 continuing phase keeps that phase's schedule, so leave `lr` out",
                previous_lr.map_or("the trainer's default".to_string(), |l| l.to_string())
            ));
        }
        let (now, before) = (phase.trainable(), previous.trainable());
        let same = now.iter().all(|c| before.contains(c)) && before.iter().all(|c| now.contains(c));
        if !same {
            let names = |list: &[Component]| {
                let names: Vec<&str> = list.iter().map(|c| c.name()).collect();
                format!("[{}]", names.join(", "))
            };
            return Err(format!(
                "it trains {} but the phase it continues trains {}; a continuing phase keeps \
                 that phase's optimizer, so it must train the same components (set `train`)",
                names(&now),
                names(&before)
            ));
        }
        Ok(())
    }

    /// Rendering of a phase: the plan's canvas and task parameters, the phase's text format.
    pub fn render_options(&self, phase: &Phase) -> RenderOptions {
        RenderOptions {
            tasks: self.task_config.clone(),
            image_size: self.image_size,
            font_scale: self.font_scale.unwrap_or(1.0),
            text: TextOptions {
                analogy: phase.text_format,
            },
        }
    }

    /// The records of every phase together (for sizing a progress bar).
    pub fn record_count(&self) -> Result<u64> {
        let mut total = 0;
        for phase in &self.phases {
            for counts in phase.mixture(self.seed)?.counts()? {
                total += counts.budget;
            }
        }
        Ok(total)
    }

    /// The output directory of phase `i` (0-based): `01-align`, `02-mix-plus`, …
    pub fn phase_dir(&self, i: usize) -> String {
        let label = self.phases.get(i).map(Phase::label).unwrap_or_default();
        format!("{:02}-{label}", i + 1)
    }

    /// Parse and validate a plan.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        let plan: Plan = toml::from_str(text).map_err(|e| MixtureError::InvalidPlan {
            path: None,
            reason: e.to_string().trim_end().to_string(),
        })?;
        plan.validate()?;
        Ok(plan)
    }

    /// The plan as TOML; [`Plan::from_toml_str`] reads it back equal.
    pub fn to_toml_string(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| MixtureError::InvalidPlan {
            path: None,
            reason: format!("cannot be written as TOML: {e}"),
        })
    }

    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(MixtureError::io("cannot read", path))?;
        Self::from_toml_str(&text).map_err(|e| match e {
            MixtureError::InvalidPlan { reason, .. } => MixtureError::InvalidPlan {
                path: Some(path.to_path_buf()),
                reason,
            },
            other => other,
        })
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        write_atomically(path, self.to_toml_string()?.as_bytes())
    }
}

/// Task parameters from a TOML file: a plan (its `[task_config]` tables), or those tables alone
/// (`[ctr]`, `[tr]`, `[grid]`, `[va]`). Tasks and fields it does not name keep the paper's
/// values; a name it does not know is an error. With a plan, evaluation sets can be generated at
/// the task sizes the plan trains on.
pub fn read_task_config(path: &Path) -> Result<TaskConfig> {
    let invalid = |reason: String| MixtureError::InvalidPlan {
        path: Some(path.to_path_buf()),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(MixtureError::io("cannot read", path))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    // A plan is recognised by its own keys; its task parameters sit under `task_config`.
    let is_plan = table.contains_key("task_config") || table.contains_key("phase");
    let tasks = if is_plan {
        match table.get("task_config") {
            Some(value) => value.clone(),
            None => return Ok(TaskConfig::default()),
        }
    } else {
        toml::Value::Table(table)
    };
    tasks.try_into().map_err(|e: toml::de::Error| {
        invalid(format!("task parameters: {}", e.to_string().trim_end()))
    })
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;

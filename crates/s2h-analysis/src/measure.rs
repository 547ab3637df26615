//! Everything measured of one checkpoint, as `OUT/step-<N>.json` holds it: the loss
//! decomposition (Eqs 2, 4, 5), the gradient measurements (mean norm, Eqs 3, 7, 8 — the latter
//! with the paper's proxies and with the checkpoint's own AdamW moments), optionally the same
//! scores from randomly projected gradients (footnote 9) and pixel attributions (App J).

use std::fs;
use std::path::{Path, PathBuf};

use s2h_mixture::Supervision;
use s2h_vlm::burn::module::AutodiffModule;
use s2h_vlm::burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use crate::alignment::{self, Alignment, Moments, adam_alignment, set_stats};
use crate::attribution::{attribute, frozen, overlay};
use crate::checkpoints::{CheckpointRef, Source};
use crate::grads::{FlatGrad, VlmGradients};
use crate::groups::{cot_groups, group_mask};
use crate::losses::mean_loss;
use crate::params::{ParamSet, select};
use crate::projection::{ProjectionKind, Projector};
use crate::sets::{CONVERSION, EvalSet, SOLUTION};
use crate::{AnalysisError, Result};

/// The evaluation sets of an analysis.
#[derive(Debug, Clone)]
pub struct Sets {
    /// Simple Image records (`X_simple`).
    pub simple: EvalSet,
    /// Hard Image records (`X_hard`; Eq 2).
    pub hard: EvalSet,
    /// Hard Image-via-Text records of the same instances (Eqs 4, 5).
    pub hard_via_text: Option<EvalSet>,
}

impl Sets {
    /// Read and check the sets (at most `limit` records each).
    pub fn read(
        simple: &Path,
        hard: &Path,
        hard_via_text: Option<&Path>,
        limit: Option<usize>,
    ) -> Result<Self> {
        let simple = EvalSet::read(simple, Supervision::Image, limit)?;
        let hard = EvalSet::read(hard, Supervision::Image, limit)?;
        let hard_via_text = hard_via_text
            .map(|d| EvalSet::read(d, Supervision::ImageViaText, limit))
            .transpose()?;
        for other in std::iter::once(&hard).chain(&hard_via_text) {
            if other.task != simple.task {
                return Err(AnalysisError::Set {
                    path: other.dir.clone(),
                    message: format!(
                        "a {} set, but the simple set is {}; give sets of one task",
                        other.task, simple.task
                    ),
                });
            }
        }
        Ok(Sets {
            simple,
            hard,
            hard_via_text,
        })
    }
}

/// The random projection of per-example gradients (footnote 9).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProjectionOptions {
    pub dim: usize,
    pub seed: u64,
    pub kind: ProjectionKind,
    /// Gradients projected together (they share each generated block of the matrix).
    pub batch: usize,
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    pub params: ParamSet,
    /// Also project each per-example gradient and write the features.
    pub project: Option<ProjectionOptions>,
    /// Compute Eq 8 (a second pass over the per-example gradients).
    pub adam: bool,
    /// Attribute the first this many hard records (App J).
    pub attribute: usize,
    /// Records per forward pass of the losses.
    pub loss_batch: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            params: ParamSet::All,
            project: None,
            adam: true,
            attribute: 0,
            loss_batch: 8,
        }
    }
}

/// The scores from projected gradients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Projected {
    pub dim: usize,
    pub seed: u64,
    pub kind: ProjectionKind,
    /// Eq 3 and Eq 7 from the means of the projected per-example gradients (the projection of
    /// the means, by linearity).
    pub alignment: Option<f64>,
    pub cosine: Option<f64>,
    /// The per-example features (`simple` `[n, dim]`, `hard` `[n, dim]`, f32 safetensors).
    pub features: String,
}

/// One checkpoint's measurements (`step-<N>.json`). Losses are means over examples of
/// per-example means over the selected tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    pub step: u64,
    pub examples_seen: Option<u64>,
    /// Eq 2: solution given the image, hard Image records.
    pub loss_image_solution: f64,
    /// Eq 4: converted text of hard Image-via-Text records (with `--hard-via-text`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub loss_conversion: Option<f64>,
    /// Eq 5: solution given image and converted text, same records.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub loss_solution_given_conversion: Option<f64>,
    /// `E_{x∈X_simple} ‖∇l(x)‖₂` (the x-axis of Figs 7, 9, 17–20).
    pub grad_norm_mean: f64,
    /// `E_{x∈X_hard} ‖∇l(x)‖₂`.
    pub hard_grad_norm_mean: f64,
    /// Eq 3.
    pub alignment: Option<f64>,
    /// Eq 7.
    pub cosine: Option<f64>,
    /// Eq 8 with the paper's proxies for the moments.
    pub adam_alignment: Option<f64>,
    /// Eq 8 with the checkpoint's AdamW moments (`None`: see `adam_state_note`).
    pub adam_alignment_state: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub adam_state_note: Option<String>,
    /// `‖g_S‖`, `‖g_H‖`.
    pub simple_mean_gradient_norm: f64,
    pub hard_mean_gradient_norm: f64,
    pub n_simple: usize,
    pub n_hard: usize,
    pub params: String,
    pub n_params: usize,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub projected: Option<Projected>,
    /// Overlay PNGs written, relative to the output directory.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub attributions: Vec<String>,
}

/// Progress: (what, done, total).
pub type Progress<'a> = &'a mut dyn FnMut(&str, usize, usize);

/// Measure `checkpoint` of `source` on `sets`; attribution images and projected features go
/// under `out`.
pub fn measure_checkpoint<B: AutodiffBackend>(
    source: &Source,
    checkpoint: &CheckpointRef,
    sets: &Sets,
    options: &Options,
    out: &Path,
    device: &B::Device,
    progress: Progress<'_>,
) -> Result<StepReport> {
    let (model, processor, _) = source.load::<B>(checkpoint, device)?;
    let simple = sets.simple.examples(&processor, &SOLUTION)?;
    let hard = sets.hard.examples(&processor, &SOLUTION)?;

    progress("losses", 0, 1);
    let inner = model.valid();
    let loss_image_solution = mean_loss(&inner, &hard, options.loss_batch)?.unwrap_or(f64::NAN);
    let (loss_conversion, loss_solution_given_conversion) = match &sets.hard_via_text {
        Some(set) => (
            mean_loss(
                &inner,
                &set.examples(&processor, &CONVERSION)?,
                options.loss_batch,
            )?,
            mean_loss(
                &inner,
                &set.examples(&processor, &SOLUTION)?,
                options.loss_batch,
            )?,
        ),
        None => (None, None),
    };
    drop(inner);
    progress("losses", 1, 1);

    let (selected, params) = select(model.clone(), &options.params)?;
    let mut simple_src = VlmGradients {
        model: &selected,
        params: &params,
        examples: &simple,
    };
    let mut hard_src = VlmGradients {
        model: &selected,
        params: &params,
        examples: &hard,
    };
    let projector = options
        .project
        .map(|p| Projector::new(p.dim, p.seed, p.kind))
        .transpose()?;
    let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
    let batch = options.project.map_or(1, |p| p.batch.max(1));
    let mut features: [Vec<Vec<f32>>; 2] = [Vec::new(), Vec::new()];
    let mut stats = Vec::new();
    for (which, (label, src, n)) in [
        ("gradients (simple)", &mut simple_src, simple.len()),
        ("gradients (hard)", &mut hard_src, hard.len()),
    ]
    .into_iter()
    .enumerate()
    {
        let mut pending: Vec<Vec<Vec<f32>>> = Vec::new();
        let rows = &mut features[which];
        let s = set_stats(src, |i, g: &FlatGrad<_>| {
            progress(label, i + 1, n);
            if let Some(projector) = &projector {
                pending.push(g.to_host()?);
                if pending.len() == batch || i + 1 == n {
                    rows.extend(projector.project_parts(&names, &pending)?);
                    pending.clear();
                }
            }
            Ok(())
        })?;
        stats.push(s);
    }
    let (simple_stats, hard_stats) = (&stats[0], &stats[1]);
    let Alignment {
        alignment,
        cosine,
        simple_mean_norm,
        hard_mean_norm,
    } = alignment::alignment(&simple_stats.mean, &hard_stats.mean);

    let state = source.moments(checkpoint, &selected, &params, device)?;
    let (mut adam_alignment_proxy, mut adam_alignment_state, mut adam_state_note) =
        (None, None, None);
    if options.adam {
        let proxies = Moments::proxies(simple_stats);
        let mut moments = vec![&proxies];
        match &state {
            Ok(m) => moments.push(m),
            Err(why) => adam_state_note = Some(why.clone()),
        }
        let mut simple_src = Counted {
            inner: simple_src,
            label: "Adam update alignment (simple)",
            progress: &mut *progress,
        };
        let scores = {
            let mut hard_counted = VlmGradients {
                model: &selected,
                params: &params,
                examples: &hard,
            };
            adam_alignment(
                &mut simple_src,
                &mut hard_counted,
                &hard_stats.mean,
                &moments,
                &source.adam(),
            )?
        };
        adam_alignment_proxy = scores[0];
        adam_alignment_state = scores.get(1).copied().flatten();
    } else {
        adam_state_note = Some("not computed (--no-adam)".into());
    }

    let step_name = format!("step-{}", checkpoint.step);
    let projected = match (&projector, options.project) {
        (Some(_), Some(p)) => {
            let file = format!("{step_name}.projected.safetensors");
            write_features(&out.join(&file), &features[0], &features[1], p.dim)?;
            let mean = |rows: &[Vec<f32>]| -> Vec<f64> {
                let mut m = vec![0.0f64; p.dim];
                for r in rows {
                    for (a, &b) in m.iter_mut().zip(r) {
                        *a += b as f64;
                    }
                }
                m.iter().map(|v| v / rows.len().max(1) as f64).collect()
            };
            let (ms, mh) = (mean(&features[0]), mean(&features[1]));
            let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
            let a = Alignment::from_products(dot(&ms, &mh), dot(&mh, &mh), dot(&ms, &ms));
            Some(Projected {
                dim: p.dim,
                seed: p.seed,
                kind: p.kind,
                alignment: a.alignment,
                cosine: a.cosine,
                features: file,
            })
        }
        _ => None,
    };

    let mut attributions = Vec::new();
    if options.attribute > 0 {
        let frozen_model = frozen(model);
        let dir = out.join(&step_name).join("attribution");
        fs::create_dir_all(&dir).map_err(|e| AnalysisError::file(&dir, e))?;
        let count = options.attribute.min(hard.len());
        for (i, (record, example)) in sets.hard.records.iter().zip(&hard).take(count).enumerate() {
            progress("attribution", i, count);
            let Some(image) = &record.image else { continue };
            for group in cot_groups(record) {
                let mask = group_mask(&processor, record, &example.encoded, &group)?;
                let scores = attribute(&frozen_model, example, &mask)?;
                let png = overlay(&sets.hard.dir.join(image), &scores, 0.01)?;
                let name = format!("{}-{}.png", record.id, group.name);
                let path = dir.join(&name);
                png.save(&path).map_err(|e| AnalysisError::file(&path, e))?;
                attributions.push(
                    PathBuf::from(&step_name)
                        .join("attribution")
                        .join(name)
                        .to_string_lossy()
                        .to_string(),
                );
            }
        }
        progress("attribution", count, count);
    }

    Ok(StepReport {
        step: checkpoint.step,
        examples_seen: checkpoint.examples_seen,
        loss_image_solution,
        loss_conversion,
        loss_solution_given_conversion,
        grad_norm_mean: simple_stats.norm_mean,
        hard_grad_norm_mean: hard_stats.norm_mean,
        alignment,
        cosine,
        adam_alignment: adam_alignment_proxy,
        adam_alignment_state,
        adam_state_note,
        simple_mean_gradient_norm: simple_mean_norm,
        hard_mean_gradient_norm: hard_mean_norm,
        n_simple: simple.len(),
        n_hard: hard.len(),
        params: options.params.to_string(),
        n_params: params.iter().map(|p| p.numel()).sum(),
        projected,
        attributions,
    })
}

/// A gradient source that reports its progress.
struct Counted<'a, 'p, S> {
    inner: S,
    label: &'a str,
    progress: Progress<'p>,
}

impl<B: s2h_vlm::burn::prelude::Backend, S: crate::grads::GradientSource<B>>
    crate::grads::GradientSource<B> for Counted<'_, '_, S>
{
    fn len(&self) -> usize {
        self.inner.len()
    }

    fn gradient(&mut self, i: usize) -> Result<FlatGrad<B>> {
        (self.progress)(self.label, i + 1, self.inner.len());
        self.inner.gradient(i)
    }
}

/// The projected features as f32 safetensors `simple` and `hard`, `[n, dim]` each.
fn write_features(path: &Path, simple: &[Vec<f32>], hard: &[Vec<f32>], dim: usize) -> Result<()> {
    use safetensors::tensor::{Dtype, TensorView};
    let bytes = |rows: &[Vec<f32>]| -> Vec<u8> {
        rows.iter()
            .flatten()
            .flat_map(|v| v.to_le_bytes())
            .collect()
    };
    let (s, h) = (bytes(simple), bytes(hard));
    let err = |e: safetensors::SafeTensorError| AnalysisError::file(path, e);
    let tensors = vec![
        (
            "simple".to_string(),
            TensorView::new(Dtype::F32, vec![simple.len(), dim], &s).map_err(err)?,
        ),
        (
            "hard".to_string(),
            TensorView::new(Dtype::F32, vec![hard.len(), dim], &h).map_err(err)?,
        ),
    ];
    let data = safetensors::tensor::serialize(tensors, None)
        .map_err(|e| AnalysisError::file(path, format!("{e}")))?;
    s2h_mixture::files::write_atomically(path, &data)?;
    Ok(())
}

/// Measure every checkpoint of `source` at `steps` (all when `None`), writing `step-<N>.json`
/// as each finishes and `summary.csv` at the end. A step whose file is already in `out` with the
/// same parameter set and set sizes is kept, so an interrupted analysis continues where it
/// stopped; a different one is an error unless `overwrite`.
#[allow(clippy::too_many_arguments)]
pub fn analyze<B: AutodiffBackend>(
    source: &Source,
    steps: Option<&[u64]>,
    sets: &Sets,
    options: &Options,
    out: &Path,
    overwrite: bool,
    device: &B::Device,
    progress: &mut dyn FnMut(u64, &str, usize, usize),
) -> Result<Vec<StepReport>> {
    let checkpoints = source.select(steps)?;
    fs::create_dir_all(out).map_err(|e| AnalysisError::file(out, e))?;
    let mut reports = Vec::new();
    for checkpoint in &checkpoints {
        let path = crate::report::step_file(out, checkpoint.step);
        if path.is_file() && !overwrite {
            let old = crate::report::read_step(&path)?;
            let same = old.params == options.params.to_string()
                && old.n_simple == sets.simple.records.len()
                && old.n_hard == sets.hard.records.len()
                && old.loss_conversion.is_some() == sets.hard_via_text.is_some()
                && old.projected.as_ref().map(|p| (p.dim, p.seed, p.kind))
                    == options.project.map(|p| (p.dim, p.seed, p.kind));
            if same {
                reports.push(old);
                continue;
            }
            return Err(AnalysisError::file(
                &path,
                "was measured with other options (parameter set, set sizes, projection); \
                 choose another --out or pass --overwrite",
            ));
        }
        let step = checkpoint.step;
        let report = measure_checkpoint::<B>(
            source,
            checkpoint,
            sets,
            options,
            out,
            device,
            &mut |what, done, total| progress(step, what, done, total),
        )?;
        crate::report::write_step(out, &report)?;
        reports.push(report);
    }
    crate::report::write_summary(out)?;
    Ok(reports)
}

/// [`analyze`] on the backend `kind` names.
#[allow(clippy::too_many_arguments)]
pub fn analyze_on(
    kind: s2h_vlm::BackendKind,
    source: &Source,
    steps: Option<&[u64]>,
    sets: &Sets,
    options: &Options,
    out: &Path,
    overwrite: bool,
    progress: &mut dyn FnMut(u64, &str, usize, usize),
) -> Result<Vec<StepReport>> {
    struct Task<'a> {
        source: &'a Source,
        steps: Option<&'a [u64]>,
        sets: &'a Sets,
        options: &'a Options,
        out: &'a Path,
        overwrite: bool,
        progress: &'a mut dyn FnMut(u64, &str, usize, usize),
    }
    impl s2h_vlm::BackendTask for Task<'_> {
        type Output = Result<Vec<StepReport>>;
        fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
            analyze::<B>(
                self.source,
                self.steps,
                self.sets,
                self.options,
                self.out,
                self.overwrite,
                &device,
                self.progress,
            )
        }
    }
    s2h_vlm::run_on(
        kind,
        Task {
            source,
            steps,
            sets,
            options,
            out,
            overwrite,
            progress,
        },
    )?
}

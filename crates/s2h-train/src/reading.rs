//! The reading stage: before a run's phases, its vision tower learns on its own to name what each
//! body cell of the run's training images shows ([`s2h_render::Region::shows`]: a table's value
//! word, marked when highlighted; a grid cell's start, destination, object or obstacle; an empty
//! cell is a label too). The head reads every cell from all of the tower's tokens at once: a
//! linear map of them to a code of [`CODE`] numbers, and from the code one linear classifier per
//! cell position. The head is dropped afterwards; the phases then freeze the tower (`train =
//! ["projector", "lm"]`), as LLaVA freezes CLIP.
//!
//! Why: a tower trained from scratch jointly with the decoder collapses to a near-constant output
//! before the decoder learns where to look, and the image models then read nothing
//! (docs/figures.md, "Where it breaks"). A tower that already reads gives the decoder features
//! that differ where the images differ. How the head is built decides how fast the decoder then
//! learns to use them (docs/figures.md, "The reading stage"): reading each cell from all tokens
//! beats reading it from the tokens under its box, and naming the cells alone beats naming the
//! headers too, whose long product names take the tower's capacity and which the prompt and the
//! cell's position already give.
//!
//! The stage reads no task: it takes the cells the renderers wrote into the records' layouts, so
//! every task whose renderer names its cells (CTR, TR, Grid) gets it as is.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use rand_chacha::ChaCha12Rng;
use rand_core::{RngCore, SeedableRng};
use rayon::prelude::*;
use s2h_mixture::read_records;
use s2h_render::{Layout, Role};
use s2h_tasks::Cell;
use s2h_vlm::batch::normalise_pixel;
// `burn` by name, for the `Module` derive.
use s2h_vlm::burn;
use s2h_vlm::burn::module::{AutodiffModule, Param};
use s2h_vlm::burn::nn::Linear;
use s2h_vlm::burn::nn::loss::CrossEntropyLossConfig;
use s2h_vlm::burn::optim::{AdamConfig, GradientsParams, Optimizer};
use s2h_vlm::burn::prelude::*;
use s2h_vlm::burn::tensor::backend::AutodiffBackend;
use s2h_vlm::vision::VisionTower;
use s2h_vlm::{Vlm, VlmConfig};
use serde::{Deserialize, Serialize};

use crate::checkpoint::write_atomically;
use crate::data::PhaseSpec;
use crate::processor::Processor;
use crate::run_dir::to_json;
use crate::{Result, TrainError};

/// Width of the code every cell is read from.
pub const CODE: usize = 256;

/// What the reading stage measured, written beside the run.
pub const READING_FILE: &str = "reading.json";

/// How long and on what the tower learns to read. JSON/TOML fields as named here; every one
/// has a default (the settings that teach the quickstart's tower the cells of a 3×4 table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReadingStage {
    /// Adam updates of the tower and its head.
    pub steps: u64,
    /// Adam's learning rate (constant).
    pub lr: f64,
    /// Images per update.
    pub batch_size: usize,
    /// Distinct images taken from the run's training records, in phase and record order; the
    /// last tenth is held out to measure how well the tower reads.
    pub images: usize,
}

impl Default for ReadingStage {
    fn default() -> Self {
        ReadingStage {
            steps: 400,
            lr: 1e-3,
            batch_size: 32,
            images: 6000,
        }
    }
}

impl ReadingStage {
    /// Check the numbers on their own.
    pub(crate) fn validate(&self) -> std::result::Result<(), String> {
        if self.steps == 0 {
            return Err("the reading stage needs at least one update (`steps`)".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(format!(
                "the reading stage's learning rate must be positive, not {}",
                self.lr
            ));
        }
        if self.batch_size == 0 {
            return Err("the reading stage's batch size must be at least 1".into());
        }
        if self.images < 2 {
            return Err(format!(
                "the reading stage needs at least 2 images (one to train on, one held out), \
                 not {}",
                self.images
            ));
        }
        Ok(())
    }
}

/// The result of the reading stage, `RUN/reading.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadingReport {
    /// Why nothing was trained (a run whose records hold no image); the other fields are then
    /// zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Images trained on and held out.
    pub train_images: usize,
    pub held_out_images: usize,
    /// Cell positions read, and the distinct things a cell shows.
    pub cells: usize,
    pub labels: usize,
    pub steps: u64,
    /// Cross-entropy of the last update.
    pub final_loss: f32,
    /// Share of the held-out images' cells named right.
    pub held_out_accuracy: f64,
    /// What a tower that reads nothing would score: the share of held-out cells that show the
    /// most frequent training label of their position.
    pub chance: f64,
}

impl ReadingReport {
    fn skipped(why: &str) -> Self {
        ReadingReport {
            skipped: Some(why.into()),
            train_images: 0,
            held_out_images: 0,
            cells: 0,
            labels: 0,
            steps: 0,
            final_loss: 0.0,
            held_out_accuracy: 0.0,
            chance: 0.0,
        }
    }
}

/// One cell to name: its label and its slot (which cell position it is).
#[derive(Debug, Clone, Copy)]
struct Target {
    label: usize,
    slot: usize,
}

/// One image: `[3, size, size]` bytes and its cells.
struct Example {
    pixels: Vec<u8>,
    targets: Vec<Target>,
}

#[derive(Module, Debug)]
struct Reader<B: Backend> {
    tower: VisionTower<B>,
    /// All tokens → the code.
    code: Linear<B>,
    /// The code → every slot's logits, `slots × labels`.
    head: Linear<B>,
    slots: usize,
}

impl<B: Backend> Reader<B> {
    /// Logits `[cells, labels]` of the cells of `examples`, in order.
    fn forward(&self, examples: &[&Example], size: usize, device: &B::Device) -> Tensor<B, 2> {
        let plane = 3 * size * size;
        let mut pixels = Vec::with_capacity(examples.len() * plane);
        for e in examples {
            pixels.extend(e.pixels.iter().map(|&b| normalise_pixel(b)));
        }
        let images = Tensor::<B, 4>::from_data(
            TensorData::new(pixels, [examples.len(), 3, size, size]),
            device,
        );
        let tokens = self.tower.forward(images);
        let [b, n, d] = tokens.dims();
        let logits = self
            .head
            .forward(self.code.forward(tokens.reshape([b, n * d])));
        let labels = logits.dims()[1] / self.slots;
        // Row i·slots + slot of the flattened logits is image i's classifier of that slot.
        let rows: Vec<i64> = examples
            .iter()
            .enumerate()
            .flat_map(|(i, e)| {
                e.targets
                    .iter()
                    .map(move |t| (i * self.slots + t.slot) as i64)
            })
            .collect();
        let count = rows.len();
        let rows = Tensor::<B, 1, Int>::from_data(TensorData::new(rows, [count]), device);
        logits.reshape([b * self.slots, labels]).select(0, rows)
    }
}

/// The labels of `examples`' cells, in order.
fn labels<B: Backend>(examples: &[&Example], device: &B::Device) -> Tensor<B, 1, Int> {
    let labels: Vec<i64> = examples
        .iter()
        .flat_map(|e| e.targets.iter().map(|t| t.label as i64))
        .collect();
    let n = labels.len();
    Tensor::from_data(TensorData::new(labels, [n]), device)
}

/// Run the reading stage on `model`'s vision tower with the images of `phases`, write
/// [`READING_FILE`] into `run`, and return the model with the trained tower. A model without a
/// vision tower is an error; records without images skip the stage (the report says so).
#[allow(clippy::too_many_arguments)]
pub(crate) fn read_first<B: AutodiffBackend>(
    stage: &ReadingStage,
    phases: &[PhaseSpec],
    processor: &Processor,
    model_config: &VlmConfig,
    mut model: Vlm<B>,
    seed: u64,
    run: &Path,
    device: &B::Device,
) -> Result<Vlm<B>> {
    let Some(tower) = model.vision.take() else {
        return Err(TrainError::Config(
            "the reading stage trains the vision tower, but the model has none".into(),
        ));
    };
    let Some(first) = phases.first() else {
        return Err(TrainError::Config("the run has no phase".into()));
    };
    let refuse = |message: String| TrainError::Data {
        path: first.data_dir.clone(),
        message,
    };
    let Collected {
        examples,
        labels: names,
        slots,
    } = collect(stage, phases, processor)?;
    if examples.is_empty() {
        model.vision = Some(tower);
        write_report(
            run,
            &ReadingReport::skipped("the run's records hold no image"),
        )?;
        return Ok(model);
    }
    if examples.len() < 2 {
        return Err(refuse(
            "the reading stage needs at least 2 distinct images (one held out); the run's \
             records hold 1"
                .into(),
        ));
    }
    if names.len() < 2 {
        return Err(refuse(format!(
            "the reading stage names what the images' cells show, but the cells of these {} \
             images show nothing or all the same: there is nothing to learn to read (a \
             renderer that lays out no named cell, e.g. Visual Analogy's panels)",
            examples.len()
        )));
    }
    let held_out = (examples.len() / 10).max(1);
    let (train, test) = examples.split_at(examples.len() - held_out);

    // The head's weights are drawn from the run's seed, not from the backend's shared generator.
    let mut rng = ChaCha12Rng::seed_from_u64(seed);
    let tokens = tower.grid * tower.grid;
    let channels = model_config.vision.as_ref().map_or(0, |v| v.out_channels());
    let code = seeded_linear(tokens * channels, CODE, &mut rng, device);
    let head = seeded_linear(CODE, slots * names.len(), &mut rng, device);
    let mut reader = Reader {
        tower,
        code,
        head,
        slots,
    };
    let mut optim = AdamConfig::new().init::<B, Reader<B>>();
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let size = processor.image_size;
    let mut final_loss = f32::NAN;
    for step in 1..=stage.steps {
        let batch: Vec<&Example> = (0..stage.batch_size)
            .map(|_| &train[(rng.next_u64() % train.len() as u64) as usize])
            .collect();
        let logits = reader.forward(&batch, size, device);
        let loss = loss_fn.forward(logits, labels(&batch, device));
        final_loss = loss.clone().into_scalar().elem::<f32>();
        if !final_loss.is_finite() {
            return Err(TrainError::Diverged {
                step: 0,
                what: format!("the reading stage's loss is {final_loss} at its update {step}"),
                last_checkpoint: None,
            });
        }
        let grads = GradientsParams::from_grads(loss.backward(), &reader);
        reader = optim.step(stage.lr, reader, grads);
    }

    let (held_out_accuracy, chance) = measure(&reader.valid(), train, test, size, device);
    write_report(
        run,
        &ReadingReport {
            skipped: None,
            train_images: train.len(),
            held_out_images: test.len(),
            cells: slots,
            labels: names.len(),
            steps: stage.steps,
            final_loss,
            held_out_accuracy,
            chance,
        },
    )?;
    model.vision = Some(reader.tower);
    Ok(model)
}

/// A linear layer of uniform weights in ±1/√d_in (Burn's default range) drawn from `rng`, and a
/// zero bias.
fn seeded_linear<B: Backend>(
    d_in: usize,
    d_out: usize,
    rng: &mut ChaCha12Rng,
    device: &B::Device,
) -> Linear<B> {
    let bound = 1.0 / (d_in.max(1) as f64).sqrt();
    let weights: Vec<f32> = (0..d_in * d_out)
        .map(|_| {
            let unit = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            ((2.0 * unit - 1.0) * bound) as f32
        })
        .collect();
    Linear {
        weight: Param::from_tensor(Tensor::from_data(
            TensorData::new(weights, [d_in, d_out]),
            device,
        )),
        bias: Some(Param::from_tensor(Tensor::zeros([d_out], device))),
    }
}

fn write_report(run: &Path, report: &ReadingReport) -> Result<()> {
    write_atomically(&run.join(READING_FILE), to_json(report, true)?.as_bytes())
}

/// Held-out accuracy, and chance: the most frequent training label of each cell position.
fn measure<B: Backend>(
    reader: &Reader<B>,
    train: &[Example],
    test: &[Example],
    size: usize,
    device: &B::Device,
) -> (f64, f64) {
    let mut counts: BTreeMap<usize, BTreeMap<usize, usize>> = BTreeMap::new();
    for t in train.iter().flat_map(|e| &e.targets) {
        *counts
            .entry(t.slot)
            .or_default()
            .entry(t.label)
            .or_default() += 1;
    }
    let majority: BTreeMap<usize, usize> = counts
        .into_iter()
        .filter_map(|(slot, c)| {
            // The most frequent label, the first of equals.
            let best = c
                .into_iter()
                .max_by_key(|&(label, n)| (n, usize::MAX - label))?;
            Some((slot, best.0))
        })
        .collect();
    let (mut right, mut guessed, mut cells) = (0usize, 0usize, 0usize);
    for chunk in test.chunks(32) {
        let batch: Vec<&Example> = chunk.iter().collect();
        let predicted = reader.forward(&batch, size, device).argmax(1);
        let predicted: Vec<i64> = predicted.into_data().iter::<i64>().collect();
        for (t, p) in batch.iter().flat_map(|e| &e.targets).zip(predicted) {
            right += usize::from(p == t.label as i64);
            guessed += usize::from(majority.get(&t.slot) == Some(&t.label));
            cells += 1;
        }
    }
    let share = |a: usize| a as f64 / cells.max(1) as f64;
    (share(right), share(guessed))
}

/// What [`collect`] gathers.
struct Collected {
    examples: Vec<Example>,
    /// The distinct things a cell shows, sorted (an unnamed cell is `""`).
    labels: Vec<String>,
    /// Distinct cell positions.
    slots: usize,
}

/// The distinct images of `phases`' records (at most `stage.images`), each with its cells.
fn collect(stage: &ReadingStage, phases: &[PhaseSpec], processor: &Processor) -> Result<Collected> {
    let mut seen = HashSet::new();
    let mut wanted: Vec<(PathBuf, Layout)> = Vec::new();
    'phases: for phase in phases {
        for record in read_records(&phase.data_dir)? {
            if let (Some(image), Some(layout)) = (record.image, record.layout) {
                let path = phase.data_dir.join(image);
                if seen.insert(path.clone()) {
                    wanted.push((path, layout));
                    if wanted.len() == stage.images {
                        break 'phases;
                    }
                }
            }
        }
    }
    let cells = |layout: &Layout| -> Vec<(Cell, String)> {
        layout
            .regions
            .iter()
            .filter(|r| r.role == Role::Cell)
            .filter_map(|r| Some((r.cell?, r.shows.clone().unwrap_or_default())))
            .collect()
    };
    let mut labels = BTreeSet::new();
    let mut positions = BTreeSet::new();
    for (_, layout) in &wanted {
        for (cell, shows) in cells(layout) {
            positions.insert(cell);
            labels.insert(shows);
        }
    }
    let labels: Vec<String> = labels.into_iter().collect();
    let positions: Vec<Cell> = positions.into_iter().collect();
    let examples = wanted
        .par_iter()
        .map(|(path, layout)| {
            let pixels = processor.load_image(path)?;
            let targets = cells(layout)
                .into_iter()
                .filter_map(|(cell, shows)| {
                    Some(Target {
                        label: labels.binary_search(&shows).ok()?,
                        slot: positions.binary_search(&cell).ok()?,
                    })
                })
                .collect();
            Ok(Example { pixels, targets })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Collected {
        examples,
        labels,
        slots: positions.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_settings_are_checked() {
        assert!(ReadingStage::default().validate().is_ok());
        for bad in [
            ReadingStage {
                steps: 0,
                ..Default::default()
            },
            ReadingStage {
                lr: 0.0,
                ..Default::default()
            },
            ReadingStage {
                lr: f64::NAN,
                ..Default::default()
            },
            ReadingStage {
                batch_size: 0,
                ..Default::default()
            },
            ReadingStage {
                images: 1,
                ..Default::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}

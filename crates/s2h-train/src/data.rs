//! Training data in memory: every record tokenized once, images decoded once per phase (kept as
//! bytes), and the batch order of an epoch as a pure function of (seed, phase, epoch) — so the
//! data position of a run is just (phase, step).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rand_chacha::ChaCha12Rng;
use rand_core::{RngCore, SeedableRng};
use rayon::prelude::*;
use s2h_mixture::{Component, Record, SegmentKind};
use s2h_vlm::burn::prelude::*;
use s2h_vlm::{Processor, special};

use crate::Result;

/// One phase of a run as the trainer sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseSpec {
    pub label: String,
    pub data_dir: PathBuf,
    pub lr: f64,
    pub trainable: Vec<Component>,
}

/// A tokenized record; its image (if any) lives in [`PhaseData::images`].
#[derive(Debug, Clone, PartialEq)]
pub struct TokenizedRecord {
    pub id: String,
    pub input_ids: Vec<u32>,
    pub loss_mask: Vec<bool>,
    /// Index into the phase's images.
    pub image: Option<usize>,
    /// Tokens scored by the loss (targets after the first position).
    pub n_targets: usize,
}

/// Tokenize like [`Processor::encode`] without reading the image (the placeholder is expanded
/// all the same), so every phase can be checked before training starts.
pub fn tokenize(
    processor: &Processor,
    record: &Record,
    targets: &[SegmentKind],
) -> Result<TokenizedRecord> {
    let encoded = processor.tokenize(record, targets)?;
    let n_targets = encoded.loss_mask.iter().skip(1).filter(|m| **m).count();
    Ok(TokenizedRecord {
        id: encoded.id,
        input_ids: encoded.input_ids,
        loss_mask: encoded.loss_mask,
        image: None,
        n_targets,
    })
}

/// A phase's records, tokenized, with their images.
#[derive(Debug, Clone)]
pub struct PhaseData {
    pub records: Vec<TokenizedRecord>,
    /// Relative image paths, in the order of first use.
    pub image_paths: Vec<String>,
    /// Decoded images as bytes (`[3, size, size]`, value `round((x + 1) * 127.5)` of the
    /// processor's normalised pixels — which converts back to exactly the same floats), filled by
    /// [`PhaseData::load_images`].
    pub images: Vec<Vec<u8>>,
}

impl PhaseData {
    /// Tokenize `records` (images are only named here).
    pub fn tokenize(
        processor: &Processor,
        records: &[Record],
        targets: &[SegmentKind],
    ) -> Result<Self> {
        let mut tokenized: Vec<TokenizedRecord> = records
            .par_iter()
            .map(|r| tokenize(processor, r, targets))
            .collect::<Result<_>>()?;
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut image_paths = Vec::new();
        for (t, r) in tokenized.iter_mut().zip(records) {
            if let Some(path) = &r.image {
                let next = image_paths.len();
                let i = *index.entry(path.as_str()).or_insert(next);
                if i == next {
                    image_paths.push(path.clone());
                }
                t.image = Some(i);
            }
        }
        Ok(PhaseData {
            records: tokenized,
            image_paths,
            images: Vec::new(),
        })
    }

    /// Decode every image of the phase once (in parallel).
    pub fn load_images(&mut self, processor: &Processor, data_dir: &Path) -> Result<()> {
        self.images = self
            .image_paths
            .par_iter()
            .map(|rel| {
                let pixels = processor.load_image(&data_dir.join(rel))?;
                Ok(pixels
                    .iter()
                    .map(|&x| ((x + 1.0) * 127.5).round().clamp(0.0, 255.0) as u8)
                    .collect())
            })
            .collect::<Result<_>>()?;
        Ok(())
    }

    pub fn lengths(&self) -> Vec<usize> {
        self.records.iter().map(|r| r.input_ids.len()).collect()
    }
}

/// The tensors of one micro-batch, padded on the right to its longest record.
pub struct MicroBatch<B: Backend> {
    pub input_ids: Tensor<B, 2, Int>,
    pub loss_mask: Tensor<B, 2>,
    pub images: Option<Tensor<B, 4>>,
    /// Loss tokens of the micro-batch.
    pub n_targets: usize,
    /// Real (unpadded) tokens.
    pub n_tokens: usize,
}

/// Build the tensors of records `rows` of `data`.
pub fn micro_batch<B: Backend>(
    data: &PhaseData,
    rows: &[usize],
    image_size: usize,
    device: &B::Device,
) -> MicroBatch<B> {
    let b = rows.len();
    let t = rows
        .iter()
        .map(|&i| data.records[i].input_ids.len())
        .max()
        .unwrap_or(1);
    let mut ids = vec![special::PAD_ID as i64; b * t];
    let mut mask = vec![0.0f32; b * t];
    let mut n_targets = 0;
    let mut n_tokens = 0;
    for (row, &i) in rows.iter().enumerate() {
        let r = &data.records[i];
        for (j, (&id, &m)) in r.input_ids.iter().zip(&r.loss_mask).enumerate() {
            ids[row * t + j] = id as i64;
            mask[row * t + j] = if m { 1.0 } else { 0.0 };
        }
        n_targets += r.n_targets;
        n_tokens += r.input_ids.len();
    }
    let any_image = rows.iter().any(|&i| data.records[i].image.is_some());
    let images = (any_image && image_size > 0).then(|| {
        let plane = 3 * image_size * image_size;
        let mut pixels = vec![0.0f32; b * plane];
        for (row, &i) in rows.iter().enumerate() {
            if let Some(img) = data.records[i].image.and_then(|k| data.images.get(k)) {
                for (dst, &v) in pixels[row * plane..(row + 1) * plane].iter_mut().zip(img) {
                    // The processor's normalisation, applied to the same byte.
                    *dst = v as f32 / 127.5 - 1.0;
                }
            }
        }
        Tensor::from_data(
            TensorData::new(pixels, [b, 3, image_size, image_size]),
            device,
        )
    });
    MicroBatch {
        input_ids: Tensor::from_data(TensorData::new(ids, [b, t]), device),
        loss_mask: Tensor::from_data(TensorData::new(mask, [b, t]), device),
        images,
        n_targets,
        n_tokens,
    }
}

/// Global batches per epoch (the last one may be smaller).
pub fn batches_per_epoch(n_records: usize, batch: usize) -> u64 {
    n_records.div_ceil(batch.max(1)) as u64
}

fn shuffle<T>(items: &mut [T], rng: &mut ChaCha12Rng) {
    for i in (1..items.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// The global batches of one epoch, as record indices. A seeded permutation of the records
/// (stream derived from `phase` and `epoch`), cut into windows of `bucket_batches` batches; each
/// window is sorted by length before it is cut into batches, so a batch holds records of similar
/// length (little padding); then the batch order is shuffled.
pub fn epoch_batches(
    lengths: &[usize],
    batch: usize,
    seed: u64,
    phase: usize,
    epoch: u64,
    bucket_batches: usize,
) -> Vec<Vec<usize>> {
    let batch = batch.max(1);
    let mut rng = ChaCha12Rng::seed_from_u64(seed);
    rng.set_stream(((phase as u64) << 40) ^ epoch);
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    shuffle(&mut order, &mut rng);
    if bucket_batches > 0 {
        for window in order.chunks_mut(batch * bucket_batches) {
            window.sort_by_key(|&i| lengths[i]);
        }
    }
    let mut batches: Vec<Vec<usize>> = order.chunks(batch).map(<[usize]>::to_vec).collect();
    if bucket_batches > 0 {
        shuffle(&mut batches, &mut rng);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_order_is_a_seeded_permutation_with_similar_lengths_per_batch() {
        let lengths: Vec<usize> = (0..103).map(|i| 10 + (i * 37) % 90).collect();
        let a = epoch_batches(&lengths, 8, 7, 0, 0, 4);
        assert_eq!(a, epoch_batches(&lengths, 8, 7, 0, 0, 4));
        assert_ne!(a, epoch_batches(&lengths, 8, 7, 0, 1, 4));
        assert_ne!(a, epoch_batches(&lengths, 8, 7, 1, 0, 4));
        assert_ne!(a, epoch_batches(&lengths, 8, 8, 0, 0, 4));
        let mut all: Vec<usize> = a.iter().flatten().copied().collect();
        all.sort();
        assert_eq!(all, (0..103).collect::<Vec<_>>());
        assert_eq!(a.len() as u64, batches_per_epoch(103, 8));
        let padding = |batches: &[Vec<usize>]| -> usize {
            batches
                .iter()
                .map(|b| {
                    let max = b.iter().map(|&i| lengths[i]).max().unwrap_or(0);
                    b.iter().map(|&i| max - lengths[i]).sum::<usize>()
                })
                .sum()
        };
        let unbucketed = epoch_batches(&lengths, 8, 7, 0, 0, 0);
        assert!(padding(&a) * 2 < padding(&unbucketed));
    }
}

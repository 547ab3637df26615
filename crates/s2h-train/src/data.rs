//! Training data in memory: every record tokenized once, images decoded once per phase (kept as
//! bytes), batches through the model's one batcher, and the batch order of an epoch as a pure
//! function of (seed, phase, epoch) — so the data position of a run is just (phase, step).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use rand_chacha::ChaCha12Rng;
use rand_core::{RngCore, SeedableRng};
use rayon::prelude::*;
use s2h_mixture::{Component, Record, SegmentKind};
use s2h_vlm::burn::prelude::*;
use s2h_vlm::{Batch, BatchRow, Padding};

use crate::processor::{EncodedRecord, Processor};
use crate::{Result, TrainError};

/// One phase of a run as the trainer sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseSpec {
    pub label: String,
    pub data_dir: PathBuf,
    /// Peak learning rate (for a phase that `continues`, that of the phase it continues).
    pub lr: f64,
    pub trainable: Vec<Component>,
    /// Whether the phase continues the one before it: it keeps that phase's optimizer state and
    /// its schedule runs on from it (see `schedule::phase_schedules`).
    pub continues: bool,
}

/// A phase's records, tokenized, with their images once loaded.
#[derive(Debug, Clone)]
pub struct PhaseData {
    pub records: Vec<EncodedRecord>,
    /// Each image of the phase as `[3, size, size]` bytes ([`Processor::load_image`]), by the
    /// path the records name; filled by [`PhaseData::load_images`].
    pub images: HashMap<String, Vec<u8>>,
}

impl PhaseData {
    /// Tokenize `records` (images are only named here), in parallel.
    pub fn encode(
        processor: &Processor,
        records: &[Record],
        targets: &[SegmentKind],
    ) -> Result<Self> {
        Ok(PhaseData {
            records: records
                .par_iter()
                .map(|r| processor.encode(r, targets))
                .collect::<Result<_>>()?,
            images: HashMap::new(),
        })
    }

    /// Decode every image of the phase once (in parallel).
    pub fn load_images(&mut self, processor: &Processor, data_dir: &Path) -> Result<()> {
        let paths: HashSet<&str> = self
            .records
            .iter()
            .filter_map(|r| r.image.as_deref())
            .collect();
        self.images = paths
            .into_par_iter()
            .map(|rel| Ok((rel.to_string(), processor.load_image(&data_dir.join(rel))?)))
            .collect::<Result<_>>()?;
        Ok(())
    }

    pub fn lengths(&self) -> Vec<usize> {
        self.records.iter().map(|r| r.input_ids.len()).collect()
    }

    /// The batch of records `rows`, padded on the right to its longest record.
    pub fn batch<B: Backend>(
        &self,
        rows: &[usize],
        image_size: usize,
        device: &B::Device,
    ) -> Result<Batch<B>> {
        let rows: Vec<BatchRow<'_>> = rows
            .iter()
            .map(|&i| {
                let r = &self.records[i];
                let image = match &r.image {
                    Some(path) => {
                        Some(self.images.get(path).ok_or_else(|| TrainError::Record {
                            id: r.id.clone(),
                            message: format!("its image `{path}` was not loaded"),
                        })?)
                    }
                    None => None,
                };
                Ok(r.row(image.map(Vec::as_slice)))
            })
            .collect::<Result<_>>()?;
        Ok(s2h_vlm::batch::batch(
            &rows,
            Padding::Right,
            image_size,
            device,
        )?)
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

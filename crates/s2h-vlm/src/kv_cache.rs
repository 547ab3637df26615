//! Key/value cache for incremental decoding: each layer keeps the keys and values of every
//! position seen so far, so a new token attends to them without recomputing the sequence.

use burn::prelude::*;

/// Keys and values of one attention layer, `[batch, kv_heads, len, head_dim]` each.
#[derive(Debug, Clone)]
pub struct LayerCache<B: Backend> {
    pub keys: Tensor<B, 4>,
    pub values: Tensor<B, 4>,
}

/// The cache of a whole decoder.
///
/// A batch of prompts of different lengths is left-padded: row `r` starts with `pads[r]`
/// padding tokens, which no real token attends to, and its real tokens take positions from 0 as
/// if the row were alone (so its output is the same as decoding it alone). Tokens appended later
/// are real in every row, so the padding is fixed at creation.
#[derive(Debug, Clone)]
pub struct KvCache<B: Backend> {
    pub(crate) layers: Vec<Option<LayerCache<B>>>,
    len: usize,
    pads: Option<Vec<usize>>,
}

impl<B: Backend> KvCache<B> {
    /// An empty cache for a decoder of `n_layers` layers; every row shares its positions.
    pub fn new(n_layers: usize) -> Self {
        KvCache {
            layers: vec![None; n_layers],
            len: 0,
            pads: None,
        }
    }

    /// An empty cache for a left-padded batch: `pads[r]` padding tokens open row `r` of the
    /// first call (the prefill), which must hold `pads.len()` rows.
    pub fn with_left_padding(n_layers: usize, pads: Vec<usize>) -> Self {
        // No padding at all is the shared-position case: keep its cheaper path.
        let pads = pads.iter().any(|&p| p > 0).then_some(pads);
        KvCache {
            layers: vec![None; n_layers],
            len: 0,
            pads,
        }
    }

    /// Left padding per row, if the batch is padded.
    pub fn pads(&self) -> Option<&[usize]> {
        self.pads.as_deref()
    }

    /// Sequence slots cached so far, padding included (the index of the next token; with left
    /// padding, row `r`'s next position is this minus `pads[r]`).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn advance(&mut self, by: usize) {
        self.len += by;
    }

    /// Forget everything (start a new sequence without padding).
    pub fn clear(&mut self) {
        self.layers.iter_mut().for_each(|l| *l = None);
        self.len = 0;
        self.pads = None;
    }
}

impl<B: Backend> LayerCache<B> {
    /// Append new keys/values along the sequence axis and return the full ones.
    pub(crate) fn append(
        slot: &mut Option<LayerCache<B>>,
        keys: Tensor<B, 4>,
        values: Tensor<B, 4>,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let (keys, values) = match slot.take() {
            Some(old) => (
                Tensor::cat(vec![old.keys, keys], 2),
                Tensor::cat(vec![old.values, values], 2),
            ),
            None => (keys, values),
        };
        *slot = Some(LayerCache {
            keys: keys.clone(),
            values: values.clone(),
        });
        (keys, values)
    }
}

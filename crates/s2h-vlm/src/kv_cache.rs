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
#[derive(Debug, Clone)]
pub struct KvCache<B: Backend> {
    pub(crate) layers: Vec<Option<LayerCache<B>>>,
    len: usize,
}

impl<B: Backend> KvCache<B> {
    /// An empty cache for a decoder of `n_layers` layers.
    pub fn new(n_layers: usize) -> Self {
        KvCache {
            layers: vec![None; n_layers],
            len: 0,
        }
    }

    /// Positions cached so far (the position of the next token).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn advance(&mut self, by: usize) {
        self.len += by;
    }

    /// Forget everything (start a new sequence).
    pub fn clear(&mut self) {
        self.layers.iter_mut().for_each(|l| *l = None);
        self.len = 0;
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

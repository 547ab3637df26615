//! The VLM: vision tower → projector → image tokens placed at the `<image>` positions of the
//! token sequence → decoder.

use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;

use crate::Result;
use crate::config::{ProjectorConfig, VlmConfig};
use crate::decoder::Decoder;
use crate::kv_cache::KvCache;
use crate::projector::Projector;
use crate::vision::VisionTower;

#[derive(Module, Debug)]
pub struct Vlm<B: Backend> {
    pub vision: Option<VisionTower<B>>,
    pub projector: Option<Projector<B>>,
    pub decoder: Decoder<B>,
    pub image_token_id: usize,
    pub n_image_tokens: usize,
    /// Side of the square input image (0 without a vision tower).
    pub image_size: usize,
}

/// Held from seeding the backend's generator to the end of drawing a model's weights: Burn's
/// generator is global per backend, so two initialisations in one process (parallel tests, two
/// runs side by side) would otherwise draw from each other's stream. Burn initialises parameters
/// lazily, on first use; [`Materialise`] draws them all before the lock is released.
static INIT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl VlmConfig {
    /// Build the model with freshly initialised weights from the backend's generator as it
    /// stands; fails on an inconsistent configuration. For weights that a seed fixes, use
    /// [`VlmConfig::init_seeded`].
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<Vlm<B>> {
        let _turn = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        self.init_unlocked(device)
    }

    /// Build the model with the weights `seed` gives: the same seed, the same starting weights,
    /// even with other models being initialised on other threads.
    pub fn init_seeded<B: Backend>(&self, seed: u64, device: &B::Device) -> Result<Vlm<B>> {
        let _turn = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        B::seed(device, seed);
        self.init_unlocked(device)
    }

    /// Build and draw every weight now (the caller holds [`INIT_LOCK`]).
    fn init_unlocked<B: Backend>(&self, device: &B::Device) -> Result<Vlm<B>> {
        let model = self.build::<B>(device)?;
        model.visit(&mut Materialise);
        Ok(model)
    }

    fn build<B: Backend>(&self, device: &B::Device) -> Result<Vlm<B>> {
        self.validate()?;
        let vision = self.vision.as_ref().map(|v| v.init(device));
        let projector = self
            .vision
            .as_ref()
            .map(|v| ProjectorConfig::new(v.out_channels(), self.decoder.d_model).init(device));
        Ok(Vlm {
            vision,
            projector,
            decoder: self.decoder.init(device),
            image_token_id: self.image_token_id,
            n_image_tokens: self.n_image_tokens(),
            image_size: self.image_size(),
        })
    }
}

impl<B: Backend> Vlm<B> {
    /// The device the weights live on.
    pub fn device(&self) -> B::Device {
        self.decoder.embed_tokens.weight.val().device()
    }

    /// The first parameter (by module path, e.g. `decoder.layers.0.attn.q_proj.weight`) holding a
    /// NaN or an infinity; `None` when every weight is finite. A diverged run or a damaged file
    /// gives such weights, and a model with them must not be saved or used.
    pub fn non_finite_param(&self) -> Option<String> {
        let mut check = FiniteCheck {
            path: Vec::new(),
            bad: None,
        };
        self.visit(&mut check);
        check.bad
    }

    /// Tokens the context holds.
    pub fn max_seq_len(&self) -> usize {
        self.decoder.max_seq_len
    }

    /// Projected image features `[batch, n_image_tokens, d_model]`, if the model has a vision tower.
    pub fn encode_images(&self, images: Tensor<B, 4>) -> Option<Tensor<B, 3>> {
        let vision = self.vision.as_ref()?;
        let projector = self.projector.as_ref()?;
        Some(projector.forward(vision.forward(images)))
    }

    /// Input embeddings: token embeddings, with the k-th `<image>` token of each row replaced by
    /// the k-th image feature of that row's image. A row holds either no `<image>` token or
    /// exactly `n_image_tokens` of them (the processor expands the placeholder); rows without
    /// image tokens ignore their image.
    pub fn embed(
        &self,
        input_ids: Tensor<B, 2, Int>,
        images: Option<Tensor<B, 4>>,
    ) -> Tensor<B, 3> {
        let text = self.decoder.embed(input_ids.clone());
        let Some(feats) = images.and_then(|im| self.encode_images(im)) else {
            return text;
        };
        let [b, t, d] = text.dims();
        let n = feats.dims()[1];
        let is_image = input_ids.equal_elem(self.image_token_id as i64);
        let index = is_image
            .clone()
            .int()
            .cumsum(1)
            .sub_scalar(1)
            .clamp(0, n.saturating_sub(1) as i64);
        let gathered = feats.gather(1, index.unsqueeze_dim::<3>(2).expand([b, t, d]));
        text.mask_where(is_image.unsqueeze_dim::<3>(2).expand([b, t, d]), gathered)
    }

    /// Logits `[batch, len, vocab]`. `images`: `[batch, 3, size, size]` or `None` for text only.
    pub fn forward(
        &self,
        input_ids: Tensor<B, 2, Int>,
        images: Option<Tensor<B, 4>>,
    ) -> Tensor<B, 3> {
        self.decoder.forward_embeds(self.embed(input_ids, images))
    }

    /// Logits of `input_ids` continuing the sequence in `cache` (incremental decoding). Pass the
    /// images with the call whose tokens hold the `<image>` placeholders (the prefill).
    pub fn forward_cached(
        &self,
        input_ids: Tensor<B, 2, Int>,
        images: Option<Tensor<B, 4>>,
        cache: &mut KvCache<B>,
    ) -> Result<Tensor<B, 3>> {
        self.decoder
            .forward_cached(self.embed(input_ids, images), cache)
    }

    /// An empty KV cache for this model.
    pub fn new_cache(&self) -> KvCache<B> {
        self.decoder.new_cache()
    }

    /// An empty KV cache for a left-padded batch: the prefill's row `r` starts with `pads[r]`
    /// `<pad>` tokens, which are masked out and do not shift the row's positions, so each row
    /// decodes exactly as it would alone.
    pub fn new_padded_cache(&self, pads: Vec<usize>) -> KvCache<B> {
        self.decoder.new_padded_cache(pads)
    }
}

/// Finds the first parameter with a NaN or an infinity: `x * 0` is 0 for every finite `x` and
/// NaN otherwise, so one sum per parameter tells. The module path is kept from the visitor's
/// enter/exit calls.
struct FiniteCheck {
    path: Vec<String>,
    bad: Option<String>,
}

impl<B: Backend> ModuleVisitor<B> for FiniteCheck {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if self.bad.is_some() {
            return;
        }
        let probe: f32 = param.val().mul_scalar(0.0).sum().into_scalar().elem();
        if !probe.is_finite() {
            self.bad = Some(self.path.join("."));
        }
    }
}

/// Touches every parameter, so a lazily initialised one draws its values now.
struct Materialise;

impl<B: Backend> ModuleVisitor<B> for Materialise {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let _ = param.val();
    }
    fn visit_int<const D: usize>(&mut self, param: &Param<Tensor<B, D, Int>>) {
        let _ = param.val();
    }
    fn visit_bool<const D: usize>(&mut self, param: &Param<Tensor<B, D, Bool>>) {
        let _ = param.val();
    }
}

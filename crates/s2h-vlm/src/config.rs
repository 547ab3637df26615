//! Configurations of every model part and the presets `tiny`, `small`, `base`, `quickstart`.

use burn::config::Config;

use crate::{Result, VlmError};

/// The activation of a ViT's MLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// Exact GELU (erf), s2h's own encoders and LLaVA's projector.
    Gelu,
    /// GELU with the tanh approximation (`gelu_pytorch_tanh`, SigLIP).
    GeluTanh,
    /// `x · σ(1.702 x)` (CLIP's `quick_gelu`).
    QuickGelu,
}

/// What a ViT's last LayerNorm applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinalNorm {
    /// No final norm.
    None,
    /// Every output token (s2h's own ViT, SigLIP's `post_layernorm`).
    Tokens,
    /// Only the class token's pooled output, never the tokens a VLM reads (CLIP's
    /// `post_layernorm`): kept so a CLIP checkpoint loads and saves whole.
    Pooled,
}

/// A ViT patch encoder: non-overlapping `patch_size` patches, learned position embeddings,
/// pre-norm transformer blocks with bidirectional attention. The defaults are s2h's own ViT; the
/// options cover CLIP (class token, pre-LayerNorm, quick GELU, no patch bias, a feature layer
/// before the last) and SigLIP (tanh GELU) as their checkpoints need.
#[derive(Config, Debug, PartialEq)]
pub struct VitConfig {
    pub image_size: usize,
    pub patch_size: usize,
    pub d_model: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    #[config(default = 4)]
    pub mlp_ratio: usize,
    /// Hidden width of the MLP when it is not `mlp_ratio × d_model` (SigLIP-so400m: 4304).
    #[config(default = "None")]
    pub d_ff: Option<usize>,
    #[config(default = "Activation::Gelu")]
    pub activation: Activation,
    /// A learned class token before the patches (CLIP); it takes position 0 and is dropped from
    /// the features.
    #[config(default = false)]
    pub class_token: bool,
    /// Whether the class token takes part in attention (CLIP, LLaVA). Eagle's high-resolution
    /// CLIP tower drops it right after the position embeddings, before the pre-norm.
    #[config(default = true)]
    pub class_token_attends: bool,
    /// A LayerNorm on the embeddings before the first block (CLIP's `pre_layrnorm`).
    #[config(default = false)]
    pub pre_norm: bool,
    #[config(default = true)]
    pub patch_bias: bool,
    #[config(default = "FinalNorm::Tokens")]
    pub final_norm: FinalNorm,
    /// The hidden state the features are read from, as Hugging Face indexes `hidden_states`:
    /// 0 the embeddings, k the output of block k, negative from the end (−1 the last block,
    /// LLaVA's −2 the one before). The final norm applies only to the last.
    #[config(default = -1)]
    pub feature_layer: i64,
    #[config(default = 1e-5)]
    pub norm_eps: f64,
}

impl VitConfig {
    /// Side of the token grid.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Hidden width of the MLP.
    pub fn d_ff(&self) -> usize {
        self.d_ff.unwrap_or(self.d_model * self.mlp_ratio)
    }

    /// Blocks the features pass through: `feature_layer` resolved against `n_layers` (`None` when
    /// it lies outside `0..=n_layers`).
    pub fn feature_depth(&self) -> Option<usize> {
        let n = self.n_layers as i64;
        let depth = if self.feature_layer < 0 {
            n + 1 + self.feature_layer
        } else {
            self.feature_layer
        };
        (0..=n).contains(&depth).then_some(depth as usize)
    }
}

/// A small ConvNeXt: a `stem_stride`-patchify stem, then stages of ConvNeXt blocks (7×7
/// depthwise conv, LayerNorm, 4× MLP, layer scale) separated by 2× downsampling.
#[derive(Config, Debug, PartialEq)]
pub struct ConvNextConfig {
    pub image_size: usize,
    /// Channels of each stage.
    pub dims: Vec<usize>,
    /// Blocks in each stage.
    pub depths: Vec<usize>,
    #[config(default = 4)]
    pub stem_stride: usize,
    #[config(default = 7)]
    pub kernel_size: usize,
    /// A LayerNorm on the output tokens (s2h's own ConvNeXt; Eagle reads timm's last stage
    /// without one).
    #[config(default = true)]
    pub final_norm: bool,
    #[config(default = 1e-5)]
    pub norm_eps: f64,
}

impl ConvNextConfig {
    /// Total downsampling from image to feature map.
    pub fn stride(&self) -> usize {
        self.stem_stride << self.dims.len().saturating_sub(1)
    }
    /// Side of the token grid.
    pub fn grid(&self) -> usize {
        self.image_size / self.stride()
    }
    /// Channels of the output feature map.
    pub fn out_channels(&self) -> usize {
        self.dims.last().copied().unwrap_or(0)
    }
}

/// The vision tower: one or both encoders; with both, features are concatenated channel-wise on
/// the shared token grid (the Eagle-X2 design). By default the encoders share the input size and
/// the grid; Eagle-X2's differ (CLIP at 336 px, a 24 × 24 grid; ConvNeXt at 1024 px, 32 × 32):
/// `input_size` is then the image the tower gets, bilinearly resized (corners aligned) to each
/// encoder's own size, and `grid` the common grid each encoder's features are bilinearly resized
/// to.
#[derive(Config, Debug, PartialEq)]
pub struct VisionConfig {
    #[config(default = "None")]
    pub vit: Option<VitConfig>,
    #[config(default = "None")]
    pub convnext: Option<ConvNextConfig>,
    #[config(default = "None")]
    pub input_size: Option<usize>,
    #[config(default = "None")]
    pub grid: Option<usize>,
    /// The per-channel mean and standard deviation (of pixel values in [0, 1]) the encoders were
    /// trained with: 0.5 and 0.5 for s2h's own (pixels in [−1, 1]); CLIP's for CLIP and Eagle.
    #[config(default = "[0.5, 0.5, 0.5]")]
    pub image_mean: [f64; 3],
    #[config(default = "[0.5, 0.5, 0.5]")]
    pub image_std: [f64; 3],
    /// Pad a non-square image to a square of its longer side with the mean colour before
    /// resizing (Eagle's `image_aspect_ratio: pad`), instead of stretching it.
    #[config(default = false)]
    pub pad_to_square: bool,
}

/// CLIP's normalisation (OpenAI CLIP, also Eagle's ConvNeXt).
pub const CLIP_MEAN: [f64; 3] = [0.48145466, 0.4578275, 0.40821073];
pub const CLIP_STD: [f64; 3] = [0.26862954, 0.26130258, 0.27577711];

impl VisionConfig {
    pub fn image_size(&self) -> usize {
        match (self.input_size, &self.vit, &self.convnext) {
            (Some(size), _, _) => size,
            (None, Some(v), _) => v.image_size,
            (None, None, Some(c)) => c.image_size,
            (None, None, None) => 0,
        }
    }
    /// Channels of the concatenated features.
    pub fn out_channels(&self) -> usize {
        self.vit.as_ref().map_or(0, |v| v.d_model)
            + self.convnext.as_ref().map_or(0, |c| c.out_channels())
    }
    /// `(scale, shift)` per channel taking s2h's pixel values `x = byte / 127.5 − 1` to the
    /// encoders' `(byte / 255 − mean) / std`; `None` for mean = std = 0.5, where they agree.
    pub fn pixel_affine(&self) -> Option<([f32; 3], [f32; 3])> {
        if self.image_mean == [0.5; 3] && self.image_std == [0.5; 3] {
            return None;
        }
        let scale = std::array::from_fn(|c| (0.5 / self.image_std[c]) as f32);
        let shift =
            std::array::from_fn(|c| ((0.5 - self.image_mean[c]) / self.image_std[c]) as f32);
        Some((scale, shift))
    }

    /// The mean colour as bytes, the padding of [`VisionConfig::pad_to_square`] (Eagle's
    /// `int(m * 255)`).
    pub fn mean_colour(&self) -> [u8; 3] {
        std::array::from_fn(|c| (self.image_mean[c] * 255.0).clamp(0.0, 255.0) as u8)
    }

    /// Side of the token grid.
    pub fn grid(&self) -> usize {
        match (self.grid, &self.vit, &self.convnext) {
            (Some(g), _, _) => g,
            (None, Some(v), _) => v.grid(),
            (None, None, Some(c)) => c.grid(),
            (None, None, None) => 0,
        }
    }

    /// Number of image tokens (grid × grid).
    pub fn n_tokens(&self) -> usize {
        self.grid() * self.grid()
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(VlmError::InvalidConfig(m));
        if self.vit.is_none() && self.convnext.is_none() {
            return bad("the vision tower needs a ViT, a ConvNeXt, or both".into());
        }
        if let Some(v) = &self.vit {
            if v.patch_size == 0 || v.image_size % v.patch_size != 0 || v.image_size == 0 {
                return bad(format!(
                    "ViT image size {} is not a positive multiple of patch size {}",
                    v.image_size, v.patch_size
                ));
            }
            if v.n_heads == 0 || v.d_model % v.n_heads != 0 {
                return bad(format!(
                    "ViT width {} is not divisible by {} heads",
                    v.d_model, v.n_heads
                ));
            }
            if v.feature_depth().is_none() {
                return bad(format!(
                    "ViT feature layer {} does not exist in {} blocks (0..={} or -1..=-{})",
                    v.feature_layer,
                    v.n_layers,
                    v.n_layers,
                    v.n_layers + 1
                ));
            }
            if v.d_ff() == 0 || !(v.norm_eps.is_finite() && v.norm_eps > 0.0) {
                return bad("ViT MLP width and norm epsilon must be positive".into());
            }
        }
        if let Some(c) = &self.convnext {
            if c.dims.is_empty() || c.dims.len() != c.depths.len() {
                return bad(
                    "ConvNeXt `dims` and `depths` must be non-empty and equally long".into(),
                );
            }
            if c.kernel_size % 2 == 0 {
                return bad("ConvNeXt kernel size must be odd".into());
            }
            if c.image_size % c.stride() != 0 {
                return bad(format!(
                    "ConvNeXt image size {} is not a multiple of its stride {}",
                    c.image_size,
                    c.stride()
                ));
            }
        }
        if self.input_size == Some(0) || self.grid == Some(0) {
            return bad("the vision tower's input size and grid must be positive".into());
        }
        if !self.image_std.iter().all(|s| s.is_finite() && *s > 0.0)
            || !self.image_mean.iter().all(|m| (0.0..=1.0).contains(m))
        {
            return bad(format!(
                "image_mean must lie in [0, 1] and image_std be positive, got {:?} and {:?}",
                self.image_mean, self.image_std
            ));
        }
        if let (Some(v), Some(c)) = (&self.vit, &self.convnext)
            && self.grid.is_none()
            && (v.grid() != c.grid() || (self.input_size.is_none() && v.image_size != c.image_size))
        {
            return bad(format!(
                "ViT and ConvNeXt must share the image size and token grid to concatenate, or \
                 the tower must set `input_size` and `grid` to resize to \
                     (ViT {}px / patch {} = {}, ConvNeXt {}px / stride {} = {})",
                v.image_size,
                v.patch_size,
                v.grid(),
                c.image_size,
                c.stride(),
                c.grid()
            ));
        }
        Ok(())
    }
}

/// The 2-layer MLP projector from vision channels to the LM width.
#[derive(Config, Debug, PartialEq)]
pub struct ProjectorConfig {
    pub d_input: usize,
    pub d_output: usize,
}

/// Llama-3.1's rescaling of RoPE frequencies for long contexts (`rope_type: llama3`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "rope_type", rename_all = "snake_case")]
pub enum RopeScaling {
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: usize,
    },
}

/// The Llama-style decoder (Llama and Qwen2 checkpoints load into it).
#[derive(Config, Debug, PartialEq)]
pub struct DecoderConfig {
    pub vocab_size: usize,
    pub d_model: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    /// Key/value heads (grouped-query attention when fewer than `n_heads`).
    pub n_kv_heads: usize,
    /// Hidden width of the SwiGLU MLP.
    pub d_ff: usize,
    pub max_seq_len: usize,
    #[config(default = 10000.0)]
    pub rope_theta: f32,
    #[config(default = 1e-5)]
    pub norm_eps: f64,
    #[config(default = "None")]
    pub rope_scaling: Option<RopeScaling>,
    /// Width of one attention head when it is not `d_model / n_heads`.
    #[config(default = "None")]
    pub head_dim: Option<usize>,
    /// Biases on the query, key and value projections (Qwen2; never on the output projection).
    #[config(default = false)]
    pub qkv_bias: bool,
    /// The output layer reuses the token embeddings (no `lm_head` weight of its own).
    #[config(default = false)]
    pub tie_word_embeddings: bool,
    /// Learned absolute position embeddings (`max_seq_len × d_model`, GPT-2's) added to the
    /// inputs, besides RoPE. Not part of Llama or Qwen2 (whose checkpoints never have them): the
    /// quickstart's model trained from scratch has them, because with RoPE alone a model of its
    /// size did not learn to look a cell up in a table (docs/quickstart.md).
    #[config(default = false)]
    pub absolute_positions: bool,
}

impl DecoderConfig {
    pub fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.d_model / self.n_heads.max(1))
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(VlmError::InvalidConfig(m));
        if self.n_heads == 0
            || (self.head_dim.is_none() && !self.d_model.is_multiple_of(self.n_heads))
        {
            return bad(format!(
                "decoder width {} is not divisible by {} heads",
                self.d_model, self.n_heads
            ));
        }
        if self.head_dim == Some(0) {
            return bad("head_dim must be positive".into());
        }
        if let Some(RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings,
        }) = self.rope_scaling
            && !(factor >= 1.0
                && low_freq_factor > 0.0
                && high_freq_factor > low_freq_factor
                && original_max_position_embeddings > 0)
        {
            return bad(format!(
                "llama3 rope scaling needs factor ≥ 1, 0 < low_freq_factor < high_freq_factor and \
                 a positive original context; got factor {factor}, low {low_freq_factor}, high \
                 {high_freq_factor}, original {original_max_position_embeddings}"
            ));
        }
        if self.n_kv_heads == 0 || !self.n_heads.is_multiple_of(self.n_kv_heads) {
            return bad(format!(
                "{} query heads are not a multiple of {} key/value heads",
                self.n_heads, self.n_kv_heads
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return bad(format!(
                "RoPE needs an even head dimension, got {}",
                self.head_dim()
            ));
        }
        if self.vocab_size == 0 || self.max_seq_len == 0 {
            return bad("vocabulary size and context length must be positive".into());
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 1.0) {
            return bad(format!(
                "rope_theta must be a finite number above 1 (RoPE's base; 10000 by default), \
                 not {}",
                self.rope_theta
            ));
        }
        if !(self.norm_eps.is_finite() && self.norm_eps > 0.0) {
            return bad(format!(
                "norm_eps must be a small positive number (1e-5 by default), not {}",
                self.norm_eps
            ));
        }
        Ok(())
    }
}

/// The whole VLM. `vision: None` gives a text-only language model.
#[derive(Config, Debug, PartialEq)]
pub struct VlmConfig {
    pub decoder: DecoderConfig,
    #[config(default = "None")]
    pub vision: Option<VisionConfig>,
    /// Token id of the `<image>` placeholder, replaced by the projected image features.
    pub image_token_id: usize,
}

/// Vocabulary size the presets assume; set it from the tokenizer with [`VlmConfig::with_vocab`].
pub const PRESET_VOCAB: usize = 1024;

impl VlmConfig {
    /// About 0.3M parameters: a model that trains in seconds and learns nothing, for tests and
    /// the smoke tier of `cargo xtask reproduce-figures`. Every part is there (a one-layer ViT
    /// and a one-stage ConvNeXt on 16×16 images, a two-layer decoder of width 64); its context of
    /// 4,096 tokens holds the longest records (Visual Analogy with the conversion).
    pub fn micro() -> Self {
        let image = 16;
        VlmConfig::new(
            DecoderConfig::new(PRESET_VOCAB, 64, 2, 4, 2, 128, 4096),
            crate::special::IMAGE_ID as usize,
        )
        .with_vision(Some(
            VisionConfig::new()
                .with_vit(Some(VitConfig::new(image, 4, 16, 1, 2)))
                .with_convnext(Some(ConvNextConfig::new(image, vec![8], vec![1]))),
        ))
    }

    /// About 1M parameters: CPU tests in seconds. 32×32 images, 4×4 token grid.
    pub fn tiny() -> Self {
        let image = 32;
        VlmConfig::new(
            DecoderConfig::new(PRESET_VOCAB, 128, 2, 4, 2, 344, 1024),
            crate::special::IMAGE_ID as usize,
        )
        .with_vision(Some(
            VisionConfig::new()
                .with_vit(Some(VitConfig::new(image, 8, 96, 2, 4)))
                .with_convnext(Some(ConvNextConfig::new(image, vec![16, 32], vec![1, 1]))),
        ))
    }

    /// About 15M parameters: CPU experiments. 128×128 images, 8×8 token grid.
    pub fn small() -> Self {
        let image = 128;
        VlmConfig::new(
            DecoderConfig::new(PRESET_VOCAB, 384, 8, 6, 2, 1024, 2048),
            crate::special::IMAGE_ID as usize,
        )
        .with_vision(Some(
            VisionConfig::new()
                .with_vit(Some(VitConfig::new(image, 16, 192, 4, 4)))
                .with_convnext(Some(ConvNextConfig::new(
                    image,
                    vec![32, 64, 128],
                    vec![1, 1, 2],
                ))),
        ))
    }

    /// About 100M parameters: GPU runs. 224×224 images, 14×14 token grid.
    pub fn base() -> Self {
        let image = 224;
        VlmConfig::new(
            DecoderConfig::new(PRESET_VOCAB, 768, 12, 12, 4, 2048, 4096),
            crate::special::IMAGE_ID as usize,
        )
        .with_vision(Some(
            VisionConfig::new()
                .with_vit(Some(VitConfig::new(image, 16, 384, 8, 6)))
                .with_convnext(Some(ConvNextConfig::new(
                    image,
                    vec![64, 128, 256],
                    vec![2, 2, 6],
                ))),
        ))
    }

    /// The quickstart's model: a 3-layer decoder of width 128 with learned absolute positions
    /// besides RoPE (0.8M parameters with the compact tokenizer) and a small ViT on 96×96
    /// images, the size that learned the quickstart scale of CTR fastest on 2 cores among those
    /// tried (docs/quickstart.md).
    pub fn quickstart() -> Self {
        VlmConfig::new(
            DecoderConfig::new(PRESET_VOCAB, 128, 3, 4, 4, 344, 512).with_absolute_positions(true),
            crate::special::IMAGE_ID as usize,
        )
        .with_vision(Some(
            VisionConfig::new().with_vit(Some(VitConfig::new(96, 12, 96, 2, 4))),
        ))
    }

    /// A preset by name: `tiny`, `small`, `base` or `quickstart`.
    pub fn preset(name: &str) -> Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "tiny" => Ok(Self::tiny()),
            "small" => Ok(Self::small()),
            "base" => Ok(Self::base()),
            "quickstart" => Ok(Self::quickstart()),
            _ => Err(VlmError::UnknownPreset(name.to_string())),
        }
    }

    /// The same model with the vocabulary (and image token id) of a tokenizer.
    pub fn with_vocab(mut self, tokenizer: &crate::VlmTokenizer) -> Self {
        self.decoder.vocab_size = tokenizer.vocab_size();
        self.image_token_id = tokenizer.image_id() as usize;
        self
    }

    /// Image tokens per image (0 without a vision tower).
    pub fn n_image_tokens(&self) -> usize {
        self.vision.as_ref().map_or(0, |v| v.n_tokens())
    }

    /// Side of the square input image (0 without a vision tower).
    pub fn image_size(&self) -> usize {
        self.vision.as_ref().map_or(0, |v| v.image_size())
    }

    pub fn validate(&self) -> Result<()> {
        self.decoder.validate()?;
        if let Some(v) = &self.vision {
            v.validate()?;
            if v.n_tokens() >= self.decoder.max_seq_len {
                return Err(VlmError::InvalidConfig(format!(
                    "{} image tokens do not fit a context of {}",
                    v.n_tokens(),
                    self.decoder.max_seq_len
                )));
            }
        }
        if self.image_token_id >= self.decoder.vocab_size {
            return Err(VlmError::InvalidConfig(format!(
                "image token id {} is outside the vocabulary of {}",
                self.image_token_id, self.decoder.vocab_size
            )));
        }
        Ok(())
    }

    /// The number of parameters, computed from the configuration alone (no allocation).
    pub fn num_params(&self) -> usize {
        let d = &self.decoder;
        let hd = d.head_dim();
        let mut attn = d.d_model * d.n_heads * hd * 2 + d.d_model * d.n_kv_heads * hd * 2;
        if d.qkv_bias {
            attn += (d.n_heads + 2 * d.n_kv_heads) * hd;
        }
        let mlp = 3 * d.d_model * d.d_ff;
        let layer = attn + mlp + 2 * d.d_model;
        let heads = if d.tie_word_embeddings { 1 } else { 2 };
        let mut n = heads * d.vocab_size * d.d_model + d.n_layers * layer + d.d_model;
        if d.absolute_positions {
            n += d.max_seq_len * d.d_model;
        }
        if let Some(v) = &self.vision {
            if let Some(vit) = &v.vit {
                let w = vit.d_model;
                let f = vit.d_ff();
                let cls = usize::from(vit.class_token);
                let patch =
                    3 * vit.patch_size * vit.patch_size * w + usize::from(vit.patch_bias) * w;
                let pos = (vit.grid() * vit.grid() + cls) * w;
                let block = 2 * 2 * w + (4 * w * w + 4 * w) + (2 * w * f + f + w);
                let norms =
                    usize::from(vit.pre_norm) + usize::from(vit.final_norm != FinalNorm::None);
                n += patch + pos + cls * w + vit.n_layers * block + norms * 2 * w;
            }
            if let Some(c) = &v.convnext {
                let k = c.kernel_size;
                let d0 = c.dims.first().copied().unwrap_or(0);
                let stem = 3 * c.stem_stride * c.stem_stride * d0 + d0 + 2 * d0;
                n += stem;
                for (i, (&dim, &depth)) in c.dims.iter().zip(&c.depths).enumerate() {
                    if i > 0 {
                        let prev = c.dims[i - 1];
                        n += 2 * prev + prev * dim * 4 + dim;
                    }
                    let block = dim * k * k
                        + dim
                        + 2 * dim
                        + (dim * 4 * dim + 4 * dim)
                        + (4 * dim * dim + dim)
                        + dim;
                    n += depth * block;
                }
                if c.final_norm {
                    n += 2 * c.out_channels();
                }
            }
            let ci = v.out_channels();
            n += ci * d.d_model + d.d_model + d.d_model * d.d_model + d.d_model;
        }
        n
    }
}

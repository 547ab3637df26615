//! Configurations of every model part and the presets `tiny`, `small`, `base`.

use burn::config::Config;

use crate::{Result, VlmError};

/// A ViT patch encoder: non-overlapping `patch_size` patches, learned position embeddings,
/// pre-norm transformer blocks with bidirectional attention.
#[derive(Config, Debug, PartialEq)]
pub struct VitConfig {
    pub image_size: usize,
    pub patch_size: usize,
    pub d_model: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    #[config(default = 4)]
    pub mlp_ratio: usize,
}

impl VitConfig {
    /// Side of the token grid.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
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
/// the shared token grid (the Eagle-X2 design).
#[derive(Config, Debug, PartialEq)]
pub struct VisionConfig {
    #[config(default = "None")]
    pub vit: Option<VitConfig>,
    #[config(default = "None")]
    pub convnext: Option<ConvNextConfig>,
}

impl VisionConfig {
    pub fn image_size(&self) -> usize {
        match (&self.vit, &self.convnext) {
            (Some(v), _) => v.image_size,
            (None, Some(c)) => c.image_size,
            (None, None) => 0,
        }
    }
    /// Channels of the concatenated features.
    pub fn out_channels(&self) -> usize {
        self.vit.as_ref().map_or(0, |v| v.d_model)
            + self.convnext.as_ref().map_or(0, |c| c.out_channels())
    }
    /// Number of image tokens (grid × grid).
    pub fn n_tokens(&self) -> usize {
        let grid = match (&self.vit, &self.convnext) {
            (Some(v), _) => v.grid(),
            (None, Some(c)) => c.grid(),
            (None, None) => 0,
        };
        grid * grid
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
        if let (Some(v), Some(c)) = (&self.vit, &self.convnext)
            && (v.image_size != c.image_size || v.grid() != c.grid())
        {
            return bad(format!(
                "ViT and ConvNeXt must share the image size and token grid to concatenate \
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

/// The Llama-style decoder.
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
}

impl DecoderConfig {
    pub fn head_dim(&self) -> usize {
        self.d_model / self.n_heads.max(1)
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(VlmError::InvalidConfig(m));
        if self.n_heads == 0 || !self.d_model.is_multiple_of(self.n_heads) {
            return bad(format!(
                "decoder width {} is not divisible by {} heads",
                self.d_model, self.n_heads
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

    /// The quickstart's model: a 3-layer decoder of width 128 (0.7M parameters with the compact
    /// tokenizer) and a small ViT on 96×96 images, the size that learned the quickstart scale of
    /// CTR fastest on 2 cores among those tried (docs/quickstart.md).
    pub fn quickstart() -> Self {
        VlmConfig::new(
            DecoderConfig::new(PRESET_VOCAB, 128, 3, 4, 4, 344, 512),
            crate::special::IMAGE_ID as usize,
        )
        .with_vision(Some(
            VisionConfig::new().with_vit(Some(VitConfig::new(96, 12, 96, 2, 4))),
        ))
    }

    /// A preset by name: `tiny`, `small` or `base`.
    pub fn preset(name: &str) -> Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "tiny" => Ok(Self::tiny()),
            "small" => Ok(Self::small()),
            "base" => Ok(Self::base()),
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
        let attn = d.d_model * d.n_heads * hd * 2 + d.d_model * d.n_kv_heads * hd * 2;
        let mlp = 3 * d.d_model * d.d_ff;
        let layer = attn + mlp + 2 * d.d_model;
        let mut n = 2 * d.vocab_size * d.d_model + d.n_layers * layer + d.d_model;
        if let Some(v) = &self.vision {
            if let Some(vit) = &v.vit {
                let w = vit.d_model;
                let patch = 3 * vit.patch_size * vit.patch_size * w + w;
                let pos = vit.grid() * vit.grid() * w;
                let block = 2 * 2 * w
                    + (4 * w * w + 4 * w)
                    + (w * w * vit.mlp_ratio * 2 + w * vit.mlp_ratio + w);
                n += patch + pos + vit.n_layers * block + 2 * w;
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
                n += 2 * c.out_channels();
            }
            let ci = v.out_channels();
            n += ci * d.d_model + d.d_model + d.d_model * d.d_model + d.d_model;
        }
        n
    }
}

//! `s2h-vlm`: a LLaVA/Eagle-style vision-language model in Burn, generic over the backend
//! (SPEC §11).
//!
//! - vision: a ViT patch encoder ([`vision_vit`]) and a small ConvNeXt ([`vision_convnext`]),
//!   alone or concatenated channel-wise on one token grid ([`vision`]);
//! - [`projector`]: 2-layer MLP into the language-model width;
//! - [`decoder`]: Llama-style decoder (RMSNorm, RoPE, SwiGLU, causal attention with optional
//!   grouped-query heads) with a [`KvCache`] for incremental decoding;
//! - [`model`]: image features placed at the `<image>` tokens;
//! - [`tokenizer`]: a `tokenizers` tokenizer built from the words and texts it is given;
//! - [`chat`]: a checkpoint's chat template (Jinja, rendered as transformers does);
//! - [`batch`]: token rows and image bytes → padded tensors (the one batcher);
//! - [`loss`]: the masked language-model loss;
//! - [`generate`]: batched greedy decoding with the KV cache;
//! - [`store`]: the model directory (config.json, tokenizer.json, model.safetensors);
//! - [`hf`]: checkpoints in the Hugging Face layout (Llama, Qwen2, CLIP, SigLIP, timm ConvNeXt,
//!   LLaVA): configuration, the name table, streaming reads and writes;
//! - [`backend`]: flex / ndarray / wgpu / cuda chosen by name at run time;
//! - [`autodiff`]: the lock that keeps a process's autodiff passes from racing (a Burn 0.21 bug);
//! - [`fused`]: the softmax as one autodiff op (Burn takes it apart into five);
//! - [`linear`]: linear layers as one 2-D product over the flattened leading dimensions.
//!
//! The crate knows nothing of the tasks or their records: turning a record into token ids, loss
//! masks and image bytes is `s2h-train`'s `Processor`, so a new task never touches the model.

pub mod attention;
pub mod autodiff;
pub mod backend;
pub mod batch;
pub mod chat;
pub mod config;
pub mod decoder;
mod error;
pub mod fused;
pub mod generate;
pub mod hf;
pub mod kv_cache;
pub mod linear;
pub mod loss;
pub mod model;
pub mod projector;
pub mod rope;
pub mod store;
pub mod tokenizer;
pub mod vision;
pub mod vision_convnext;
pub mod vision_vit;

pub use backend::{BackendKind, BackendTask, run_on};
pub use batch::{Batch, BatchRow, Padding};
pub use burn;
pub use chat::{ChatMessage, ChatTemplate};
pub use config::{
    Activation, CLIP_MEAN, CLIP_STD, ConvNextConfig, DecoderConfig, FinalNorm, ProjectorConfig,
    RopeScaling, VisionConfig, VitConfig, VlmConfig,
};
pub use error::{Result, VlmError};
pub use generate::{GenerateOptions, Generation, Prompt, StopReason};
pub use kv_cache::KvCache;
pub use loss::{masked_lm_loss, masked_lm_loss_per_row};
pub use model::Vlm;
pub use store::{load_config, load_config_any, load_model, load_weights, read_config, save_model};
pub use tokenizer::{TokenizerKind, VlmTokenizer, special};

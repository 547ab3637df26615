//! The model directory: `config.json` (the [`VlmConfig`]), `tokenizer.json` and
//! `model.safetensors` (weights, named by module path, e.g. `decoder.layers.0.attn.q_proj.weight`).

use std::path::Path;

use burn::prelude::*;
use burn_store::{ModuleSnapshot, SafetensorsStore};

use crate::config::VlmConfig;
use crate::model::Vlm;
use crate::tokenizer::VlmTokenizer;
use crate::{Result, VlmError};

pub const CONFIG_FILE: &str = "config.json";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";

fn dir_err(path: &Path, message: impl std::fmt::Display) -> VlmError {
    VlmError::ModelDir {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Write the configuration, tokenizer and weights into `dir` (created if missing; existing files
/// are replaced).
pub fn save_model<B: Backend>(
    dir: &Path,
    config: &VlmConfig,
    tokenizer: &VlmTokenizer,
    model: &Vlm<B>,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| VlmError::io(dir, e))?;
    let config_path = dir.join(CONFIG_FILE);
    let json = serde_json::to_string_pretty(config).map_err(|e| dir_err(&config_path, e))?;
    std::fs::write(&config_path, json + "\n").map_err(|e| VlmError::io(&config_path, e))?;
    tokenizer.save(&dir.join(TOKENIZER_FILE))?;
    let weights = dir.join(WEIGHTS_FILE);
    let mut store = SafetensorsStore::from_file(&weights).overwrite(true);
    model
        .save_into(&mut store)
        .map_err(|e| dir_err(&weights, e))
}

/// Read the configuration alone.
pub fn load_config(dir: &Path) -> Result<VlmConfig> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| VlmError::io(&path, e))?;
    let config: VlmConfig = serde_json::from_str(&text).map_err(|e| dir_err(&path, e))?;
    config.validate()?;
    Ok(config)
}

/// Read a model directory written by [`save_model`]. Every parameter must be present in the
/// weights file with the shape the configuration implies.
pub fn load_model<B: Backend>(
    dir: &Path,
    device: &B::Device,
) -> Result<(VlmConfig, VlmTokenizer, Vlm<B>)> {
    if !dir.is_dir() {
        return Err(dir_err(
            dir,
            "model directory does not exist; pass the `model` directory a training run wrote",
        ));
    }
    for file in [CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE] {
        if !dir.join(file).is_file() {
            return Err(dir_err(
                dir,
                format!(
                    "no {file}; a model directory holds {CONFIG_FILE}, {TOKENIZER_FILE} and \
                     {WEIGHTS_FILE} (written by training)"
                ),
            ));
        }
    }
    let config = load_config(dir)?;
    let tokenizer = VlmTokenizer::from_file(&dir.join(TOKENIZER_FILE))?;
    if tokenizer.vocab_size() > config.decoder.vocab_size {
        return Err(dir_err(
            dir,
            format!(
                "tokenizer has {} tokens but the model's vocabulary holds {}",
                tokenizer.vocab_size(),
                config.decoder.vocab_size
            ),
        ));
    }
    let weights = dir.join(WEIGHTS_FILE);
    let mut model = config.init::<B>(device)?;
    let mut store = SafetensorsStore::from_file(&weights);
    let applied = model
        .load_from(&mut store)
        .map_err(|e| dir_err(&weights, e))?;
    if !applied.missing.is_empty() || !applied.errors.is_empty() {
        let missing: Vec<&str> = applied.missing.iter().map(|(p, _)| p.as_str()).collect();
        return Err(dir_err(
            &weights,
            format!(
                "weights do not match the configuration: missing {:?}, errors {:?}",
                missing, applied.errors
            ),
        ));
    }
    Ok((config, tokenizer, model))
}

//! The model directory: `config.json` (the [`VlmConfig`]), `tokenizer.json`,
//! `model.safetensors` (weights, named by module path, e.g. `decoder.layers.0.attn.q_proj.weight`)
//! and `checksums.json` (the SHA-256 of the weights file, so a damaged file is caught on load).
//!
//! Loading trusts nothing: the configuration must be known keys with valid values, every weight
//! must be in the file with its shape and every tensor of the file must be a weight (a config
//! with fewer layers than the file is refused, not silently half-used), and every weight must be
//! finite.

use std::path::Path;

use burn::prelude::*;
use burn_store::{ModuleSnapshot, SafetensorsStore};
use sha2::{Digest, Sha256};

use crate::config::VlmConfig;
use crate::model::Vlm;
use crate::tokenizer::VlmTokenizer;
use crate::{Result, VlmError};

pub const CONFIG_FILE: &str = "config.json";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const CHECKSUMS_FILE: &str = "checksums.json";

fn dir_err(path: &Path, message: impl std::fmt::Display) -> VlmError {
    VlmError::ModelDir {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Write the configuration, tokenizer, weights and their checksum into `dir` (created if
/// missing; existing files are replaced). A model with a NaN or infinite weight is refused.
pub fn save_model<B: Backend>(
    dir: &Path,
    config: &VlmConfig,
    tokenizer: &VlmTokenizer,
    model: &Vlm<B>,
) -> Result<()> {
    if let Some(param) = model.non_finite_param() {
        return Err(dir_err(
            dir,
            format!("refusing to save a model whose weight `{param}` is NaN or infinite"),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| VlmError::io(dir, e))?;
    let config_path = dir.join(CONFIG_FILE);
    let json = serde_json::to_string_pretty(config).map_err(|e| dir_err(&config_path, e))?;
    std::fs::write(&config_path, json + "\n").map_err(|e| VlmError::io(&config_path, e))?;
    tokenizer.save(&dir.join(TOKENIZER_FILE))?;
    let weights = dir.join(WEIGHTS_FILE);
    let mut store = SafetensorsStore::from_file(&weights).overwrite(true);
    model
        .save_into(&mut store)
        .map_err(|e| dir_err(&weights, e))?;
    let checksums = serde_json::json!({ WEIGHTS_FILE: sha256_file(&weights)? });
    let path = dir.join(CHECKSUMS_FILE);
    let json = serde_json::to_string_pretty(&checksums).map_err(|e| dir_err(&path, e))?;
    std::fs::write(&path, json + "\n").map_err(|e| VlmError::io(&path, e))
}

/// The SHA-256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| VlmError::io(path, e))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| VlmError::io(path, e))?;
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Read the configuration alone: known keys only, valid values.
pub fn load_config(dir: &Path) -> Result<VlmConfig> {
    read_config(&dir.join(CONFIG_FILE))
}

/// Read a model configuration file in the format of a model directory's `config.json`: known
/// keys only, valid values.
pub fn read_config(path: &Path) -> Result<VlmConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| VlmError::io(path, e))?;
    let raw: serde_json::Value = serde_json::from_str(&text).map_err(|e| dir_err(path, e))?;
    let config: VlmConfig = serde_json::from_value(raw.clone()).map_err(|e| dir_err(path, e))?;
    let known = serde_json::to_value(&config).map_err(|e| dir_err(path, e))?;
    if let Some(key) = unknown_key(&raw, &known, "") {
        return Err(dir_err(
            path,
            format!("unknown key `{key}`; a model configuration has only the keys s2h writes"),
        ));
    }
    config.validate().map_err(|e| dir_err(path, e))?;
    Ok(config)
}

/// The first key of `raw` (dotted path) that `known`, the same value as the type writes it,
/// does not have.
fn unknown_key(raw: &serde_json::Value, known: &serde_json::Value, at: &str) -> Option<String> {
    let (serde_json::Value::Object(raw), serde_json::Value::Object(known)) = (raw, known) else {
        return None;
    };
    raw.iter().find_map(|(key, value)| {
        let path = if at.is_empty() {
            key.clone()
        } else {
            format!("{at}.{key}")
        };
        match known.get(key) {
            None => Some(path),
            Some(k) => unknown_key(value, k, &path),
        }
    })
}

/// Check the weights file against `checksums.json`, when the directory has one.
fn verify_checksum(dir: &Path) -> Result<()> {
    let path = dir.join(CHECKSUMS_FILE);
    if !path.is_file() {
        return Ok(());
    }
    let text = std::fs::read_to_string(&path).map_err(|e| VlmError::io(&path, e))?;
    let sums: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&text).map_err(|e| dir_err(&path, e))?;
    let Some(expected) = sums.get(WEIGHTS_FILE) else {
        return Err(dir_err(&path, format!("no checksum for {WEIGHTS_FILE}")));
    };
    let weights = dir.join(WEIGHTS_FILE);
    if sha256_file(&weights)? != *expected {
        return Err(dir_err(
            &weights,
            format!(
                "the file does not match its checksum in {CHECKSUMS_FILE}: it is damaged or was \
                 replaced; restore it or save the model again"
            ),
        ));
    }
    Ok(())
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
    verify_checksum(dir)?;
    let weights = dir.join(WEIGHTS_FILE);
    let mut model = config.init::<B>(device)?;
    let mut store = SafetensorsStore::from_file(&weights);
    let applied = model
        .load_from(&mut store)
        .map_err(|e| dir_err(&weights, e))?;
    let mismatch = |what: &str, items: Vec<String>| -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        let shown = items.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
        let more = items.len().saturating_sub(5);
        Err(dir_err(
            &weights,
            format!(
                "the weights do not match {CONFIG_FILE}: {} {what}: {shown}{}",
                items.len(),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ),
        ))
    };
    mismatch(
        "weight(s) of the configuration missing from the file",
        applied.missing.iter().map(|(p, _)| p.clone()).collect(),
    )?;
    mismatch(
        "tensor(s) of the file that the configuration has no place for",
        applied.unused.clone(),
    )?;
    mismatch(
        "weight(s) that do not load (shape or type)",
        applied.errors.iter().map(|e| format!("{e:?}")).collect(),
    )?;
    if let Some(param) = model.non_finite_param() {
        return Err(dir_err(
            &weights,
            format!("weight `{param}` is NaN or infinite; the model is unusable"),
        ));
    }
    Ok((config, tokenizer, model))
}

/// The configuration of a model directory in either layout: s2h's own or a Hugging Face
/// checkpoint of a language model or a LLaVA VLM.
pub fn load_config_any(dir: &Path) -> Result<VlmConfig> {
    if !crate::hf::is_hf_dir(dir) {
        return load_config(dir);
    }
    match crate::hf::load_config(dir)? {
        (_, crate::hf::Parsed::Vlm(config)) => Ok(*config),
        (family, _) => Err(dir_err(
            dir,
            format!("a {family:?} checkpoint is a vision tower, not a language model"),
        )),
    }
}

/// The configuration and weights of a model directory in either layout: s2h's own (written by
/// [`save_model`]; its tokenizer is checked too) or a Hugging Face checkpoint of a language model
/// or a LLaVA VLM ([`crate::hf`]).
pub fn load_weights<B: Backend>(dir: &Path, device: &B::Device) -> Result<(VlmConfig, Vlm<B>)> {
    if crate::hf::is_hf_dir(dir) {
        return crate::hf::load_vlm(dir, device);
    }
    let (config, _, model) = load_model(dir, device)?;
    Ok((config, model))
}

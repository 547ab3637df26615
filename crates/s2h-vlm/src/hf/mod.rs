//! Checkpoints in the Hugging Face layout: `config.json` and `model.safetensors` (or shards
//! listed in `model.safetensors.index.json`), f32, bf16 or f16.
//!
//! - [`config`] reads the families' `config.json` into s2h configurations (and writes it back);
//! - [`names`] is the one table from file tensor names to s2h module paths;
//! - [`files`] reads tensors one at a time from the files (never a second copy of the model in
//!   memory) and writes them.
//!
//! Loading is strict: every parameter of the configured model must be in the files with the
//! shape the configuration implies, and every tensor of the files must be a parameter or lie
//! under a prefix the layout knowingly leaves out (a classifier head, a CLIP text tower); the
//! first offenders are named.

pub mod config;
pub mod files;
pub mod names;

use std::path::Path;

use burn::prelude::*;
use burn_store::ModuleSnapshot;

use crate::config::{ConvNextConfig, VitConfig, VlmConfig};
use crate::model::Vlm;
use crate::vision_convnext::ConvNext;
use crate::vision_vit::Vit;
use crate::{Result, VlmError};
pub use config::{Family, Parsed};
use names::{Placed, Table};

pub const CONFIG_FILE: &str = "config.json";
/// Where Eagle keeps its two encoders.
const EAGLE_CLIP: &str = "model.vision_tower.vision_towers.0.vision_tower.vision_model.";
const EAGLE_CONVNEXT: &str = "model.vision_tower.vision_towers.1.vision_tower.";

fn dir_err(path: &Path, message: impl std::fmt::Display) -> VlmError {
    VlmError::ModelDir {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Whether `dir` holds a Hugging Face (or timm) checkpoint rather than s2h's own layout: its
/// `config.json` has a `model_type` or timm's `architecture`.
pub fn is_hf_dir(dir: &Path) -> bool {
    read_config(dir).is_ok_and(|c| c.contains_key("model_type") || c.contains_key("architecture"))
}

fn read_config(dir: &Path) -> Result<serde_json::Map<String, serde_json::Value>> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| VlmError::io(&path, e))?;
    match serde_json::from_str(&text).map_err(|e| dir_err(&path, e))? {
        serde_json::Value::Object(map) => Ok(map),
        _ => Err(dir_err(&path, "not a JSON object")),
    }
}

/// The family and s2h configuration of the checkpoint in `dir`.
pub fn load_config(dir: &Path) -> Result<(Family, Parsed)> {
    let path = dir.join(CONFIG_FILE);
    let raw = read_config(dir)?;
    let (family, mut parsed) = config::parse(&raw).map_err(|m| dir_err(&path, m))?;
    if family == Family::Eagle
        && let Parsed::Vlm(c) = &mut parsed
    {
        // Eagle splices image features in at a marker outside the vocabulary; s2h places them
        // at a token of the checkpoint's tokenizer, the one its chat template uses.
        c.image_token_id = eagle_image_token(dir)? as usize;
    }
    if let Parsed::Vlm(c) = &mut parsed
        && let Some(vision) = c.vision.as_mut()
    {
        preprocessing(dir, vision)?;
    }
    let valid = match &parsed {
        Parsed::Vlm(c) => c.validate(),
        Parsed::Vit(v) => crate::VisionConfig::new()
            .with_vit(Some(v.clone()))
            .validate(),
        Parsed::ConvNext(c) => crate::VisionConfig::new()
            .with_convnext(Some(c.clone()))
            .validate(),
    };
    valid.map_err(|e| dir_err(&path, e))?;
    Ok((family, parsed))
}

/// Where each component sits in a family's files. LLaVA files come in two spellings:
/// transformers before 4.52 wrote (and the hub mostly holds) `language_model.model.*`, later
/// versions `model.language_model.*`; `keys` tells which.
pub fn table(family: Family, keys: &[String]) -> Table {
    use names::{
        CONVNEXT, DECODER, EAGLE_LAYER_SCALE, LLAVA_PROJECTOR, LM_HEAD, MLP2X_PROJECTOR,
        TIMM_LAYER_SCALE, VIT,
    };
    let placed = |file, s2h, names| Placed { file, s2h, names };
    match family {
        Family::Llama | Family::Qwen2 => Table {
            components: vec![
                placed("model.", "decoder.", DECODER),
                placed("", "decoder.", LM_HEAD),
            ],
            ignored: vec![],
        },
        Family::Clip | Family::Siglip => Table {
            components: vec![placed("vision_model.", "", VIT)],
            ignored: vec![
                "vision_model.head.",
                "text_model.",
                "visual_projection.",
                "text_projection.",
                "logit_scale",
                "logit_bias",
            ],
        },
        Family::TimmConvNext => Table {
            components: vec![placed("", "", CONVNEXT), placed("", "", TIMM_LAYER_SCALE)],
            ignored: vec!["head."],
        },
        // Eagle's module paths: `model.vision_tower` is a `MultiBackboneChannelConcatenation-
        // VisionTower` whose `vision_towers` are CLIP first, ConvNeXt second, each wrapping the
        // encoder as `vision_tower`; the projector is `model.mm_projector`.
        Family::Eagle => Table {
            components: vec![
                placed("model.", "decoder.", DECODER),
                placed("", "decoder.", LM_HEAD),
                placed(EAGLE_CLIP, "vision.vit.", VIT),
                placed(EAGLE_CONVNEXT, "vision.convnext.", CONVNEXT),
                placed(EAGLE_CONVNEXT, "vision.convnext.", EAGLE_LAYER_SCALE),
                placed("model.mm_projector.", "projector.", MLP2X_PROJECTOR),
            ],
            ignored: vec!["model.vision_tower.vision_towers.1.vision_tower.head."],
        },
        Family::Llava => {
            let new_style = keys.iter().any(|k| k.starts_with("model.language_model."));
            let (lm, head, tower, projector) = if new_style {
                (
                    "model.language_model.",
                    "",
                    "model.vision_tower.vision_model.",
                    "model.multi_modal_projector.",
                )
            } else {
                (
                    "language_model.model.",
                    "language_model.",
                    "vision_tower.vision_model.",
                    "multi_modal_projector.",
                )
            };
            Table {
                components: vec![
                    placed(lm, "decoder.", DECODER),
                    placed(head, "decoder.", LM_HEAD),
                    placed(tower, "vision.vit.", VIT),
                    placed(projector, "projector.", LLAVA_PROJECTOR),
                ],
                ignored: vec![
                    "vision_tower.vision_model.head.",
                    "model.vision_tower.vision_model.head.",
                ],
            }
        }
    }
}

/// The image mean and standard deviation of a `preprocessor_config.json` beside the checkpoint,
/// when there is one.
fn preprocessing(dir: &Path, vision: &mut crate::VisionConfig) -> Result<()> {
    let path = dir.join("preprocessor_config.json");
    if !path.is_file() {
        return Ok(());
    }
    let text = std::fs::read_to_string(&path).map_err(|e| VlmError::io(&path, e))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| dir_err(&path, e))?;
    let triple = |key: &str| -> Result<Option<[f64; 3]>> {
        match json.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|_| dir_err(&path, format!("`{key}` is not three numbers"))),
        }
    };
    if let Some(mean) = triple("image_mean")? {
        vision.image_mean = mean;
    }
    if let Some(std) = triple("image_std")? {
        vision.image_std = std;
    }
    Ok(())
}

fn eagle_image_token(dir: &Path) -> Result<u32> {
    let path = dir.join(crate::store::TOKENIZER_FILE);
    let tokenizer = crate::VlmTokenizer::from_file(&path).map_err(|e| {
        dir_err(
            dir,
            format!("an Eagle checkpoint needs its tokenizer to place image features: {e}"),
        )
    })?;
    Ok(tokenizer.image_id())
}

/// Load `files` into `module` through `table`, strictly.
fn apply<B: Backend, M: ModuleSnapshot<B>>(
    dir: &Path,
    module: &mut M,
    files: &files::Checkpoint,
    table: &Table,
) -> Result<()> {
    let mut snapshots = Vec::with_capacity(files.len());
    let mut strangers = Vec::new();
    for key in files.keys() {
        // Older Llama files carry their rotary tables as buffers; s2h computes them.
        if table.is_ignored(key) || key.ends_with(".rotary_emb.inv_freq") {
            continue;
        }
        match table.to_s2h(key) {
            Some(mapped) => snapshots.push(files.snapshot(key, &mapped)?),
            None => strangers.push(key.clone()),
        }
    }
    let result = module.apply(snapshots, None, None, false);
    let listed = |what: &str, mut items: Vec<String>| -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        items.sort();
        let shown = items.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
        let more = items.len().saturating_sub(5);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        Err(dir_err(
            dir,
            format!("{} {what}: {shown}{more}", items.len()),
        ))
    };
    listed(
        "tensor(s) of the files that s2h has no name for (another architecture, or a newer \
         variant of this one)",
        strangers,
    )?;
    listed(
        "weight(s) that do not load (shape or data)",
        result.errors.iter().map(|e| format!("{e:?}")).collect(),
    )?;
    listed(
        "weight(s) the configuration needs that the files lack",
        result
            .missing
            .iter()
            .map(|(p, _)| match table.to_file(p) {
                Some(f) => format!("{p} (file name {})", f.name),
                None => p.clone(),
            })
            .collect(),
    )?;
    listed(
        "tensor(s) of the files that the configuration has no place for (more layers than \
         config.json says?)",
        result.unused.clone(),
    )
}

/// A Llama/Qwen2 language model, or a LLaVA or Eagle-X2 VLM, from a Hugging Face directory.
pub fn load_vlm<B: Backend>(dir: &Path, device: &B::Device) -> Result<(VlmConfig, Vlm<B>)> {
    let (family, parsed) = load_config(dir)?;
    let Parsed::Vlm(config) = parsed else {
        return Err(dir_err(
            dir,
            format!("a {family:?} checkpoint is a vision tower, not a language model"),
        ));
    };
    let files = files::Checkpoint::open(dir)?;
    let mut config = *config;
    if family == Family::Eagle
        && let Some(vit) = config.vision.as_mut().and_then(|v| v.vit.as_mut())
        && !files
            .keys()
            .iter()
            .any(|k| k.starts_with(EAGLE_CLIP) && k.contains("post_layernorm"))
    {
        // Eagle's tower never applies CLIP's pooled-output norm; a file may leave it out.
        vit.final_norm = crate::FinalNorm::None;
    }
    let mut model = config.init::<B>(device)?;
    apply(dir, &mut model, &files, &table(family, files.keys()))?;
    check_finite(dir, model.non_finite_param())?;
    Ok((config, model))
}

/// A CLIP or SigLIP vision tower from a Hugging Face directory.
pub fn load_vit<B: Backend>(dir: &Path, device: &B::Device) -> Result<(VitConfig, Vit<B>)> {
    load_part(
        dir,
        "a ViT",
        |p| match p {
            Parsed::Vit(c) => Some(c),
            _ => None,
        },
        |c| c.init::<B>(device),
    )
}

/// A timm ConvNeXt from its directory.
pub fn load_convnext<B: Backend>(
    dir: &Path,
    device: &B::Device,
) -> Result<(ConvNextConfig, ConvNext<B>)> {
    load_part(
        dir,
        "a ConvNeXt",
        |p| match p {
            Parsed::ConvNext(c) => Some(c),
            _ => None,
        },
        |c| c.init::<B>(device),
    )
}

/// One encoder on its own: the configuration `pick` takes from the parsed `config.json` (or an
/// error saying the checkpoint is not `what`), the module `init` builds from it, loaded strictly.
fn load_part<B: Backend, C, M: ModuleSnapshot<B>>(
    dir: &Path,
    what: &str,
    pick: impl FnOnce(Parsed) -> Option<C>,
    init: impl FnOnce(&C) -> M,
) -> Result<(C, M)> {
    let (family, parsed) = load_config(dir)?;
    let config = pick(parsed)
        .ok_or_else(|| dir_err(dir, format!("a {family:?} checkpoint is not {what}")))?;
    let files = files::Checkpoint::open(dir)?;
    let mut module = init(&config);
    apply(dir, &mut module, &files, &table(family, files.keys()))?;
    Ok((config, module))
}

fn check_finite(dir: &Path, bad: Option<String>) -> Result<()> {
    match bad {
        None => Ok(()),
        Some(p) => Err(dir_err(dir, format!("weight `{p}` is NaN or infinite"))),
    }
}

/// Write `model` to `dir` in the Hugging Face layout of its family (`config.json` and one
/// `model.safetensors`, f32): a Llama or Qwen2 language model, or a LLaVA VLM with a CLIP tower.
/// Tensors are written one at a time. Loading the directory back gives the same weights, bit
/// for bit.
pub fn save_vlm<B: Backend>(dir: &Path, config: &VlmConfig, model: &Vlm<B>) -> Result<()> {
    let (family, json) = config::to_hf(config).map_err(|m| dir_err(dir, m))?;
    if let Some(p) = model.non_finite_param() {
        return Err(dir_err(
            dir,
            format!("refusing to save: weight `{p}` is NaN or infinite"),
        ));
    }
    // LLaVA is written in the older spelling, which every transformers version reads.
    let table = table(family, &[]);
    std::fs::create_dir_all(dir).map_err(|e| VlmError::io(dir, e))?;
    let path = dir.join(CONFIG_FILE);
    let text = serde_json::to_string_pretty(&json).map_err(|e| dir_err(&path, e))?;
    std::fs::write(&path, text + "\n").map_err(|e| VlmError::io(&path, e))?;
    files::write(&dir.join(files::WEIGHTS_FILE), model, &table)
}

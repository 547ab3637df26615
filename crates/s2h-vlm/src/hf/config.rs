//! Hugging Face `config.json` (and timm's) → s2h configurations, and back for the families s2h
//! writes. Every field s2h cannot honour (another activation, sliding-window attention, another
//! RoPE scaling) is an error that names it, never silently ignored.

use serde_json::{Map, Value, json};

use crate::config::{
    Activation, CLIP_MEAN, CLIP_STD, ConvNextConfig, DecoderConfig, FinalNorm, RopeScaling,
    VisionConfig, VitConfig, VlmConfig,
};

/// The checkpoint families s2h loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `LlamaForCausalLM` (Llama 2/3/3.1).
    Llama,
    /// `Qwen2ForCausalLM` (Qwen2, Qwen2.5 language models).
    Qwen2,
    /// `CLIPVisionModel`, or the vision half of a `CLIPModel`.
    Clip,
    /// `SiglipVisionModel`, or the vision half of a `SiglipModel`.
    Siglip,
    /// A timm ConvNeXt (`config.json` with `architecture: convnext_*`).
    TimmConvNext,
    /// `LlavaForConditionalGeneration`: a CLIP or SigLIP tower, a GELU MLP projector, a Llama or
    /// Qwen2 decoder.
    Llava,
    /// Eagle-X2 (`eagle_llama`, the paper's model): CLIP-L/14-336 and ConvNeXt-XXL concatenated
    /// on a 32 × 32 grid, an `mlp2x_gelu` projector, Llama-3.
    Eagle,
}

/// What a checkpoint holds, as s2h configures it.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// A language model or a whole VLM.
    Vlm(Box<VlmConfig>),
    /// A vision tower on its own.
    Vit(VitConfig),
    ConvNext(ConvNextConfig),
}

type Fields = Map<String, Value>;

fn err(message: impl Into<String>) -> String {
    message.into()
}

fn field<'a>(c: &'a Fields, key: &str) -> Result<&'a Value, String> {
    c.get(key)
        .filter(|v| !v.is_null())
        .ok_or_else(|| err(format!("`{key}` is missing")))
}

fn usize_field(c: &Fields, key: &str) -> Result<usize, String> {
    field(c, key)?
        .as_u64()
        .map(|v| v as usize)
        .ok_or_else(|| err(format!("`{key}` is not a non-negative integer")))
}

fn opt_usize(c: &Fields, key: &str) -> Result<Option<usize>, String> {
    match c.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => usize_field(c, key).map(Some),
    }
}

fn f64_field(c: &Fields, key: &str) -> Result<f64, String> {
    field(c, key)?
        .as_f64()
        .ok_or_else(|| err(format!("`{key}` is not a number")))
}

fn bool_or(c: &Fields, key: &str, default: bool) -> Result<bool, String> {
    match c.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_bool()
            .ok_or_else(|| err(format!("`{key}` is not true or false"))),
    }
}

fn str_or<'a>(c: &'a Fields, key: &str, default: &'a str) -> Result<&'a str, String> {
    match c.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_str()
            .ok_or_else(|| err(format!("`{key}` is not a string"))),
    }
}

fn object<'a>(c: &'a Fields, key: &str) -> Result<&'a Fields, String> {
    field(c, key)?
        .as_object()
        .ok_or_else(|| err(format!("`{key}` is not an object")))
}

/// The family of a parsed `config.json`.
pub fn family(c: &Fields) -> Result<Family, String> {
    if let Some(arch) = c.get("architecture").and_then(Value::as_str) {
        return if arch.starts_with("convnext") {
            Ok(Family::TimmConvNext)
        } else {
            Err(err(format!(
                "timm architecture `{arch}` is not one s2h loads (convnext_* only)"
            )))
        };
    }
    match str_or(c, "model_type", "")? {
        "llama" => Ok(Family::Llama),
        "qwen2" => Ok(Family::Qwen2),
        "clip" | "clip_vision_model" => Ok(Family::Clip),
        "siglip" | "siglip_vision_model" => Ok(Family::Siglip),
        "llava" => Ok(Family::Llava),
        "eagle_llama" => Ok(Family::Eagle),
        "" => Err(err(
            "no `model_type` (nor timm's `architecture`): not a Hugging Face model directory",
        )),
        other => Err(err(format!(
            "model_type `{other}` is not one s2h loads (llama, qwen2, clip, siglip, llava, or a \
             timm convnext)"
        ))),
    }
}

/// A decoder's configuration from a Llama or Qwen2 `config.json` (or LLaVA's `text_config`).
pub fn decoder(c: &Fields) -> Result<(Family, DecoderConfig), String> {
    let family = match str_or(c, "model_type", "llama")? {
        // Eagle's config is a Llama config with its vision fields added.
        "llama" | "eagle_llama" => Family::Llama,
        "qwen2" => Family::Qwen2,
        other => {
            return Err(err(format!(
                "text model `{other}` is not one s2h loads (llama or qwen2)"
            )));
        }
    };
    let act = str_or(c, "hidden_act", "silu")?;
    if act != "silu" {
        return Err(err(format!("hidden_act `{act}`: s2h's decoder uses silu")));
    }
    if bool_or(c, "mlp_bias", false)? {
        return Err(err("mlp_bias: s2h's decoder MLP has no biases"));
    }
    if family == Family::Llama && bool_or(c, "attention_bias", false)? {
        return Err(err(
            "attention_bias: Llama's biases include the output projection, which s2h's decoder \
             does not have",
        ));
    }
    if family == Family::Qwen2 && bool_or(c, "use_sliding_window", false)? {
        return Err(err(
            "use_sliding_window: s2h's attention has no sliding window",
        ));
    }
    let n_heads = usize_field(c, "num_attention_heads")?;
    let (theta, scaling) = rope(c)?;
    let mut d = DecoderConfig::new(
        usize_field(c, "vocab_size")?,
        usize_field(c, "hidden_size")?,
        usize_field(c, "num_hidden_layers")?,
        n_heads,
        opt_usize(c, "num_key_value_heads")?.unwrap_or(n_heads),
        usize_field(c, "intermediate_size")?,
        usize_field(c, "max_position_embeddings")?,
    )
    .with_rope_theta(theta as f32)
    .with_norm_eps(f64_field(c, "rms_norm_eps")?)
    .with_rope_scaling(scaling)
    .with_qkv_bias(family == Family::Qwen2)
    // transformers' Llama and Qwen2 configs default to untied.
    .with_tie_word_embeddings(bool_or(c, "tie_word_embeddings", false)?);
    if let Some(hd) = opt_usize(c, "head_dim")?
        && hd * n_heads != d.d_model
    {
        d = d.with_head_dim(Some(hd));
    }
    Ok((family, d))
}

/// θ and the scaling, from the older form (`rope_theta` and `rope_scaling` at the top) or the
/// newer `rope_parameters` block.
fn rope(c: &Fields) -> Result<(f64, Option<RopeScaling>), String> {
    let (theta, scaling) = match c.get("rope_parameters").filter(|v| !v.is_null()) {
        Some(p) => {
            let p = p
                .as_object()
                .ok_or_else(|| err("`rope_parameters` is not an object"))?;
            (f64_field(p, "rope_theta")?, Some(p))
        }
        None => {
            let theta = match c.get("rope_theta") {
                None | Some(Value::Null) => 10000.0,
                Some(_) => f64_field(c, "rope_theta")?,
            };
            let scaling = match c.get("rope_scaling") {
                None | Some(Value::Null) => None,
                Some(Value::Object(s)) => Some(s),
                Some(_) => return Err(err("`rope_scaling` is not an object")),
            };
            (theta, scaling)
        }
    };
    let Some(s) = scaling else {
        return Ok((theta, None));
    };
    // Older files name the kind `type`.
    let kind = match s.get("rope_type").or_else(|| s.get("type")) {
        None | Some(Value::Null) => "default",
        Some(v) => v
            .as_str()
            .ok_or_else(|| err("`rope_type` is not a string"))?,
    };
    match kind {
        "default" => Ok((theta, None)),
        "llama3" => Ok((
            theta,
            Some(RopeScaling::Llama3 {
                factor: f64_field(s, "factor")?,
                low_freq_factor: f64_field(s, "low_freq_factor")?,
                high_freq_factor: f64_field(s, "high_freq_factor")?,
                original_max_position_embeddings: usize_field(
                    s,
                    "original_max_position_embeddings",
                )?,
            }),
        )),
        other => Err(err(format!(
            "rope scaling `{other}` is not one s2h implements (llama3 only)"
        ))),
    }
}

/// A ViT's configuration from a CLIP or SigLIP vision config (the object itself, or a full
/// model's `vision_config`).
pub fn vit(family: Family, c: &Fields) -> Result<VitConfig, String> {
    let activation = match str_or(c, "hidden_act", "")? {
        "quick_gelu" => Activation::QuickGelu,
        "gelu" => Activation::Gelu,
        "gelu_pytorch_tanh" | "gelu_new" => Activation::GeluTanh,
        other => return Err(err(format!("vision hidden_act `{other}` is not supported"))),
    };
    let channels = opt_usize(c, "num_channels")?.unwrap_or(3);
    if channels != 3 {
        return Err(err(format!(
            "{channels} input channels: s2h's images are RGB"
        )));
    }
    let d_model = usize_field(c, "hidden_size")?;
    let d_ff = usize_field(c, "intermediate_size")?;
    let clip = family == Family::Clip;
    Ok(VitConfig::new(
        usize_field(c, "image_size")?,
        usize_field(c, "patch_size")?,
        d_model,
        usize_field(c, "num_hidden_layers")?,
        usize_field(c, "num_attention_heads")?,
    )
    .with_mlp_ratio(d_ff / d_model.max(1))
    .with_d_ff((d_ff != d_model * (d_ff / d_model.max(1))).then_some(d_ff))
    .with_activation(activation)
    .with_class_token(clip)
    .with_pre_norm(clip)
    .with_patch_bias(!clip)
    .with_final_norm(if clip {
        FinalNorm::Pooled
    } else {
        FinalNorm::Tokens
    })
    .with_norm_eps(f64_field(c, "layer_norm_eps")?))
}

/// Stage widths and depths of timm's named ConvNeXts.
fn timm_convnext_shape(arch: &str) -> Option<(Vec<usize>, Vec<usize>)> {
    let name = arch.split('.').next().unwrap_or(arch);
    let (dims, depths) = match name {
        "convnext_tiny" => ([96, 192, 384, 768], [3, 3, 9, 3]),
        "convnext_small" => ([96, 192, 384, 768], [3, 3, 27, 3]),
        "convnext_base" => ([128, 256, 512, 1024], [3, 3, 27, 3]),
        "convnext_large" => ([192, 384, 768, 1536], [3, 3, 27, 3]),
        "convnext_xlarge" => ([256, 512, 1024, 2048], [3, 3, 27, 3]),
        "convnext_xxlarge" => ([384, 768, 1536, 3072], [3, 4, 30, 3]),
        _ => return None,
    };
    Some((dims.to_vec(), depths.to_vec()))
}

/// A ConvNeXt's configuration from timm's `config.json`: the shape from `model_args` when given
/// (a custom model), else from the architecture's name; the input size from `pretrained_cfg`.
/// The output is the last stage's map, unnormed (Eagle's reading).
pub fn convnext(c: &Fields) -> Result<ConvNextConfig, String> {
    let arch = str_or(c, "architecture", "")?;
    let args = c.get("model_args").and_then(Value::as_object);
    let list = |a: &Fields, key: &str| -> Result<Vec<usize>, String> {
        field(a, key)?
            .as_array()
            .and_then(|v| v.iter().map(|x| x.as_u64().map(|x| x as usize)).collect())
            .ok_or_else(|| err(format!("model_args.{key} is not a list of integers")))
    };
    let (dims, depths) = match args.filter(|a| a.contains_key("dims")) {
        Some(a) => (list(a, "dims")?, list(a, "depths")?),
        None => timm_convnext_shape(arch).ok_or_else(|| {
            err(format!(
                "timm architecture `{arch}`: its stage widths are not known to s2h; give them as \
                 `model_args.dims` and `model_args.depths`"
            ))
        })?,
    };
    let eps = match args
        .and_then(|a| a.get("norm_eps"))
        .filter(|v| !v.is_null())
    {
        Some(v) => v
            .as_f64()
            .ok_or_else(|| err("model_args.norm_eps is not a number"))?,
        // timm's default; convnext_xxlarge sets 1e-5 (Eagle's tower) in its model_args.
        None if arch.starts_with("convnext_xxlarge") => 1e-5,
        None => 1e-6,
    };
    let cfg = object(c, "pretrained_cfg")?;
    let input = field(cfg, "input_size")?
        .as_array()
        .and_then(|v| v.last())
        .and_then(Value::as_u64)
        .ok_or_else(|| err("pretrained_cfg.input_size is not [3, H, W]"))?;
    Ok(ConvNextConfig::new(input as usize, dims, depths)
        .with_final_norm(false)
        .with_norm_eps(eps))
}

/// Parse a whole `config.json`.
pub fn parse(c: &Fields) -> Result<(Family, Parsed), String> {
    let fam = family(c)?;
    let parsed = match fam {
        Family::Llama | Family::Qwen2 => {
            let (_, d) = decoder(c)?;
            // A language model alone: no image token; id 0 is never replaced without a tower.
            Parsed::Vlm(Box::new(VlmConfig::new(d, 0)))
        }
        Family::Clip | Family::Siglip => {
            let vision = match c.get("vision_config") {
                Some(Value::Object(v)) => v,
                _ => c,
            };
            Parsed::Vit(vit(fam, vision)?)
        }
        Family::TimmConvNext => Parsed::ConvNext(convnext(c)?),
        Family::Llava => Parsed::Vlm(Box::new(llava(c)?)),
        Family::Eagle => Parsed::Vlm(Box::new(eagle(c)?)),
    };
    Ok((fam, parsed))
}

fn llava(c: &Fields) -> Result<VlmConfig, String> {
    let (_, decoder) = decoder(object(c, "text_config")?)?;
    let vision = object(c, "vision_config")?;
    let vfam = match str_or(vision, "model_type", "clip_vision_model")? {
        "clip_vision_model" => Family::Clip,
        "siglip_vision_model" => Family::Siglip,
        other => {
            return Err(err(format!(
                "LLaVA vision tower `{other}` is not one s2h loads (clip or siglip)"
            )));
        }
    };
    let layer = field(c, "vision_feature_layer")?.as_i64().ok_or_else(|| {
        err("vision_feature_layer: s2h reads one layer (an integer), not a list of layers")
    })?;
    let strategy = str_or(c, "vision_feature_select_strategy", "default")?;
    if strategy != "default" {
        return Err(err(format!(
            "vision_feature_select_strategy `{strategy}`: s2h drops the class token (`default`)"
        )));
    }
    let act = str_or(c, "projector_hidden_act", "gelu")?;
    if act != "gelu" {
        return Err(err(format!(
            "projector_hidden_act `{act}`: s2h's projector uses exact GELU"
        )));
    }
    if !bool_or(c, "multimodal_projector_bias", true)? {
        return Err(err(
            "multimodal_projector_bias false: s2h's projector has biases",
        ));
    }
    let vit = vit(vfam, vision)?.with_feature_layer(layer);
    // CLIP's normalisation; SigLIP's is s2h's own (0.5, 0.5). A `preprocessor_config.json`
    // beside the checkpoint overrides it (`hf::load_config`).
    let (mean, std) = if vfam == Family::Clip {
        (CLIP_MEAN, CLIP_STD)
    } else {
        ([0.5; 3], [0.5; 3])
    };
    let vision = VisionConfig::new()
        .with_vit(Some(vit))
        .with_image_mean(mean)
        .with_image_std(std);
    Ok(VlmConfig::new(decoder, usize_field(c, "image_token_index")?).with_vision(Some(vision)))
}

/// Eagle-X2: the towers its code hard-codes for `mm_vision_tower` names — `clip-448` is
/// `openai/clip-vit-large-patch14-336` with the class token dropped before the pre-norm and every
/// block used, `convnext-1024` timm's `convnext_xxlarge` at 1024 px — on 1024-px input and a
/// 32 × 32 grid. A (test) checkpoint may state other shapes in `s2h_vision_towers`:
/// `{"input_image_size", "grid_size", "clip-448": <CLIP vision config>, "convnext-1024":
/// {"dims", "depths", "norm_eps", "input_size"}}`. The image token id is set by the loader from
/// the tokenizer.
fn eagle(c: &Fields) -> Result<VlmConfig, String> {
    let (_, decoder) = decoder(c)?;
    let projector = str_or(c, "mm_projector_type", "mlp2x_gelu")?;
    if projector != "mlp2x_gelu" {
        return Err(err(format!(
            "mm_projector_type `{projector}`: s2h's projector is mlp2x_gelu"
        )));
    }
    let shapes = c.get("s2h_vision_towers").and_then(Value::as_object);
    let names: Vec<&str> = str_or(c, "mm_vision_tower", "")?.split(';').collect();
    let mut vision = VisionConfig::new()
        .with_image_mean(CLIP_MEAN)
        .with_image_std(CLIP_STD)
        .with_pad_to_square(str_or(c, "image_aspect_ratio", "pad")? == "pad")
        .with_input_size(Some(match shapes {
            Some(s) => usize_field(s, "input_image_size")?,
            None => 1024,
        }))
        .with_grid(Some(match shapes {
            Some(s) => usize_field(s, "grid_size")?,
            None => 32,
        }));
    for (i, name) in names.iter().enumerate() {
        match *name {
            "clip-448" if i == 0 => {
                let vit = match shapes {
                    Some(s) => vit(Family::Clip, object(s, "clip-448")?)?,
                    None => VitConfig::new(336, 14, 1024, 24, 16)
                        .with_activation(Activation::QuickGelu)
                        .with_class_token(true)
                        .with_pre_norm(true)
                        .with_patch_bias(false)
                        .with_final_norm(FinalNorm::Pooled),
                };
                vision.vit = Some(vit.with_class_token_attends(false).with_feature_layer(-1));
            }
            "convnext-1024" => {
                vision.convnext = Some(
                    match shapes {
                        Some(s) => {
                            let t = object(s, "convnext-1024")?;
                            let list = |key: &str| -> Result<Vec<usize>, String> {
                                field(t, key)?
                                    .as_array()
                                    .and_then(|v| {
                                        v.iter().map(|x| x.as_u64().map(|x| x as usize)).collect()
                                    })
                                    .ok_or_else(|| {
                                        err(format!("`{key}` is not a list of integers"))
                                    })
                            };
                            ConvNextConfig::new(
                                usize_field(t, "input_size")?,
                                list("dims")?,
                                list("depths")?,
                            )
                            .with_norm_eps(f64_field(t, "norm_eps")?)
                        }
                        None => {
                            ConvNextConfig::new(1024, vec![384, 768, 1536, 3072], vec![3, 4, 30, 3])
                                .with_norm_eps(1e-5)
                        }
                    }
                    .with_final_norm(false),
                );
            }
            other => {
                return Err(err(format!(
                    "mm_vision_tower `{other}`: s2h builds Eagle's `clip-448;convnext-1024` (CLIP \
                     first)"
                )));
            }
        }
    }
    if let Some(hidden) = opt_usize(c, "mm_hidden_size")?
        && hidden != vision.out_channels()
    {
        return Err(err(format!(
            "mm_hidden_size {hidden} is not the towers' {} channels",
            vision.out_channels()
        )));
    }
    Ok(VlmConfig::new(decoder, 0).with_vision(Some(vision)))
}

/// The `config.json` of an s2h model in a Hugging Face layout; `Err` names what has none.
pub fn to_hf(config: &VlmConfig) -> Result<(Family, Value), String> {
    if config.decoder.absolute_positions {
        return Err(err(
            "a decoder with learned absolute positions has no Llama or Qwen2 layout; it is \
             saved in s2h's layout",
        ));
    }
    let text = decoder_json(&config.decoder);
    let Some(vision) = &config.vision else {
        let fam = if config.decoder.qkv_bias {
            Family::Qwen2
        } else {
            Family::Llama
        };
        return Ok((fam, text));
    };
    let vit = match (&vision.vit, &vision.convnext) {
        (Some(v), None) if v.class_token && v.pre_norm && !v.patch_bias => v,
        _ => {
            return Err(err(
                "only a CLIP-towered VLM (LLaVA) has a Hugging Face layout; s2h's own ViT and \
                 ConvNeXt towers are saved in s2h's layout",
            ));
        }
    };
    let act = match vit.activation {
        Activation::QuickGelu => "quick_gelu",
        Activation::Gelu => "gelu",
        Activation::GeluTanh => "gelu_pytorch_tanh",
    };
    let mut text = text;
    if let Value::Object(t) = &mut text {
        t.remove("architectures");
    }
    Ok((
        Family::Llava,
        json!({
            "architectures": ["LlavaForConditionalGeneration"],
            "model_type": "llava",
            "image_token_index": config.image_token_id,
            "image_seq_length": config.n_image_tokens(),
            "projector_hidden_act": "gelu",
            "multimodal_projector_bias": true,
            "vision_feature_layer": vit.feature_layer,
            "vision_feature_select_strategy": "default",
            "text_config": text,
            "vision_config": {
                "model_type": "clip_vision_model",
                "hidden_act": act,
                "hidden_size": vit.d_model,
                "intermediate_size": vit.d_ff(),
                "image_size": vit.image_size,
                "patch_size": vit.patch_size,
                "num_hidden_layers": vit.n_layers,
                "num_attention_heads": vit.n_heads,
                "num_channels": 3,
                "layer_norm_eps": vit.norm_eps,
            },
            "dtype": "float32",
        }),
    ))
}

fn decoder_json(d: &DecoderConfig) -> Value {
    let qwen = d.qkv_bias;
    let rope_scaling = match d.rope_scaling {
        None => Value::Null,
        Some(RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings,
        }) => json!({
            "rope_type": "llama3",
            "factor": factor,
            "low_freq_factor": low_freq_factor,
            "high_freq_factor": high_freq_factor,
            "original_max_position_embeddings": original_max_position_embeddings,
        }),
    };
    json!({
        "architectures": [if qwen { "Qwen2ForCausalLM" } else { "LlamaForCausalLM" }],
        "model_type": if qwen { "qwen2" } else { "llama" },
        "vocab_size": d.vocab_size,
        "hidden_size": d.d_model,
        "intermediate_size": d.d_ff,
        "num_hidden_layers": d.n_layers,
        "num_attention_heads": d.n_heads,
        "num_key_value_heads": d.n_kv_heads,
        "head_dim": d.head_dim(),
        "max_position_embeddings": d.max_seq_len,
        "rms_norm_eps": d.norm_eps,
        "rope_theta": d.rope_theta,
        "rope_scaling": rope_scaling,
        "tie_word_embeddings": d.tie_word_embeddings,
        "hidden_act": "silu",
        "dtype": "float32",
    })
}

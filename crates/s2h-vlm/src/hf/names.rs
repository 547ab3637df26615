//! The one table from Hugging Face tensor names to s2h's module paths, both ways.
//!
//! Each component (a decoder body, its output layer, a CLIP or SigLIP tower, a timm ConvNeXt, a
//! LLaVA projector) is a list of [`Name`]s relative to the component's root; a checkpoint layout
//! is a list of components, each placed under a file prefix and an s2h prefix ([`Placed`]).
//! `{i}` and `{j}` stand for layer and block indices. PyTorch's `Linear` stores `[out, in]`,
//! Burn's `[in, out]`: those entries say [`Layout::Transpose`].

/// How a tensor's layout differs between the file and s2h.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Same,
    /// A 2-D weight stored transposed (PyTorch `Linear`).
    Transpose,
    /// The file's `[n, d]` is s2h's `[1, n, d]` (a ViT's position embeddings).
    LeadingOne,
}

/// One tensor: its name in the file, its path in s2h, and the layout change between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Name {
    pub file: &'static str,
    pub s2h: &'static str,
    pub layout: Layout,
}

const fn name(file: &'static str, s2h: &'static str, layout: Layout) -> Name {
    Name { file, s2h, layout }
}

/// A Llama or Qwen2 decoder body (`model.` in a `*ForCausalLM` file). Qwen2's q/k/v biases are
/// here; a Llama file simply has none.
pub const DECODER: &[Name] = &[
    name("embed_tokens.weight", "embed_tokens.weight", Layout::Same),
    name(
        "layers.{i}.self_attn.q_proj.weight",
        "layers.{i}.attn.q_proj.weight",
        Layout::Transpose,
    ),
    name(
        "layers.{i}.self_attn.k_proj.weight",
        "layers.{i}.attn.k_proj.weight",
        Layout::Transpose,
    ),
    name(
        "layers.{i}.self_attn.v_proj.weight",
        "layers.{i}.attn.v_proj.weight",
        Layout::Transpose,
    ),
    name(
        "layers.{i}.self_attn.o_proj.weight",
        "layers.{i}.attn.o_proj.weight",
        Layout::Transpose,
    ),
    name(
        "layers.{i}.self_attn.q_proj.bias",
        "layers.{i}.attn.q_proj.bias",
        Layout::Same,
    ),
    name(
        "layers.{i}.self_attn.k_proj.bias",
        "layers.{i}.attn.k_proj.bias",
        Layout::Same,
    ),
    name(
        "layers.{i}.self_attn.v_proj.bias",
        "layers.{i}.attn.v_proj.bias",
        Layout::Same,
    ),
    name(
        "layers.{i}.mlp.gate_proj.weight",
        "layers.{i}.mlp.gate_proj.weight",
        Layout::Transpose,
    ),
    name(
        "layers.{i}.mlp.up_proj.weight",
        "layers.{i}.mlp.up_proj.weight",
        Layout::Transpose,
    ),
    name(
        "layers.{i}.mlp.down_proj.weight",
        "layers.{i}.mlp.down_proj.weight",
        Layout::Transpose,
    ),
    name(
        "layers.{i}.input_layernorm.weight",
        "layers.{i}.input_norm.gamma",
        Layout::Same,
    ),
    name(
        "layers.{i}.post_attention_layernorm.weight",
        "layers.{i}.post_attn_norm.gamma",
        Layout::Same,
    ),
    name("norm.weight", "norm.gamma", Layout::Same),
];

/// The untied output layer (`lm_head.weight`), absent when tied to the embeddings.
pub const LM_HEAD: &[Name] = &[name("lm_head.weight", "lm_head.weight", Layout::Transpose)];

/// A CLIP or SigLIP vision transformer (`vision_model.` in their files).
pub const VIT: &[Name] = &[
    name(
        "embeddings.class_embedding",
        "class_embedding",
        Layout::Same,
    ),
    name(
        "embeddings.patch_embedding.weight",
        "patch_embed.weight",
        Layout::Same,
    ),
    name(
        "embeddings.patch_embedding.bias",
        "patch_embed.bias",
        Layout::Same,
    ),
    name(
        "embeddings.position_embedding.weight",
        "pos_embed",
        Layout::LeadingOne,
    ),
    name("pre_layrnorm.weight", "pre_norm.gamma", Layout::Same),
    name("pre_layrnorm.bias", "pre_norm.beta", Layout::Same),
    name(
        "encoder.layers.{i}.layer_norm1.weight",
        "blocks.{i}.norm1.gamma",
        Layout::Same,
    ),
    name(
        "encoder.layers.{i}.layer_norm1.bias",
        "blocks.{i}.norm1.beta",
        Layout::Same,
    ),
    name(
        "encoder.layers.{i}.layer_norm2.weight",
        "blocks.{i}.norm2.gamma",
        Layout::Same,
    ),
    name(
        "encoder.layers.{i}.layer_norm2.bias",
        "blocks.{i}.norm2.beta",
        Layout::Same,
    ),
    name(
        "encoder.layers.{i}.self_attn.q_proj.weight",
        "blocks.{i}.attn.q_proj.weight",
        Layout::Transpose,
    ),
    name(
        "encoder.layers.{i}.self_attn.k_proj.weight",
        "blocks.{i}.attn.k_proj.weight",
        Layout::Transpose,
    ),
    name(
        "encoder.layers.{i}.self_attn.v_proj.weight",
        "blocks.{i}.attn.v_proj.weight",
        Layout::Transpose,
    ),
    name(
        "encoder.layers.{i}.self_attn.out_proj.weight",
        "blocks.{i}.attn.o_proj.weight",
        Layout::Transpose,
    ),
    name(
        "encoder.layers.{i}.self_attn.q_proj.bias",
        "blocks.{i}.attn.q_proj.bias",
        Layout::Same,
    ),
    name(
        "encoder.layers.{i}.self_attn.k_proj.bias",
        "blocks.{i}.attn.k_proj.bias",
        Layout::Same,
    ),
    name(
        "encoder.layers.{i}.self_attn.v_proj.bias",
        "blocks.{i}.attn.v_proj.bias",
        Layout::Same,
    ),
    name(
        "encoder.layers.{i}.self_attn.out_proj.bias",
        "blocks.{i}.attn.o_proj.bias",
        Layout::Same,
    ),
    name(
        "encoder.layers.{i}.mlp.fc1.weight",
        "blocks.{i}.fc1.weight",
        Layout::Transpose,
    ),
    name(
        "encoder.layers.{i}.mlp.fc1.bias",
        "blocks.{i}.fc1.bias",
        Layout::Same,
    ),
    name(
        "encoder.layers.{i}.mlp.fc2.weight",
        "blocks.{i}.fc2.weight",
        Layout::Transpose,
    ),
    name(
        "encoder.layers.{i}.mlp.fc2.bias",
        "blocks.{i}.fc2.bias",
        Layout::Same,
    ),
    name("post_layernorm.weight", "norm.gamma", Layout::Same),
    name("post_layernorm.bias", "norm.beta", Layout::Same),
];

/// A ConvNeXt with timm's names (Eagle's `convnext_xxlarge`; open_clip files prefix it
/// `visual.trunk.`). The layer scale is `gamma` in timm's files.
pub const CONVNEXT: &[Name] = &[
    name("stem.0.weight", "stem.weight", Layout::Same),
    name("stem.0.bias", "stem.bias", Layout::Same),
    name("stem.1.weight", "stem_norm.gamma", Layout::Same),
    name("stem.1.bias", "stem_norm.beta", Layout::Same),
    name(
        "stages.{i}.downsample.0.weight",
        "stages.{i}.downsample.norm.gamma",
        Layout::Same,
    ),
    name(
        "stages.{i}.downsample.0.bias",
        "stages.{i}.downsample.norm.beta",
        Layout::Same,
    ),
    name(
        "stages.{i}.downsample.1.weight",
        "stages.{i}.downsample.conv.weight",
        Layout::Same,
    ),
    name(
        "stages.{i}.downsample.1.bias",
        "stages.{i}.downsample.conv.bias",
        Layout::Same,
    ),
    name(
        "stages.{i}.blocks.{j}.conv_dw.weight",
        "stages.{i}.blocks.{j}.dwconv.weight",
        Layout::Same,
    ),
    name(
        "stages.{i}.blocks.{j}.conv_dw.bias",
        "stages.{i}.blocks.{j}.dwconv.bias",
        Layout::Same,
    ),
    name(
        "stages.{i}.blocks.{j}.norm.weight",
        "stages.{i}.blocks.{j}.norm.gamma",
        Layout::Same,
    ),
    name(
        "stages.{i}.blocks.{j}.norm.bias",
        "stages.{i}.blocks.{j}.norm.beta",
        Layout::Same,
    ),
    name(
        "stages.{i}.blocks.{j}.mlp.fc1.weight",
        "stages.{i}.blocks.{j}.fc1.weight",
        Layout::Transpose,
    ),
    name(
        "stages.{i}.blocks.{j}.mlp.fc1.bias",
        "stages.{i}.blocks.{j}.fc1.bias",
        Layout::Same,
    ),
    name(
        "stages.{i}.blocks.{j}.mlp.fc2.weight",
        "stages.{i}.blocks.{j}.fc2.weight",
        Layout::Transpose,
    ),
    name(
        "stages.{i}.blocks.{j}.mlp.fc2.bias",
        "stages.{i}.blocks.{j}.fc2.bias",
        Layout::Same,
    ),
];

/// The ConvNeXt layer scale as timm's files name it.
pub const TIMM_LAYER_SCALE: &[Name] = &[name(
    "stages.{i}.blocks.{j}.gamma",
    "stages.{i}.blocks.{j}.gamma",
    Layout::Same,
)];

/// The ConvNeXt layer scale as Eagle's vendored timm module names it.
pub const EAGLE_LAYER_SCALE: &[Name] = &[name(
    "stages.{i}.blocks.{j}.weight",
    "stages.{i}.blocks.{j}.gamma",
    Layout::Same,
)];

/// Eagle's (and LLaVA-1.5 training code's) `mlp2x_gelu` projector, an `nn.Sequential`.
pub const MLP2X_PROJECTOR: &[Name] = &[
    name("0.weight", "fc1.weight", Layout::Transpose),
    name("0.bias", "fc1.bias", Layout::Same),
    name("2.weight", "fc2.weight", Layout::Transpose),
    name("2.bias", "fc2.bias", Layout::Same),
];

/// LLaVA's two-layer projector (`multi_modal_projector.`).
pub const LLAVA_PROJECTOR: &[Name] = &[
    name("linear_1.weight", "fc1.weight", Layout::Transpose),
    name("linear_1.bias", "fc1.bias", Layout::Same),
    name("linear_2.weight", "fc2.weight", Layout::Transpose),
    name("linear_2.bias", "fc2.bias", Layout::Same),
];

/// A component placed in a checkpoint: its names under `file` in the file and under `s2h` in
/// the module.
#[derive(Debug, Clone, Copy)]
pub struct Placed {
    pub file: &'static str,
    pub s2h: &'static str,
    pub names: &'static [Name],
}

/// A checkpoint layout: its components, and the file prefixes s2h knowingly leaves out (a
/// classifier head, a CLIP text tower).
#[derive(Debug, Clone)]
pub struct Table {
    pub components: Vec<Placed>,
    pub ignored: Vec<&'static str>,
}

/// A name matched against a template: the s2h path (or file name) and the layout change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    pub name: String,
    pub layout: Layout,
}

impl Table {
    /// The s2h path of a file tensor; `None` when no component names it.
    pub fn to_s2h(&self, file_key: &str) -> Option<Mapped> {
        self.components.iter().find_map(|c| {
            let rest = file_key.strip_prefix(c.file)?;
            c.names.iter().find_map(|n| {
                let indices = match_template(n.file, rest)?;
                Some(Mapped {
                    name: format!("{}{}", c.s2h, fill_template(n.s2h, &indices)),
                    layout: n.layout,
                })
            })
        })
    }

    /// The file name of an s2h path; `None` when no component names it.
    pub fn to_file(&self, s2h_path: &str) -> Option<Mapped> {
        self.components.iter().find_map(|c| {
            let rest = s2h_path.strip_prefix(c.s2h)?;
            c.names.iter().find_map(|n| {
                let indices = match_template(n.s2h, rest)?;
                Some(Mapped {
                    name: format!("{}{}", c.file, fill_template(n.file, &indices)),
                    layout: n.layout,
                })
            })
        })
    }

    /// Whether a file tensor lies under a prefix s2h leaves out.
    pub fn is_ignored(&self, file_key: &str) -> bool {
        self.ignored.iter().any(|p| file_key.starts_with(p))
    }
}

/// The indices a template's `{i}`/`{j}` segments take in `name`, in order; `None` when the
/// name does not fit the template.
fn match_template(template: &str, name: &str) -> Option<Vec<String>> {
    let t: Vec<&str> = template.split('.').collect();
    let n: Vec<&str> = name.split('.').collect();
    if t.len() != n.len() {
        return None;
    }
    let mut indices = Vec::new();
    for (ts, ns) in t.iter().zip(&n) {
        if ts.starts_with('{') && ts.ends_with('}') {
            if ns.is_empty() || !ns.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            indices.push(ns.to_string());
        } else if ts != ns {
            return None;
        }
    }
    Some(indices)
}

fn fill_template(template: &str, indices: &[String]) -> String {
    let mut next = indices.iter();
    template
        .split('.')
        .map(|s| {
            if s.starts_with('{') {
                next.next().cloned().unwrap_or_default()
            } else {
                s.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn llava() -> Table {
        Table {
            components: vec![
                Placed {
                    file: "language_model.model.",
                    s2h: "decoder.",
                    names: DECODER,
                },
                Placed {
                    file: "language_model.",
                    s2h: "decoder.",
                    names: LM_HEAD,
                },
                Placed {
                    file: "vision_tower.vision_model.",
                    s2h: "vision.vit.",
                    names: VIT,
                },
            ],
            ignored: vec!["head."],
        }
    }

    #[test]
    fn names_map_both_ways_with_their_indices() {
        let t = llava();
        let m = t
            .to_s2h("language_model.model.layers.12.self_attn.q_proj.weight")
            .unwrap();
        assert_eq!(m.name, "decoder.layers.12.attn.q_proj.weight");
        assert_eq!(m.layout, Layout::Transpose);
        assert_eq!(
            t.to_file(&m.name).unwrap().name,
            "language_model.model.layers.12.self_attn.q_proj.weight"
        );
        let head = t.to_s2h("language_model.lm_head.weight").unwrap();
        assert_eq!(head.name, "decoder.lm_head.weight");
        assert_eq!(
            t.to_s2h("vision_tower.vision_model.embeddings.position_embedding.weight")
                .unwrap()
                .layout,
            Layout::LeadingOne
        );
        assert_eq!(
            t.to_s2h("language_model.model.layers.x.input_layernorm.weight"),
            None
        );
        assert_eq!(t.to_s2h("model.layers.0.input_layernorm.weight"), None);
        assert!(t.is_ignored("head.fc.weight"));
    }

    #[test]
    fn every_template_round_trips() {
        for names in [
            DECODER,
            LM_HEAD,
            VIT,
            CONVNEXT,
            TIMM_LAYER_SCALE,
            EAGLE_LAYER_SCALE,
            LLAVA_PROJECTOR,
            MLP2X_PROJECTOR,
        ] {
            let t = Table {
                components: vec![Placed {
                    file: "f.",
                    s2h: "s.",
                    names,
                }],
                ignored: vec![],
            };
            for n in names {
                let file = format!("f.{}", n.file.replace("{i}", "3").replace("{j}", "7"));
                let s2h = t.to_s2h(&file).unwrap();
                assert_eq!(t.to_file(&s2h.name).unwrap().name, file, "{n:?}");
            }
        }
    }
}

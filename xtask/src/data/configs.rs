//! Tables 3 and 4: the paper's hyper-parameters of Eagle-X2-Llama3-8B and Qwen2.5-VL. s2h cannot
//! train those models; it trains its own small VLMs, so these tables print the configurations
//! s2h ships — the presets `tiny`, `small` and `base` of [`TrainConfig::preset`] and
//! [`VlmConfig::preset`] — read from the real config structs, never retyped.

use anyhow::Result;
use s2h::train::{Duration, TrainConfig};
use s2h::vlm::{TokenizerKind, VlmConfig};

use s2h::mixture::MixtureKind;
use s2h::tasks::TaskKind;

use super::{csv, markdown_table, output, write};
use crate::experiments::{RunSpec, run_config, scale};
use crate::registry::Tier;
use crate::{Agreement, Ctx, Output};

/// The presets, with what each is for (the doc of [`VlmConfig::tiny`] and its siblings).
const PRESETS: [(&str, &str); 3] = [
    ("tiny", "CPU tests"),
    ("small", "CPU experiments"),
    ("base", "GPU runs"),
];

/// Each preset's training configuration (which holds its model), then the configurations the
/// figure runs of the smoke and cpu tiers actually train with (`experiments::run_config`): one
/// column per tier, from its CTR runs, and one more for each task whose model, optimisation or
/// reading stage differs from it (at the cpu tier TR and Grid have no learned absolute
/// positions, TR a longer reading stage, Grid a longer context).
fn presets() -> Result<Vec<(String, String, TrainConfig)>> {
    let mut all: Vec<(String, String, TrainConfig)> = PRESETS
        .iter()
        .map(|&(name, purpose)| Ok((name.into(), purpose.into(), TrainConfig::preset(name)?)))
        .collect::<Result<_>>()?;
    for tier in [Tier::Smoke, Tier::Cpu] {
        let mut columns: Vec<TrainConfig> = Vec::new();
        for &task in TaskKind::ALL {
            let Some(scale) = scale(tier, task) else {
                continue;
            };
            let run = RunSpec::new(
                task,
                MixtureKind::Mix,
                scale.budgets.last().copied().unwrap_or(0),
            );
            let config = run_config(&scale, &run);
            let same = |c: &TrainConfig| {
                c.model == config.model
                    && c.lr == config.lr
                    && c.batch_size == config.batch_size
                    && c.reading == config.reading
            };
            if columns.iter().any(same) {
                continue;
            }
            let (name, purpose) = if columns.is_empty() {
                (
                    format!("{tier}-tier runs"),
                    format!("the figures at --tier {tier}"),
                )
            } else {
                (
                    format!("{tier}-tier {task} runs"),
                    format!("the {task} figures at --tier {tier}"),
                )
            };
            columns.push(config.clone());
            all.push((name, purpose, config));
        }
    }
    Ok(all)
}

/// `16, 32, 64`.
fn list(v: &[usize]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `1.2M`, `15.3M`.
fn params(n: usize) -> String {
    if n >= 1_000_000 {
        format!("{:.1}M", n as f64 / 1e6)
    } else {
        format!("{:.0}k", n as f64 / 1e3)
    }
}

fn image(model: &VlmConfig) -> String {
    let s = model.image_size();
    if s == 0 {
        "no vision tower".into()
    } else {
        format!("{s}x{s}")
    }
}

fn tokenizer(kind: &TokenizerKind) -> String {
    match kind {
        TokenizerKind::WordLevel => "word-level".into(),
        TokenizerKind::Bpe { vocab_size } => format!("byte-level BPE, {vocab_size} tokens"),
        TokenizerKind::Compact => "compact word-level".into(),
    }
}

/// A row: the name, then one value per preset.
type Row = Vec<String>;

fn row(
    name: &str,
    presets: &[(String, String, TrainConfig)],
    value: impl Fn(&TrainConfig) -> String,
) -> Row {
    std::iter::once(name.to_string())
        .chain(presets.iter().map(|(_, _, c)| value(c)))
        .collect()
}

/// `tiny 1e-3, small 5e-4, base 2e-4`.
fn per_preset(
    presets: &[(String, String, TrainConfig)],
    value: impl Fn(&TrainConfig) -> String,
) -> String {
    presets
        .iter()
        .map(|(name, _, c)| format!("{name} {}", value(c)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Write a preset table as CSV and Markdown.
fn write_table(
    ctx: &Ctx,
    stem: &str,
    title: &str,
    note: &str,
    presets: &[(String, String, TrainConfig)],
    rows: &[Row],
) -> Result<Vec<String>> {
    let mut header = vec!["hyper-parameter"];
    header.extend(presets.iter().map(|(name, _, _)| name.as_str()));
    let md = format!("# {title}\n\n{note}\n\n{}", markdown_table(&header, rows));
    Ok(vec![
        write(&ctx.dir, &format!("{stem}.md"), md.as_bytes())?,
        write(
            &ctx.dir,
            &format!("{stem}.csv"),
            csv(&header, rows).as_bytes(),
        )?,
    ])
}

const NOT_THE_PAPERS: &str =
    "s2h trains its own small models; the table lists the configurations used here";

/// Table 3 (the paper: Eagle's training hyper-parameters): the optimisation settings of s2h's
/// presets.
pub fn tab03(ctx: &Ctx) -> Result<Output> {
    let p = presets()?;
    let rows = vec![
        std::iter::once("intended for".to_string())
            .chain(p.iter().map(|(_, purpose, _)| purpose.to_string()))
            .collect(),
        row("optimizer", &p, |_| "AdamW, no weight decay".into()),
        row("peak learning rate", &p, |c| format!("{:e}", c.lr)),
        row("schedule", &p, |c| {
            format!(
                "linear warmup over {}% of the updates, cosine decay to 0",
                (c.warmup_ratio * 1e4).round() / 100.0
            )
        }),
        row("warmup ratio", &p, |c| c.warmup_ratio.to_string()),
        row("AdamW beta_1", &p, |c| c.beta_1.to_string()),
        row("AdamW beta_2", &p, |c| c.beta_2.to_string()),
        row("AdamW epsilon", &p, |c| format!("{:e}", c.epsilon)),
        row("global batch (records per update)", &p, |c| {
            c.batch_size.to_string()
        }),
        row("micro-batch", &p, |c| c.micro_batch().to_string()),
        row("gradient clipping", &p, |c| {
            c.clip_grad
                .map_or("none".into(), |v| format!("global norm {v}"))
        }),
        row("duration per phase", &p, |c| match c.duration {
            Duration::Epochs(1) => "1 epoch".into(),
            Duration::Epochs(n) => format!("{n} epochs"),
            Duration::Steps(n) => format!("{n} updates"),
        }),
        row("loss on target segments", &p, |c| {
            c.targets
                .iter()
                .map(|k| {
                    serde_json::to_value(k)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_else(|| format!("{k:?}"))
                })
                .collect::<Vec<_>>()
                .join(" + ")
        }),
        row("tokenizer", &p, |c| tokenizer(&c.tokenizer)),
        row("vision tower before the phases", &p, |c| match &c.reading {
            Some(r) => format!(
                "taught to read (s2h_train::reading: {} Adam updates of {} images at {:e}, on \
                 {} training images), then frozen",
                r.steps, r.batch_size, r.lr, r.images
            ),
            None => "trained with the rest".into(),
        }),
        row("seed", &p, |c| c.seed.to_string()),
        row("model parameters (preset vocabulary)", &p, |c| {
            params(c.model.num_params())
        }),
        row("image size", &p, |c| image(&c.model)),
        row("context length (tokens)", &p, |c| {
            c.model.decoder.max_seq_len.to_string()
        }),
    ];
    let files = write_table(
        ctx,
        "tab03",
        "Table 3: training hyper-parameters of s2h's presets",
        "The paper's Table 3 gives Eagle-X2-Llama3-8B's hyper-parameters; s2h cannot train that \
         model and trains its own small VLMs. These are `TrainConfig::preset(\"tiny\" | \"small\" | \
         \"base\")`, read from the config structs (parameters counted by `VlmConfig::num_params` \
         with the presets' placeholder vocabulary of 1024; a run sets it from its tokenizer), \
         then the configurations the smoke- and cpu-tier figure runs train with.",
        &p,
        &rows,
    )?;
    let numbers = vec![
        (
            "peak learning rate".to_string(),
            per_preset(&p, |c| format!("{:e}", c.lr)),
        ),
        (
            "global batch".to_string(),
            per_preset(&p, |c| c.batch_size.to_string()),
        ),
        (
            "warmup ratio / betas / epsilon".to_string(),
            per_preset(&p, |c| {
                format!(
                    "{} / {}, {} / {:e}",
                    c.warmup_ratio, c.beta_1, c.beta_2, c.epsilon
                )
            }),
        ),
        (
            "parameters".to_string(),
            per_preset(&p, |c| params(c.model.num_params())),
        ),
    ];
    Ok(output(
        ctx,
        "s2h's training presets tiny / small / base (TrainConfig::preset: AdamW, learning rate, \
         batch, warmup, betas, epsilon, schedule, epochs, model size) and the configurations the \
         smoke- and cpu-tier figure runs train with, in place of the paper's Eagle \
         hyper-parameters, which have no s2h counterpart; the same at every tier."
            .into(),
        files,
        numbers,
        Agreement::NotReproduced(NOT_THE_PAPERS.into()),
    ))
}

/// Table 4 (the paper: Qwen2.5-VL's hyper-parameters): the model architecture of s2h's presets.
pub fn tab04(ctx: &Ctx) -> Result<Output> {
    let p = presets()?;
    let vit = |c: &TrainConfig, f: fn(&s2h::vlm::VitConfig) -> String| {
        c.model
            .vision
            .as_ref()
            .and_then(|v| v.vit.as_ref())
            .map_or("–".into(), f)
    };
    let convnext = |c: &TrainConfig, f: fn(&s2h::vlm::ConvNextConfig) -> String| {
        c.model
            .vision
            .as_ref()
            .and_then(|v| v.convnext.as_ref())
            .map_or("–".into(), f)
    };
    let rows = vec![
        row("decoder width", &p, |c| c.model.decoder.d_model.to_string()),
        row("decoder layers", &p, |c| {
            c.model.decoder.n_layers.to_string()
        }),
        row("attention heads", &p, |c| {
            c.model.decoder.n_heads.to_string()
        }),
        row("key/value heads", &p, |c| {
            c.model.decoder.n_kv_heads.to_string()
        }),
        row("head dimension", &p, |c| {
            c.model.decoder.head_dim().to_string()
        }),
        row("SwiGLU hidden width", &p, |c| {
            c.model.decoder.d_ff.to_string()
        }),
        row("context length (tokens)", &p, |c| {
            c.model.decoder.max_seq_len.to_string()
        }),
        row("RoPE theta", &p, |c| c.model.decoder.rope_theta.to_string()),
        row("learned absolute positions", &p, |c| {
            if c.model.decoder.absolute_positions {
                "yes".into()
            } else {
                "no".into()
            }
        }),
        row("RMSNorm epsilon", &p, |c| {
            format!("{:e}", c.model.decoder.norm_eps)
        }),
        row("vocabulary (preset placeholder)", &p, |c| {
            c.model.decoder.vocab_size.to_string()
        }),
        row("image size", &p, |c| image(&c.model)),
        row("ViT patch", &p, |c| vit(c, |v| v.patch_size.to_string())),
        row("ViT width", &p, |c| vit(c, |v| v.d_model.to_string())),
        row("ViT layers", &p, |c| vit(c, |v| v.n_layers.to_string())),
        row("ViT heads", &p, |c| vit(c, |v| v.n_heads.to_string())),
        row("ViT MLP ratio", &p, |c| vit(c, |v| v.mlp_ratio.to_string())),
        row("ConvNeXt stage widths", &p, |c| {
            convnext(c, |v| list(&v.dims))
        }),
        row("ConvNeXt stage depths", &p, |c| {
            convnext(c, |v| list(&v.depths))
        }),
        row("ConvNeXt stem stride / kernel", &p, |c| {
            convnext(c, |v| format!("{} / {}", v.stem_stride, v.kernel_size))
        }),
        row("image tokens", &p, |c| c.model.n_image_tokens().to_string()),
        row("projector", &p, |c| {
            let vision = c.model.vision.as_ref().map_or(0, |v| v.out_channels());
            format!(
                "2-layer MLP, {vision} → {} channels",
                c.model.decoder.d_model
            )
        }),
        row("parameters (preset vocabulary)", &p, |c| {
            params(c.model.num_params())
        }),
    ];
    let files = write_table(
        ctx,
        "tab04",
        "Table 4: model architecture of s2h's presets",
        "The paper's Table 4 gives Qwen2.5-VL's hyper-parameters; Qwen2.5-VL has no s2h \
         counterpart (s2h trains its own Eagle-style VLM: a ViT and a ConvNeXt concatenated \
         channel-wise, an MLP projector and a Llama-style decoder). These are \
         `VlmConfig::preset(\"tiny\" | \"small\" | \"base\")` and the models of the smoke- and \
         cpu-tier figure runs, read from the config structs.",
        &p,
        &rows,
    )?;
    let numbers = vec![
        (
            "parameters".to_string(),
            per_preset(&p, |c| params(c.model.num_params())),
        ),
        (
            "decoder width x layers".to_string(),
            per_preset(&p, |c| {
                format!("{}x{}", c.model.decoder.d_model, c.model.decoder.n_layers)
            }),
        ),
        (
            "image size / tokens".to_string(),
            per_preset(&p, |c| {
                format!("{} / {}", image(&c.model), c.model.n_image_tokens())
            }),
        ),
    ];
    Ok(output(
        ctx,
        "Qwen2.5-VL's hyper-parameters have no s2h counterpart: the model architecture of s2h's \
         presets tiny / small / base (VlmConfig::preset: decoder, ViT, ConvNeXt, projector, \
         parameters) instead; the same at every tier."
            .into(),
        files,
        numbers,
        Agreement::NotReproduced(NOT_THE_PAPERS.into()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tests::{check_deterministic, check_files, make};

    #[test]
    fn tab03_and_tab04_print_the_presets_from_the_config_structs() {
        // A column per configuration: the smoke tier's VA runs have no reading stage, the cpu
        // tier's TR runs a longer one and its Grid runs a longer context.
        for (f, stem) in [
            (tab03 as fn(&Ctx) -> Result<Output>, "tab03"),
            (tab04, "tab04"),
        ] {
            let (dir, out) = make(f, Tier::Smoke);
            check_files(dir.path(), &out);
            assert!(matches!(out.agreement, Agreement::NotReproduced(_)));
            let text = std::fs::read_to_string(dir.path().join(format!("{stem}.csv"))).unwrap();
            let mut lines = text.lines();
            assert_eq!(
                lines.next(),
                Some(
                    "hyper-parameter,tiny,small,base,smoke-tier runs,smoke-tier va runs,\
                     cpu-tier runs,cpu-tier tr runs,cpu-tier grid runs"
                )
            );
            for l in lines {
                assert!(!l.is_empty());
            }
            check_deterministic(f, dir.path(), &out);
        }
        let (dir, _) = make(tab03, Tier::Cpu);
        let text = std::fs::read_to_string(dir.path().join("tab03.csv")).unwrap();
        assert!(
            text.contains("peak learning rate,1e-3,5e-4,2e-4,3e-3,3e-3,1.5e-3,1.5e-3,1.5e-3"),
            "{text}"
        );
        assert!(
            text.contains("warmup ratio,0.03,0.03,0.03,0.03,0.03,0.03,0.03,0.03"),
            "{text}"
        );
        let (dir, _) = make(tab04, Tier::Cpu);
        let text = std::fs::read_to_string(dir.path().join("tab04.csv")).unwrap();
        assert!(
            text.contains("decoder width,128,384,768,64,64,128,128,128"),
            "{text}"
        );
        // The cpu tier's TR and Grid runs have RoPE alone; Grid's a longer context.
        assert!(
            text.contains("context length (tokens),1024,2048,4096,4096,4096,512,512,1024"),
            "{text}"
        );
        assert!(
            text.contains("learned absolute positions,no,no,no,no,no,yes,no,no"),
            "{text}"
        );
    }
}

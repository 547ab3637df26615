//! A training step's throughput at a preset, in tokens per second: forward, masked LM loss,
//! backward and one AdamW update.
//!
//! ```sh
//! cargo run --release -p s2h-vlm --example train_step_bench -- [preset] [batch] [seq] [steps] [backend] [image|text]
//! # defaults: small 4 256 5 flex image
//! ```
//! `text` feeds no image (the Text-supervised model of the quickstart: `quickstart 8 206 20 flex
//! text`). `scripts/bench_vlm_torch.py` runs the same shapes in PyTorch for the ratio.
//!
//! s2h's training binaries keep freed memory for reuse (`s2h::cli::keep_freed_memory`, which
//! this crate cannot call); to time the step as they run it, set the same allocator parameters:
//! `GLIBC_TUNABLES=glibc.malloc.arena_max=1:glibc.malloc.mmap_max=0:glibc.malloc.top_pad=1073741824:glibc.malloc.trim_threshold=1073741824`
//! (docs/performance.md).
//!
//! With `PEAK_TFLOPS` set (the device's peak for the dtype used, e.g. 67 for H100 FP32), it also
//! prints the model FLOPs utilisation.

use std::time::Instant;

use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::backend::AutodiffBackend;
use s2h_vlm::{BackendKind, BackendTask, VlmConfig, masked_lm_loss, run_on, special};

struct Bench {
    config: VlmConfig,
    batch: usize,
    seq: usize,
    steps: usize,
    images: bool,
}

impl BackendTask for Bench {
    type Output = s2h_vlm::Result<(f64, f64)>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let mut model = self.config.init::<B>(&device)?;
        let mut optim = AdamWConfig::new().with_weight_decay(0.0).init::<B, _>();
        let n_img = if self.images {
            self.config.n_image_tokens()
        } else {
            0
        };
        let (b, t) = (self.batch, self.seq);
        let vocab = self.config.decoder.vocab_size as i64;
        let ids: Vec<i64> = (0..b * t)
            .map(|i| {
                let j = i % t;
                if (2..2 + n_img).contains(&j) {
                    special::IMAGE_ID as i64
                } else {
                    7 + (i as i64 * 31) % (vocab - 7)
                }
            })
            .collect();
        let input = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [b, t]), &device);
        let mask = Tensor::<B, 2>::ones([b, t], &device);
        let size = self.config.image_size();
        let images = self.images.then(|| {
            Tensor::<B, 4>::random(
                [b, 3, size, size],
                Distribution::Uniform(-1.0, 1.0),
                &device,
            )
        });
        let mut times = Vec::new();
        for _ in 0..self.steps + 1 {
            let start = Instant::now();
            let logits = model.forward(input.clone(), images.clone());
            let loss = masked_lm_loss(logits, input.clone(), mask.clone());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(1e-4, model, grads);
            let _ = B::sync(&device);
            times.push(start.elapsed().as_secs_f64());
        }
        // The first step warms caches (and compiles kernels on GPUs): leave it out.
        let mean = times[1..].iter().sum::<f64>() / self.steps as f64;
        Ok((mean, (b * t) as f64 / mean))
    }
}

/// Approximate training FLOPs of one step (forward + backward = 3 × forward): 2 per weight per
/// token for the decoder and LM head, the attention score/value products, and the ViT on its
/// patches. The ConvNeXt and the projector are small and left out, so MFU is slightly understated.
fn train_flops(config: &VlmConfig, batch: usize, seq: usize, images: bool) -> f64 {
    let d = &config.decoder;
    let hd = d.head_dim();
    let per_layer = d.d_model * (d.n_heads + 2 * d.n_kv_heads) * hd
        + d.n_heads * hd * d.d_model
        + 3 * d.d_model * d.d_ff;
    let tokens = (batch * seq) as f64;
    let mut fwd = 2.0 * tokens * (d.n_layers * per_layer + d.d_model * d.vocab_size) as f64;
    fwd += (d.n_layers * 2 * 2 * batch * seq * seq * d.n_heads * hd) as f64 / 2.0; // causal half
    if let Some(vit) = config
        .vision
        .as_ref()
        .and_then(|v| v.vit.as_ref())
        .filter(|_| images)
    {
        let n = vit.grid() * vit.grid();
        let w = vit.d_model;
        let block = 4 * w * w + 2 * w * w * vit.mlp_ratio;
        fwd += 2.0
            * (batch * n) as f64
            * (vit.n_layers * block + 3 * vit.patch_size * vit.patch_size * w) as f64;
        fwd += (vit.n_layers * 2 * 2 * batch * n * n * w) as f64;
    }
    3.0 * fwd
}

fn main() {
    if let Err(e) = bench() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn bench() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_string());
    let config = VlmConfig::preset(&arg(0, "small"))?;
    let batch: usize = arg(1, "4").parse()?;
    let seq: usize = arg(2, "256").parse()?;
    let steps: usize = arg(3, "5").parse::<usize>()?.max(1);
    let backend: BackendKind = arg(4, "flex").parse()?;
    let images = match arg(5, "image").as_str() {
        "image" => config.vision.is_some(),
        "text" => false,
        other => return Err(format!("expected image or text, got `{other}`").into()),
    };
    let n_img = if images { config.n_image_tokens() } else { 0 };
    if seq <= n_img + 2 || seq > config.decoder.max_seq_len {
        return Err(format!(
            "seq must lie in {}..={}",
            n_img + 3,
            config.decoder.max_seq_len
        )
        .into());
    }
    println!(
        "{} params, batch {batch}, seq {seq} ({n_img} image tokens), backend {backend}",
        config.num_params(),
    );
    let flops = train_flops(&config, batch, seq, images);
    let (step, tps) = run_on(
        backend,
        Bench {
            config,
            batch,
            seq,
            steps,
            images,
        },
    )??;
    let achieved = flops / step / 1e12;
    println!("forward+backward+AdamW: {step:.3} s/step, {tps:.0} tokens/s, {achieved:.3} TFLOP/s");
    if let Some(peak) = std::env::var("PEAK_TFLOPS")
        .ok()
        .and_then(|p| p.parse::<f64>().ok())
    {
        println!("MFU: {:.1}% of {peak} TFLOP/s", 100.0 * achieved / peak);
    }
    Ok(())
}

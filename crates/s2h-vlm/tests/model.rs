//! Model tests, generic over the backend: on flex and ndarray in every test run; on wgpu and cuda
//! when built with those features (`scripts/gpu_check.sh`).

use burn::module::{AutodiffModule, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Distribution, Tolerance};
use s2h_vlm::*;

/// A configuration small enough for finite differences: every part present, ~40k parameters.
/// The decoder has learned absolute positions too, so their gradient is checked.
fn micro_config() -> VlmConfig {
    VlmConfig::new(
        DecoderConfig::new(40, 16, 1, 4, 2, 32, 64).with_absolute_positions(true),
        special::IMAGE_ID as usize,
    )
    .with_vision(Some(
        VisionConfig::new()
            .with_vit(Some(VitConfig::new(8, 4, 8, 1, 2).with_mlp_ratio(2)))
            .with_convnext(Some(
                ConvNextConfig::new(8, vec![4, 8], vec![1, 1])
                    .with_stem_stride(2)
                    .with_kernel_size(3),
            )),
    ))
}

fn ids<B: Backend>(rows: &[Vec<i64>], device: &B::Device) -> Tensor<B, 2, Int> {
    let t = rows[0].len();
    let flat: Vec<i64> = rows.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), t]), device)
}

fn images<B: Backend>(b: usize, size: usize, seed: u64, device: &B::Device) -> Tensor<B, 4> {
    B::seed(device, seed);
    Tensor::random([b, 3, size, size], Distribution::Uniform(-1.0, 1.0), device)
}

/// A prompt with the image block at position 2, then text.
fn image_row(n_image: usize, text: &[i64]) -> Vec<i64> {
    let mut row = vec![special::BOS_ID as i64, special::USER_ID as i64];
    row.extend(std::iter::repeat_n(special::IMAGE_ID as i64, n_image));
    row.extend_from_slice(text);
    row
}

/// GPU backends may use reduced-precision matmul units: compare them more loosely.
fn tolerance_scale<B: Backend>() -> f64 {
    let name = std::any::type_name::<B>();
    if name.contains("Cuda") || name.contains("Wgpu") || name.contains("Cube") {
        100.0
    } else {
        1.0
    }
}

fn assert_close<B: Backend, const D: usize>(a: Tensor<B, D>, b: Tensor<B, D>, tol: f64) {
    let tol = tol * tolerance_scale::<B>();
    a.into_data()
        .assert_approx_eq::<f32>(&b.into_data(), Tolerance::absolute(tol));
}

fn preset_shapes_and_params<B: Backend>(device: &B::Device) {
    // tiny: full forward with an image.
    let config = VlmConfig::tiny();
    let model = config.init::<B>(device).unwrap();
    assert_eq!(model.num_params(), config.num_params());
    let n = config.n_image_tokens();
    let row = image_row(n, &[10, 11, 12]);
    let input = ids::<B>(&[row.clone(), row], device);
    let logits = model.forward(input, Some(images::<B>(2, config.image_size(), 1, device)));
    assert_eq!(logits.dims(), [2, n + 5, config.decoder.vocab_size]);
    // small: built and counted (its forward is exercised by the benchmark).
    let small = VlmConfig::small();
    assert_eq!(
        small.init::<B>(device).unwrap().num_params(),
        small.num_params()
    );
    // quickstart: its learned positions are counted.
    let quickstart = VlmConfig::quickstart();
    assert_eq!(
        quickstart.init::<B>(device).unwrap().num_params(),
        quickstart.num_params()
    );
    let counts = [
        VlmConfig::tiny().num_params(),
        small.num_params(),
        VlmConfig::base().num_params(),
    ];
    eprintln!(
        "parameters: tiny {} small {} base {}",
        counts[0], counts[1], counts[2]
    );
    assert!(
        (0.5e6..2e6).contains(&(counts[0] as f64)),
        "tiny {}",
        counts[0]
    );
    assert!(
        (10e6..20e6).contains(&(counts[1] as f64)),
        "small {}",
        counts[1]
    );
    assert!(
        (80e6..130e6).contains(&(counts[2] as f64)),
        "base {}",
        counts[2]
    );
    assert_eq!(VlmConfig::base().n_image_tokens(), 14 * 14);
}

fn causal_masking<B: Backend>(device: &B::Device) {
    let config = VlmConfig::tiny();
    let model = config.init::<B>(device).unwrap();
    let a = ids::<B>(&[vec![1, 5, 20, 21, 22, 23, 24, 25]], device);
    let b = ids::<B>(&[vec![1, 5, 20, 21, 22, 99, 98, 97]], device);
    let la = model.forward(a, None);
    let lb = model.forward(b, None);
    // Positions 0..5 see only identical tokens.
    assert_close(la.clone().narrow(1, 0, 5), lb.clone().narrow(1, 0, 5), 1e-5);
    // Position 5 sees a different token: its logits must change.
    let diff = (la.narrow(1, 5, 1) - lb.narrow(1, 5, 1))
        .abs()
        .max()
        .into_scalar()
        .elem::<f32>();
    assert!(diff > 1e-4, "a changed token did not change its own logits");
}

/// `tiny`, and `tiny` with learned absolute positions (the quickstart's kind of decoder): the
/// cached and padded paths must give each token the position it has in a full pass.
fn tiny_configs() -> [VlmConfig; 2] {
    let mut positions = VlmConfig::tiny();
    positions.decoder.absolute_positions = true;
    [VlmConfig::tiny(), positions]
}

fn kv_cache_matches_full<B: Backend>(device: &B::Device) {
    for config in tiny_configs() {
        kv_cache_matches_full_with::<B>(config, device);
    }
}

fn kv_cache_matches_full_with<B: Backend>(config: VlmConfig, device: &B::Device) {
    let model = config.init::<B>(device).unwrap();
    let n = config.n_image_tokens();
    let rows = vec![
        image_row(n, &[10, 11, 12, 13, 14, 15]),
        image_row(n, &[20, 21, 22, 23, 24, 25]),
    ];
    let t = rows[0].len();
    let img = images::<B>(2, config.image_size(), 2, device);
    let full = model.forward(ids::<B>(&rows, device), Some(img.clone()));
    let prefill = n + 3;
    let mut cache = model.new_cache();
    let head: Vec<Vec<i64>> = rows.iter().map(|r| r[..prefill].to_vec()).collect();
    let first = model
        .forward_cached(ids::<B>(&head, device), Some(img), &mut cache)
        .unwrap();
    assert_close(full.clone().narrow(1, 0, prefill), first, 1e-4);
    for pos in prefill..t {
        let step: Vec<Vec<i64>> = rows.iter().map(|r| vec![r[pos]]).collect();
        let logits = model
            .forward_cached(ids::<B>(&step, device), None, &mut cache)
            .unwrap();
        assert_close(full.clone().narrow(1, pos, 1), logits, 1e-4);
    }
    assert_eq!(cache.len(), t);
    // Past the context: an error, not a panic.
    let mut cache = model.new_cache();
    let long = ids::<B>(&[vec![7; config.decoder.max_seq_len + 1]], device);
    assert!(model.forward_cached(long, None, &mut cache).is_err());
}

/// Left-padded rows through a padded cache give, at their real positions, the logits each row
/// gives alone: padding is masked and does not shift positions, at prefill and at each step.
fn left_padding_matches_alone<B: Backend>(device: &B::Device) {
    for config in tiny_configs() {
        left_padding_matches_alone_with::<B>(config, device);
    }
}

fn left_padding_matches_alone_with<B: Backend>(config: VlmConfig, device: &B::Device) {
    let model = config.init::<B>(device).unwrap();
    let n = config.n_image_tokens();
    let long = image_row(n, &[10, 11, 12, 13, 14, 15, 16]);
    let short = vec![1, 5, 30, 31, 32];
    let img = images::<B>(2, config.image_size(), 3, device);
    let pad = long.len() - short.len();
    let mut padded_short = vec![special::PAD_ID as i64; pad];
    padded_short.extend_from_slice(&short);
    let mut cache = model.new_padded_cache(vec![0, pad]);
    let batch = model
        .forward_cached(
            ids::<B>(&[long.clone(), padded_short], device),
            Some(img.clone()),
            &mut cache,
        )
        .unwrap();
    let alone_long = model.forward(
        ids::<B>(std::slice::from_ref(&long), device),
        Some(img.clone().narrow(0, 0, 1)),
    );
    let alone_short = model.forward(ids::<B>(std::slice::from_ref(&short), device), None);
    assert_close(batch.clone().narrow(0, 0, 1), alone_long, 1e-4);
    assert_close(
        batch.narrow(0, 1, 1).narrow(1, pad, short.len()),
        alone_short,
        1e-4,
    );
    // Two decoding steps, compared with each row's full recompute.
    let mut rows = [long, short];
    for (k, tok) in [(0, 40i64), (1, 41)] {
        let step = model
            .forward_cached(
                ids::<B>(&[vec![tok], vec![tok + 10]], device),
                None,
                &mut cache,
            )
            .unwrap();
        rows[0].push(tok);
        rows[1].push(tok + 10);
        let full_long = model.forward(
            ids::<B>(&[rows[0].clone()], device),
            Some(img.clone().narrow(0, 0, 1)),
        );
        let full_short = model.forward(ids::<B>(&[rows[1].clone()], device), None);
        let (tl, ts) = (rows[0].len(), rows[1].len());
        assert_close(
            step.clone().narrow(0, 0, 1),
            full_long.narrow(1, tl - 1, 1),
            1e-4,
        );
        assert_close(step.narrow(0, 1, 1), full_short.narrow(1, ts - 1, 1), 1e-4);
        assert_eq!(cache.len(), rows[0].len(), "step {k}");
    }
    // A cache padded for two rows refuses a batch of one.
    let mut cache = model.new_padded_cache(vec![0, 2]);
    assert!(
        model
            .forward_cached(ids::<B>(&[vec![1, 5, 7]], device), None, &mut cache)
            .is_err()
    );
}

fn vision_encoders<B: Backend>(device: &B::Device) {
    let tiny = VlmConfig::tiny();
    let vision = tiny.vision.clone().unwrap();
    let img = images::<B>(2, vision.image_size(), 3, device);
    let vit_cfg = vision.vit.clone().unwrap();
    let cnn_cfg = vision.convnext.clone().unwrap();
    let tower = vision.init::<B>(device);
    let vit = tower.vit.as_ref().unwrap().forward(img.clone());
    let cnn = tower.convnext.as_ref().unwrap().forward(img.clone());
    let grid = vit_cfg.grid() * vit_cfg.grid();
    assert_eq!(vit.dims(), [2, grid, vit_cfg.d_model]);
    assert_eq!(cnn.dims(), [2, grid, cnn_cfg.out_channels()]);
    let both = tower.forward(img.clone());
    assert_eq!(both.dims(), [2, grid, vision.out_channels()]);
    assert_close(both, Tensor::cat(vec![vit, cnn], 2), 1e-6);
    // Each encoder alone drives a whole model.
    for v in [
        VisionConfig::new().with_vit(Some(vit_cfg.clone())),
        VisionConfig::new().with_convnext(Some(cnn_cfg.clone())),
    ] {
        let config = VlmConfig::tiny().with_vision(Some(v));
        let model = config.init::<B>(device).unwrap();
        let row = image_row(config.n_image_tokens(), &[9]);
        let logits = model.forward(ids::<B>(&[row.clone(), row], device), Some(img.clone()));
        assert_eq!(logits.dims()[1], config.n_image_tokens() + 3);
    }
    // Mismatched grids are a configuration error.
    let bad = VlmConfig::tiny().with_vision(Some(
        VisionConfig::new()
            .with_vit(Some(vit_cfg))
            .with_convnext(Some(cnn_cfg.with_stem_stride(2))),
    ));
    assert!(bad.init::<B>(device).is_err());
}

fn image_changes_only_later_logits<B: Backend>(device: &B::Device) {
    let config = VlmConfig::tiny();
    let model = config.init::<B>(device).unwrap();
    let n = config.n_image_tokens();
    let row = image_row(n, &[10, 11]);
    let input = ids::<B>(&[row], device);
    let a = model.forward(
        input.clone(),
        Some(images::<B>(1, config.image_size(), 4, device)),
    );
    let b = model.forward(input, Some(images::<B>(1, config.image_size(), 5, device)));
    assert_close(a.clone().narrow(1, 0, 2), b.clone().narrow(1, 0, 2), 1e-5);
    let diff = (a.narrow(1, n + 1, 2) - b.narrow(1, n + 1, 2))
        .abs()
        .max()
        .into_scalar()
        .elem::<f32>();
    assert!(diff > 1e-4, "the image does not reach the text after it");
}

fn save_load_parity<B: Backend>(device: &B::Device) {
    let texts = vec!["Answer: 1, 2 (sum 3)\n".to_string()];
    let tokenizer = VlmTokenizer::build(TokenizerKind::WordLevel, &texts, &[]).unwrap();
    // With learned absolute positions: their table is saved and loaded like every weight.
    let [_, config] = tiny_configs();
    let config = config.with_vocab(&tokenizer);
    let model = config.init::<B>(device).unwrap();
    let dir = tempfile::tempdir().unwrap();
    save_model(dir.path(), &config, &tokenizer, &model).unwrap();
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
    let (config2, tok2, model2) = load_model::<B>(dir.path(), device).unwrap();
    assert_eq!(config2, config);
    assert_eq!(tok2.vocab_size(), tokenizer.vocab_size());
    let n = config.n_image_tokens();
    let row = image_row(n, &[10, 11, 12]);
    let img = images::<B>(1, config.image_size(), 6, device);
    let a = model.forward(
        ids::<B>(std::slice::from_ref(&row), device),
        Some(img.clone()),
    );
    let b = model2.forward(ids::<B>(&[row], device), Some(img));
    a.into_data().assert_eq(&b.into_data(), true);
    // A directory for another shape is refused.
    let other = VlmConfig::tiny().with_vocab(&tokenizer);
    let mut other = other;
    other.decoder.d_ff += 8;
    std::fs::write(
        dir.path().join("config.json"),
        serde_json::to_string(&other).unwrap(),
    )
    .unwrap();
    assert!(load_model::<B>(dir.path(), device).is_err());
}

/// Collects every float parameter's gradient, flattened, in visiting order.
struct GradCollector<'a, B: AutodiffBackend> {
    grads: &'a B::Gradients,
    out: Vec<Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for GradCollector<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let value = param.val();
        let n = value.shape().num_elements();
        let g = value
            .grad(self.grads)
            .map(|g| g.reshape([n]))
            .unwrap_or_else(|| Tensor::zeros([n], &value.device()));
        self.out.push(g);
    }
}

/// Adds `scale * direction[i]` to the i-th float parameter.
struct Shift<B: Backend> {
    direction: Vec<Tensor<B, 1>>,
    scale: f64,
    next: usize,
}

impl<B: Backend> ModuleMapper<B> for Shift<B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let d = self.direction[self.next].clone();
        self.next += 1;
        let scale = self.scale;
        param.map(|t| {
            let shape = t.shape();
            t + d.reshape(shape).mul_scalar(scale)
        })
    }
}

fn gradient_check<B: AutodiffBackend>(device: &B::Device) {
    let config = micro_config();
    // Seeded, so the tensors judged below and their margins are the same every run.
    let model = config.init_seeded::<B>(11, device).unwrap();
    let n = config.n_image_tokens();
    let rows = vec![
        image_row(n, &[10, 11, 12, 13]),
        image_row(n, &[20, 21, 22, 0]),
    ];
    let mask_rows: Vec<f32> = rows
        .iter()
        .enumerate()
        .flat_map(|(r, row)| {
            (0..row.len()).map(move |j| {
                if j >= row.len() - 3 && !(r == 1 && j == row.len() - 1) {
                    1.0
                } else {
                    0.0
                }
            })
        })
        .collect();
    let t = rows[0].len();
    let input = ids::<B>(&rows, device);
    let img = images::<B>(2, config.image_size(), 7, device);
    let mask = Tensor::<B, 2>::from_data(TensorData::new(mask_rows, [2, t]), device);
    let _pass = s2h_vlm::autodiff::pass_lock();
    let loss = masked_lm_loss(
        model.forward(input.clone(), Some(img.clone())),
        input.clone(),
        mask.clone(),
    );
    let grads = loss.backward();
    let mut collector = GradCollector::<B> {
        grads: &grads,
        out: Vec::new(),
    };
    model.visit(&mut collector);
    let g = collector.out;
    let norm2: f64 = g
        .iter()
        .map(|t| t.clone().square().sum().into_scalar().elem::<f64>())
        .sum();
    assert!(norm2 > 0.0);
    // Central difference along the unit gradient direction equals the gradient norm.
    let norm = norm2.sqrt();
    let inner = model.valid();
    let (input_i, img_i, mask_i) = (input.inner(), img.inner(), mask.inner());
    let eps = 1e-2;
    // The central difference of the loss along `direction` (a gradient of norm `length`) at a
    // step of `eps`: the derivative along the unit direction.
    let derivative_along = |direction: &[Tensor<B::InnerBackend, 1>], length: f64| -> f64 {
        let loss_at = |step: f64| -> f64 {
            let mut shift = Shift {
                direction: direction.to_vec(),
                scale: step / length,
                next: 0,
            };
            let m = inner.clone().map(&mut shift);
            masked_lm_loss(
                m.forward(input_i.clone(), Some(img_i.clone())),
                input_i.clone(),
                mask_i.clone(),
            )
            .into_scalar()
            .elem::<f64>()
        };
        (loss_at(eps) - loss_at(-eps)) / (2.0 * eps)
    };
    let fd = derivative_along(&g, norm);
    let rel = (fd - norm).abs() / norm;
    assert!(
        rel < 0.02,
        "finite difference {fd} vs gradient norm {norm} (rel {rel})"
    );
    // Each tensor alone: the derivative along its own gradient is that gradient's norm — a
    // wrong gradient in a small part (a vision tower's patch embedding) hides in the sum above.
    // Below 2·10^-3 the loss's f32 rounding (about 10^-5 of the difference) is more than a
    // percent of it, so those are not judged.
    let mut judged = 0;
    for i in 0..g.len() {
        let gi = g[i]
            .clone()
            .square()
            .sum()
            .into_scalar()
            .elem::<f64>()
            .sqrt();
        if gi < 2e-3 {
            continue;
        }
        let only: Vec<_> = g
            .iter()
            .enumerate()
            .map(|(j, t)| if j == i { t.clone() } else { t.zeros_like() })
            .collect();
        let fd = derivative_along(&only, gi);
        assert!(
            (fd / gi - 1.0).abs() < 0.03,
            "parameter #{i}: finite difference {fd} vs gradient norm {gi}"
        );
        judged += 1;
    }
    assert!(judged >= 20, "only {judged} of {} judged", g.len());
    // Every parameter tensor of every part receives gradient.
    for (i, t) in g.iter().enumerate() {
        let s = t.clone().abs().sum().into_scalar().elem::<f64>();
        assert!(s > 0.0, "parameter #{i} has no gradient");
    }
}

macro_rules! backend_tests {
    ($modname:ident, $backend:ty) => {
        mod $modname {
            use super::*;
            type B = $backend;
            type AD = burn::backend::Autodiff<B>;
            fn device() -> burn::tensor::Device<B> {
                Default::default()
            }
            #[test]
            fn preset_shapes_and_param_counts() {
                preset_shapes_and_params::<B>(&device());
            }
            #[test]
            fn future_tokens_do_not_change_earlier_logits() {
                causal_masking::<B>(&device());
            }
            #[test]
            fn kv_cache_logits_equal_full_recompute() {
                kv_cache_matches_full::<B>(&device());
            }
            #[test]
            fn left_padded_rows_equal_rows_alone() {
                left_padding_matches_alone::<B>(&device());
            }
            #[test]
            fn vit_convnext_alone_and_concatenated() {
                vision_encoders::<B>(&device());
            }
            #[test]
            fn image_reaches_only_later_positions() {
                image_changes_only_later_logits::<B>(&device());
            }
            #[test]
            fn save_then_load_gives_identical_logits() {
                save_load_parity::<B>(&device());
            }
            #[test]
            fn gradients_match_finite_differences() {
                gradient_check::<AD>(&device());
            }
        }
    };
}

#[cfg(feature = "flex")]
backend_tests!(flex, burn::backend::Flex);
backend_tests!(ndarray, burn_ndarray::NdArray);
/// wgpu runs one smoke test only: on Mesa's software Vulkan (lavapipe) every kernel compiles
/// for minutes. `XDG_RUNTIME_DIR=/tmp cargo test -p s2h-vlm --features wgpu --test model wgpu`.
#[cfg(feature = "wgpu")]
mod wgpu {
    use super::*;
    #[test]
    fn smoke_causal_masking_on_wgpu() {
        causal_masking::<burn::backend::Wgpu>(&Default::default());
    }
}
#[cfg(feature = "cuda")]
backend_tests!(cuda, burn::backend::Cuda);

/// A model directory is trusted only as far as it checks out: a config with fewer layers than
/// the weights, an unknown key, a bad `rope_theta`, a damaged weights file or a NaN weight are
/// each an error that names the problem — never a model that silently uses part of its file.
#[cfg(feature = "flex")]
#[test]
fn damaged_or_inconsistent_model_directories_are_refused() {
    type B = burn::backend::Flex;
    let device = Default::default();
    let texts = vec!["Answer: 1, 2 (sum 3)\n".to_string()];
    let tokenizer = VlmTokenizer::build(TokenizerKind::WordLevel, &texts, &[]).unwrap();
    let config = VlmConfig::tiny().with_vocab(&tokenizer);
    let model = config.init_seeded::<B>(3, &device).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fresh = |name: &str| {
        let d = dir.path().join(name);
        save_model(&d, &config, &tokenizer, &model).unwrap();
        d
    };
    let err = |d: &std::path::Path| load_model::<B>(d, &device).err().unwrap().to_string();
    let edit_config = |d: &std::path::Path, f: &dyn Fn(&mut serde_json::Value)| {
        let path = d.join("config.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(&path, v.to_string()).unwrap();
    };
    assert!(load_model::<B>(&fresh("ok"), &device).is_ok());

    let d = fresh("fewer-layers");
    let layers = config.decoder.n_layers;
    assert!(layers >= 2, "the test needs a second layer to drop");
    edit_config(&d, &|v| {
        v["decoder"]["n_layers"] = serde_json::json!(layers - 1)
    });
    let e = err(&d);
    assert!(
        e.contains("no place for") && e.contains(&format!("layers.{}", layers - 1)),
        "{e}"
    );

    let d = fresh("unknown-key");
    edit_config(&d, &|v| v["decoder"]["rope_scale"] = serde_json::json!(2.0));
    let e = err(&d);
    assert!(e.contains("unknown key `decoder.rope_scale`"), "{e}");

    for theta in [0.0, -1.0] {
        let d = fresh(&format!("theta{theta}"));
        edit_config(&d, &|v| {
            v["decoder"]["rope_theta"] = serde_json::json!(theta)
        });
        let e = err(&d);
        assert!(e.contains("rope_theta"), "{e}");
    }

    // A flipped byte in the weights: the checksum catches it.
    let d = fresh("flipped");
    let weights = d.join("model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x40;
    std::fs::write(&weights, &bytes).unwrap();
    let e = err(&d);
    assert!(e.contains("checksum"), "{e}");

    // NaN weights in a file without a checksum: the finiteness check catches them.
    let d = fresh("nan");
    std::fs::remove_file(d.join("checksums.json")).unwrap();
    let mut bytes = std::fs::read(d.join("model.safetensors")).unwrap();
    let n = bytes.len();
    bytes[n - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(d.join("model.safetensors"), &bytes).unwrap();
    let e = err(&d);
    assert!(
        e.contains("NaN or infinite") && e.contains("weight `"),
        "{e}"
    );
    eprintln!("{e}");
}

/// A seeded initialisation gives the same weights whatever other initialisations happen in the
/// process before its weights are first used: Burn draws parameters lazily, from one generator
/// per backend, so an initialisation must draw every weight before another reseeds it (two
/// models trained side by side used to start from different weights run to run).
#[cfg(feature = "flex")]
#[test]
fn seeded_initialisation_is_not_disturbed_by_another() {
    type B = burn::backend::Flex;
    let device = Default::default();
    let config = micro_config();
    let params = |m: &Vlm<B>| -> Vec<f32> {
        let mut out = Vec::new();
        struct Grab<'a>(&'a mut Vec<f32>);
        impl burn::module::ModuleVisitor<B> for Grab<'_> {
            fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<B, D>>) {
                self.0.extend(
                    p.val()
                        .into_data()
                        .convert::<f32>()
                        .to_vec::<f32>()
                        .unwrap(),
                );
            }
        }
        m.visit(&mut Grab(&mut out));
        out
    };
    let alone = params(&config.init_seeded::<B>(7, &device).unwrap());
    let first = config.init_seeded::<B>(7, &device).unwrap();
    // Another initialisation, with another seed, before `first` is used.
    let _other = config.init_seeded::<B>(8, &device).unwrap();
    assert_eq!(params(&first), alone);
}

/// Passes on several threads at once give every parameter the gradient a lone pass gives, round
/// after round on the same (reused) parameters. Burn 0.21 can free a graph step that another
/// thread is building (tracel-ai/burn#5573); [`s2h_vlm::autodiff::pass_lock`] keeps s2h's passes
/// apart. Without the lock this test failed in 8 runs of 8.
#[cfg(feature = "flex")]
#[test]
fn concurrent_passes_keep_every_gradient() {
    type AD = burn::backend::Autodiff<burn::backend::Flex>;
    let device = Default::default();
    let config = micro_config();
    let n = config.n_image_tokens();
    let rows = vec![image_row(n, &[10, 11, 12, 13])];
    let t = rows[0].len();
    let mask = vec![1.0f32; t];
    let pass = |model: &Vlm<AD>, img: &Tensor<AD, 4>| -> Vec<f32> {
        let _pass = s2h_vlm::autodiff::pass_lock();
        let input = ids::<AD>(&rows, &device);
        let mask = Tensor::<AD, 2>::from_data(TensorData::new(mask.clone(), [1, t]), &device);
        let loss = masked_lm_loss(model.forward(input.clone(), Some(img.clone())), input, mask);
        let grads = loss.backward();
        let mut collector = GradCollector::<AD> {
            grads: &grads,
            out: Vec::new(),
        };
        model.visit(&mut collector);
        // One number per parameter tensor: a lost gradient is a zero here.
        collector
            .out
            .into_iter()
            .map(|g| g.abs().sum().into_scalar().elem::<f32>())
            .collect()
    };
    let img = images::<AD>(1, config.image_size(), 3, &device);
    let model = config.init_seeded::<AD>(5, &device).unwrap();
    let alone = pass(&model, &img);
    assert!(alone.iter().all(|&s| s > 0.0), "{alone:?}");
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..6)
            .map(|_| {
                let (model, img) = (model.clone(), img.clone());
                let pass = &pass;
                scope.spawn(move || (0..40).map(|_| pass(&model, &img)).collect::<Vec<_>>())
            })
            .collect();
        for worker in workers {
            for (round, sums) in worker.join().unwrap().into_iter().enumerate() {
                assert_eq!(sums, alone, "round {round}");
            }
        }
    });
}

//! Parity with PyTorch: the Hugging Face checkpoints of `tests/fixtures/hf` (made by
//! `scripts/fixtures/make_hf_fixtures.py`) loaded into s2h give transformers' and timm's outputs:
//! logits and hidden states within 1e-4, identical greedy tokens, the masked loss within 1e-5 and
//! its gradient norms within 0.1%. On flex and ndarray.

use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use s2h_vlm::hf::{self, Family};
use s2h_vlm::*;
use safetensors::SafeTensors;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hf")
        .join(name)
}

/// The reference tensors PyTorch wrote beside a fixture.
struct Reference {
    bytes: Vec<u8>,
}

impl Reference {
    fn open(name: &str) -> Self {
        let path = fixture(name).join("reference.safetensors");
        Reference {
            bytes: std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        }
    }

    fn has(&self, key: &str) -> bool {
        SafeTensors::deserialize(&self.bytes)
            .unwrap()
            .tensor(key)
            .is_ok()
    }

    fn f32s(&self, key: &str) -> (Vec<f32>, Vec<usize>) {
        let st = SafeTensors::deserialize(&self.bytes).unwrap();
        let t = st
            .tensor(key)
            .unwrap_or_else(|_| panic!("reference has no `{key}`"));
        let values = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        (values, t.shape().to_vec())
    }

    fn ints(&self, key: &str) -> Vec<i64> {
        let st = SafeTensors::deserialize(&self.bytes).unwrap();
        let t = st
            .tensor(key)
            .unwrap_or_else(|_| panic!("reference has no `{key}`"));
        t.data()
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
            .collect()
    }

    fn tensor<B: Backend, const D: usize>(&self, key: &str, device: &B::Device) -> Tensor<B, D> {
        let (values, shape) = self.f32s(key);
        Tensor::from_data(TensorData::new(values, shape), device)
    }
}

/// Largest absolute difference between `ours` and the reference tensor `key`, which must have
/// the same shape.
fn max_diff<B: Backend, const D: usize>(
    ours: Tensor<B, D>,
    reference: &Reference,
    key: &str,
) -> f32 {
    let (theirs, shape) = reference.f32s(key);
    assert_eq!(ours.dims().to_vec(), shape, "shape of `{key}`");
    let ours = ours.into_data().into_vec::<f32>().unwrap();
    ours.iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

fn assert_matches<B: Backend, const D: usize>(
    ours: Tensor<B, D>,
    r: &Reference,
    key: &str,
    tol: f32,
) {
    let d = max_diff(ours, r, key);
    eprintln!("{key}: max |Δ| {d:e}");
    assert!(d <= tol, "`{key}`: max |Δ| {d:e} > {tol:e}");
}

fn ids<B: Backend>(ids: &[i64], device: &B::Device) -> Tensor<B, 2, Int> {
    Tensor::from_data(TensorData::new(ids.to_vec(), [1, ids.len()]), device)
}

/// Logits, per-layer outputs and greedy decoding through the KV cache.
fn decoder_parity<B: Backend>(name: &str, device: &B::Device) {
    let r = Reference::open(name);
    let (config, model) = hf::load_vlm::<B>(&fixture(name), device).unwrap();
    let input = r.ints("input_ids");
    let logits = model.forward(ids::<B>(&input, device), None);
    assert_matches(logits.squeeze_dim::<2>(0), &r, "logits", 1e-4);
    let states = model
        .decoder
        .hidden_states(model.embed(ids::<B>(&input, device), None));
    assert_eq!(states.len(), config.decoder.n_layers + 1);
    for (i, h) in states.into_iter().skip(1).enumerate() {
        assert_matches(
            h.squeeze_dim::<2>(0),
            &r,
            &format!("layer_output.{i}"),
            1e-4,
        );
    }
    let mut cache = model.new_cache();
    let mut step = model
        .forward_cached(ids::<B>(&input, device), None, &mut cache)
        .unwrap();
    let mut greedy = Vec::new();
    for _ in 0..8 {
        let t = step.dims()[1];
        let next = step
            .slice([0..1, t - 1..t])
            .argmax(2)
            .into_data()
            .convert::<i64>()
            .into_vec::<i64>()
            .unwrap()[0];
        greedy.push(next);
        step = model
            .forward_cached(ids::<B>(&[next], device), None, &mut cache)
            .unwrap();
    }
    assert_eq!(greedy, r.ints("greedy"), "{name}: greedy continuation");
}

/// Path → gradient L2 norm of every parameter with a gradient.
struct GradNorms<'a, B: AutodiffBackend> {
    grads: &'a B::Gradients,
    path: Vec<String>,
    norms: Vec<(String, f32)>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for GradNorms<'_, B> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = param.grad(self.grads) {
            let norm: f32 = g.powf_scalar(2.0).sum().sqrt().into_scalar().elem();
            self.norms.push((self.path.join("."), norm));
        }
    }
}

/// The masked loss and the norm of each parameter's gradient, against PyTorch's.
fn loss_and_gradients<B: AutodiffBackend>(name: &str, device: &B::Device) {
    let r = Reference::open(name);
    let dir = fixture(name);
    let (_, model) = hf::load_vlm::<B>(&dir, device).unwrap();
    let input = r.ints("input_ids");
    let mut mask = vec![0.0f32; input.len()];
    for p in r.ints("loss_positions") {
        mask[p as usize + 1] = 1.0;
    }
    let mask = Tensor::<B, 2>::from_data(TensorData::new(mask, [1, input.len()]), device);
    let _pass = autodiff::pass_lock();
    let logits = model.forward(ids::<B>(&input, device), None);
    let loss = masked_lm_loss(logits, ids::<B>(&input, device), mask);
    let (theirs, _) = r.f32s("loss");
    let ours: f32 = loss.clone().into_scalar().elem();
    eprintln!("{name}: loss |Δ| {:e}", (ours - theirs[0]).abs());
    assert!(
        (ours - theirs[0]).abs() <= 1e-5,
        "{name}: loss {ours} vs {}",
        theirs[0]
    );
    let grads = loss.backward();
    let mut visitor = GradNorms::<B> {
        grads: &grads,
        path: Vec::new(),
        norms: Vec::new(),
    };
    model.visit(&mut visitor);
    let keys: Vec<String> = Vec::new();
    let table = hf::table(family_of(name), &keys);
    let mut checked = 0;
    let mut worst = 0.0f32;
    for (path, norm) in visitor.norms {
        let file = table.to_file(&path).unwrap().name;
        let key = format!("grad_norm.{file}");
        if !r.has(&key) {
            // Tied embeddings: PyTorch reports the shared weight once, under `embed_tokens`.
            continue;
        }
        let (theirs, _) = r.f32s(&key);
        let rel = (norm - theirs[0]).abs() / theirs[0].abs().max(1e-6);
        worst = worst.max(rel);
        assert!(
            rel <= 1e-3,
            "{name}: gradient norm of {file}: {norm} vs {}",
            theirs[0]
        );
        checked += 1;
    }
    eprintln!("{name}: {checked} gradient norms, worst relative difference {worst:e}");
    assert!(
        checked >= 10,
        "{name}: only {checked} gradient norms compared"
    );
}

fn family_of(name: &str) -> Family {
    match name {
        "qwen2" => Family::Qwen2,
        "llava" => Family::Llava,
        _ => Family::Llama,
    }
}

fn vit_parity<B: Backend>(name: &str, device: &B::Device) {
    let r = Reference::open(name);
    let (config, vit) = hf::load_vit::<B>(&fixture(name), device).unwrap();
    let px = r
        .tensor::<B, 3>("pixel_values", device)
        .unsqueeze_dim::<4>(0);
    let states = vit.hidden_states(px.clone());
    assert_eq!(states.len(), config.n_layers + 1);
    for (i, h) in states.into_iter().enumerate() {
        if i == config.n_layers && config.final_norm == FinalNorm::Tokens {
            // transformers (4.57) reports SigLIP's last hidden state after the post-LayerNorm:
            // it is `last_hidden_state`, checked below.
            continue;
        }
        assert_matches(
            h.squeeze_dim::<2>(0),
            &r,
            &format!("hidden_states.{i}"),
            1e-4,
        );
    }
    let features = vit.forward(px.clone()).squeeze_dim::<2>(0);
    if config.class_token {
        // CLIP: the tokens a VLM reads are the last hidden state without the class token; the
        // post-LayerNorm is only on the pooled class token.
        let (last, shape) = r.f32s("last_hidden_state");
        let w = shape[1];
        let patches = Tensor::<B, 2>::from_data(
            TensorData::new(last[w..].to_vec(), [shape[0] - 1, w]),
            device,
        );
        let d: f32 = (features - patches).abs().max().into_scalar().elem();
        assert!(d <= 1e-4, "{name}: features {d:e}");
        assert_matches(
            vit.pooled(px).unwrap().squeeze_dim::<1>(0),
            &r,
            "pooler_output",
            1e-4,
        );
    } else {
        assert_matches(features, &r, "last_hidden_state", 1e-4);
    }
}

fn convnext_parity<B: Backend>(device: &B::Device) {
    let r = Reference::open("convnext");
    let (_, net) = hf::load_convnext::<B>(&fixture("convnext"), device).unwrap();
    let px = r
        .tensor::<B, 3>("pixel_values", device)
        .unsqueeze_dim::<4>(0);
    assert_matches(
        net.feature_map(px).squeeze_dim::<3>(0),
        &r,
        "features",
        1e-4,
    );
}

/// s2h's pixel values (`byte / 127.5 − 1`) that the tower's normalisation turns into `y`, the
/// encoders' own input (the fixtures store that): `2 (y · std + mean) − 1` per channel.
fn s2h_pixels<B: Backend>(y: Tensor<B, 4>, config: &VlmConfig) -> Tensor<B, 4> {
    let vision = config.vision.as_ref().unwrap();
    let device = y.device();
    let column = |v: [f64; 3]| {
        Tensor::<B, 1>::from_floats([v[0] as f32, v[1] as f32, v[2] as f32], &device)
            .reshape([1, 3, 1, 1])
    };
    (y * column(vision.image_std) + column(vision.image_mean)) * 2.0 - 1.0
}

/// LLaVA: image features placed at the 16 image tokens, logits and the masked loss.
fn llava_parity<B: Backend>(device: &B::Device) {
    let r = Reference::open("llava");
    let (config, model) = hf::load_vlm::<B>(&fixture("llava"), device).unwrap();
    assert_eq!(config.n_image_tokens(), 16);
    assert_eq!(config.vision.as_ref().unwrap().image_mean, CLIP_MEAN);
    let input = r.ints("input_ids");
    let px = s2h_pixels(
        r.tensor::<B, 3>("pixel_values", device)
            .unsqueeze_dim::<4>(0),
        &config,
    );
    let logits = model.forward(ids::<B>(&input, device), Some(px));
    assert_matches(logits.clone().squeeze_dim::<2>(0), &r, "logits", 1e-4);
    let mut mask = vec![0.0f32; input.len()];
    for m in mask.iter_mut().rev().take(3) {
        *m = 1.0;
    }
    let mask = Tensor::<B, 2>::from_data(TensorData::new(mask, [1, input.len()]), device);
    let loss: f32 = masked_lm_loss(logits, ids::<B>(&input, device), mask)
        .into_scalar()
        .elem();
    let (theirs, _) = r.f32s("loss");
    assert!(
        (loss - theirs[0]).abs() <= 1e-5,
        "llava loss {loss} vs {}",
        theirs[0]
    );
}

/// The fixture's formula image, `sin(0.37 c + 0.11 y + 0.07 x) · 2`, `[1, 3, size, size]`.
fn formula_pixels<B: Backend>(size: usize, device: &B::Device) -> Tensor<B, 4> {
    let mut values = Vec::with_capacity(3 * size * size);
    for c in 0..3 {
        for y in 0..size {
            for x in 0..size {
                values.push(((0.37 * c as f32 + 0.11 * y as f32 + 0.07 * x as f32).sin()) * 2.0);
            }
        }
    }
    Tensor::from_data(TensorData::new(values, [1, 3, size, size]), device)
}

/// Eagle-X2's composition: CLIP on the input resized to its size, class token dropped before
/// the pre-norm, its grid resized to ConvNeXt's, the two concatenated and projected, spliced in
/// at the tokenizer's image token.
fn eagle_parity<B: Backend>(device: &B::Device) {
    let r = Reference::open("eagle");
    let (config, model) = hf::load_vlm::<B>(&fixture("eagle"), device).unwrap();
    assert_eq!(config.n_image_tokens(), 16);
    assert_eq!(
        config.image_token_id, 2,
        "the fixture tokenizer's first reserved token"
    );
    assert!(config.vision.as_ref().unwrap().pad_to_square);
    let px = s2h_pixels(formula_pixels::<B>(config.image_size(), device), &config);
    let features = model.encode_images(px.clone()).unwrap().squeeze_dim::<2>(0);
    assert_matches(features, &r, "image_features", 1e-4);
    let input = r.ints("input_ids");
    let logits = model.forward(ids::<B>(&input, device), Some(px));
    assert_matches(logits.squeeze_dim::<2>(0), &r, "logits", 1e-4);
}

macro_rules! parity_tests {
    ($modname:ident, $backend:ty) => {
        mod $modname {
            use super::*;
            type B = $backend;
            type AD = burn::backend::Autodiff<B>;
            fn device() -> burn::tensor::Device<B> {
                Default::default()
            }
            #[test]
            fn llama_logits_layers_and_greedy_match_pytorch() {
                decoder_parity::<B>("llama", &device());
            }
            #[test]
            fn llama3_rope_scaling_matches_pytorch() {
                decoder_parity::<B>("llama3_scaled", &device());
            }
            #[test]
            fn qwen2_with_biases_and_tied_head_matches_pytorch() {
                decoder_parity::<B>("qwen2", &device());
            }
            #[test]
            fn masked_loss_and_gradient_norms_match_pytorch() {
                for name in ["llama", "qwen2"] {
                    loss_and_gradients::<AD>(name, &device());
                }
            }
            #[test]
            fn clip_and_siglip_towers_match_pytorch() {
                vit_parity::<B>("clip", &device());
                vit_parity::<B>("siglip", &device());
            }
            #[test]
            fn timm_convnext_matches_pytorch() {
                convnext_parity::<B>(&device());
            }
            #[test]
            fn llava_matches_pytorch() {
                llava_parity::<B>(&device());
            }
            #[test]
            fn eagle_x2_composition_matches_pytorch() {
                eagle_parity::<B>(&device());
            }
        }
    };
}

#[cfg(feature = "flex")]
parity_tests!(flex, burn::backend::Flex);
parity_tests!(ndarray, burn_ndarray::NdArray);

type B = burn_ndarray::NdArray;

/// Copy a fixture to a scratch directory to damage it there.
fn scratch_copy(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

fn load_error(dir: &Path) -> String {
    match hf::load_vlm::<B>(dir, &Default::default()) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => e.to_string(),
    }
}

fn edit_config(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("config.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&path, v.to_string()).unwrap();
}

/// The tensors of a safetensors file, by name: shape and raw bytes.
fn tensors(path: &Path) -> std::collections::BTreeMap<String, (Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(k, v)| (k, (v.shape().to_vec(), v.data().to_vec())))
        .collect()
}

#[test]
fn saving_in_the_hf_layout_round_trips_bit_for_bit() {
    let device = Default::default();
    for name in ["llama", "qwen2", "llava"] {
        let (config, model) = hf::load_vlm::<B>(&fixture(name), &device).unwrap();
        let out = tempfile::tempdir().unwrap();
        hf::save_vlm(out.path(), &config, &model).unwrap();
        assert_eq!(
            tensors(&out.path().join("model.safetensors")),
            tensors(&fixture(name).join("model.safetensors")),
            "{name}: written tensors differ from the original file"
        );
        let (again, _) = hf::load_vlm::<B>(out.path(), &device).unwrap();
        assert_eq!(
            again, config,
            "{name}: the written config.json reads back differently"
        );
    }
}

/// A decoder with learned absolute positions has no Llama layout: saving it so would drop them.
#[test]
fn absolute_positions_are_refused_by_the_hf_layout() {
    let device = Default::default();
    let (mut config, _) = hf::load_vlm::<B>(&fixture("llama"), &device).unwrap();
    config.decoder.absolute_positions = true;
    let model = config.init::<B>(&device).unwrap();
    let out = tempfile::tempdir().unwrap();
    let e = hf::save_vlm(out.path(), &config, &model)
        .unwrap_err()
        .to_string();
    assert!(e.contains("absolute positions"), "{e}");
    assert!(!out.path().join("model.safetensors").exists());
}

#[test]
fn sharded_and_half_precision_checkpoints_load() {
    let device = Default::default();
    let original = tensors(&fixture("llama").join("model.safetensors"));
    // Two shards and their index.
    let dir = scratch_copy("llama");
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    let mut weight_map = serde_json::Map::new();
    let names: Vec<&String> = original.keys().collect();
    for (i, chunk) in names.chunks(names.len() / 2 + 1).enumerate() {
        let file = format!("model-0000{}-of-00002.safetensors", i + 1);
        let views: Vec<(String, safetensors::tensor::TensorView)> = chunk
            .iter()
            .map(|k| {
                let (shape, data) = &original[*k];
                let view = safetensors::tensor::TensorView::new(
                    safetensors::Dtype::F32,
                    shape.clone(),
                    data,
                )
                .unwrap();
                weight_map.insert(k.to_string(), file.clone().into());
                (k.to_string(), view)
            })
            .collect();
        safetensors::serialize_to_file(views, None, &dir.path().join(&file)).unwrap();
    }
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        serde_json::json!({ "metadata": {}, "weight_map": weight_map }).to_string(),
    )
    .unwrap();
    let input = ids::<B>(&[1, 17, 42, 42, 7], &device);
    let (_, single) = hf::load_vlm::<B>(&fixture("llama"), &device).unwrap();
    let (_, sharded) = hf::load_vlm::<B>(dir.path(), &device).unwrap();
    let expected = single.forward(input.clone(), None).into_data();
    sharded
        .forward(input.clone(), None)
        .into_data()
        .assert_eq(&expected, true);

    // bf16 and f16: every weight loads as the half value, widened exactly.
    for dtype in [safetensors::Dtype::BF16, safetensors::Dtype::F16] {
        let half_dir = scratch_copy("llama");
        // Name, shape, the half-precision bytes, the f32 bytes they widen to.
        type Rounded = (String, Vec<usize>, Vec<u8>, Vec<u8>);
        let rounded: Vec<Rounded> = original
            .iter()
            .map(|(k, (shape, data))| {
                let values = data
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap()));
                let (half, widened): (Vec<[u8; 2]>, Vec<f32>) = match dtype {
                    safetensors::Dtype::BF16 => values
                        .map(burn::tensor::bf16::from_f32)
                        .map(|h| (h.to_le_bytes(), h.to_f32()))
                        .unzip(),
                    _ => values
                        .map(burn::tensor::f16::from_f32)
                        .map(|h| (h.to_le_bytes(), h.to_f32()))
                        .unzip(),
                };
                let widened = widened.iter().flat_map(|v| v.to_le_bytes()).collect();
                (k.clone(), shape.clone(), half.concat(), widened)
            })
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView)> = rounded
            .iter()
            .map(|(k, shape, bytes, _)| {
                let view =
                    safetensors::tensor::TensorView::new(dtype, shape.clone(), bytes).unwrap();
                (k.clone(), view)
            })
            .collect();
        safetensors::serialize_to_file(views, None, &half_dir.path().join("model.safetensors"))
            .unwrap();
        let (config, from_half) = hf::load_vlm::<B>(half_dir.path(), &device).unwrap();
        let out = tempfile::tempdir().unwrap();
        hf::save_vlm(out.path(), &config, &from_half).unwrap();
        let written = tensors(&out.path().join("model.safetensors"));
        for (k, _, _, widened) in &rounded {
            assert_eq!(
                &written[k].1, widened,
                "{dtype:?}: `{k}` is not the value widened"
            );
        }
    }
}

#[test]
fn damaged_or_mismatched_checkpoints_are_errors_that_name_the_tensor() {
    // A config with a layer more than the file.
    let dir = scratch_copy("llama");
    edit_config(dir.path(), |v| v["num_hidden_layers"] = 3.into());
    let e = load_error(dir.path());
    assert!(e.contains("lack") && e.contains("decoder.layers.2."), "{e}");
    assert!(
        e.contains("model.layers.2."),
        "the file name is given too: {e}"
    );
    // A config with a layer fewer: the file's last layer has no place.
    let dir = scratch_copy("llama");
    edit_config(dir.path(), |v| v["num_hidden_layers"] = 1.into());
    let e = load_error(dir.path());
    assert!(
        e.contains("no place") && e.contains("decoder.layers.1."),
        "{e}"
    );
    // Another width: every weight mismatches in shape.
    let dir = scratch_copy("llama");
    edit_config(dir.path(), |v| v["intermediate_size"] = 96.into());
    let e = load_error(dir.path());
    assert!(e.contains("do not load") && e.contains("mlp"), "{e}");
    // A tensor the table does not know.
    let dir = scratch_copy("llama");
    let mut all = tensors(&dir.path().join("model.safetensors"));
    all.insert(
        "model.layers.0.self_attn.q_norm.weight".into(),
        (vec![16], vec![0; 64]),
    );
    let views: Vec<_> = all
        .iter()
        .map(|(k, (s, d))| {
            let v = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d)
                .unwrap();
            (k.clone(), v)
        })
        .collect();
    safetensors::serialize_to_file(views, None, &dir.path().join("model.safetensors")).unwrap();
    let e = load_error(dir.path());
    assert!(e.contains("model.layers.0.self_attn.q_norm.weight"), "{e}");
    // A truncated file.
    let dir = scratch_copy("llama");
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let e = load_error(dir.path());
    assert!(e.contains("truncated"), "{e}");
    // Features s2h does not implement are refused by name.
    for (key, value, named) in [
        ("hidden_act", serde_json::json!("gelu"), "hidden_act"),
        (
            "rope_scaling",
            serde_json::json!({"rope_type": "yarn", "factor": 4.0}),
            "yarn",
        ),
        ("model_type", serde_json::json!("mamba"), "mamba"),
    ] {
        let dir = scratch_copy("llama");
        edit_config(dir.path(), |v| v[key] = value);
        let e = load_error(dir.path());
        assert!(e.contains(named), "{key}: {e}");
    }
    // A vision tower is not a language model.
    let e = load_error(&fixture("clip"));
    assert!(e.contains("not a language model"), "{e}");
}

#[test]
fn both_forms_of_rope_configuration_read_the_same() {
    let older = serde_json::json!({
        "model_type": "llama", "vocab_size": 256, "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 16},
    });
    let mut newer = older.clone();
    let o = newer.as_object_mut().unwrap();
    o.remove("rope_theta");
    o.remove("rope_scaling");
    o.insert(
        "rope_parameters".into(),
        serde_json::json!({"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
            "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 16}),
    );
    let parse = |v: &serde_json::Value| hf::config::parse(v.as_object().unwrap()).unwrap().1;
    let a = parse(&older);
    assert_eq!(a, parse(&newer));
    let hf::Parsed::Vlm(c) = a else {
        panic!("not a language model")
    };
    assert_eq!(c.decoder.rope_theta, 500000.0);
    assert!(
        matches!(c.decoder.rope_scaling, Some(RopeScaling::Llama3 { factor, .. }) if factor == 8.0)
    );
}

/// The checkpoints' own chat templates, rendered and tokenized, give transformers'
/// `apply_chat_template` ids; the special ids come from the files (the fixtures put them at ids
/// of their own, not the real checkpoints').
#[test]
fn chat_templates_give_the_ids_transformers_gives() {
    for family in ["llama3", "chatml"] {
        let dir = fixture(&format!("tokenizer_{family}"));
        let tok = VlmTokenizer::from_file(&dir.join("tokenizer.json")).unwrap();
        let template = tok
            .chat_template()
            .expect("a checkpoint tokenizer has a template");
        let cases: Vec<serde_json::Value> = serde_json::from_str(
            &std::fs::read_to_string(dir.join("chat_reference.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(cases.len(), 4);
        for case in cases {
            let messages: Vec<ChatMessage> =
                serde_json::from_value(case["messages"].clone()).unwrap();
            let generation = case["add_generation_prompt"].as_bool().unwrap();
            let text = template.render(&messages, generation).unwrap();
            assert_eq!(text, case["text"].as_str().unwrap(), "{family}");
            let ids: Vec<u32> = serde_json::from_value(case["ids"].clone()).unwrap();
            assert_eq!(
                tok.apply_chat_template(&messages, generation).unwrap(),
                ids,
                "{family}"
            );
        }
        let end = tok.inner().token_to_id(&template.eos_token).unwrap();
        assert_eq!(tok.end_id(), end);
        // The image stands as a special token of the checkpoint, and s2h's `<image>` in a prompt
        // becomes it.
        let expected_image = if family == "llama3" {
            "<|reserved_special_token_0|>"
        } else {
            "<|image_pad|>"
        };
        assert_eq!(template.image_token, expected_image);
        let image = tok.image_id();
        let prompt = tok.prompt_ids("<image>\nWhich cell?").unwrap();
        assert_eq!(
            prompt.iter().filter(|&&t| t == image).count(),
            1,
            "{family}"
        );
        // Saved beside an s2h model and read back: the same format.
        let out = tempfile::tempdir().unwrap();
        tok.save(&out.path().join("tokenizer.json")).unwrap();
        let again = VlmTokenizer::from_file(&out.path().join("tokenizer.json")).unwrap();
        assert_eq!(again.chat_template(), tok.chat_template());
        assert_eq!(again.prompt_ids("<image>\nWhich cell?").unwrap(), prompt);
    }
    // s2h's own tokenizers have none, and keep their fixed prompt.
    let own = VlmTokenizer::build(TokenizerKind::WordLevel, &["a b".to_string()], &[]).unwrap();
    assert!(own.chat_template().is_none());
    let ids = own.prompt_ids("a").unwrap();
    assert_eq!(ids.first(), Some(&special::BOS_ID));
    assert_eq!(ids.last(), Some(&special::ASSISTANT_ID));
    assert_eq!(own.end_id(), special::EOS_ID);
}

#[test]
fn a_tokenizer_config_without_what_s2h_needs_is_refused() {
    for (edit, needle) in [
        (
            serde_json::json!({"eos_token": "<|eot_id|>"}),
            "no chat template",
        ),
        (
            serde_json::json!({"chat_template": "{{ messages }}", "eos_token": "<|nope|>"}),
            "`<|nope|>` is not a token",
        ),
        (
            serde_json::json!({"chat_template": "{% for %}", "eos_token": "<|eot_id|>"}),
            "chat template",
        ),
    ] {
        let dir = scratch_copy("tokenizer_llama3");
        std::fs::remove_file(dir.path().join("chat_template.jinja")).unwrap();
        std::fs::write(dir.path().join("tokenizer_config.json"), edit.to_string()).unwrap();
        let e = VlmTokenizer::from_file(&dir.path().join("tokenizer.json"))
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{e}");
    }
}

#[test]
fn a_preprocessor_config_sets_the_image_normalisation() {
    let dir = scratch_copy("llava");
    let mean_of = |dir: &Path| match hf::load_config(dir).unwrap().1 {
        hf::Parsed::Vlm(c) => c.vision.unwrap().image_mean,
        other => panic!("{other:?}"),
    };
    assert_eq!(mean_of(dir.path()), CLIP_MEAN, "CLIP's by default");
    let pre = dir.path().join("preprocessor_config.json");
    std::fs::write(
        &pre,
        r#"{"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}"#,
    )
    .unwrap();
    assert_eq!(mean_of(dir.path()), [0.5; 3]);
    std::fs::write(&pre, r#"{"image_mean": [0.5, 0.5]}"#).unwrap();
    let e = hf::load_config(dir.path()).unwrap_err().to_string();
    assert!(e.contains("image_mean"), "{e}");
}

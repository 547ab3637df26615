//! Fine-tuning from a checkpoint in the Hugging Face layout: a Llama-3-style language model with
//! its tokenizer and chat template. The run trains in the checkpoint's own chat format, its
//! saved model loads back with that format, and writing it in the Hugging Face layout again
//! gives the run's weights bit for bit.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use s2h_mixture::Component;
use s2h_mixture::Supervision;
use s2h_train::TrainConfig;
use s2h_vlm::burn::backend::Flex;
use s2h_vlm::{DecoderConfig, VlmConfig, VlmTokenizer};

/// A Llama checkpoint as a hub directory holds it: `config.json` and `model.safetensors` in the
/// Hugging Face layout (written by `hf::save_vlm`, which the s2h-vlm tests hold to
/// transformers' own files), with the Llama-3-style tokenizer fixture and its chat template.
fn llama_checkpoint(dir: &Path) -> PathBuf {
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../s2h-vlm/tests/fixtures/hf/tokenizer_llama3");
    for f in [
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
    ] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::copy(fixtures.join(f), dir.join(f)).unwrap();
    }
    let tokenizer = VlmTokenizer::from_file(&dir.join("tokenizer.json")).unwrap();
    let config = VlmConfig::new(
        DecoderConfig::new(tokenizer.vocab_size(), 32, 1, 4, 2, 64, 2048).with_rope_theta(500000.0),
        0,
    );
    let model = config.init_seeded::<Flex>(7, &Default::default()).unwrap();
    s2h_vlm::hf::save_vlm(dir, &config, &model).unwrap();
    dir.to_path_buf()
}

#[test]
fn fine_tunes_a_hugging_face_checkpoint_in_its_chat_format() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(&tmp.path().join("data"), Supervision::Text, 16);
    let ckpt = llama_checkpoint(&tmp.path().join("llama"));
    let config = TrainConfig {
        init_from: Some(ckpt.clone()),
        trainable: Some(vec![Component::Lm]),
        duration: s2h_train::Duration::Steps(4),
        ..common::config(&data, &tmp.path().join("run"))
    };
    let summary = run(&config).unwrap();
    assert!(summary.completed);
    let first = summary.loss_curve.first().unwrap().1;
    let last = summary.loss_curve.last().unwrap().1;
    assert!(last < first, "the loss does not fall: {first} → {last}");

    // The run's model keeps the checkpoint's tokenizer and chat format.
    let model_dir = summary.model_dir.unwrap();
    let (config, tokenizer, model) =
        s2h_vlm::load_model::<Flex>(&model_dir, &Default::default()).unwrap();
    let template = tokenizer
        .chat_template()
        .expect("the chat template is kept");
    assert_eq!(template.eos_token, "<|eot_id|>");
    let prompt = tokenizer.prompt_ids("Read the table.").unwrap();
    let header = tokenizer
        .inner()
        .token_to_id("<|start_header_id|>")
        .unwrap();
    assert_eq!(
        prompt.iter().filter(|&&t| t == header).count(),
        2,
        "user and assistant headers"
    );

    // Written in the Hugging Face layout and read back: the same weights, bit for bit.
    let out = tmp.path().join("export");
    s2h_vlm::hf::save_vlm(&out, &config, &model).unwrap();
    let (again_config, again) = s2h_vlm::hf::load_vlm::<Flex>(&out, &Default::default()).unwrap();
    assert_eq!(again_config, config);
    let ids = s2h_vlm::burn::tensor::Tensor::<Flex, 2, s2h_vlm::burn::tensor::Int>::from_data(
        s2h_vlm::burn::tensor::TensorData::new(
            prompt.iter().map(|&t| i64::from(t)).collect::<Vec<_>>(),
            [1, prompt.len()],
        ),
        &Default::default(),
    );
    model
        .forward(ids.clone(), None)
        .into_data()
        .assert_eq(&again.forward(ids, None).into_data(), true);
}

#[test]
fn a_checkpoint_whose_tokenizer_outgrows_its_vocabulary_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(&tmp.path().join("data"), Supervision::Text, 8);
    let ckpt = llama_checkpoint(&tmp.path().join("llama"));
    // The Llama fixture's config: its 256-token vocabulary beside a 300-token tokenizer.
    let llama = Path::new(env!("CARGO_MANIFEST_DIR")).join("../s2h-vlm/tests/fixtures/hf/llama");
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(llama.join(f), ckpt.join(f)).unwrap();
    }
    let e = run(&TrainConfig {
        init_from: Some(ckpt),
        ..common::config(&data, &tmp.path().join("run"))
    })
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(e.contains("vocabulary holds 256"), "{e}");
}

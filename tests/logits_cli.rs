//! The `logits` example on a Hugging Face checkpoint and on s2h's own layout: one row of
//! vocabulary size per id, equal to the library's logits, and clear refusals of bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use s2h_vlm::burn::prelude::*;

mod common;

type B = s2h_vlm::burn::backend::Flex;

fn logits(args: &[&str]) -> Output {
    Command::new(common::example("logits"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("logits starts")
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/s2h-vlm/tests/fixtures/hf/qwen2")
}

/// The printed rows against the library's own forward pass.
fn check_rows(dir: &Path, ids: &[i64], out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows: Vec<Vec<f32>> = serde_json::from_value(json["logits"].clone()).unwrap();
    let device = Default::default();
    let (config, model) = s2h_vlm::load_weights::<B>(dir, &device).unwrap();
    let input =
        Tensor::<B, 2, Int>::from_data(TensorData::new(ids.to_vec(), [1, ids.len()]), &device);
    let expected = model
        .forward(input, None)
        .into_data()
        .into_vec::<f32>()
        .unwrap();
    assert_eq!(rows.len(), ids.len());
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.len(), config.decoder.vocab_size);
        let want = &expected[i * row.len()..(i + 1) * row.len()];
        assert_eq!(row.as_slice(), want, "row {i}");
    }
}

#[test]
fn prints_one_row_per_id_for_both_layouts() {
    let dir = fixture();
    let out = logits(&["--model", dir.to_str().unwrap(), "--ids", "1,17,42"]);
    check_rows(&dir, &[1, 17, 42], &out);
    // The same weights saved in s2h's layout (with a tokenizer of its own) print the same rows.
    let device = Default::default();
    let (config, model) = s2h_vlm::hf::load_vlm::<B>(&dir, &device).unwrap();
    let texts = vec!["a b c".to_string()];
    let tokenizer =
        s2h_vlm::VlmTokenizer::build(s2h_vlm::TokenizerKind::WordLevel, &texts, &[]).unwrap();
    let own = tempfile::tempdir().unwrap();
    s2h_vlm::save_model(own.path(), &config, &tokenizer, &model).unwrap();
    let again = logits(&["--model", own.path().to_str().unwrap(), "--ids", "1,17,42"]);
    assert_eq!(again.stdout, out.stdout);
}

#[test]
fn bad_input_is_refused_with_a_message() {
    let dir = fixture();
    let dir = dir.to_str().unwrap();
    for (args, needle) in [
        (
            vec!["--model", dir, "--ids", "1,999"],
            "outside the model's vocabulary",
        ),
        (
            vec!["--model", "/nonexistent/model", "--ids", "1"],
            "/nonexistent/model",
        ),
        (vec!["--model", dir, "--ids", "1,x"], "invalid digit"),
        (
            vec!["--model", dir, "--ids", "1", "--backend", "tpu"],
            "unknown backend",
        ),
    ] {
        let out = logits(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            matches!(out.status.code(), Some(1 | 2)),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{args:?} lacks `{needle}`: {stderr}"
        );
    }
}

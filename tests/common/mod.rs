//! Helpers shared by the cross-crate tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

/// Example `name`'s executable, built once per test process ([`build_example`]).
pub fn example(name: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = built.iter().find(|(n, _)| n == name) {
        return path.clone();
    }
    let path = build_example(name);
    built.push((name.to_string(), path.clone()));
    path
}

/// Build example `name` with the Cargo running the tests (`cargo build --example NAME`, in the
/// same target directory and profile, so only the example itself compiles) and return its
/// executable: the binary checked is always the current code's.
pub fn build_example(name: &str) -> PathBuf {
    let build = Command::new(env!("CARGO"))
        .args(["build", "--example", name, "--message-format=json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo starts");
    assert!(build.status.success(), "building the {name} example failed");
    // The artifact message of the example names its executable.
    String::from_utf8_lossy(&build.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"]["name"] == name)
        .find_map(|v| v["executable"].as_str().map(PathBuf::from))
        .expect("cargo names the example's executable")
}

/// The fields every canonical record carries (SPEC §10).
pub const RECORD_FIELDS: [&str; 13] = [
    "id",
    "task",
    "split",
    "seed",
    "index",
    "supervision",
    "image",
    "prompt",
    "target",
    "segments",
    "answer",
    "instance",
    "layout",
];

/// Panics naming the first SPEC §10 field missing from a raw JSONL record.
pub fn assert_record_fields(raw: &Value) {
    for field in RECORD_FIELDS {
        assert!(raw.get(field).is_some(), "missing field {field}");
    }
}

//! Helpers shared by the cross-crate tests.

use serde_json::Value;

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

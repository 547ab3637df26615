//! `manifest.json`: what an export holds and how it was made — counts, parameters, seeds — and
//! the SHA-256 of every file it wrote, so a copy can be checked ([`verify_manifest`]).
//! It holds no timestamps: the same export gives the same manifest on any machine.

use std::fs;
use std::io::Read;
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use crate::files::MANIFEST_FILE;
use crate::files::write_atomically;
use crate::reference::TypeCount;
use crate::{MixtureError, Result};

pub const MANIFEST_FORMAT: &str = "s2h-dataset/1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    /// The crate and version that wrote the export.
    pub generator: String,
    /// `mixture`, `eval_set` or `range`.
    pub kind: String,
    /// Everything needed to make the export again (mixture or evaluation set, rendering).
    pub parameters: serde_json::Value,
    pub seeds: Seeds,
    pub counts: Counts,
    /// Every file written, sorted by path.
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seeds {
    /// The distinct instance seeds used (an evaluation set's carry the top bit).
    pub instance: Vec<u64>,
    /// The seed of the record order, for mixtures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub records: u64,
    pub images: u64,
    pub unique_instances: u64,
    pub by_type: Vec<TypeCount>,
    /// For mixtures: the Algorithm 1 numbers of each task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm1: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the export directory, `/`-separated.
    pub path: String,
    pub bytes: u64,
    /// Lower-case hex.
    pub sha256: String,
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Size and SHA-256 of `dir/rel`, read in blocks (record files can be gigabytes).
pub fn file_entry(dir: &Path, rel: &str) -> Result<FileEntry> {
    let path = dir.join(rel);
    let mut file = fs::File::open(&path).map_err(MixtureError::io("cannot read", &path))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(MixtureError::io("cannot read", &path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        bytes += n as u64;
    }
    Ok(FileEntry {
        path: rel.to_string(),
        bytes,
        sha256: hex(&hasher.finalize()),
    })
}

/// Hash the files (in parallel), sorted by path.
pub(crate) fn file_entries(dir: &Path, mut rels: Vec<String>) -> Result<Vec<FileEntry>> {
    rels.sort();
    rels.dedup();
    rels.par_iter().map(|rel| file_entry(dir, rel)).collect()
}

pub fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<()> {
    let path = dir.join(MANIFEST_FILE);
    let text = serde_json::to_string_pretty(manifest)
        .map_err(|e| MixtureError::InvalidRequest(format!("manifest cannot be serialised: {e}")))?;
    write_atomically(&path, (text + "\n").as_bytes())
}

/// Read `dir/manifest.json`.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST_FILE);
    let text = fs::read_to_string(&path).map_err(MixtureError::io("cannot read", &path))?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| MixtureError::BadFile {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(MixtureError::BadFile {
            path,
            reason: format!("format `{}` is not `{MANIFEST_FORMAT}`", manifest.format),
        });
    }
    Ok(manifest)
}

/// Read the manifest and check every file's size and hash against it.
pub fn verify_manifest(dir: &Path) -> Result<Manifest> {
    let manifest = read_manifest(dir)?;
    manifest.files.par_iter().try_for_each(|entry| {
        let actual = file_entry(dir, &entry.path).map_err(|e| MixtureError::ManifestMismatch {
            path: dir.join(&entry.path),
            reason: e.to_string(),
        })?;
        if actual != *entry {
            return Err(MixtureError::ManifestMismatch {
                path: dir.join(&entry.path),
                reason: format!(
                    "{} bytes with SHA-256 {}, the manifest says {} bytes with {}",
                    actual.bytes, actual.sha256, entry.bytes, entry.sha256
                ),
            });
        }
        Ok(())
    })?;
    Ok(manifest)
}

/// Where two JSON values differ: the dotted path of each differing value (objects are compared
/// key by key, a key missing on one side counting as `null`), with the value on each side, in
/// key order. Names what changed between a manifest's parameters and a new request, or between
/// a run's stored configuration and the options it is resumed with.
pub fn json_differences(
    a: &serde_json::Value,
    b: &serde_json::Value,
) -> Vec<(String, serde_json::Value, serde_json::Value)> {
    fn walk(
        a: &serde_json::Value,
        b: &serde_json::Value,
        at: &str,
        out: &mut Vec<(String, serde_json::Value, serde_json::Value)>,
    ) {
        use serde_json::Value;
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let path = if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    };
                    let null = Value::Null;
                    walk(
                        x.get(k).unwrap_or(&null),
                        y.get(k).unwrap_or(&null),
                        &path,
                        out,
                    );
                }
            }
            _ if a != b => out.push((at.to_string(), a.clone(), b.clone())),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(a, b, "", &mut out);
    out
}

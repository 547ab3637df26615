//! The safetensors files of a checkpoint, read one tensor at a time and written the same way.
//!
//! A model of 8B parameters must not be held twice in host memory: opening reads only the
//! headers; each tensor's bytes are read when burn-store asks for it, converted to f32, and
//! dropped once on the device. Writing streams tensor by tensor too.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use burn::module::{Module, ParamId};
use burn::prelude::*;
use burn::tensor::DType;
use burn_store::{ModuleSnapshot, TensorSnapshot, TensorSnapshotError};
use safetensors::Dtype;
use safetensors::tensor::TensorInfo;

use super::names::{Layout, Mapped, Table};
use crate::{Result, VlmError};

pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const INDEX_FILE: &str = "model.safetensors.index.json";
/// Headers larger than this are refused (safetensors' own limit).
const MAX_HEADER: u64 = 100_000_000;

fn file_err(path: &Path, message: impl std::fmt::Display) -> VlmError {
    VlmError::ModelDir {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Where one tensor lies.
#[derive(Debug, Clone)]
struct Entry {
    file: usize,
    info: TensorInfo,
}

/// The tensors of a checkpoint's files, by name.
pub struct Checkpoint {
    paths: Vec<PathBuf>,
    files: Vec<Rc<File>>,
    /// Offset of each file's data section.
    data_start: Vec<u64>,
    entries: BTreeMap<String, Entry>,
    keys: Vec<String>,
}

impl Checkpoint {
    /// Open `dir`'s `model.safetensors`, or the shards its `model.safetensors.index.json` lists.
    pub fn open(dir: &Path) -> Result<Self> {
        let index = dir.join(INDEX_FILE);
        let (shards, weight_map) = if index.is_file() {
            let text = std::fs::read_to_string(&index).map_err(|e| VlmError::io(&index, e))?;
            let json: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| file_err(&index, e))?;
            let map = json
                .get("weight_map")
                .and_then(|m| m.as_object())
                .ok_or_else(|| file_err(&index, "no `weight_map` object"))?;
            let mut weight_map = BTreeMap::new();
            for (k, v) in map {
                let shard = v
                    .as_str()
                    .filter(|s| !s.contains('/') && !s.contains('\\'))
                    .ok_or_else(|| file_err(&index, format!("`{k}`: not a shard file name")))?;
                weight_map.insert(k.clone(), shard.to_string());
            }
            let mut shards: Vec<String> = weight_map.values().cloned().collect();
            shards.sort();
            shards.dedup();
            (shards, Some(weight_map))
        } else if dir.join(WEIGHTS_FILE).is_file() {
            (vec![WEIGHTS_FILE.to_string()], None)
        } else {
            return Err(file_err(
                dir,
                format!("no {WEIGHTS_FILE} or {INDEX_FILE}: not a safetensors checkpoint"),
            ));
        };
        let mut ckpt = Checkpoint {
            paths: Vec::new(),
            files: Vec::new(),
            data_start: Vec::new(),
            entries: BTreeMap::new(),
            keys: Vec::new(),
        };
        for (i, shard) in shards.iter().enumerate() {
            let path = dir.join(shard);
            let (file, start, infos) = read_header(&path)?;
            for (name, info) in infos {
                if let Some(map) = &weight_map
                    && map.get(&name) != Some(shard)
                {
                    return Err(file_err(
                        &path,
                        format!("tensor `{name}` is not listed for this shard in {INDEX_FILE}"),
                    ));
                }
                if ckpt.entries.contains_key(&name) {
                    return Err(file_err(&path, format!("tensor `{name}` is in two shards")));
                }
                ckpt.entries.insert(name, Entry { file: i, info });
            }
            ckpt.paths.push(path);
            ckpt.files.push(Rc::new(file));
            ckpt.data_start.push(start);
        }
        if let Some(map) = &weight_map
            && let Some((missing, shard)) = map.iter().find(|(k, _)| !ckpt.entries.contains_key(*k))
        {
            return Err(file_err(
                &index,
                format!("lists `{missing}` in {shard}, which does not hold it"),
            ));
        }
        ckpt.keys = ckpt.entries.keys().cloned().collect();
        Ok(ckpt)
    }

    /// Every tensor name, sorted.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// A lazy snapshot of tensor `key` at s2h path `mapped.name`, in s2h's layout, f32.
    pub fn snapshot(&self, key: &str, mapped: &Mapped) -> Result<TensorSnapshot> {
        let entry = self
            .entries
            .get(key)
            .ok_or_else(|| file_err(&self.paths[0], format!("no tensor `{key}`")))?;
        let path = &self.paths[entry.file];
        let dtype = match entry.info.dtype {
            Dtype::F32 => DType::F32,
            Dtype::BF16 => DType::BF16,
            Dtype::F16 => DType::F16,
            other => {
                return Err(file_err(
                    path,
                    format!("tensor `{key}` is {other:?}; s2h reads f32, bf16 and f16 weights"),
                ));
            }
        };
        let shape = entry.info.shape.clone();
        let target = match (mapped.layout, shape.as_slice()) {
            (Layout::Same, _) => shape.clone(),
            (Layout::Transpose, &[r, c]) => vec![c, r],
            (Layout::LeadingOne, &[n, d]) => vec![1, n, d],
            (layout, s) => {
                return Err(file_err(
                    path,
                    format!("tensor `{key}` has shape {s:?}, which {layout:?} cannot take"),
                ));
            }
        };
        let file = Rc::clone(&self.files[entry.file]);
        let (begin, end) = entry.info.data_offsets;
        let offset = self.data_start[entry.file] + begin as u64;
        let len = end - begin;
        let layout = mapped.layout;
        let source = shape.clone();
        let read = move || -> Result<TensorData, TensorSnapshotError> {
            let mut bytes = vec![0u8; len];
            let mut f: &File = &file;
            f.seek(SeekFrom::Start(offset))
                .and_then(|_| f.read_exact(&mut bytes))
                .map_err(|e| TensorSnapshotError::IoError(e.to_string()))?;
            let data = TensorData::from_bytes_vec(bytes, source.clone(), dtype);
            let data = if dtype == DType::F32 {
                data
            } else {
                data.convert_dtype(DType::F32)
            };
            Ok(match layout {
                Layout::Same => data,
                Layout::LeadingOne => {
                    let values = data
                        .into_vec::<f32>()
                        .map_err(|e| TensorSnapshotError::DataError(format!("{e:?}")))?;
                    TensorData::new(values, [1, source[0], source[1]])
                }
                Layout::Transpose => {
                    let values = data
                        .into_vec::<f32>()
                        .map_err(|e| TensorSnapshotError::DataError(format!("{e:?}")))?;
                    TensorData::new(
                        transpose(&values, source[0], source[1]),
                        [source[1], source[0]],
                    )
                }
            })
        };
        let path_stack: Vec<String> = mapped.name.split('.').map(str::to_string).collect();
        Ok(TensorSnapshot::from_closure(
            Rc::new(read),
            DType::F32,
            target.into(),
            path_stack,
            Vec::new(),
            ParamId::new(),
        ))
    }
}

/// `[rows, cols]` row-major → `[cols, rows]`.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

/// An opened safetensors file: the file, where its data starts, and its tensors by name.
type Header = (File, u64, Vec<(String, TensorInfo)>);

/// The header of a safetensors file: the file, where its data starts, and its tensors, checked
/// against the file's length (offsets contiguous, sizes matching dtype × shape).
fn read_header(path: &Path) -> Result<Header> {
    let mut file = File::open(path).map_err(|e| VlmError::io(path, e))?;
    let file_len = file.metadata().map_err(|e| VlmError::io(path, e))?.len();
    let mut n = [0u8; 8];
    file.read_exact(&mut n)
        .map_err(|_| file_err(path, "too short for a safetensors header"))?;
    let n = u64::from_le_bytes(n);
    if n > MAX_HEADER || 8 + n > file_len {
        return Err(file_err(
            path,
            "damaged safetensors header (impossible length)",
        ));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header)
        .map_err(|e| VlmError::io(path, e))?;
    let raw: HashMap<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| file_err(path, format!("header: {e}")))?;
    let mut infos = Vec::with_capacity(raw.len());
    for (name, value) in raw {
        if name == "__metadata__" {
            continue;
        }
        let info: TensorInfo = serde_json::from_value(value)
            .map_err(|e| file_err(path, format!("header entry `{name}`: {e}")))?;
        infos.push((name, info));
    }
    infos.sort_by_key(|(_, i)| i.data_offsets);
    let mut expected = 0usize;
    for (name, info) in &infos {
        let (s, e) = info.data_offsets;
        let bits = info
            .shape
            .iter()
            .try_fold(info.dtype.bitsize(), |a, &d| a.checked_mul(d));
        if s != expected || e < s || bits.map(|b| b.div_ceil(8)) != Some(e - s) {
            return Err(file_err(
                path,
                format!("damaged safetensors header: tensor `{name}` has inconsistent offsets"),
            ));
        }
        expected = e;
    }
    if 8 + n + expected as u64 != file_len {
        return Err(file_err(
            path,
            format!(
                "the file is {file_len} bytes but its header describes {}: truncated or damaged",
                8 + n + expected as u64
            ),
        ));
    }
    Ok((file, 8 + n, infos))
}

/// Write `module`'s tensors to `path` under their file names in `table`, f32, one tensor in
/// memory at a time. Every parameter must have a file name.
pub fn write<B: Backend, M: Module<B> + ModuleSnapshot<B>>(
    path: &Path,
    module: &M,
    table: &Table,
) -> Result<()> {
    let mut tensors = Vec::new();
    for snapshot in module.collect(None, None, false) {
        let s2h = snapshot.full_path();
        let mapped = table
            .to_file(&s2h)
            .ok_or_else(|| file_err(path, format!("weight `{s2h}` has no Hugging Face name")))?;
        let dims = snapshot.shape.to_vec();
        let shape = match (mapped.layout, dims.as_slice()) {
            (Layout::Same, _) => dims.clone(),
            (Layout::Transpose, &[r, c]) => vec![c, r],
            (Layout::LeadingOne, &[1, n, d]) => vec![n, d],
            (layout, s) => {
                return Err(file_err(
                    path,
                    format!("weight `{s2h}` of shape {s:?} cannot be written as {layout:?}"),
                ));
            }
        };
        tensors.push((mapped.name, mapped.layout, dims, shape, snapshot));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!({ "format": "pt" }));
    let mut offset = 0usize;
    for (name, _, _, shape, _) in &tensors {
        let bytes = shape.iter().product::<usize>() * 4;
        header.insert(
            name.clone(),
            serde_json::json!({ "dtype": "F32", "shape": shape, "data_offsets": [offset, offset + bytes] }),
        );
        offset += bytes;
    }
    let mut header = serde_json::to_vec(&header).map_err(|e| file_err(path, e))?;
    // The data section starts 8-byte aligned, as safetensors writes it.
    while header.len() % 8 != 0 {
        header.push(b' ');
    }
    let tmp = path.with_extension("safetensors.partial");
    let mut out = std::io::BufWriter::new(File::create(&tmp).map_err(|e| VlmError::io(&tmp, e))?);
    let io = |e| VlmError::io(&tmp, e);
    out.write_all(&(header.len() as u64).to_le_bytes())
        .map_err(io)?;
    out.write_all(&header).map_err(io)?;
    for (name, layout, dims, _, snapshot) in tensors {
        let values = snapshot
            .to_data()
            .map_err(|e| file_err(path, format!("`{name}`: {e}")))?
            .convert_dtype(DType::F32)
            .into_vec::<f32>()
            .map_err(|e| file_err(path, format!("`{name}`: {e:?}")))?;
        let values = match layout {
            Layout::Transpose => transpose(&values, dims[0], dims[1]),
            Layout::Same | Layout::LeadingOne => values,
        };
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        out.write_all(&bytes).map_err(io)?;
    }
    out.flush().map_err(io)?;
    drop(out);
    std::fs::rename(&tmp, path).map_err(|e| VlmError::io(path, e))
}

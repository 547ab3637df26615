//! The files of a dataset directory: their names, and how they are written so that a reader
//! never sees half of one (each is written under a temporary name and renamed into place when
//! complete).

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use s2h_render::{ImageOptions, Layout};
use s2h_tasks::{Instance, Split, TaskKind};

use crate::{MixtureError, Result};

/// The records, one JSON object a line; complete once it exists.
pub const RECORDS_FILE: &str = "records.jsonl";
/// The PNGs, one per instance shown as an image.
pub const IMAGES_DIR: &str = "images";
/// Counts, parameters and file hashes; written last, so it marks a complete dataset.
pub const MANIFEST_FILE: &str = "manifest.json";
/// LLaVA conversations (optional).
pub const LLAVA_FILE: &str = "llava.json";
/// VLMEvalKit rows (optional).
pub const TSV_FILE: &str = "vlmevalkit.tsv";
/// A training plan, beside the directories of its phases.
pub const PLAN_FILE: &str = "plan.toml";

/// File name of the image of one instance (shared by every supervision of that instance).
pub fn image_file_name(task: TaskKind, split: Split, seed: u64, index: u64) -> String {
    format!("{task}-{split}-s{seed}-i{index:07}.png")
}

/// Write `bytes` to `path` through a temporary name.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    let written = fs::write(&tmp, bytes)
        .map_err(MixtureError::io("cannot write", &tmp))
        .and_then(|()| {
            fs::rename(&tmp, path).map_err(MixtureError::io("cannot move into place", path))
        });
    discard_on_error(written, &tmp)
}

fn tmp_path(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}.tmp", path.display()))
}

/// A write that failed (a full disk, above all) must not leave its temporary file behind to keep
/// the disk full: remove it, and pass the error on.
fn discard_on_error<T>(result: Result<T>, tmp: &Path) -> Result<T> {
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    result
}

/// Claim `dir` for an experiment described by `setup` (everything that decides its results),
/// stamped as `dir/stamp` (JSON): a new or empty directory is created and stamped; a stamped one
/// is reused when its setup is equal (each stage then picks up what is already there) and
/// refused when it differs, rather than mixing two experiments; a directory holding other files
/// is refused. `fresh` deletes a stamped directory first (and only a stamped one).
pub fn claim_dir<T>(dir: &Path, stamp: &str, setup: &T, fresh: bool) -> Result<()>
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq,
{
    let path = dir.join(stamp);
    let in_use = |reason: String| {
        Err(MixtureError::DirInUse {
            path: dir.to_path_buf(),
            reason,
        })
    };
    let is_empty = |d: &Path| -> Result<bool> {
        Ok(fs::read_dir(d)
            .map_err(MixtureError::io("cannot read", d))?
            .next()
            .is_none())
    };
    if fresh && dir.exists() {
        if !path.is_file() && !is_empty(dir)? {
            return in_use(format!(
                "holds files but no {stamp}: refusing to delete what another command made"
            ));
        }
        fs::remove_dir_all(dir).map_err(MixtureError::io("cannot remove", dir))?;
    }
    fs::create_dir_all(dir).map_err(MixtureError::io("cannot create", dir))?;
    if path.is_file() {
        let text = fs::read_to_string(&path).map_err(MixtureError::io("cannot read", &path))?;
        let previous: T = serde_json::from_str(&text).map_err(|e| MixtureError::BadFile {
            path: path.clone(),
            reason: format!("not this experiment's setup ({e})"),
        })?;
        if previous != *setup {
            return in_use(format!(
                "was made with other settings (see {stamp}); start over with a fresh directory \
                 or choose another one"
            ));
        }
        return Ok(());
    }
    if !is_empty(dir)? {
        return in_use("already holds other files; choose an empty or new directory".into());
    }
    let json = serde_json::to_string_pretty(setup).map_err(|e| MixtureError::BadFile {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    write_atomically(&path, json.as_bytes())
}

/// [`write_atomically`], with the data flushed to disk before the rename: for state a resumed
/// run relies on after a crash (checkpoints, run logs), not for bulk data.
pub fn write_atomically_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    let written = write_synced(&tmp, bytes).and_then(|()| {
        fs::rename(&tmp, path).map_err(MixtureError::io("cannot move into place", path))
    });
    discard_on_error(written, &tmp)
}

/// Write a file and flush it to disk.
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = fs::File::create(path).map_err(MixtureError::io("cannot write", path))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(MixtureError::io("cannot write", path))
}

/// Render the image of `instance` and write it as a PNG at `path`; returns its layout and size.
pub(crate) fn write_image(
    instance: &Instance,
    options: &ImageOptions,
    path: &Path,
) -> Result<(Layout, u64)> {
    let rendered = s2h_render::render_image(instance, options)?;
    let png = rendered.png()?;
    write_atomically(path, &png)?;
    Ok((rendered.layout, png.len() as u64))
}

/// One output file written under a temporary name and renamed when complete; dropped before
/// [`OutFile::finish`] (an error elsewhere stopped the export), its temporary file is removed.
pub(crate) struct OutFile {
    tmp: PathBuf,
    path: PathBuf,
    /// `None` once finished.
    writer: Option<BufWriter<fs::File>>,
}

impl Drop for OutFile {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

impl OutFile {
    pub(crate) fn create(dir: &Path, name: &str) -> Result<Self> {
        let path = dir.join(name);
        let tmp = dir.join(format!("{name}.tmp"));
        let file = fs::File::create(&tmp).map_err(MixtureError::io("cannot write", &tmp))?;
        Ok(Self {
            tmp,
            path,
            writer: Some(BufWriter::new(file)),
        })
    }

    pub(crate) fn write(&mut self, text: &str) -> Result<()> {
        let tmp = &self.tmp;
        match self.writer.as_mut() {
            Some(w) => w
                .write_all(text.as_bytes())
                .map_err(MixtureError::io("cannot write", tmp)),
            None => Err(MixtureError::io("cannot write", tmp)(
                std::io::Error::other("the file is already complete"),
            )),
        }
    }

    pub(crate) fn finish(mut self) -> Result<()> {
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        let tmp = self.tmp.clone();
        let done = writer
            .into_inner()
            .map_err(|e| MixtureError::Io {
                action: "cannot write",
                path: tmp.clone(),
                error: e.into_error(),
            })
            .and_then(|file| {
                file.sync_all()
                    .map_err(MixtureError::io("cannot flush", &tmp))
            })
            .and_then(|()| {
                fs::rename(&tmp, &self.path)
                    .map_err(MixtureError::io("cannot move into place", &self.path))
            });
        discard_on_error(done, &tmp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write that fails leaves no temporary file: here the rename fails (a directory with
    /// contents is where the file should go), as it would on a full disk.
    #[test]
    fn failed_writes_leave_no_temporary_file() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("out");
        fs::create_dir_all(target.join("inside")).unwrap();
        assert!(write_atomically(&target, b"x").is_err());
        assert!(write_atomically_synced(&target, b"x").is_err());
        assert!(!tmp_path(&target).exists());
        // An export abandoned half-way removes its temporary file too.
        let mut file = OutFile::create(tmp.path(), "records.jsonl").unwrap();
        file.write("half a line").unwrap();
        assert!(tmp.path().join("records.jsonl.tmp").exists());
        drop(file);
        assert!(!tmp.path().join("records.jsonl.tmp").exists());
        assert!(!tmp.path().join("records.jsonl").exists());
    }

    #[test]
    fn a_claimed_dir_is_reused_for_its_setup_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("exp");
        claim_dir(&dir, "setup.json", &vec![1, 2], false).unwrap();
        fs::write(dir.join("data"), "kept").unwrap();
        // The same setup: reused, files kept.
        claim_dir(&dir, "setup.json", &vec![1, 2], false).unwrap();
        assert!(dir.join("data").is_file());
        // Another setup: refused, nothing touched.
        let err = claim_dir(&dir, "setup.json", &vec![1, 3], false).unwrap_err();
        assert!(err.to_string().contains("other settings"), "{err}");
        assert!(dir.join("data").is_file());
        // Fresh: deleted and stamped anew.
        claim_dir(&dir, "setup.json", &vec![1, 3], true).unwrap();
        assert!(!dir.join("data").exists());
        // A directory that is someone else's is neither used nor deleted.
        let other = tmp.path().join("other");
        fs::create_dir_all(&other).unwrap();
        fs::write(other.join("notes.txt"), "mine").unwrap();
        for fresh in [false, true] {
            let err = claim_dir(&other, "setup.json", &vec![1], fresh).unwrap_err();
            assert!(matches!(err, MixtureError::DirInUse { .. }), "{err}");
        }
        assert!(other.join("notes.txt").is_file());
        // A stamp that is not this setup's type is a clear error.
        fs::write(dir.join("setup.json"), "{\"x\": 1}").unwrap();
        let err = claim_dir(&dir, "setup.json", &vec![1, 3], false).unwrap_err();
        assert!(err.to_string().contains("setup.json"), "{err}");
    }
}

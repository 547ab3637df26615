//! Files written so that a reader never sees half of one: each is written under a temporary
//! name and renamed into place when complete.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use s2h_render::{ImageOptions, Layout};
use s2h_tasks::Instance;

use crate::{MixtureError, Result};

/// Write `bytes` to `path` through a temporary name.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    fs::write(&tmp, bytes).map_err(MixtureError::io("cannot write", &tmp))?;
    fs::rename(&tmp, path).map_err(MixtureError::io("cannot move into place", path))
}

/// [`write_atomically`], with the data flushed to disk before the rename: for state a resumed
/// run relies on after a crash (checkpoints, run logs), not for bulk data.
pub fn write_atomically_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    write_synced(&tmp, bytes)?;
    fs::rename(&tmp, path).map_err(MixtureError::io("cannot move into place", path))
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

/// One output file written under a temporary name and renamed when complete.
pub(crate) struct OutFile {
    tmp: PathBuf,
    path: PathBuf,
    writer: BufWriter<fs::File>,
}

impl OutFile {
    pub(crate) fn create(dir: &Path, name: &str) -> Result<Self> {
        let path = dir.join(name);
        let tmp = dir.join(format!("{name}.tmp"));
        let file = fs::File::create(&tmp).map_err(MixtureError::io("cannot write", &tmp))?;
        Ok(Self {
            tmp,
            path,
            writer: BufWriter::new(file),
        })
    }

    pub(crate) fn write(&mut self, text: &str) -> Result<()> {
        self.writer
            .write_all(text.as_bytes())
            .map_err(MixtureError::io("cannot write", &self.tmp))
    }

    pub(crate) fn finish(self) -> Result<()> {
        let tmp = self.tmp;
        self.writer
            .into_inner()
            .map_err(|e| MixtureError::Io {
                action: "cannot write",
                path: tmp.clone(),
                error: e.into_error(),
            })?
            .sync_all()
            .map_err(MixtureError::io("cannot flush", &tmp))?;
        fs::rename(&tmp, &self.path).map_err(MixtureError::io("cannot move into place", &self.path))
    }
}

//! Visual Analogy renderings (SPEC §6–7). Placeholder: being written.

use s2h_tasks::TaskKind;
use s2h_tasks::analogy::AnalogyInstance;

use crate::{AnalogyTextFormat, ImageOptions, RenderError, RenderedImage, Result};

/// The text description of a puzzle.
pub fn describe(_instance: &AnalogyInstance, _format: AnalogyTextFormat) -> String {
    String::new()
}

/// The puzzle image.
pub fn image(_instance: &AnalogyInstance, _options: &ImageOptions) -> Result<RenderedImage> {
    Err(RenderError::Unsupported(TaskKind::Va))
}

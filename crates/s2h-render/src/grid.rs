//! Grid Navigation renderings (SPEC §6–7). Placeholder: being written.

use s2h_tasks::TaskKind;
use s2h_tasks::grid::GridInstance;

use crate::{ImageOptions, RenderError, RenderedImage, Result};

/// The LaTeX grid.
pub fn latex(_instance: &GridInstance) -> String {
    String::new()
}

/// The grid image.
pub fn image(_instance: &GridInstance, _options: &ImageOptions) -> Result<RenderedImage> {
    Err(RenderError::Unsupported(TaskKind::Grid))
}

/// Everything that can go wrong while rendering.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("image size {width}x{height} is too small to draw on; use at least {min}x{min} pixels")]
    CanvasTooSmall { width: u32, height: u32, min: u32 },
    #[error("image size {width}x{height} is too large; use at most {max} pixels per side")]
    CanvasTooLarge { width: u32, height: u32, max: u32 },
    #[error(
        "font scale {0} is outside what the layouts hold; use a number from {min} to {max} \
         ({max} fits every label in its cell, larger overflows it; below {min} text is too small \
         to read)",
        min = crate::MIN_FONT_SCALE,
        max = crate::MAX_FONT_SCALE
    )]
    BadFontScale(f32),
    #[error("could not parse the generated SVG (a bug in s2h-render): {0}")]
    Svg(String),
    #[error("could not encode the PNG: {0}")]
    Png(String),
    #[error("`{0}` is not a text format; use lossy or lossless")]
    UnknownTextFormat(String),
    #[error("{0} instances cannot be rendered yet")]
    Unsupported(s2h_tasks::TaskKind),
}

pub type Result<T, E = RenderError> = std::result::Result<T, E>;

//! The one font shipped with the project (DejaVu Sans, regular and bold; see
//! `assets/fonts/LICENSE-DejaVu.txt`). Rendering never touches system fonts, so an image is the
//! same on every machine.

use std::sync::{Arc, OnceLock};

use resvg::usvg::fontdb;

pub(crate) const FAMILY: &str = "DejaVu Sans";
pub(crate) static REGULAR: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
pub(crate) static BOLD: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans-Bold.ttf");

/// The font database handed to the SVG parser, built once per process.
pub(crate) fn database() -> Arc<fontdb::Database> {
    static DB: OnceLock<Arc<fontdb::Database>> = OnceLock::new();
    DB.get_or_init(|| {
        let mut db = fontdb::Database::new();
        db.load_font_data(REGULAR.to_vec());
        db.load_font_data(BOLD.to_vec());
        db.set_sans_serif_family(FAMILY);
        Arc::new(db)
    })
    .clone()
}

fn face(bold: bool) -> &'static ttf_parser::Face<'static> {
    static FACES: OnceLock<[ttf_parser::Face<'static>; 2]> = OnceLock::new();
    let faces = FACES.get_or_init(|| {
        // The bytes are compiled in, so a parse failure is a build defect, not a user error.
        let parse = |bytes| ttf_parser::Face::parse(bytes, 0).expect("shipped font parses");
        [parse(REGULAR), parse(BOLD)]
    });
    &faces[usize::from(bold)]
}

/// Width of `text` in ems (advance widths of its glyphs, without kerning).
pub fn text_width_em(text: &str, bold: bool) -> f32 {
    let face = face(bold);
    let per_em = f32::from(face.units_per_em());
    text.chars()
        .map(|c| {
            face.glyph_index(c)
                .and_then(|g| face.glyph_hor_advance(g))
                .map_or(0.6, |a| f32::from(a) / per_em)
        })
        .sum()
}

/// True when the shipped font has a real glyph (not the missing-glyph box) for `c`.
pub fn has_glyph(c: char, bold: bool) -> bool {
    face(bold).glyph_index(c).is_some_and(|g| g.0 != 0)
}

/// Height of capital letters in ems, used to centre text vertically on its baseline.
pub(crate) fn cap_height_em() -> f32 {
    let face = face(false);
    face.capital_height()
        .map_or(0.73, |h| f32::from(h) / f32::from(face.units_per_em()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bold_text_is_wider_and_widths_add_up() {
        let a = text_width_em("September", false);
        let b = text_width_em("September", true);
        assert!(a > 4.0 && b > a, "{a} {b}");
        assert!((text_width_em("ab", false) - text_width_em("a", false) - text_width_em("b", false)).abs() < 1e-6);
    }

    #[test]
    fn latin_glyphs_exist() {
        assert!(has_glyph('A', false) && has_glyph('z', true));
    }
}

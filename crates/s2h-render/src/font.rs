//! The one font shipped with the project (DejaVu Sans, regular and bold; see
//! `assets/fonts/LICENSE-DejaVu.txt`). Rendering never touches system fonts, so an image is the
//! same on every machine.
//!
//! Text is drawn as SVG paths made from the font's glyph outlines rather than as SVG `<text>`:
//! labels repeat across thousands of images, so each string is laid out once per thread and
//! reused, which keeps text layout out of the per-image cost.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::rc::Rc;
use std::sync::OnceLock;

static REGULAR: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans-Bold.ttf");

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

/// Ink bounds of the glyph for `c` in ems, `[x_min, y_min, x_max, y_max]` with y up, or `None`
/// when the font has no glyph (or an empty one) for it.
pub(crate) fn glyph_bounds_em(c: char, bold: bool) -> Option<[f32; 4]> {
    let face = face(bold);
    let r = face.glyph_bounding_box(face.glyph_index(c)?)?;
    let em = |v: i16| f32::from(v) / f32::from(face.units_per_em());
    Some([em(r.x_min), em(r.y_min), em(r.x_max), em(r.y_max)])
}

/// Height of capital letters in ems, used to centre text vertically on its baseline.
pub(crate) fn cap_height_em() -> f32 {
    let face = face(false);
    face.capital_height()
        .map_or(0.73, |h| f32::from(h) / f32::from(face.units_per_em()))
}

/// A string laid out in ems: SVG path data with the baseline at y = 0 and y pointing up, and the
/// bounds `[x0, y0, x1, y1]` of its points (control points included, so
/// the curves lie inside).
pub(crate) struct Outline {
    pub path: String,
    pub bounds: [f32; 4],
}

/// The outline of `text`, laid out once per thread and shared afterwards.
pub(crate) fn outline(text: &str, bold: bool) -> Rc<Outline> {
    thread_local! {
        static CACHE: RefCell<HashMap<(bool, String), Rc<Outline>>> = RefCell::new(HashMap::new());
    }
    CACHE.with(|cache| {
        if let Some(hit) = cache.borrow().get(&(bold, text.to_string())) {
            return hit.clone();
        }
        let laid_out = Rc::new(lay_out(text, bold));
        cache
            .borrow_mut()
            .insert((bold, text.to_string()), laid_out.clone());
        laid_out
    })
}

fn lay_out(text: &str, bold: bool) -> Outline {
    let face = face(bold);
    let per_em = f32::from(face.units_per_em());
    let mut builder = PathBuilder {
        path: String::new(),
        x0: 0.0,
        scale: 1.0 / per_em,
        bounds: [f32::MAX, f32::MAX, f32::MIN, f32::MIN],
    };
    let mut pen = 0.0;
    for c in text.chars() {
        let Some(glyph) = face.glyph_index(c) else {
            pen += 0.6;
            continue;
        };
        builder.x0 = pen;
        face.outline_glyph(glyph, &mut builder);
        pen += face
            .glyph_hor_advance(glyph)
            .map_or(0.6, |a| f32::from(a) / per_em);
    }
    let bounds = if builder.bounds[0] <= builder.bounds[2] {
        builder.bounds
    } else {
        [0.0; 4] // only blank glyphs
    };
    Outline {
        path: builder.path,
        bounds,
    }
}

/// Writes glyph outlines as SVG path commands in ems, offset by the pen position.
struct PathBuilder {
    path: String,
    x0: f32,
    scale: f32,
    bounds: [f32; 4],
}

impl PathBuilder {
    fn point(&mut self, x: f32, y: f32) {
        let (x, y) = (self.x0 + x * self.scale, y * self.scale);
        let b = &mut self.bounds;
        *b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
        let _ = write!(self.path, "{x:.4} {y:.4} ");
    }
}

impl ttf_parser::OutlineBuilder for PathBuilder {
    fn move_to(&mut self, x: f32, y: f32) {
        self.path.push('M');
        self.point(x, y);
    }

    fn line_to(&mut self, x: f32, y: f32) {
        self.path.push('L');
        self.point(x, y);
    }

    fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        self.path.push('Q');
        self.point(x1, y1);
        self.point(x, y);
    }

    fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        self.path.push('C');
        self.point(x1, y1);
        self.point(x2, y2);
        self.point(x, y);
    }

    fn close(&mut self) {
        self.path.push('Z');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bold_text_is_wider_and_widths_add_up() {
        let a = text_width_em("September", false);
        let b = text_width_em("September", true);
        assert!(a > 4.0 && b > a, "{a} {b}");
        assert!(
            (text_width_em("ab", false) - text_width_em("a", false) - text_width_em("b", false))
                .abs()
                < 1e-6
        );
        let [x0, _, x1, _] = outline("September", true).bounds;
        assert!(x0 >= -0.1 && x1 <= b + 0.1 && x1 > b - 1.0, "{x0} {x1} {b}");
    }

    #[test]
    fn latin_glyphs_exist_and_have_outlines() {
        assert!(has_glyph('A', false) && has_glyph('z', true));
        let o = outline("AB", false);
        // A has 2 contours (outline and counter), B has 3.
        assert_eq!(o.path.matches('M').count(), 5);
    }
}

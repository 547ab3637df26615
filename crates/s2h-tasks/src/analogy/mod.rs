//! Visual Analogy, PGM-style (SPEC §5).
//!
//! A panel shows either lines or shapes, and each attribute of a panel is read as the *set* of
//! its values. A puzzle shows two example rows of three panels, each following a pattern
//! (domain, relation) with one relation shared by the whole puzzle, a query row of two panels and
//! four options: exactly one option completes the query with the shared relation.
//!
//! - this module: the values (panels, patterns, instances, answers), the configuration and
//!   [`verify`];
//! - `solver.rs`: [`solve`] and its parts, which list every pattern a triple of panels satisfies
//!   from the panels alone (never from labels): the generator's proof, and the source of the
//!   chain of thought's per-attribute verdicts;
//! - `generate.rs`: [`generate`], which draws puzzles and keeps only those the solver confirms.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::common::named_enum;
use crate::{Cell, Result, Split, TaskError, TaskKind, Verdict};

mod generate;
mod solver;

pub use generate::generate;
pub use solver::{
    AttributeValue, ValueSet, attribute_sets, relations, relations_holding, shift_directions, solve,
};

/// Gray levels a line may have (0 is black).
pub const LINE_COLORS: [u8; 4] = [0, 90, 135, 189];
/// Gray levels a shape may be filled with.
pub const SHAPE_COLORS: [u8; 5] = [0, 90, 135, 189, 255];
/// Shape sizes in pixels on a 160-px panel.
pub const SHAPE_SIZES: [u32; 4] = [20, 27, 34, 41];
/// Shapes sit in a `LAYOUT_SIDE` × `LAYOUT_SIDE` layout; positions are `[row, col]` from 1.
pub const LAYOUT_SIDE: u32 = 3;
/// At most one shape per layout cell.
pub const MAX_SHAPES: usize = (LAYOUT_SIDE * LAYOUT_SIDE) as usize;

// ---------------------------------------------------------------------------------------------
// Panels

named_enum!(
    /// What a panel holds.
    PanelKind, "panel kind" {
        Lines => "lines",
        Shapes => "shapes",
    }
);

named_enum!(
    /// The ten line types. Each spans the whole panel; a panel holds at most one of each.
    /// A V "facing" a side points its vertex that way, like an arrowhead (`v_up` looks like `^`).
    LineType, "line type" {
        /// Top-left corner to bottom-right corner.
        FallingDiagonal => "falling_diagonal",
        /// Bottom-left corner to top-right corner.
        RisingDiagonal => "rising_diagonal",
        Horizontal => "horizontal",
        Vertical => "vertical",
        /// The square joining the midpoints of the four sides.
        Diamond => "diamond",
        /// The circle touching the four sides.
        Circle => "circle",
        VUp => "v_up",
        VLeft => "v_left",
        VDown => "v_down",
        VRight => "v_right",
    }
);

named_enum!(
    /// The five shape types.
    ShapeType, "shape type" {
        Circle => "circle",
        Square => "square",
        Triangle => "triangle",
        Pentagon => "pentagon",
        Hexagon => "hexagon",
    }
);

/// One line of a lines panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Line {
    #[serde(rename = "type")]
    pub line_type: LineType,
    /// Gray level, one of [`LINE_COLORS`].
    pub color: u8,
}

/// One shape of a shapes panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Shape {
    #[serde(rename = "type")]
    pub shape_type: ShapeType,
    /// Fill gray level, one of [`SHAPE_COLORS`].
    pub color: u8,
    /// Size in pixels, one of [`SHAPE_SIZES`].
    pub size: u32,
    /// Cell of the 3×3 layout, `[row, col]` with 1–3.
    pub position: Cell,
}

/// One panel: lines or shapes. Serialised as `{kind: "lines"|"shapes", objects: [...]}`.
///
/// Generated panels list their objects in a canonical order (lines by type, shapes by position
/// in reading order), so nothing downstream depends on the order values were drawn in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "objects", rename_all = "snake_case")]
pub enum Panel {
    Lines(Vec<Line>),
    Shapes(Vec<Shape>),
}

impl Panel {
    pub fn kind(&self) -> PanelKind {
        match self {
            Panel::Lines(_) => PanelKind::Lines,
            Panel::Shapes(_) => PanelKind::Shapes,
        }
    }

    /// Number of objects (lines or shapes).
    pub fn len(&self) -> usize {
        match self {
            Panel::Lines(l) => l.len(),
            Panel::Shapes(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first rule of SPEC §5.1 this panel breaks, if any: at least one object; values from
    /// the tables; at most one line of each type; at most one shape per cell, inside the
    /// layout. Relations are defined on well-formed panels only, so the solver finds no pattern
    /// in a triple with a defective panel (a panel read from a file may be one).
    pub fn defect(&self) -> Option<String> {
        match self {
            Panel::Lines(lines) => {
                if lines.is_empty() {
                    return Some("a lines panel holds no line".to_string());
                }
                for (i, line) in lines.iter().enumerate() {
                    if !LINE_COLORS.contains(&line.color) {
                        return Some(format!(
                            "line color {} is not one of {LINE_COLORS:?}",
                            line.color
                        ));
                    }
                    if lines[..i].iter().any(|l| l.line_type == line.line_type) {
                        return Some(format!("two {} lines in one panel", line.line_type));
                    }
                }
            }
            Panel::Shapes(shapes) => {
                if shapes.is_empty() || shapes.len() > MAX_SHAPES {
                    return Some(format!(
                        "a shapes panel holds {} shapes, not 1–{MAX_SHAPES}",
                        shapes.len()
                    ));
                }
                let side = 1..=LAYOUT_SIDE;
                for (i, shape) in shapes.iter().enumerate() {
                    if !SHAPE_COLORS.contains(&shape.color) {
                        return Some(format!(
                            "shape color {} is not one of {SHAPE_COLORS:?}",
                            shape.color
                        ));
                    }
                    if !SHAPE_SIZES.contains(&shape.size) {
                        return Some(format!(
                            "shape size {} is not one of {SHAPE_SIZES:?}",
                            shape.size
                        ));
                    }
                    let p = shape.position;
                    if !side.contains(&p.row) || !side.contains(&p.col) {
                        return Some(format!("shape position {p} is outside the 3x3 layout"));
                    }
                    if shapes[..i].iter().any(|s| s.position == p) {
                        return Some(format!("two shapes at position {p}"));
                    }
                }
            }
        }
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Domains, relations, patterns

named_enum!(
    /// An attribute of a panel (SPEC §5.1); the first two belong to lines panels, the rest to
    /// shapes panels.
    Domain, "domain" {
        LineType => "line_type",
        LineColor => "line_color",
        ShapeType => "shape_type",
        ShapeColor => "shape_color",
        ShapeSize => "shape_size",
        /// The number of shapes, read as the one-element set {n}.
        ShapeQuantity => "shape_quantity",
        /// The set of occupied layout cells.
        ShapePosition => "shape_position",
    }
);

impl Domain {
    /// The kind of panel this attribute belongs to.
    pub const fn kind(self) -> PanelKind {
        match self {
            Domain::LineType | Domain::LineColor => PanelKind::Lines,
            _ => PanelKind::Shapes,
        }
    }

    /// The relations defined on this domain: all four, except that a quantity is a single
    /// number, so only Progression applies to it.
    pub const fn relations(self) -> &'static [Relation] {
        match self {
            Domain::ShapeQuantity => &[Relation::Progression],
            _ => Relation::ALL,
        }
    }

    /// The domains of a panel kind, in canonical order.
    pub fn of_kind(kind: PanelKind) -> &'static [Domain] {
        match kind {
            PanelKind::Lines => &Domain::ALL[..2],
            PanelKind::Shapes => &Domain::ALL[2..],
        }
    }

    /// Position in [`Domain::ALL`].
    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

/// A relation between the attribute sets of three panels (SPEC §5.2). Written `AND`, `OR`,
/// `XOR`, `Progression` everywhere; parsing ignores case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Relation {
    /// Panel 3 = panel 1 ∩ panel 2, non-empty.
    #[serde(rename = "AND")]
    And,
    /// Panel 3 = panel 1 ∪ panel 2.
    #[serde(rename = "OR")]
    Or,
    /// Panel 3 = panel 1 △ panel 2, non-empty.
    #[serde(rename = "XOR")]
    Xor,
    /// A one-step change repeated: see [`solve`] for each domain.
    #[serde(rename = "Progression")]
    Progression,
}

impl Relation {
    pub const ALL: &'static [Relation] = &[
        Relation::And,
        Relation::Or,
        Relation::Xor,
        Relation::Progression,
    ];

    /// The name used in files, answers and seeds.
    pub fn name(self) -> &'static str {
        match self {
            Relation::And => "AND",
            Relation::Or => "OR",
            Relation::Xor => "XOR",
            Relation::Progression => "Progression",
        }
    }

    /// Position in [`Relation::ALL`].
    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// Written by hand, not with `named_enum!`: that macro matches lowercase names only, and these
// names are upper- or mixed-case.
impl FromStr for Relation {
    type Err = TaskError;

    fn from_str(s: &str) -> Result<Self> {
        let wanted = s.trim();
        Relation::ALL
            .iter()
            .copied()
            .find(|r| r.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| TaskError::UnknownName {
                what: "relation",
                given: s.to_string(),
                expected: Relation::ALL
                    .iter()
                    .map(|r| r.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// A (domain, relation) pair, serialised as the two-element array `[domain, relation]` and
/// displayed as `(domain, relation)`, the answer syntax of SPEC §8.
///
/// Any pair can be written (a model may answer `(shape_quantity, AND)`); only the 25 of
/// [`Pattern::ALL`] are patterns a triple can follow ([`Pattern::is_defined`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "(Domain, Relation)", into = "(Domain, Relation)")]
pub struct Pattern {
    pub domain: Domain,
    pub relation: Relation,
}

impl Pattern {
    /// The 25 patterns: every domain with each of its relations, in canonical order (domain
    /// order of [`Domain::ALL`], then relation order of [`Relation::ALL`]).
    pub const ALL: [Pattern; 25] = all_patterns();

    pub const fn new(domain: Domain, relation: Relation) -> Self {
        Self { domain, relation }
    }

    /// True for the 25 patterns of SPEC §5.2.
    pub fn is_defined(self) -> bool {
        self.domain.relations().contains(&self.relation)
    }
}

const fn all_patterns() -> [Pattern; 25] {
    let mut out = [Pattern::new(Domain::LineType, Relation::And); 25];
    let mut n = 0;
    let mut d = 0;
    while d < Domain::ALL.len() {
        let relations = Domain::ALL[d].relations();
        let mut r = 0;
        while r < relations.len() {
            out[n] = Pattern::new(Domain::ALL[d], relations[r]);
            n += 1;
            r += 1;
        }
        d += 1;
    }
    // A compile-time check: a changed domain or relation list must update the 25.
    assert!(n == 25, "the pattern list must hold exactly 25 patterns");
    out
}

impl From<(Domain, Relation)> for Pattern {
    fn from((domain, relation): (Domain, Relation)) -> Self {
        Self { domain, relation }
    }
}

impl From<Pattern> for (Domain, Relation) {
    fn from(p: Pattern) -> Self {
        (p.domain, p.relation)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.domain, self.relation)
    }
}

named_enum!(
    /// Direction of a value progression (colors, sizes, quantities).
    ProgressionDirection, "progression direction" {
        Increasing => "increasing",
        Decreasing => "decreasing",
    }
);

named_enum!(
    /// The one-cell moves of a position progression, with wrap-around (SPEC §5.2).
    ShiftDirection, "shift direction" {
        Right => "right",
        Down => "down",
        /// Diagonal: one row down and one column right.
        DownRight => "down_right",
    }
);

impl ShiftDirection {
    /// Row and column change of one step (rows grow downwards).
    pub const fn delta(self) -> (i32, i32) {
        match self {
            ShiftDirection::Right => (0, 1),
            ShiftDirection::Down => (1, 0),
            ShiftDirection::DownRight => (1, 1),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration

/// Visual Analogy parameters: the held-out pattern set S of SPEC §5.4, which defines the splits
/// (`simple` avoids S; `hard` and `pattern_heldout` use only S).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
// A misspelt parameter is an error, not a silent default.
#[serde(default, deny_unknown_fields)]
pub struct AnalogyConfig {
    pub held_out: Vec<Pattern>,
}

impl Default for AnalogyConfig {
    /// The paper's S: two domains per relation.
    fn default() -> Self {
        use Domain as D;
        use Relation as R;
        Self {
            held_out: vec![
                Pattern::new(D::LineType, R::Xor),
                Pattern::new(D::ShapeSize, R::Xor),
                Pattern::new(D::LineColor, R::Or),
                Pattern::new(D::ShapePosition, R::Or),
                Pattern::new(D::ShapeType, R::And),
                Pattern::new(D::LineType, R::And),
                Pattern::new(D::ShapeColor, R::Progression),
                Pattern::new(D::LineColor, R::Progression),
            ],
        }
    }
}

impl AnalogyConfig {
    pub fn is_held_out(&self, pattern: Pattern) -> bool {
        self.held_out.contains(&pattern)
    }

    /// The held-out domains of a relation, in canonical order (so the order S is written in
    /// never changes the puzzles).
    pub fn held_out_domains(&self, relation: Relation) -> Vec<Domain> {
        Domain::ALL
            .iter()
            .copied()
            .filter(|&d| self.is_held_out(Pattern::new(d, relation)))
            .collect()
    }

    /// The patterns a `simple` (`held_out = false`) or `pattern_heldout` (`true`) puzzle may
    /// follow, in canonical order.
    pub fn patterns(&self, held_out: bool) -> Vec<Pattern> {
        Pattern::ALL
            .iter()
            .copied()
            .filter(|&p| self.is_held_out(p) == held_out)
            .collect()
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| {
            Err(TaskError::InvalidConfig {
                task: TaskKind::Va,
                reason,
            })
        };
        for (i, &p) in self.held_out.iter().enumerate() {
            if !p.is_defined() {
                return bad(format!(
                    "held_out lists {p}, which is not one of the 25 patterns: {} only has {}",
                    p.domain,
                    p.domain
                        .relations()
                        .iter()
                        .map(|r| r.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if self.held_out[..i].contains(&p) {
                return bad(format!("held_out lists {p} twice"));
            }
        }
        for &r in Relation::ALL {
            let domains = self.held_out_domains(r);
            if domains.len() < 2 {
                let listed = if domains.is_empty() {
                    "none".to_string()
                } else {
                    domains
                        .iter()
                        .map(|d| d.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                return bad(format!(
                    "held_out has {} domain(s) for {r} ({listed}); the hard split shows two \
                     examples with distinct held-out domains of one relation, so every relation \
                     needs at least 2 held-out domains",
                    domains.len()
                ));
            }
        }
        if self.patterns(false).is_empty() {
            return bad("held_out holds all 25 patterns, leaving none for the simple split".into());
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Instances and answers

/// One puzzle (SPEC §5.3, field names of §10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalogyInstance {
    /// Two example rows of three panels.
    pub examples: [[Panel; 3]; 2],
    /// The first two panels of the query row.
    pub query: [Panel; 2],
    /// The four candidates for the query's third panel.
    pub options: [Panel; 4],
    /// The relation r shared by the examples and the query.
    pub relation: Relation,
    /// How the puzzle was drawn, and the configuration it was drawn under.
    pub params: AnalogyParams,
}

/// Generation parameters of a puzzle. Every pattern here was confirmed by the solver on the
/// panels when the puzzle was generated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalogyParams {
    pub split: Split,
    /// The pattern each example row follows.
    pub example_patterns: [Pattern; 2],
    /// The pattern the query row follows with the correct option.
    pub query_pattern: Pattern,
    /// The pattern each option forms after the two query panels (the correct one's is
    /// `query_pattern`; the others' relations differ from `relation`).
    pub option_patterns: [Pattern; 4],
    /// The correct option, 1–4.
    pub correct_option: u8,
    /// The direction shared by every value progression of the puzzle (colors, sizes,
    /// quantities); `None` unless the relation is Progression on such a domain.
    pub progression_direction: Option<ProgressionDirection>,
    /// The shift shared by every position progression of the puzzle; `None` unless the
    /// relation is Progression on shape_position.
    pub shift_direction: Option<ShiftDirection>,
    /// Candidate rows (examples, query with answer, distractors) drawn and rejected before
    /// these were accepted.
    pub rejected_draws: u32,
    pub config: AnalogyConfig,
}

/// One option as judged in an answer: the pattern it forms after the query, and whether its
/// relation is the puzzle's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OptionAnswer {
    pub pattern: Pattern,
    pub consistent: bool,
}

/// The structured answer (SPEC §5.6).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AnalogyAnswer {
    pub example_patterns: [Pattern; 2],
    pub options: [OptionAnswer; 4],
    /// The chosen option, 1–4.
    pub option: u8,
}

impl AnalogyInstance {
    /// The kind of the query panels (and of every option).
    pub fn query_kind(&self) -> PanelKind {
        self.params.query_pattern.domain.kind()
    }

    /// Example row `example` (0 or 1) as a triple for the solver.
    pub fn example_triple(&self, example: usize) -> Option<[&Panel; 3]> {
        self.examples.get(example).map(|row| row.each_ref())
    }

    /// The query panels followed by option `option` (0–3) as a triple for the solver.
    pub fn option_triple(&self, option: usize) -> Option<[&Panel; 3]> {
        let [a, b] = &self.query;
        self.options.get(option).map(|o| [a, b, o])
    }

    pub fn gold_answer(&self) -> AnalogyAnswer {
        AnalogyAnswer {
            example_patterns: self.params.example_patterns,
            options: self.params.option_patterns.map(|pattern| OptionAnswer {
                pattern,
                consistent: pattern.relation == self.relation,
            }),
            option: self.params.correct_option,
        }
    }
}

/// True when `option` (1–4) is the correct one: the lenient metric of paper Table 10.
pub fn verify_option(instance: &AnalogyInstance, option: u8) -> bool {
    option == instance.params.correct_option
}

/// Check an answer: correct iff every part equals the gold answer (both example patterns,
/// every option's pattern and consistency flag, and the option index). Sub-metrics:
/// `option_correct` (the index alone, paper Table 10), `example_patterns_correct` (fraction of
/// the 2), `option_patterns_correct` and `consistency_correct` (fractions of the 4).
pub fn verify(instance: &AnalogyInstance, answer: &AnalogyAnswer) -> Verdict {
    let gold = instance.gold_answer();
    let fraction = |hits: usize, of: usize| hits as f64 / of as f64;
    let examples = gold
        .example_patterns
        .iter()
        .zip(&answer.example_patterns)
        .filter(|(g, a)| g == a)
        .count();
    let patterns = gold
        .options
        .iter()
        .zip(&answer.options)
        .filter(|(g, a)| g.pattern == a.pattern)
        .count();
    let consistency = gold
        .options
        .iter()
        .zip(&answer.options)
        .filter(|(g, a)| g.consistent == a.consistent)
        .count();
    Verdict::new(*answer == gold)
        .with(
            "option_correct",
            f64::from(u8::from(verify_option(instance, answer.option))),
        )
        .with("example_patterns_correct", fraction(examples, 2))
        .with("option_patterns_correct", fraction(patterns, 4))
        .with("consistency_correct", fraction(consistency, 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_relations_ignore_case() {
        for &r in Relation::ALL {
            assert_eq!(r.name().parse::<Relation>().unwrap(), r);
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.name())
            );
        }
        assert_eq!(" xor ".parse::<Relation>().unwrap(), Relation::Xor);
        assert_eq!(
            "PROGRESSION".parse::<Relation>().unwrap(),
            Relation::Progression
        );
        let err = "NAND".parse::<Relation>().unwrap_err().to_string();
        assert!(
            err.contains("NAND") && err.contains("AND, OR, XOR, Progression"),
            "{err}"
        );
        for &d in Domain::ALL {
            assert_eq!(d.name().parse::<Domain>().unwrap(), d);
        }
        assert_eq!("v_left".parse::<LineType>().unwrap(), LineType::VLeft);
        assert!("shape_weight".parse::<Domain>().is_err());
    }

    #[test]
    fn there_are_25_patterns_in_canonical_order() {
        assert_eq!(Pattern::ALL.len(), 25);
        assert!(Pattern::ALL.windows(2).all(|w| w[0] < w[1]));
        assert!(Pattern::ALL.iter().all(|p| p.is_defined()));
        let quantity: Vec<_> = Pattern::ALL
            .iter()
            .filter(|p| p.domain == Domain::ShapeQuantity)
            .collect();
        assert_eq!(
            quantity,
            [&Pattern::new(Domain::ShapeQuantity, Relation::Progression)]
        );
        assert!(!Pattern::new(Domain::ShapeQuantity, Relation::Or).is_defined());
        let p = Pattern::new(Domain::ShapeSize, Relation::Xor);
        assert_eq!(p.to_string(), "(shape_size, XOR)");
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"["shape_size","XOR"]"#
        );
        assert!(serde_json::from_str::<Pattern>(r#"["shape_size","xor"]"#).is_err());
        assert_eq!(
            Domain::of_kind(PanelKind::Lines),
            [Domain::LineType, Domain::LineColor]
        );
        assert!(
            Domain::of_kind(PanelKind::Shapes)
                .iter()
                .all(|d| d.kind() == PanelKind::Shapes)
        );
    }

    #[test]
    fn default_held_out_set_is_the_papers() {
        let config = AnalogyConfig::default();
        assert_eq!(config.held_out.len(), 8);
        for &r in Relation::ALL {
            assert_eq!(config.held_out_domains(r).len(), 2, "{r}");
        }
        assert_eq!(config.patterns(false).len(), 17);
        assert_eq!(
            config.held_out_domains(Relation::Progression),
            [Domain::LineColor, Domain::ShapeColor]
        );
    }
}

//! The pattern solver: every pattern (domain, relation) a triple of panels satisfies, read from
//! the panels alone (SPEC §5.2).
//!
//! Each attribute of a panel is reduced to the set of its values, held as a bit set over the
//! domain's value list ([`ValueSet`]); relations are plain set algebra on those bits, so no
//! result depends on the order objects or values are listed in (SPEC §16).
//!
//! Progression, per domain:
//! - line_type, shape_type: panel 1 ⊂ panel 2 ⊂ panel 3, each adding exactly one type;
//! - line_color, shape_color, shape_size, shape_quantity: each panel has exactly one value and
//!   the three are strictly monotonic, in either direction and with any steps;
//! - shape_position: panel 2's cells are panel 1's shifted one cell right, down or diagonally
//!   down-right, with wrap-around, and panel 3's are panel 2's shifted the same way. This is a
//!   relation of the position *sets* only: shapes carry no identity from panel to panel, and a
//!   generated puzzle draws their other attributes afresh (keeping them would make every other
//!   attribute constant, and a constant set satisfies AND and OR).

use std::fmt;

use super::{
    Domain, LAYOUT_SIDE, LINE_COLORS, LineType, MAX_SHAPES, Panel, Pattern, Relation, SHAPE_COLORS,
    SHAPE_SIZES, ShapeType, ShiftDirection,
};
use crate::Cell;

/// One value of one attribute, as the chain of thought and the text rendering name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttributeValue {
    LineType(LineType),
    /// A gray level (line or shape color).
    Color(u8),
    ShapeType(ShapeType),
    /// A shape size in pixels.
    Size(u32),
    /// A number of shapes.
    Quantity(u32),
    Position(Cell),
}

impl fmt::Display for AttributeValue {
    /// `falling_diagonal`, `90`, `circle`, `34`, `3`, `(1, 2)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttributeValue::LineType(t) => write!(f, "{t}"),
            AttributeValue::Color(c) => write!(f, "{c}"),
            AttributeValue::ShapeType(t) => write!(f, "{t}"),
            AttributeValue::Size(s) => write!(f, "{s}"),
            AttributeValue::Quantity(n) => write!(f, "{n}"),
            AttributeValue::Position(c) => write!(f, "({}, {})", c.row, c.col),
        }
    }
}

/// Number of values of a domain; bit `i` of a [`ValueSet`] stands for value `i`.
pub(super) const fn universe(domain: Domain) -> usize {
    match domain {
        Domain::LineType => LineType::ALL.len(),
        Domain::LineColor => LINE_COLORS.len(),
        Domain::ShapeType => ShapeType::ALL.len(),
        Domain::ShapeColor => SHAPE_COLORS.len(),
        Domain::ShapeSize => SHAPE_SIZES.len(),
        Domain::ShapeQuantity | Domain::ShapePosition => MAX_SHAPES,
    }
}

/// Value `i` of a domain, in the domain's order (types in table order, grays and sizes
/// ascending, quantities 1–9, cells in reading order).
fn value_at(domain: Domain, i: usize) -> Option<AttributeValue> {
    Some(match domain {
        Domain::LineType => AttributeValue::LineType(*LineType::ALL.get(i)?),
        Domain::LineColor => AttributeValue::Color(*LINE_COLORS.get(i)?),
        Domain::ShapeType => AttributeValue::ShapeType(*ShapeType::ALL.get(i)?),
        Domain::ShapeColor => AttributeValue::Color(*SHAPE_COLORS.get(i)?),
        Domain::ShapeSize => AttributeValue::Size(*SHAPE_SIZES.get(i)?),
        Domain::ShapeQuantity => {
            (i < MAX_SHAPES).then_some(())?;
            AttributeValue::Quantity(i as u32 + 1)
        }
        Domain::ShapePosition => {
            (i < MAX_SHAPES).then_some(())?;
            AttributeValue::Position(cell_at(i))
        }
    })
}

/// The index of a value in its domain, if it is one of the domain's values.
fn index_of(domain: Domain, value: AttributeValue) -> Option<usize> {
    match (domain, value) {
        (Domain::LineType, AttributeValue::LineType(t)) => Some(t as usize),
        (Domain::LineColor, AttributeValue::Color(c)) => LINE_COLORS.iter().position(|&x| x == c),
        (Domain::ShapeType, AttributeValue::ShapeType(t)) => Some(t as usize),
        (Domain::ShapeColor, AttributeValue::Color(c)) => SHAPE_COLORS.iter().position(|&x| x == c),
        (Domain::ShapeSize, AttributeValue::Size(s)) => SHAPE_SIZES.iter().position(|&x| x == s),
        (Domain::ShapeQuantity, AttributeValue::Quantity(n)) => {
            (1..=MAX_SHAPES as u32).contains(&n).then(|| n as usize - 1)
        }
        (Domain::ShapePosition, AttributeValue::Position(c)) => cell_index(c),
        _ => None,
    }
}

/// The layout cell of a reading-order index.
pub(super) fn cell_at(i: usize) -> Cell {
    let side = LAYOUT_SIDE as usize;
    Cell::new((i / side) as u32 + 1, (i % side) as u32 + 1)
}

/// Reading-order index of a layout cell, if it lies inside the layout.
pub(super) fn cell_index(c: Cell) -> Option<usize> {
    let side = 1..=LAYOUT_SIDE;
    (side.contains(&c.row) && side.contains(&c.col))
        .then(|| ((c.row - 1) * LAYOUT_SIDE + (c.col - 1)) as usize)
}

/// The set of values one attribute takes in one panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ValueSet {
    domain: Domain,
    bits: u16,
}

impl ValueSet {
    /// The set of `values` in `domain`; `None` if one of them is not a value of the domain.
    pub fn from_values(
        domain: Domain,
        values: impl IntoIterator<Item = AttributeValue>,
    ) -> Option<ValueSet> {
        let mut bits = 0;
        for v in values {
            bits |= 1 << index_of(domain, v)?;
        }
        Some(ValueSet { domain, bits })
    }

    pub(super) fn bits(self) -> u16 {
        self.bits
    }

    pub fn domain(self) -> Domain {
        self.domain
    }

    pub fn len(self) -> usize {
        self.bits.count_ones() as usize
    }

    pub fn is_empty(self) -> bool {
        self.bits == 0
    }

    pub fn contains(self, value: AttributeValue) -> bool {
        index_of(self.domain, value).is_some_and(|i| self.bits >> i & 1 == 1)
    }

    /// The values, in the domain's order (types in table order, numbers ascending, cells in
    /// reading order).
    pub fn values(self) -> Vec<AttributeValue> {
        (0..universe(self.domain))
            .filter(|i| self.bits >> i & 1 == 1)
            .filter_map(|i| value_at(self.domain, i))
            .collect()
    }

    /// The value of a one-element set.
    pub fn single(self) -> Option<AttributeValue> {
        (self.len() == 1).then(|| value_at(self.domain, self.bits.trailing_zeros() as usize))?
    }
}

impl fmt::Display for ValueSet {
    /// The values separated by `, ` (e.g. `circle, square` or `(1, 1), (2, 3)`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.values().into_iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

impl Panel {
    /// The set of values of attribute `domain` in this panel; `None` when the domain belongs to
    /// the other panel kind or the panel holds a value outside the domain's table (a quantity
    /// outside 1–9 included).
    pub fn value_set(&self, domain: Domain) -> Option<ValueSet> {
        let mut bits = 0u16;
        match (self, domain) {
            (Panel::Lines(lines), Domain::LineType) => {
                for l in lines {
                    bits |= 1 << l.line_type as usize;
                }
            }
            (Panel::Lines(lines), Domain::LineColor) => {
                for l in lines {
                    bits |= 1 << LINE_COLORS.iter().position(|&c| c == l.color)?;
                }
            }
            (Panel::Shapes(shapes), Domain::ShapeType) => {
                for s in shapes {
                    bits |= 1 << s.shape_type as usize;
                }
            }
            (Panel::Shapes(shapes), Domain::ShapeColor) => {
                for s in shapes {
                    bits |= 1 << SHAPE_COLORS.iter().position(|&c| c == s.color)?;
                }
            }
            (Panel::Shapes(shapes), Domain::ShapeSize) => {
                for s in shapes {
                    bits |= 1 << SHAPE_SIZES.iter().position(|&x| x == s.size)?;
                }
            }
            (Panel::Shapes(shapes), Domain::ShapeQuantity) => {
                bits = 1 << index_of(domain, AttributeValue::Quantity(shapes.len() as u32))?;
            }
            (Panel::Shapes(shapes), Domain::ShapePosition) => {
                for s in shapes {
                    bits |= 1 << cell_index(s.position)?;
                }
            }
            _ => return None,
        }
        Some(ValueSet { domain, bits })
    }
}

/// Cells shifted by `(dr, dc)` with wrap-around, on position bits.
pub(super) fn shift_bits(bits: u16, (dr, dc): (i32, i32)) -> u16 {
    let side = LAYOUT_SIDE as i32;
    let mut out = 0;
    for i in 0..MAX_SHAPES as i32 {
        if bits >> i & 1 == 1 {
            let row = (i / side + dr).rem_euclid(side);
            let col = (i % side + dc).rem_euclid(side);
            out |= 1 << (row * side + col);
        }
    }
    out
}

/// True when one shift carries panel 1's cells to panel 2's and panel 2's to panel 3's.
pub(super) fn is_shift(s: [u16; 3], delta: (i32, i32)) -> bool {
    s[0] != 0 && shift_bits(s[0], delta) == s[1] && shift_bits(s[1], delta) == s[2]
}

/// How Progression is read on a domain.
enum ProgressionRule {
    /// Subset chain adding one value per panel.
    Chain,
    /// One value per panel, strictly monotonic.
    Monotone,
    /// One shift of all cells per panel.
    Shift,
}

fn progression_rule(domain: Domain) -> ProgressionRule {
    match domain {
        Domain::LineType | Domain::ShapeType => ProgressionRule::Chain,
        Domain::ShapePosition => ProgressionRule::Shift,
        _ => ProgressionRule::Monotone,
    }
}

fn holds(domain: Domain, relation: Relation, [a, b, c]: [u16; 3]) -> bool {
    match relation {
        Relation::And => c != 0 && c == a & b,
        Relation::Or => c != 0 && c == a | b,
        Relation::Xor => c != 0 && c == a ^ b,
        Relation::Progression => match progression_rule(domain) {
            ProgressionRule::Chain => {
                a != 0
                    && a & !b == 0
                    && b & !c == 0
                    && b.count_ones() == a.count_ones() + 1
                    && c.count_ones() == b.count_ones() + 1
            }
            ProgressionRule::Monotone => {
                [a, b, c].iter().all(|s| s.count_ones() == 1) && {
                    let [x, y, z] = [a, b, c].map(u16::trailing_zeros);
                    (x < y && y < z) || (x > y && y > z)
                }
            }
            ProgressionRule::Shift => ShiftDirection::ALL
                .iter()
                .any(|d| is_shift([a, b, c], d.delta())),
        },
    }
}

/// The relations three sets of one domain satisfy, as a bit mask over [`Relation::ALL`].
pub(super) fn relation_mask(domain: Domain, sets: [u16; 3]) -> u8 {
    domain
        .relations()
        .iter()
        .filter(|&&r| holds(domain, r, sets))
        .fold(0, |mask, &r| mask | 1 << r.index())
}

/// The relations three sets satisfy (empty when they belong to different domains).
pub fn relations(sets: [ValueSet; 3]) -> Vec<Relation> {
    let domain = sets[0].domain;
    if sets.iter().any(|s| s.domain != domain) {
        return Vec::new();
    }
    let mask = relation_mask(domain, sets.map(ValueSet::bits));
    Relation::ALL
        .iter()
        .copied()
        .filter(|r| mask >> r.index() & 1 == 1)
        .collect()
}

/// The shift directions that carry panel 1's cells to panel 2's and panel 2's to panel 3's
/// (empty unless the sets are positions).
pub fn shift_directions(sets: [ValueSet; 3]) -> Vec<ShiftDirection> {
    if sets.iter().any(|s| s.domain != Domain::ShapePosition) {
        return Vec::new();
    }
    ShiftDirection::ALL
        .iter()
        .copied()
        .filter(|d| is_shift(sets.map(ValueSet::bits), d.delta()))
        .collect()
}

/// The three panels' value sets of one attribute; `None` when a panel is of the other kind or
/// holds a value outside the attribute's table.
pub fn attribute_sets(triple: [&Panel; 3], domain: Domain) -> Option<[ValueSet; 3]> {
    Some([
        triple[0].value_set(domain)?,
        triple[1].value_set(domain)?,
        triple[2].value_set(domain)?,
    ])
}

/// The relations a triple satisfies on one attribute. Empty when a panel is defective
/// ([`Panel::defect`]) or of the other kind: relations are defined on well-formed panels only.
pub fn relations_holding(triple: [&Panel; 3], domain: Domain) -> Vec<Relation> {
    if triple.iter().any(|p| p.defect().is_some()) {
        return Vec::new();
    }
    attribute_sets(triple, domain).map_or_else(Vec::new, relations)
}

/// Every pattern the triple satisfies, in canonical order. A triple can only satisfy patterns
/// of its panels' kind: a triple of mixed kinds, or with a defective panel, satisfies none.
///
/// For a row stored as `[Panel; 3]`, pass `row.each_ref()`.
pub fn solve(triple: [&Panel; 3]) -> Vec<Pattern> {
    let kind = triple[0].kind();
    if triple
        .iter()
        .any(|p| p.kind() != kind || p.defect().is_some())
    {
        return Vec::new();
    }
    let mut out = Vec::new();
    for &domain in Domain::of_kind(kind) {
        let Some(sets) = attribute_sets(triple, domain) else {
            continue;
        };
        for relation in relations(sets) {
            out.push(Pattern::new(domain, relation));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Line, PanelKind, Shape};
    use super::*;
    use Domain as D;
    use LineType::{
        Circle as LC, Diamond as DM, FallingDiagonal as FD, Horizontal as H, VDown, VUp,
        Vertical as V,
    };
    use Relation as R;
    use ShapeType::{Circle as CI, Pentagon as PE, Square as SQ, Triangle as TR};

    type Cells = &'static [(u32, u32)];

    /// A lines panel whose i-th line takes color `colors[i % len]`.
    fn lines(types: &[LineType], colors: &[u8]) -> Panel {
        Panel::Lines(
            types
                .iter()
                .enumerate()
                .map(|(i, &line_type)| Line {
                    line_type,
                    color: colors[i % colors.len()],
                })
                .collect(),
        )
    }

    /// A shapes panel with one shape per cell, the i-th taking value `i % len` of each list.
    fn shapes(cells: &[(u32, u32)], types: &[ShapeType], colors: &[u8], sizes: &[u32]) -> Panel {
        Panel::Shapes(
            cells
                .iter()
                .enumerate()
                .map(|(i, &(row, col))| Shape {
                    shape_type: types[i % types.len()],
                    color: colors[i % colors.len()],
                    size: sizes[i % sizes.len()],
                    position: Cell::new(row, col),
                })
                .collect(),
        )
    }

    fn line_row(types: [&[LineType]; 3], colors: [&[u8]; 3]) -> [Panel; 3] {
        [0, 1, 2].map(|i| lines(types[i], colors[i]))
    }

    fn shape_row(
        cells: [Cells; 3],
        types: [&[ShapeType]; 3],
        colors: [&[u8]; 3],
        sizes: [&[u32]; 3],
    ) -> [Panel; 3] {
        [0, 1, 2].map(|i| shapes(cells[i], types[i], colors[i], sizes[i]))
    }

    // Backgrounds that satisfy no relation: {x}, {x}, {y} is neither AND (x ≠ y), OR, XOR
    // (empty) nor a strict progression; the types and cells are checked by hand below and by
    // `backgrounds_satisfy_nothing`.
    const LINE_TYPES: [&[LineType]; 3] = [&[H, V, DM], &[H, FD, LC], &[V, LC, VUp, VDown]];
    const LINE_COLORS_BG: [&[u8]; 3] = [&[0], &[0], &[90]];
    const CELLS: [Cells; 3] = [
        &[(1, 1), (1, 2), (2, 2)],
        &[(1, 1), (2, 1), (3, 3)],
        &[(1, 3), (2, 3), (3, 1), (3, 2)],
    ];
    const TYPES: [&[ShapeType]; 3] = [&[CI], &[CI], &[SQ]];
    const COLORS: [&[u8]; 3] = [&[0], &[0], &[90]];
    const SIZES: [&[u32]; 3] = [&[20], &[20], &[27]];

    fn solved(row: &[Panel; 3]) -> Vec<Pattern> {
        solve(row.each_ref())
    }

    #[test]
    fn backgrounds_satisfy_nothing() {
        assert_eq!(solved(&line_row(LINE_TYPES, LINE_COLORS_BG)), []);
        assert_eq!(solved(&shape_row(CELLS, TYPES, COLORS, SIZES)), []);
    }

    /// One hand-made row per pattern (two for some), each satisfying exactly that pattern.
    fn pattern_rows() -> Vec<(Pattern, [Panel; 3])> {
        let p = Pattern::new;
        vec![
            (
                p(D::LineType, R::And),
                line_row([&[H, V, DM], &[H, V, LC], &[H, V]], LINE_COLORS_BG),
            ),
            (
                p(D::LineType, R::Or),
                line_row([&[H, V], &[V, DM], &[H, V, DM]], LINE_COLORS_BG),
            ),
            (
                p(D::LineType, R::Xor),
                line_row([&[H, V], &[V, DM], &[H, DM]], LINE_COLORS_BG),
            ),
            (
                p(D::LineType, R::Progression),
                line_row([&[H], &[H, V], &[H, V, LC]], LINE_COLORS_BG),
            ),
            (
                p(D::LineColor, R::And),
                line_row(LINE_TYPES, [&[0, 90], &[90, 135], &[90]]),
            ),
            (
                p(D::LineColor, R::Or),
                line_row(LINE_TYPES, [&[0, 90], &[90, 135], &[0, 90, 135]]),
            ),
            (
                p(D::LineColor, R::Xor),
                line_row(LINE_TYPES, [&[0, 90], &[90, 135], &[0, 135]]),
            ),
            (
                p(D::LineColor, R::Progression),
                line_row(LINE_TYPES, [&[0], &[135], &[189]]),
            ),
            (
                p(D::LineColor, R::Progression),
                line_row(LINE_TYPES, [&[189], &[90], &[0]]),
            ),
            (
                p(D::ShapeType, R::And),
                shape_row(CELLS, [&[CI, SQ], &[SQ, TR], &[SQ]], COLORS, SIZES),
            ),
            (
                p(D::ShapeType, R::Or),
                shape_row(CELLS, [&[CI, SQ], &[SQ, TR], &[CI, SQ, TR]], COLORS, SIZES),
            ),
            (
                p(D::ShapeType, R::Xor),
                shape_row(CELLS, [&[CI, SQ], &[SQ, TR], &[CI, TR]], COLORS, SIZES),
            ),
            (
                p(D::ShapeType, R::Progression),
                shape_row(CELLS, [&[CI], &[CI, SQ], &[CI, SQ, PE]], COLORS, SIZES),
            ),
            (
                p(D::ShapeColor, R::And),
                shape_row(CELLS, TYPES, [&[0, 90], &[90, 135], &[90]], SIZES),
            ),
            (
                p(D::ShapeColor, R::Or),
                shape_row(CELLS, TYPES, [&[0, 90], &[90, 135], &[0, 90, 135]], SIZES),
            ),
            (
                p(D::ShapeColor, R::Xor),
                shape_row(CELLS, TYPES, [&[0, 90], &[90, 135], &[0, 135]], SIZES),
            ),
            (
                p(D::ShapeColor, R::Progression),
                shape_row(CELLS, TYPES, [&[0], &[90], &[255]], SIZES),
            ),
            (
                p(D::ShapeSize, R::And),
                shape_row(CELLS, TYPES, COLORS, [&[20, 27], &[27, 34], &[27]]),
            ),
            (
                p(D::ShapeSize, R::Or),
                shape_row(CELLS, TYPES, COLORS, [&[20, 27], &[27, 34], &[20, 27, 34]]),
            ),
            (
                p(D::ShapeSize, R::Xor),
                shape_row(CELLS, TYPES, COLORS, [&[20, 27], &[27, 34], &[20, 34]]),
            ),
            (
                p(D::ShapeSize, R::Progression),
                shape_row(CELLS, TYPES, COLORS, [&[41], &[34], &[20]]),
            ),
            (
                p(D::ShapeQuantity, R::Progression),
                shape_row(
                    [
                        &[(1, 1)],
                        &[(2, 2), (3, 3)],
                        &[(1, 1), (1, 3), (3, 1), (2, 3)],
                    ],
                    TYPES,
                    COLORS,
                    SIZES,
                ),
            ),
            (
                p(D::ShapePosition, R::And),
                shape_row(
                    [
                        &[(1, 1), (1, 2), (2, 2)],
                        &[(1, 2), (2, 2), (3, 3)],
                        &[(1, 2), (2, 2)],
                    ],
                    TYPES,
                    COLORS,
                    SIZES,
                ),
            ),
            (
                p(D::ShapePosition, R::Or),
                shape_row(
                    [
                        &[(1, 1), (1, 2), (2, 2)],
                        &[(2, 2), (3, 3)],
                        &[(1, 1), (1, 2), (2, 2), (3, 3)],
                    ],
                    TYPES,
                    COLORS,
                    SIZES,
                ),
            ),
            (
                p(D::ShapePosition, R::Xor),
                shape_row(
                    [
                        &[(1, 1), (1, 2), (2, 2)],
                        &[(2, 2), (3, 3)],
                        &[(1, 1), (1, 2), (3, 3)],
                    ],
                    TYPES,
                    COLORS,
                    SIZES,
                ),
            ),
            // Right, with (2, 3) wrapping to (2, 1).
            (
                p(D::ShapePosition, R::Progression),
                shape_row(
                    [&[(1, 1), (2, 3)], &[(1, 2), (2, 1)], &[(1, 3), (2, 2)]],
                    TYPES,
                    COLORS,
                    SIZES,
                ),
            ),
            // Down, with (3, 2) wrapping to (1, 2).
            (
                p(D::ShapePosition, R::Progression),
                shape_row(
                    [&[(1, 1), (3, 2)], &[(2, 1), (1, 2)], &[(3, 1), (2, 2)]],
                    TYPES,
                    COLORS,
                    SIZES,
                ),
            ),
            // Diagonally down-right, wrapping both ways.
            (
                p(D::ShapePosition, R::Progression),
                shape_row(
                    [&[(3, 3), (1, 2)], &[(1, 1), (2, 3)], &[(2, 2), (3, 1)]],
                    TYPES,
                    COLORS,
                    SIZES,
                ),
            ),
        ]
    }

    #[test]
    fn each_of_the_25_patterns_is_recognised_alone() {
        let rows = pattern_rows();
        for (pattern, row) in &rows {
            assert!(
                row.iter().all(|p| p.defect().is_none()),
                "{pattern}: {row:?}"
            );
            assert_eq!(solved(row), [*pattern], "{pattern}: {row:?}");
            assert_eq!(
                relations_holding(row.each_ref(), pattern.domain),
                [pattern.relation]
            );
        }
        let mut covered: Vec<Pattern> = rows.iter().map(|(p, _)| *p).collect();
        covered.sort();
        covered.dedup();
        assert_eq!(covered, Pattern::ALL);
    }

    #[test]
    fn near_misses_satisfy_nothing() {
        let near_misses = [
            // AND with one type too many in panel 3.
            line_row([&[H, V, DM], &[H, V, LC], &[H, V, FD]], LINE_COLORS_BG),
            // OR missing a type.
            line_row([&[H, V], &[V, DM], &[H, V]], LINE_COLORS_BG),
            // A chain adding two types at once, one losing a type per panel, one not nested.
            line_row([&[H], &[H, V], &[H, V, DM, LC]], LINE_COLORS_BG),
            line_row([&[H, V, DM], &[H, V], &[H]], LINE_COLORS_BG),
            line_row([&[H], &[V, DM], &[V, DM, LC]], LINE_COLORS_BG),
            // Colors: not strict, not monotonic, two colors in one panel.
            line_row(LINE_TYPES, [&[0], &[90], &[90]]),
            line_row(LINE_TYPES, [&[0], &[135], &[90]]),
            line_row(LINE_TYPES, [&[0], &[90, 135], &[189]]),
            shape_row(CELLS, TYPES, COLORS, [&[20], &[34], &[27]]),
            // Quantities 2, 2, 3 and 3, 1, 2.
            shape_row(
                [
                    &[(1, 1), (1, 2)],
                    &[(2, 2), (3, 3)],
                    &[(1, 3), (3, 1), (2, 1)],
                ],
                TYPES,
                COLORS,
                SIZES,
            ),
            shape_row(
                [&[(1, 1), (1, 2), (1, 3)], &[(2, 2)], &[(3, 1), (3, 3)]],
                TYPES,
                COLORS,
                SIZES,
            ),
            // Cells shifting left (not one of the three directions).
            shape_row(
                [&[(1, 2), (2, 1)], &[(1, 1), (2, 3)], &[(1, 3), (2, 2)]],
                TYPES,
                COLORS,
                SIZES,
            ),
            // Right, then down: the direction must stay the same.
            shape_row([&[(1, 1)], &[(1, 2)], &[(2, 2)]], TYPES, COLORS, SIZES),
            // AND on sizes with an empty intersection in panels 1–2.
            shape_row(CELLS, TYPES, COLORS, [&[20], &[27], &[34, 41]]),
        ];
        for row in &near_misses {
            assert_eq!(solved(row), [], "{row:?}");
        }
    }

    #[test]
    fn coinciding_relations_are_all_reported() {
        // A constant set is both the intersection and the union of itself.
        let constant = shape_row(CELLS, TYPES, [&[0], &[0], &[0]], SIZES);
        assert_eq!(
            solved(&constant),
            [
                Pattern::new(D::ShapeColor, R::And),
                Pattern::new(D::ShapeColor, R::Or)
            ]
        );
        // For disjoint sets the union is the symmetric difference.
        let disjoint = line_row([&[H], &[V], &[H, V]], LINE_COLORS_BG);
        assert_eq!(
            solved(&disjoint),
            [
                Pattern::new(D::LineType, R::Or),
                Pattern::new(D::LineType, R::Xor)
            ]
        );
    }

    #[test]
    fn mixed_or_defective_triples_satisfy_nothing() {
        let [a, b, _] = line_row([&[H, V], &[V, DM], &[H, V, DM]], LINE_COLORS_BG);
        let s = shapes(&[(1, 1)], &[CI], &[0], &[20]);
        assert_eq!(solve([&a, &b, &s]), []);
        assert_eq!(relations_holding([&a, &b, &s], D::LineType), []);

        let [a, b, c] = shape_row(
            [
                &[(1, 1), (1, 2), (2, 2)],
                &[(1, 2), (2, 2), (3, 3)],
                &[(1, 2), (2, 2)],
            ],
            TYPES,
            COLORS,
            SIZES,
        );
        assert_eq!(
            solve([&a, &b, &c]),
            [Pattern::new(D::ShapePosition, R::And)]
        );
        let twice_in_a_cell = shapes(&[(1, 2), (1, 2)], &[CI], &[90], &[27]);
        assert!(twice_in_a_cell.defect().is_some());
        assert_eq!(solve([&a, &b, &twice_in_a_cell]), []);
        let odd_gray = shapes(&[(1, 2), (2, 2)], &[CI], &[17], &[27]);
        assert!(odd_gray.defect().unwrap().contains("17"));
        assert_eq!(odd_gray.value_set(D::ShapeColor), None);
        assert_eq!(solve([&a, &b, &odd_gray]), []);
        assert_eq!(solve([&a, &b, &Panel::Shapes(Vec::new())]), []);
        assert_eq!(
            a.value_set(D::LineType),
            None,
            "a shapes panel has no line types"
        );
    }

    #[test]
    fn value_sets_read_as_sets_in_a_fixed_order() {
        let panel = shapes(&[(2, 3), (1, 1), (3, 2)], &[TR, CI], &[90, 0], &[34, 34]);
        let read = |d| panel.value_set(d).unwrap().to_string();
        assert_eq!(read(D::ShapeType), "circle, triangle");
        assert_eq!(read(D::ShapeColor), "0, 90");
        assert_eq!(read(D::ShapeSize), "34");
        assert_eq!(read(D::ShapeQuantity), "3");
        assert_eq!(read(D::ShapePosition), "(1, 1), (2, 3), (3, 2)");
        let sizes = panel.value_set(D::ShapeSize).unwrap();
        assert_eq!(sizes.single(), Some(AttributeValue::Size(34)));
        assert!(
            sizes.contains(AttributeValue::Size(34)) && !sizes.contains(AttributeValue::Size(20))
        );
        let types = panel.value_set(D::ShapeType).unwrap();
        assert_eq!(types.len(), 2);
        assert_eq!(types.single(), None);
        assert_eq!(
            ValueSet::from_values(
                D::ShapeType,
                [AttributeValue::ShapeType(TR), AttributeValue::ShapeType(CI)]
            ),
            Some(types)
        );
        assert_eq!(
            ValueSet::from_values(D::ShapeType, [AttributeValue::Size(20)]),
            None
        );
        // The same objects listed in another order give the same sets.
        let Panel::Shapes(mut objects) = panel.clone() else {
            unreachable!()
        };
        objects.reverse();
        let reordered = Panel::Shapes(objects);
        for &d in Domain::of_kind(PanelKind::Shapes) {
            assert_eq!(panel.value_set(d), reordered.value_set(d));
        }
        let l = lines(&[VDown, H], &[189]);
        assert_eq!(
            l.value_set(D::LineType).unwrap().to_string(),
            "horizontal, v_down"
        );
    }

    #[test]
    fn attribute_sets_and_shift_directions_expose_the_reasoning() {
        let row = shape_row(
            [&[(3, 3), (1, 2)], &[(1, 1), (2, 3)], &[(2, 2), (3, 1)]],
            TYPES,
            COLORS,
            SIZES,
        );
        let sets = attribute_sets(row.each_ref(), D::ShapePosition).unwrap();
        assert_eq!(sets[1].to_string(), "(1, 1), (2, 3)");
        assert_eq!(relations(sets), [R::Progression]);
        assert_eq!(shift_directions(sets), [ShiftDirection::DownRight]);
        let colors = attribute_sets(row.each_ref(), D::ShapeColor).unwrap();
        assert_eq!(relations(colors), []);
        assert_eq!(shift_directions(colors), []);
        assert_eq!(
            relations([sets[0], sets[1], colors[2]]),
            [],
            "mixed domains"
        );
        assert_eq!(attribute_sets(row.each_ref(), D::LineColor), None);
    }
}

//! The puzzle generator (SPEC §5.3–5.5).
//!
//! Rows are drawn as *set triples*: for each attribute of the row's panel kind, the bit sets of
//! its values in the three panels. A row meant to follow (d, r) is drawn as panels 1–2
//! ([`draw_pair`]) and completed by panel 3 ([`complete`]): attribute d by the relation itself,
//! every other attribute at random until it satisfies no relation. The same completion makes
//! the correct option and the distractors after the fixed query panels. Panels are then built
//! from the sets (objects take their values by random surjections), and the solver, reading
//! only the panels, must find exactly the intended pattern or the row is drawn again.
//!
//! Everything a puzzle shares (relation, domains, progression direction, shift direction,
//! position of the correct option) is drawn once, before any row, and never redrawn: rejections
//! then cannot skew those distributions.

use super::solver::{cell_at, is_shift, relation_mask, shift_bits, solve, universe};
use super::{
    AnalogyConfig, AnalogyInstance, AnalogyParams, Domain, LINE_COLORS, Line, LineType, MAX_SHAPES,
    Panel, PanelKind, Pattern, ProgressionDirection, Relation, SHAPE_COLORS, SHAPE_SIZES, Shape,
    ShapeType, ShiftDirection,
};
use crate::{MAX_ATTEMPTS, Result, Split, TaskError, TaskKind, TaskRng};

/// Largest line-type set drawn freely (more lines than this clutter a 160-px panel).
const MAX_FREE_LINES: usize = 4;
/// Largest number of shapes drawn freely (relations may need more, up to 9).
const MAX_FREE_SHAPES: usize = 6;
/// Redraws of one attribute before a candidate row is given up.
const LOCAL_TRIES: usize = 32;
/// Completions tried per distractor pattern before the next pattern is tried.
const TRIES_PER_DISTRACTOR_PATTERN: usize = 3;

/// All eight one-cell shifts. The relation uses three of them (SPEC §5.2); rows are kept clear
/// of the other five too, so no row looks like motion that the relation does not name.
const ALL_SHIFTS: [(i32, i32); 8] = [
    (0, 1),
    (1, 0),
    (1, 1),
    (0, -1),
    (-1, 0),
    (-1, -1),
    (1, -1),
    (-1, 1),
];

/// Generate the Visual Analogy puzzle `(split, seed, index)`.
pub fn generate(
    config: &AnalogyConfig,
    split: Split,
    seed: u64,
    index: u64,
) -> Result<AnalogyInstance> {
    generate_with_stats(config, split, seed, index).map(|(instance, _)| instance)
}

/// How much drawing a puzzle took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Stats {
    /// Candidate rows rejected (recorded in the instance as `rejected_draws`).
    pub rejected: u32,
    /// Of those, rows whose sets looked right but whose panels the solver refused: always 0
    /// unless the set construction and the panel builder disagree with the solver.
    pub solver_rejected: u32,
}

pub(super) fn generate_with_stats(
    config: &AnalogyConfig,
    split: Split,
    seed: u64,
    index: u64,
) -> Result<(AnalogyInstance, Stats)> {
    config.validate()?;
    TaskKind::Va.check_split(split)?;
    let mut rng = TaskRng::for_instance(TaskKind::Va, split, seed, index);
    let plan = Plan::draw(config, split, &mut rng)?;
    let mut budget = Budget {
        split,
        seed,
        index,
        spent: 0,
        stats: Stats::default(),
    };
    let example_patterns = plan.example_domains.map(|d| Pattern::new(d, plan.relation));
    let query_pattern = Pattern::new(plan.query_domain, plan.relation);
    let first = accepted_row(&mut rng, &mut budget, example_patterns[0], plan.shared)?;
    let second = accepted_row(&mut rng, &mut budget, example_patterns[1], plan.shared)?;
    let query = accepted_query(
        &mut rng,
        &mut budget,
        query_pattern,
        plan.shared,
        plan.correct,
    )?;

    let domains = [
        plan.example_domains[0],
        plan.example_domains[1],
        plan.query_domain,
    ];
    let progression = plan.relation == Relation::Progression;
    let progression_direction = (progression && domains.iter().any(|&d| is_single_valued(d)))
        .then_some(plan.shared.direction);
    let shift_direction =
        (progression && domains.contains(&Domain::ShapePosition)).then_some(plan.shared.shift);
    let instance = AnalogyInstance {
        examples: [first, second],
        query: query.panels,
        options: query.options,
        relation: plan.relation,
        params: AnalogyParams {
            split,
            example_patterns,
            query_pattern,
            option_patterns: query.option_patterns,
            correct_option: plan.correct as u8 + 1,
            progression_direction,
            shift_direction,
            rejected_draws: budget.stats.rejected,
            config: config.clone(),
        },
    };
    Ok((instance, budget.stats))
}

/// Domains whose Progression is a monotonic run of single values.
fn is_single_valued(domain: Domain) -> bool {
    matches!(
        domain,
        Domain::LineColor | Domain::ShapeColor | Domain::ShapeSize | Domain::ShapeQuantity
    )
}

// ---------------------------------------------------------------------------------------------
// The plan of a puzzle

/// What every row of one puzzle shares.
#[derive(Debug, Clone, Copy)]
struct Shared {
    /// Direction of every value progression.
    direction: ProgressionDirection,
    /// Shift of every position progression.
    shift: ShiftDirection,
}

struct Plan {
    relation: Relation,
    example_domains: [Domain; 2],
    query_domain: Domain,
    shared: Shared,
    /// Index (0–3) of the correct option.
    correct: usize,
}

impl Plan {
    /// The split rules of SPEC §5.5. `simple` and `pattern_heldout` draw their one pattern
    /// uniformly from the patterns outside / inside S; `hard` draws r uniformly, then two
    /// distinct held-out domains of r for the examples and one of them for the query.
    fn draw(config: &AnalogyConfig, split: Split, rng: &mut TaskRng) -> Result<Plan> {
        let invalid = |reason: String| TaskError::InvalidConfig {
            task: TaskKind::Va,
            reason,
        };
        let (relation, example_domains, query_domain) = if split == Split::Hard {
            let relation = *rng.choose(Relation::ALL);
            let domains = config.held_out_domains(relation);
            let picked: Vec<Domain> = rng
                .sample_distinct(domains.len(), domains.len().min(2))
                .into_iter()
                .filter_map(|i| domains.get(i).copied())
                .collect();
            let [d1, d2] = picked[..] else {
                return Err(invalid(format!(
                    "the hard split needs 2 held-out domains for {relation}"
                )));
            };
            (relation, [d1, d2], if rng.coin() { d1 } else { d2 })
        } else {
            let pool = config.patterns(split == Split::PatternHeldout);
            if pool.is_empty() {
                return Err(invalid(format!("no pattern is left for the {split} split")));
            }
            let p = *rng.choose(&pool);
            (p.relation, [p.domain; 2], p.domain)
        };
        let direction = if rng.coin() {
            ProgressionDirection::Increasing
        } else {
            ProgressionDirection::Decreasing
        };
        let shift = *rng.choose(ShiftDirection::ALL);
        let correct = rng.below(4);
        Ok(Plan {
            relation,
            example_domains,
            query_domain,
            shared: Shared { direction, shift },
            correct,
        })
    }
}

/// Counts candidate rows, and stops generation after [`MAX_ATTEMPTS`].
struct Budget {
    split: Split,
    seed: u64,
    index: u64,
    spent: u32,
    stats: Stats,
}

impl Budget {
    fn failed(&self) -> TaskError {
        TaskError::GenerationFailed {
            task: TaskKind::Va,
            split: self.split,
            seed: self.seed,
            index: self.index,
            attempts: self.spent,
        }
    }

    fn spend(&mut self) -> Result<()> {
        if self.spent >= MAX_ATTEMPTS {
            return Err(self.failed());
        }
        self.spent += 1;
        Ok(())
    }

    fn reject(&mut self) {
        self.stats.rejected += 1;
    }

    fn solver_reject(&mut self) {
        self.stats.rejected += 1;
        self.stats.solver_rejected += 1;
    }
}

// ---------------------------------------------------------------------------------------------
// Rows, queries, distractors

/// An example row that the solver confirms follows exactly `pattern`.
fn accepted_row(
    rng: &mut TaskRng,
    budget: &mut Budget,
    pattern: Pattern,
    shared: Shared,
) -> Result<[Panel; 3]> {
    loop {
        budget.spend()?;
        let Some(pair) = draw_pair(rng, pattern, shared) else {
            budget.reject();
            continue;
        };
        let Some(third) = complete(rng, &pair, pattern) else {
            budget.reject();
            continue;
        };
        let row = [
            build_panel(rng, &pair[0]),
            build_panel(rng, &pair[1]),
            build_panel(rng, &third),
        ];
        if solve(row.each_ref()) == [pattern] {
            return Ok(row);
        }
        budget.solver_reject();
    }
}

struct Query {
    panels: [Panel; 2],
    options: [Panel; 4],
    option_patterns: [Pattern; 4],
}

/// The query panels and four options: the correct one at index `correct`, and three distinct
/// distractors, each following exactly one pattern whose relation differs from the query's.
fn accepted_query(
    rng: &mut TaskRng,
    budget: &mut Budget,
    pattern: Pattern,
    shared: Shared,
    correct: usize,
) -> Result<Query> {
    // Only patterns of the query's kind can hold after the query panels.
    let candidates: Vec<Pattern> = Pattern::ALL
        .iter()
        .copied()
        .filter(|p| p.domain.kind() == pattern.domain.kind() && p.relation != pattern.relation)
        .collect();
    'query: loop {
        budget.spend()?;
        let Some(pair) = draw_pair(rng, pattern, shared) else {
            budget.reject();
            continue;
        };
        let Some(third) = complete(rng, &pair, pattern) else {
            budget.reject();
            continue;
        };
        let panels = [build_panel(rng, &pair[0]), build_panel(rng, &pair[1])];
        let answer = build_panel(rng, &third);
        if solve([&panels[0], &panels[1], &answer]) != [pattern] {
            budget.solver_reject();
            continue;
        }
        let mut options = vec![(answer, pattern)];
        for _ in 0..3 {
            match distractor(rng, budget, &pair, &panels, &options, &candidates)? {
                Some(option) => options.push(option),
                // These query panels leave too few patterns open: draw another query.
                None => {
                    budget.reject();
                    continue 'query;
                }
            }
        }
        // The correct option drawn first moves to its planned place.
        let answer = options.remove(0);
        options.insert(correct.min(options.len()), answer);
        let (options, option_patterns): (Vec<Panel>, Vec<Pattern>) = options.into_iter().unzip();
        return match (options.try_into(), option_patterns.try_into()) {
            (Ok(options), Ok(option_patterns)) => Ok(Query {
                panels,
                options,
                option_patterns,
            }),
            _ => Err(budget.failed()),
        };
    }
}

/// One distractor after the query panels, with a pattern from `candidates` (tried in random
/// order; patterns the query panels cannot continue are skipped without drawing), distinct
/// from the options already `taken`. `None` when no candidate works.
fn distractor(
    rng: &mut TaskRng,
    budget: &mut Budget,
    pair: &[PanelSets; 2],
    query: &[Panel; 2],
    taken: &[(Panel, Pattern)],
    candidates: &[Pattern],
) -> Result<Option<(Panel, Pattern)>> {
    let mut order = candidates.to_vec();
    rng.shuffle(&mut order);
    for pattern in order {
        let d = pattern.domain;
        if complete_target(rng, pattern, [pair[0].get(d), pair[1].get(d)]).is_none() {
            continue;
        }
        for _ in 0..TRIES_PER_DISTRACTOR_PATTERN {
            budget.spend()?;
            let Some(sets) = complete(rng, pair, pattern) else {
                budget.reject();
                continue;
            };
            let panel = build_panel(rng, &sets);
            if solve([&query[0], &query[1], &panel]) != [pattern] {
                budget.solver_reject();
                continue;
            }
            if taken.iter().any(|(t, _)| *t == panel) {
                budget.reject();
                continue;
            }
            return Ok(Some((panel, pattern)));
        }
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------------
// Set triples

/// The value sets of one panel, as bits per domain (unused domains of the other kind stay 0;
/// a quantity n is the one-element set with bit n - 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PanelSets {
    kind: PanelKind,
    bits: [u16; 7],
}

impl PanelSets {
    fn new(kind: PanelKind) -> Self {
        Self { kind, bits: [0; 7] }
    }

    fn get(&self, domain: Domain) -> u16 {
        self.bits[domain.index()]
    }

    fn set(&mut self, domain: Domain, bits: u16) {
        self.bits[domain.index()] = bits;
    }
}

fn count(bits: u16) -> usize {
    bits.count_ones() as usize
}

/// Indices of the set bits, ascending.
fn members(bits: u16) -> Vec<usize> {
    (0..16).filter(|i| bits >> i & 1 == 1).collect()
}

/// The quantity set {n}; empty (so the row is rejected) when n is outside 1–9.
fn quantity_bits(n: usize) -> u16 {
    if (1..=MAX_SHAPES).contains(&n) {
        1 << (n - 1)
    } else {
        0
    }
}

/// `k` distinct values of `0..m`, as bits.
fn random_subset(rng: &mut TaskRng, m: usize, k: usize) -> u16 {
    rng.sample_distinct(m, k.min(m))
        .into_iter()
        .fold(0, |bits, i| bits | 1 << i)
}

/// A random set of `domain` with a size uniform in `lo..=hi` (clamped to 1..=domain size).
fn free_set(rng: &mut TaskRng, domain: Domain, lo: usize, hi: usize) -> u16 {
    let m = universe(domain);
    let hi = hi.clamp(1, m);
    let lo = lo.clamp(1, hi);
    let k = rng.range(lo, hi);
    random_subset(rng, m, k)
}

/// One member of `bits`, uniformly, as a one-bit set.
fn random_member(rng: &mut TaskRng, bits: u16) -> Option<u16> {
    let n = count(bits);
    if n == 0 {
        return None;
    }
    members(bits).get(rng.below(n)).map(|&i| 1 << i)
}

fn apply(relation: Relation, a: u16, b: u16) -> u16 {
    match relation {
        Relation::And => a & b,
        Relation::Or => a | b,
        Relation::Xor => a ^ b,
        Relation::Progression => 0,
    }
}

/// Largest operand of AND/OR/XOR per domain (keeps the result panel uncluttered).
fn operand_max(domain: Domain) -> usize {
    match domain {
        Domain::LineType => 4,
        Domain::ShapePosition => 5,
        _ => 3,
    }
}

/// True when three sets of `domain` satisfy exactly `want` (no relation for `None`) and do not
/// look like a progression the relation does not define: a chain losing one type per panel,
/// or cells shifting in a direction other than one of the three (or in two directions at
/// once, which would leave the puzzle's shared direction ambiguous).
fn triple_ok(domain: Domain, sets: [u16; 3], want: Option<Relation>) -> bool {
    let ok = sets_follow(domain, sets, want);
    #[cfg(test)]
    if !ok {
        tests::SET_REJECTIONS.with(|n| n.set(n.get() + 1));
    }
    ok
}

fn sets_follow(domain: Domain, sets: [u16; 3], want: Option<Relation>) -> bool {
    let expected = want.map_or(0, |r| 1u8 << r.index());
    if relation_mask(domain, sets) != expected {
        return false;
    }
    match domain {
        Domain::LineType | Domain::ShapeType => {
            let [a, b, c] = sets;
            let shrinking = c != 0
                && c & !b == 0
                && b & !a == 0
                && count(b) == count(c) + 1
                && count(a) == count(b) + 1;
            !shrinking
        }
        Domain::ShapePosition => {
            let shifts = ALL_SHIFTS.iter().filter(|&&d| is_shift(sets, d)).count();
            shifts == usize::from(want == Some(Relation::Progression))
        }
        _ => true,
    }
}

/// Panels 1 and 2's sets of the pattern's domain, ready to be completed by the relation.
fn target_pair(rng: &mut TaskRng, pattern: Pattern, shared: Shared) -> Option<[u16; 2]> {
    let Pattern { domain, relation } = pattern;
    let m = universe(domain);
    if relation != Relation::Progression {
        for _ in 0..LOCAL_TRIES {
            let a = free_set(rng, domain, 1, operand_max(domain));
            let b = free_set(rng, domain, 1, operand_max(domain));
            if triple_ok(domain, [a, b, apply(relation, a, b)], Some(relation)) {
                return Some([a, b]);
            }
        }
        return None;
    }
    match domain {
        Domain::LineType | Domain::ShapeType => {
            // Room for two more types after panel 1.
            let a = free_set(rng, domain, 1, 3.min(m - 2));
            let full = (1u16 << m) - 1;
            Some([a, a | random_member(rng, full & !a)?])
        }
        Domain::ShapePosition => {
            let a = free_set(rng, domain, 1, 5);
            Some([a, shift_bits(a, shared.shift.delta())])
        }
        _ => {
            // Three distinct values in the shared direction; panel 3 may take any value beyond
            // panel 2's.
            let mut picked = rng.sample_distinct(m, 3);
            picked.sort_unstable();
            let [low, mid, high] = picked[..] else {
                return None;
            };
            let first = match shared.direction {
                ProgressionDirection::Increasing => low,
                ProgressionDirection::Decreasing => high,
            };
            Some([1 << first, 1 << mid])
        }
    }
}

/// Panel 3's set of the pattern's domain after panels 1 and 2, if the pattern can hold there
/// (and then holds alone in that domain).
fn complete_target(rng: &mut TaskRng, pattern: Pattern, [a, b]: [u16; 2]) -> Option<u16> {
    let Pattern { domain, relation } = pattern;
    let m = universe(domain);
    let c = match (relation, domain) {
        (Relation::Progression, Domain::LineType | Domain::ShapeType) => {
            let full = (1u16 << m) - 1;
            b | random_member(rng, full & !b)?
        }
        (Relation::Progression, Domain::ShapePosition) => {
            let mut shifts = ShiftDirection::ALL
                .iter()
                .filter(|d| shift_bits(a, d.delta()) == b);
            let d = shifts.next()?;
            if shifts.next().is_some() {
                return None;
            }
            shift_bits(b, d.delta())
        }
        (Relation::Progression, _) => {
            if count(a) != 1 || count(b) != 1 || a == b {
                return None;
            }
            let (x, y) = (a.trailing_zeros() as usize, b.trailing_zeros() as usize);
            let beyond: Vec<usize> = if y > x {
                (y + 1..m).collect()
            } else {
                (0..y).collect()
            };
            if beyond.is_empty() {
                return None;
            }
            1 << beyond[rng.below(beyond.len())]
        }
        _ => apply(relation, a, b),
    };
    triple_ok(domain, [a, b, c], Some(relation)).then_some(c)
}

/// A free set of `domain` for panel 3 that forms no relation with panels 1 and 2.
fn free_after(
    rng: &mut TaskRng,
    domain: Domain,
    [a, b]: [u16; 2],
    lo: usize,
    hi: usize,
) -> Option<u16> {
    (0..LOCAL_TRIES)
        .map(|_| free_set(rng, domain, lo, hi))
        .find(|&c| triple_ok(domain, [a, b, c], None))
}

/// Panel sets around one given attribute, every other attribute free (within what the given
/// one allows: a line has one color, so a panel has no more colors than lines; a panel has no
/// more shape types, colors or sizes than shapes).
fn fill_panel(rng: &mut TaskRng, target: Domain, set: u16) -> PanelSets {
    let mut s = PanelSets::new(target.kind());
    s.set(target, set);
    match target.kind() {
        PanelKind::Lines => {
            let n = count(set);
            if target == Domain::LineType {
                s.set(Domain::LineColor, free_set(rng, Domain::LineColor, 1, n));
            } else {
                let types = free_set(rng, Domain::LineType, n, n.max(MAX_FREE_LINES));
                s.set(Domain::LineType, types);
            }
        }
        PanelKind::Shapes => {
            let n = match target {
                Domain::ShapePosition => count(set),
                Domain::ShapeQuantity => set.trailing_zeros() as usize + 1,
                _ => {
                    let need = count(set).max(1);
                    rng.range(need, need.max(MAX_FREE_SHAPES))
                }
            };
            s.set(Domain::ShapeQuantity, quantity_bits(n));
            if target != Domain::ShapePosition {
                s.set(
                    Domain::ShapePosition,
                    free_set(rng, Domain::ShapePosition, n, n),
                );
            }
            for d in [Domain::ShapeType, Domain::ShapeColor, Domain::ShapeSize] {
                if d != target {
                    s.set(d, free_set(rng, d, 1, n));
                }
            }
        }
    }
    s
}

/// Panels 1 and 2 of a row meant to follow `pattern`.
fn draw_pair(rng: &mut TaskRng, pattern: Pattern, shared: Shared) -> Option<[PanelSets; 2]> {
    let [a, b] = (0..LOCAL_TRIES)
        .filter_map(|_| target_pair(rng, pattern, shared))
        .find(|&[a, b]| {
            // Positions under AND/OR/XOR fix panel 3's number of shapes: skip pairs whose
            // three counts would then progress.
            pattern.domain != Domain::ShapePosition
                || pattern.relation == Relation::Progression
                || triple_ok(
                    Domain::ShapeQuantity,
                    [a, b, apply(pattern.relation, a, b)].map(|s| quantity_bits(count(s))),
                    None,
                )
        })?;
    Some([
        fill_panel(rng, pattern.domain, a),
        fill_panel(rng, pattern.domain, b),
    ])
}

/// Panel 3 after `pair` so that the row follows `pattern` and nothing else (as far as the sets
/// show; the solver then checks the built panels).
fn complete(rng: &mut TaskRng, pair: &[PanelSets; 2], pattern: Pattern) -> Option<PanelSets> {
    let target = pattern.domain;
    let kind = target.kind();
    if pair.iter().any(|p| p.kind != kind) {
        return None;
    }
    let prev = |d: Domain| [pair[0].get(d), pair[1].get(d)];
    let set = complete_target(rng, pattern, prev(target))?;
    let mut s = PanelSets::new(kind);
    s.set(target, set);
    match kind {
        PanelKind::Lines => {
            let n = count(set);
            if target == Domain::LineType {
                let colors = free_after(rng, Domain::LineColor, prev(Domain::LineColor), 1, n)?;
                s.set(Domain::LineColor, colors);
            } else {
                let hi = n.max(MAX_FREE_LINES);
                let types = free_after(rng, Domain::LineType, prev(Domain::LineType), n, hi)?;
                s.set(Domain::LineType, types);
            }
        }
        PanelKind::Shapes => {
            let quantities = prev(Domain::ShapeQuantity);
            let positions = prev(Domain::ShapePosition);
            let n = match target {
                Domain::ShapePosition => {
                    let n = count(set);
                    let q = quantity_bits(n);
                    if !triple_ok(
                        Domain::ShapeQuantity,
                        [quantities[0], quantities[1], q],
                        None,
                    ) {
                        return None;
                    }
                    s.set(Domain::ShapeQuantity, q);
                    n
                }
                Domain::ShapeQuantity => {
                    let n = set.trailing_zeros() as usize + 1;
                    let cells = free_after(rng, Domain::ShapePosition, positions, n, n)?;
                    s.set(Domain::ShapePosition, cells);
                    n
                }
                _ => {
                    let need = count(set).max(1);
                    let (n, q, cells) = (0..LOCAL_TRIES).find_map(|_| {
                        let n = rng.range(need, need.max(MAX_FREE_SHAPES));
                        let q = quantity_bits(n);
                        if !triple_ok(
                            Domain::ShapeQuantity,
                            [quantities[0], quantities[1], q],
                            None,
                        ) {
                            return None;
                        }
                        let cells = free_after(rng, Domain::ShapePosition, positions, n, n)?;
                        Some((n, q, cells))
                    })?;
                    s.set(Domain::ShapeQuantity, q);
                    s.set(Domain::ShapePosition, cells);
                    n
                }
            };
            for d in [Domain::ShapeType, Domain::ShapeColor, Domain::ShapeSize] {
                if d != target {
                    s.set(d, free_after(rng, d, prev(d), 1, n)?);
                }
            }
        }
    }
    Some(s)
}

// ---------------------------------------------------------------------------------------------
// Panels from sets

/// `n` values covering all of `values` (when `n` allows), in random order.
fn surjection(rng: &mut TaskRng, n: usize, values: &[usize]) -> Vec<usize> {
    if values.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<usize> = values.iter().copied().take(n).collect();
    while out.len() < n {
        out.push(*rng.choose(values));
    }
    rng.shuffle(&mut out);
    out
}

/// The panel of a set of sets: one line per line type (or one shape per cell), in canonical
/// order, each other attribute's values spread over the objects so that each value appears.
fn build_panel(rng: &mut TaskRng, s: &PanelSets) -> Panel {
    match s.kind {
        PanelKind::Lines => {
            let types = members(s.get(Domain::LineType));
            let colors = surjection(rng, types.len(), &members(s.get(Domain::LineColor)));
            Panel::Lines(
                types
                    .iter()
                    .zip(colors)
                    .filter_map(|(&t, c)| {
                        Some(Line {
                            line_type: *LineType::ALL.get(t)?,
                            color: *LINE_COLORS.get(c)?,
                        })
                    })
                    .collect(),
            )
        }
        PanelKind::Shapes => {
            let cells = members(s.get(Domain::ShapePosition));
            let n = cells.len();
            let types = surjection(rng, n, &members(s.get(Domain::ShapeType)));
            let colors = surjection(rng, n, &members(s.get(Domain::ShapeColor)));
            let sizes = surjection(rng, n, &members(s.get(Domain::ShapeSize)));
            Panel::Shapes(
                (0..n)
                    .filter_map(|i| {
                        Some(Shape {
                            shape_type: *ShapeType::ALL.get(*types.get(i)?)?,
                            color: *SHAPE_COLORS.get(*colors.get(i)?)?,
                            size: *SHAPE_SIZES.get(*sizes.get(i)?)?,
                            position: cell_at(*cells.get(i)?),
                        })
                    })
                    .collect(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::OnceLock;

    use super::super::{AnalogyAnswer, attribute_sets, shift_directions, verify, verify_option};
    use super::*;

    const SPLITS: [Split; 3] = [Split::Simple, Split::Hard, Split::PatternHeldout];
    const PER_SPLIT: u64 = 2000;

    thread_local! {
        /// Attribute-set candidates refused on this thread (instrumentation for the report).
        pub(super) static SET_REJECTIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    struct Batch {
        instances: Vec<AnalogyInstance>,
        stats: Vec<Stats>,
        /// Attribute sets drawn and refused per puzzle (inside rows, accepted or not).
        set_rejections: Vec<u64>,
    }

    /// 2,000 default puzzles of a split, generated once per test process.
    fn batch(split: Split) -> &'static Batch {
        static BATCHES: [OnceLock<Batch>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        let slot = SPLITS.iter().position(|&s| s == split).unwrap();
        BATCHES[slot].get_or_init(|| {
            let config = AnalogyConfig::default();
            let mut batch = Batch {
                instances: Vec::new(),
                stats: Vec::new(),
                set_rejections: Vec::new(),
            };
            for i in 0..PER_SPLIT {
                let before = SET_REJECTIONS.with(|n| n.get());
                let (instance, stats) = generate_with_stats(&config, split, 11, i).unwrap();
                batch.instances.push(instance);
                batch.stats.push(stats);
                batch
                    .set_rejections
                    .push(SET_REJECTIONS.with(|n| n.get()) - before);
            }
            batch
        })
    }

    fn all_instances() -> impl Iterator<Item = &'static AnalogyInstance> {
        SPLITS.iter().flat_map(|&s| &batch(s).instances)
    }

    /// Every row the puzzle means to follow its relation: the examples and the query with the
    /// correct option.
    fn consistent_rows(inst: &AnalogyInstance) -> Vec<(Pattern, [&Panel; 3])> {
        let correct = usize::from(inst.params.correct_option) - 1;
        vec![
            (
                inst.params.example_patterns[0],
                inst.example_triple(0).unwrap(),
            ),
            (
                inst.params.example_patterns[1],
                inst.example_triple(1).unwrap(),
            ),
            (
                inst.params.query_pattern,
                inst.option_triple(correct).unwrap(),
            ),
        ]
    }

    #[test]
    fn every_row_follows_exactly_its_pattern() {
        for &split in &SPLITS {
            let b = batch(split);
            for (inst, stats) in b.instances.iter().zip(&b.stats) {
                let p = &inst.params;
                assert_eq!(p.split, split);
                assert_eq!(
                    stats.solver_rejected, 0,
                    "sets and solver disagree: {inst:?}"
                );
                assert_eq!(p.rejected_draws, stats.rejected);
                for e in 0..2 {
                    assert_eq!(
                        solve(inst.example_triple(e).unwrap()),
                        [p.example_patterns[e]]
                    );
                    assert_eq!(p.example_patterns[e].relation, inst.relation);
                }
                assert_eq!(p.query_pattern.relation, inst.relation);
                assert!((1..=4).contains(&p.correct_option));
                for o in 0..4 {
                    let found = solve(inst.option_triple(o).unwrap());
                    assert_eq!(found, [p.option_patterns[o]], "option {o} of {inst:?}");
                    let is_correct = o + 1 == usize::from(p.correct_option);
                    assert_eq!(p.option_patterns[o].relation == inst.relation, is_correct);
                    if is_correct {
                        assert_eq!(p.option_patterns[o], p.query_pattern);
                    }
                    for other in 0..o {
                        assert_ne!(inst.options[o], inst.options[other], "{inst:?}");
                    }
                }
                let kind = inst.query_kind();
                for panel in inst.query.iter().chain(&inst.options) {
                    assert_eq!(panel.kind(), kind);
                }
                let panels = inst
                    .examples
                    .iter()
                    .flatten()
                    .chain(&inst.query)
                    .chain(&inst.options);
                for panel in panels {
                    assert_eq!(panel.defect(), None, "{panel:?}");
                }
            }
        }
    }

    #[test]
    fn splits_follow_the_held_out_set() {
        let config = AnalogyConfig::default();
        for &split in &SPLITS {
            let mut used = BTreeMap::new();
            let mut relations = BTreeMap::new();
            let mut query_is_first = 0;
            for inst in &batch(split).instances {
                let p = &inst.params;
                let [e1, e2] = p.example_patterns;
                let q = p.query_pattern;
                for pattern in [e1, e2, q] {
                    assert_eq!(
                        config.is_held_out(pattern),
                        split != Split::Simple,
                        "{inst:?}"
                    );
                    *used.entry(pattern).or_insert(0) += 1;
                }
                *relations.entry(inst.relation).or_insert(0) += 1;
                if split == Split::Hard {
                    assert_ne!(e1.domain, e2.domain);
                    assert!(q == e1 || q == e2);
                    query_is_first += usize::from(q == e1);
                } else {
                    assert!(e1 == e2 && e2 == q);
                }
            }
            let expected_patterns = config.patterns(split != Split::Simple);
            assert_eq!(used.keys().copied().collect::<Vec<_>>(), expected_patterns);
            if split == Split::Hard {
                // r uniform, query on either example's domain.
                for r in Relation::ALL {
                    let share = relations[r] as f64 / PER_SPLIT as f64;
                    assert!((0.2..0.3).contains(&share), "{r}: {relations:?}");
                }
                let share = query_is_first as f64 / PER_SPLIT as f64;
                assert!((0.45..0.55).contains(&share), "{share}");
            }
        }
    }

    /// Progression rows' directions read from the panels; checks they match the puzzle's
    /// shared ones. Returns (value directions, shifts) seen, one per puzzle.
    fn directions_of(
        instances: &[AnalogyInstance],
    ) -> (
        BTreeMap<ProgressionDirection, usize>,
        BTreeMap<ShiftDirection, usize>,
    ) {
        let mut directions = BTreeMap::new();
        let mut shifts = BTreeMap::new();
        for inst in instances {
            let p = &inst.params;
            let mut single_valued = false;
            let mut positions = false;
            for (pattern, row) in consistent_rows(inst) {
                if pattern.relation != Relation::Progression {
                    continue;
                }
                let sets = attribute_sets(row, pattern.domain).unwrap();
                if pattern.domain == Domain::ShapePosition {
                    positions = true;
                    let shift = p.shift_direction.expect("a shift is recorded");
                    assert_eq!(shift_directions(sets), [shift], "{inst:?}");
                } else if is_single_valued(pattern.domain) {
                    single_valued = true;
                    let values = sets.map(|s| s.single().unwrap());
                    let seen = if values[0] < values[1] {
                        ProgressionDirection::Increasing
                    } else {
                        ProgressionDirection::Decreasing
                    };
                    assert_eq!(Some(seen), p.progression_direction, "{inst:?}");
                }
            }
            assert_eq!(single_valued, p.progression_direction.is_some());
            assert_eq!(positions, p.shift_direction.is_some());
            if let Some(d) = p.progression_direction {
                *directions.entry(d).or_insert(0) += 1;
            }
            if let Some(s) = p.shift_direction {
                *shifts.entry(s).or_insert(0) += 1;
            }
        }
        (directions, shifts)
    }

    fn assert_shares(
        counts: &BTreeMap<impl std::fmt::Debug + Ord, usize>,
        of: usize,
        band: (f64, f64),
    ) {
        assert_eq!(counts.len(), of, "{counts:?}");
        let total: usize = counts.values().sum();
        for c in counts.values() {
            let share = *c as f64 / total as f64;
            assert!(share > band.0 && share < band.1, "{counts:?}");
        }
    }

    #[test]
    fn progression_directions_are_shared_and_balanced() {
        let mut directions = BTreeMap::new();
        for &split in &SPLITS {
            let (d, _) = directions_of(&batch(split).instances);
            for (k, v) in d {
                *directions.entry(k).or_insert(0) += v;
            }
        }
        assert!(directions.values().sum::<usize>() > 1000, "{directions:?}");
        assert_shares(&directions, 2, (0.44, 0.56));

        // Positions and quantities held out for Progression: every hard Progression puzzle then
        // has a shift row and a quantity row.
        let mut config = AnalogyConfig::default();
        for p in config.held_out.iter_mut() {
            if p.relation == Relation::Progression {
                p.domain = if p.domain == Domain::ShapeColor {
                    Domain::ShapePosition
                } else {
                    Domain::ShapeQuantity
                };
            }
        }
        let instances: Vec<AnalogyInstance> = (0..1600)
            .map(|i| generate(&config, Split::Hard, 5, i).unwrap())
            .filter(|inst| inst.relation == Relation::Progression)
            .collect();
        let (directions, shifts) = directions_of(&instances);
        assert!(shifts.values().sum::<usize>() > 300, "{shifts:?}");
        assert_shares(&shifts, 3, (0.26, 0.41));
        assert_shares(&directions, 2, (0.42, 0.58));
    }

    #[test]
    fn correct_option_positions_are_uniform() {
        let mut counts = BTreeMap::new();
        for inst in all_instances() {
            *counts.entry(inst.params.correct_option).or_insert(0) += 1;
        }
        assert_shares(&counts, 4, (0.22, 0.28));
    }

    #[test]
    fn rejected_draws_stay_few() {
        for &split in &SPLITS {
            let b = batch(split);
            let total: u64 = b.stats.iter().map(|s| u64::from(s.rejected)).sum();
            let worst = b.stats.iter().map(|s| s.rejected).max().unwrap_or(0);
            let mean = total as f64 / b.stats.len() as f64;
            let sets = b.set_rejections.iter().sum::<u64>() as f64 / b.stats.len() as f64;
            let start = std::time::Instant::now();
            for i in 0..200 {
                generate(&AnalogyConfig::default(), split, 99, i).unwrap();
            }
            let micros = start.elapsed().as_secs_f64() * 1e6 / 200.0;
            println!(
                "{split}: {mean:.2} rejected rows per accepted puzzle (max {worst}), \
                 {sets:.1} refused attribute sets, {micros:.0} µs per puzzle"
            );
            assert!(mean < 10.0, "{split}: mean {mean}");
        }
    }

    #[test]
    fn generation_is_a_pure_function_of_its_coordinates() {
        let config = AnalogyConfig::default();
        let a = generate(&config, Split::Hard, 11, 17).unwrap();
        assert_eq!(a, batch(Split::Hard).instances[17]);
        assert_eq!(a, generate(&config, Split::Hard, 11, 17).unwrap());
        assert_ne!(a, generate(&config, Split::Hard, 11, 18).unwrap());
        assert_ne!(a, generate(&config, Split::Hard, 12, 17).unwrap());
        // The order S is written in does not matter.
        let mut reversed = config.clone();
        reversed.held_out.reverse();
        for split in SPLITS {
            let mut b = generate(&reversed, split, 11, 3).unwrap();
            b.params.config = config.clone();
            assert_eq!(b, batch(split).instances[3]);
        }
    }

    #[test]
    fn instances_and_answers_round_trip_through_json() {
        for &split in &SPLITS {
            for inst in batch(split).instances.iter().take(50) {
                let json = serde_json::to_value(inst).unwrap();
                let back: AnalogyInstance = serde_json::from_value(json.clone()).unwrap();
                assert_eq!(&back, inst);
                assert_eq!(json["examples"].as_array().unwrap().len(), 2);
                assert_eq!(json["examples"][1].as_array().unwrap().len(), 3);
                assert_eq!(json["query"].as_array().unwrap().len(), 2);
                assert_eq!(json["options"].as_array().unwrap().len(), 4);
                assert_eq!(json["relation"], inst.relation.name());
                for panel in json["examples"][0].as_array().unwrap() {
                    let object = &panel["objects"][0];
                    match panel["kind"].as_str().unwrap() {
                        "lines" => assert!(object["type"].is_string() && object["color"].is_u64()),
                        "shapes" => {
                            assert!(object["size"].is_u64());
                            let position = object["position"].as_array().unwrap();
                            assert_eq!(position.len(), 2);
                        }
                        other => panic!("panel kind {other}"),
                    }
                }
                let answer = inst.gold_answer();
                let json = serde_json::to_value(&answer).unwrap();
                assert_eq!(
                    serde_json::from_value::<AnalogyAnswer>(json).unwrap(),
                    answer
                );
            }
        }
        let answer = AnalogyAnswer {
            example_patterns: [
                Pattern::new(Domain::ShapeSize, Relation::Xor),
                Pattern::new(Domain::ShapePosition, Relation::Xor),
            ],
            options: [Pattern::new(Domain::ShapeType, Relation::Or); 4].map(|pattern| {
                super::super::OptionAnswer {
                    pattern,
                    consistent: false,
                }
            }),
            option: 2,
        };
        let text = serde_json::to_string(&answer).unwrap();
        assert!(
            text.starts_with(
                r#"{"example_patterns":[["shape_size","XOR"],["shape_position","XOR"]],"options":[{"pattern":["shape_type","OR"],"consistent":false},"#
            ),
            "{text}"
        );
        assert!(text.ends_with(r#""option":2}"#), "{text}");
        let line = r#"{"kind":"lines","objects":[{"type":"v_left","color":135}]}"#;
        let panel: Panel = serde_json::from_str(line).unwrap();
        assert_eq!(serde_json::to_string(&panel).unwrap(), line);
    }

    #[test]
    fn gold_answers_verify_and_corrupted_ones_do_not() {
        for inst in batch(Split::Hard).instances.iter().take(200) {
            let gold = inst.gold_answer();
            let v = verify(inst, &gold);
            assert!(v.correct);
            for m in [
                "option_correct",
                "example_patterns_correct",
                "option_patterns_correct",
                "consistency_correct",
            ] {
                assert_eq!(v.metric(m), Some(1.0), "{m}");
            }
            assert_eq!(gold.options.iter().filter(|o| o.consistent).count(), 1);
            assert!(gold.options[usize::from(gold.option) - 1].consistent);

            let mut wrong_option = gold.clone();
            wrong_option.option = gold.option % 4 + 1;
            let v = verify(inst, &wrong_option);
            assert!(!v.correct);
            assert_eq!(v.metric("option_correct"), Some(0.0));
            assert_eq!(v.metric("option_patterns_correct"), Some(1.0));
            assert!(!verify_option(inst, wrong_option.option) && verify_option(inst, gold.option));

            let mut wrong_example = gold.clone();
            wrong_example.example_patterns[1].relation = match gold.example_patterns[1].relation {
                Relation::And => Relation::Or,
                _ => Relation::And,
            };
            let v = verify(inst, &wrong_example);
            assert!(
                !v.correct,
                "only the option index right is not an exact match"
            );
            assert_eq!(v.metric("option_correct"), Some(1.0));
            assert_eq!(v.metric("example_patterns_correct"), Some(0.5));

            let mut wrong_flag = gold.clone();
            wrong_flag.options[2].consistent = !wrong_flag.options[2].consistent;
            let v = verify(inst, &wrong_flag);
            assert!(!v.correct);
            assert_eq!(v.metric("consistency_correct"), Some(0.75));
            assert_eq!(v.metric("option_patterns_correct"), Some(1.0));

            let mut wrong_patterns = gold.clone();
            for o in &mut wrong_patterns.options[..2] {
                o.pattern.domain = if o.pattern.domain == Domain::LineType {
                    Domain::ShapeType
                } else {
                    Domain::LineType
                };
            }
            let v = verify(inst, &wrong_patterns);
            assert!(!v.correct);
            assert_eq!(v.metric("option_patterns_correct"), Some(0.5));
            assert_eq!(v.metric("consistency_correct"), Some(1.0));

            let mut out_of_range = gold.clone();
            out_of_range.option = 0;
            assert_eq!(
                verify(inst, &out_of_range).metric("option_correct"),
                Some(0.0)
            );
        }
    }

    #[test]
    fn configs_are_validated_with_clear_errors() {
        let config = AnalogyConfig::default();
        assert!(config.validate().is_ok());
        let err = |c: &AnalogyConfig| c.validate().unwrap_err().to_string();

        let mut not_a_pattern = config.clone();
        not_a_pattern
            .held_out
            .push(Pattern::new(Domain::ShapeQuantity, Relation::And));
        let e = err(&not_a_pattern);
        assert!(
            e.contains("(shape_quantity, AND)") && e.contains("Progression"),
            "{e}"
        );

        let mut twice = config.clone();
        twice.held_out.push(config.held_out[0]);
        assert!(err(&twice).contains("twice"));

        let mut one_short = config.clone();
        one_short.held_out.retain(|p| p.domain != Domain::LineColor);
        let e = err(&one_short);
        assert!(
            e.contains("OR") && e.contains("shape_position") && e.contains("hard"),
            "{e}"
        );
        assert!(generate(&one_short, Split::Simple, 0, 0).is_err());

        let everything = AnalogyConfig {
            held_out: Pattern::ALL.to_vec(),
        };
        assert!(err(&everything).contains("simple"));

        let e = generate(&config, Split::Medium, 0, 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("pattern_heldout"), "{e}");

        // More than two held-out domains per relation: hard picks two of them.
        let mut wide = config.clone();
        wide.held_out
            .push(Pattern::new(Domain::ShapeColor, Relation::And));
        for i in 0..200 {
            let inst = generate(&wide, Split::Hard, 1, i).unwrap();
            let [e1, e2] = inst.params.example_patterns;
            assert!(wide.is_held_out(e1) && wide.is_held_out(e2) && e1 != e2);
        }

        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(json["held_out"][0], serde_json::json!(["line_type", "XOR"]));
        let back: AnalogyConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(back, config);
    }
}

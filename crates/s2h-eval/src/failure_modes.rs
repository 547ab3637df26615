//! The failure-mode measurements of paper appendix K, from scored outputs (SPEC §13):
//!
//! - K.1, CTR and TR: where the chain of thought first goes wrong, and the pooled precision and
//!   recall of the cells it lists ([`TableFailureModes`], paper Fig 30);
//! - K.2, Grid: whether the chain of thought names S and D right, and how the move list fails —
//!   reaching D at all, objects collected, obstacles entered ([`GridFailureModes`], Fig 31);
//! - K.3, VA: the error rate of each step of the chain of thought ([`table14`], Table 14).
//!
//! Scoring one output ([`crate::score_parsed`]) reads what its chain of thought states into a
//! per-example score ([`GridCotScore`], [`VaCotScore`]; the table tasks' is
//! [`crate::TableCotScore`]) kept in its [`ExampleResult`], so these functions need only the
//! results — `metrics.per_example.jsonl` read back is enough for the figures. Every parser here is
//! lenient and total: a line it cannot read is a wrong step, never a panic.

use std::collections::{BTreeMap, BTreeSet};

use s2h_tasks::analogy::{
    AnalogyInstance, Domain, Panel, Pattern, Relation, relations_holding, solve,
};
use s2h_tasks::grid::{GridAnswer, GridInstance};
use s2h_tasks::{Cell, TaskKind};
use serde::{Deserialize, Serialize};

use crate::ExampleResult;
use crate::metrics::names;

// ---------------------------------------------------------------------------------------------
// K.1: Table Readout

/// "56% of wrong outputs err before the 12th number" (paper K.1): the 1-based step index below
/// which a first error counts as early.
pub const EARLY_ERROR_BEFORE: usize = 12;

/// The K.1 measurements of a set of CTR/TR results (those with a table CoT score; others are
/// skipped). Counts, so sets can be pooled by adding them up; the rates are methods.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TableFailureModes {
    /// Results with a table chain-of-thought score.
    pub examples: usize,
    /// How many wrong chains of thought first go wrong at each 1-based step index.
    pub first_wrong_index_histogram: BTreeMap<usize, usize>,
    /// Σ distinct cells the steps name, per output.
    pub cells_listed: usize,
    /// Σ of those that lie on the gold path ("correctly listed").
    pub cells_listed_on_path: usize,
    /// Σ distinct cells of the gold paths ("highlighted").
    pub cells_on_path: usize,
}

impl TableFailureModes {
    /// Chains of thought whose values are wrong.
    pub fn wrong(&self) -> usize {
        self.first_wrong_index_histogram.values().sum()
    }

    /// Mean 1-based index of the first wrong value over the wrong chains of thought (paper
    /// K.1: 14.7); `None` when none is wrong.
    pub fn first_wrong_index_mean(&self) -> Option<f64> {
        let total: usize = self
            .first_wrong_index_histogram
            .iter()
            .map(|(k, n)| k * n)
            .sum();
        ratio(total as f64, self.wrong())
    }

    /// Wrong chains of thought whose first error comes before step [`EARLY_ERROR_BEFORE`].
    pub fn first_wrong_before_12(&self) -> usize {
        self.first_wrong_index_histogram
            .range(..EARLY_ERROR_BEFORE)
            .map(|(_, n)| n)
            .sum()
    }

    /// Share of the wrong chains of thought that err before the 12th number (paper: 56%);
    /// `None` when none is wrong.
    pub fn first_wrong_before_12_share(&self) -> Option<f64> {
        ratio(self.first_wrong_before_12() as f64, self.wrong())
    }

    /// The same count as a share of all outputs (paper: 26%); `None` without outputs.
    pub fn first_wrong_before_12_share_of_all(&self) -> Option<f64> {
        ratio(self.first_wrong_before_12() as f64, self.examples)
    }

    /// Pooled precision: Σ correctly listed / Σ listed; 0 when no output lists a cell (nothing
    /// listed is no evidence of reading the right cells).
    pub fn cell_precision(&self) -> f64 {
        ratio(self.cells_listed_on_path as f64, self.cells_listed).unwrap_or(0.0)
    }

    /// Pooled recall: Σ correctly listed / Σ highlighted; 0 without outputs.
    pub fn cell_recall(&self) -> f64 {
        ratio(self.cells_listed_on_path as f64, self.cells_on_path).unwrap_or(0.0)
    }
}

/// The K.1 measurements of the table results among `results` (any order, any tasks).
pub fn table_failure_modes<'a>(
    results: impl IntoIterator<Item = &'a ExampleResult>,
) -> TableFailureModes {
    let mut out = TableFailureModes::default();
    for cot in results.into_iter().filter_map(|r| r.table_cot.as_ref()) {
        out.examples += 1;
        if let Some(k) = cot.first_wrong_index {
            *out.first_wrong_index_histogram.entry(k).or_insert(0) += 1;
        }
        out.cells_listed += cot.cells_listed;
        out.cells_listed_on_path += cot.cells_listed_on_path;
        out.cells_on_path += cot.cells_on_path;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// K.2: Grid Navigation

/// What a grid output states beyond its move list, compared with the instance (paper K.2 (a)),
/// and whether its moves are the gold ones (for the authors' obstacle average).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridCotScore {
    /// The cell the output first gives for S, if it gives one.
    pub source: Option<Cell>,
    /// The cell the output first gives for D, if it gives one.
    pub destination: Option<Cell>,
    /// Both are the instance's S and D.
    pub source_destination_correct: bool,
    /// The parsed move list is exactly the gold one (false when nothing parsed).
    pub answer_is_gold: bool,
}

/// Read where the output says S and D are, and compare its answer with the gold moves.
///
/// S and D are read from their first statement: s2h's chain of thought opens with
/// `S is at (r, c), D is at (r, c).`; the authors' with `Source:( b, c) Destination:( e, f)`,
/// rows and columns as letters from `a` = 1, which is read too (digits or letters in either).
pub fn score_grid_cot(
    instance: &GridInstance,
    output: &str,
    answer: Option<&GridAnswer>,
) -> GridCotScore {
    let source = stated_cell(output, &["S is at", "Source:"]);
    let destination = stated_cell(output, &["D is at", "Destination:"]);
    GridCotScore {
        source,
        destination,
        source_destination_correct: source == Some(instance.start)
            && destination == Some(instance.destination),
        answer_is_gold: answer.is_some_and(|a| a.moves == instance.gold_answer().moves),
    }
}

/// The cell after the earliest of `markers` (a marker must not continue a word: `DS is at` is
/// not `S is at`), written `(r, c)`; `None` when no marker is followed by a readable cell.
fn stated_cell(output: &str, markers: &[&str]) -> Option<Cell> {
    let mut found: Option<(usize, &str)> = None;
    for marker in markers {
        let hit = output.match_indices(marker).find(|&(at, _)| {
            output[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric())
        });
        if let Some((at, _)) = hit
            && found.is_none_or(|(best, _)| at < best)
        {
            found = Some((at, &output[at + marker.len()..]));
        }
    }
    let rest = found?.1.trim_start();
    let inner = rest.strip_prefix('(')?;
    let (inner, _) = inner.split_once(')')?;
    let (row, col) = inner.split_once(',')?;
    Some(Cell::new(coordinate(row)?, coordinate(col)?))
}

/// A row or column: a number from 1, or a single letter with `a` = 1 (the authors' wording).
fn coordinate(text: &str) -> Option<u32> {
    let text = text.trim();
    if let Ok(n) = text.parse::<u32>() {
        return Some(n);
    }
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_alphabetic() => {
            Some(u32::from(c.to_ascii_lowercase()) - u32::from('a') + 1)
        }
        _ => None,
    }
}

/// The K.2 measurements of the grid results among `results` (paper Fig 31). Each is `None`
/// where it has no denominator.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GridFailureModes {
    /// Grid results.
    pub examples: usize,
    /// Of those, outputs whose move list parsed.
    pub parsed: usize,
    /// (a) Share of outputs whose chain of thought names S and D at the right cells.
    pub source_destination_correct: Option<f64>,
    /// (b) Share of outputs whose moves end on D, obstacles and objects ignored (an unparsed
    /// output counts 0).
    pub reaches_destination_ignoring_obstacles: Option<f64>,
    /// (c) Mean fraction of the objects collected (an unparsed output counts 0).
    pub objects_collected: Option<f64>,
    /// (d) Mean number of obstacle cells entered, over parsed outputs (s2h's average).
    pub obstacles_entered: Option<f64>,
    /// (d) The same count over parsed outputs whose moves are not the gold list (the average
    /// of the authors' released scorer, `avg_num_obstacles`).
    pub obstacles_entered_non_gold: Option<f64>,
}

/// The K.2 measurements of the grid results among `results` (any order, any tasks).
pub fn grid_failure_modes<'a>(
    results: impl IntoIterator<Item = &'a ExampleResult>,
) -> GridFailureModes {
    let grid: Vec<&ExampleResult> = results
        .into_iter()
        .filter(|r| r.task == TaskKind::Grid)
        .collect();
    let verdict = |r: &ExampleResult, name: &str| {
        r.verdict
            .as_ref()
            .and_then(|v| v.metric(name))
            .unwrap_or(0.0)
    };
    let mean = |of: &[&ExampleResult], f: &dyn Fn(&ExampleResult) -> f64| {
        ratio(of.iter().map(|r| f(r)).sum(), of.len())
    };
    let parsed: Vec<&ExampleResult> = grid.iter().copied().filter(|r| r.parsed()).collect();
    let non_gold: Vec<&ExampleResult> = parsed
        .iter()
        .copied()
        .filter(|r| !r.grid_cot.is_some_and(|c| c.answer_is_gold))
        .collect();
    let with_cot: Vec<&ExampleResult> = grid
        .iter()
        .copied()
        .filter(|r| r.grid_cot.is_some())
        .collect();
    let obstacles = |r: &ExampleResult| verdict(r, names::OBSTACLES_ENTERED);
    GridFailureModes {
        examples: grid.len(),
        parsed: parsed.len(),
        source_destination_correct: mean(&with_cot, &|r| {
            flag(r.grid_cot.is_some_and(|c| c.source_destination_correct))
        }),
        reaches_destination_ignoring_obstacles: mean(&grid, &|r| {
            verdict(r, "reaches_destination_ignoring_obstacles")
        }),
        objects_collected: mean(&grid, &|r| verdict(r, "objects_collected")),
        obstacles_entered: mean(&parsed, &obstacles),
        obstacles_entered_non_gold: mean(&non_gold, &obstacles),
    }
}

// ---------------------------------------------------------------------------------------------
// K.3: Visual Analogy

/// Errors of one kind of chain-of-thought step in one output (or pooled over outputs): `wrong`
/// of `of` opportunities.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepCount {
    pub wrong: u32,
    pub of: u32,
}

impl StepCount {
    fn add(&mut self, right: bool) {
        self.of += 1;
        self.wrong += u32::from(!right);
    }
}

/// Attribute-value steps by the value kinds of paper Table 14: a kind covers the attribute of
/// lines and of shapes alike (type: `line_type` and `shape_type`; color: `line_color` and
/// `shape_color`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueCounts {
    pub type_values: StepCount,
    pub color_values: StepCount,
    pub size_values: StepCount,
    pub quantity_values: StepCount,
    pub position_values: StepCount,
}

impl ValueCounts {
    fn kind(&mut self, domain: Domain) -> &mut StepCount {
        match domain {
            Domain::LineType | Domain::ShapeType => &mut self.type_values,
            Domain::LineColor | Domain::ShapeColor => &mut self.color_values,
            Domain::ShapeSize => &mut self.size_values,
            Domain::ShapeQuantity => &mut self.quantity_values,
            Domain::ShapePosition => &mut self.position_values,
        }
    }
}

/// The steps of one VA chain of thought compared with what the gold chain of thought
/// ([`s2h_cot::analogy::chain_of_thought`]) states for the instance (paper K.3, Table 14). A
/// step the output does not state, or states in a form that does not read, is wrong.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaCotScore {
    /// One step per attribute line of each example (`shape_color: {0} | {90} | {0, 90} -> …`):
    /// right when it gives the three panels' value sets right.
    pub example_values: ValueCounts,
    /// One step per example: `Example k follows (d, r).` names the example's pattern.
    pub example_patterns: StepCount,
    /// One step per output whose examples follow patterns of different domains (the hard
    /// split): right when the two stated patterns have different domains, right or not.
    pub distinct_domains: StepCount,
    /// One step per output: `… so r = X.` names the shared relation.
    pub relation: StepCount,
    /// One step per attribute line of the query: the two panels' value sets.
    pub query_values: ValueCounts,
    /// One step per option: the domain of the pattern in `Option k gives (d, r): …`.
    pub option_domains: StepCount,
    /// One step per attribute line of each option: the option panel's value set.
    pub option_values: StepCount,
    /// One step per option: the relation of the pattern in `Option k gives (d, r): …`.
    pub option_relations: StepCount,
    /// One step per output: `Only option N is consistent.` names the solution.
    pub solution: StepCount,
    /// Every step above right, and so are the relations listed after each example and option
    /// attribute line and each option's consistent/inconsistent verdict.
    pub cot_correct: bool,
}

/// One attribute line as read: its value sets and the relations after `->`; `None` for a part
/// that is missing or does not read.
#[derive(Debug, Clone, Default)]
struct AttributeLine {
    sets: Option<Vec<BTreeSet<String>>>,
    relations: Option<BTreeSet<Relation>>,
}

/// The section of the chain of thought the attribute lines belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Section {
    Example(usize),
    Query,
    Option(usize),
}

/// What a VA chain of thought states. For every step the first statement counts: the one the
/// rest of the reasoning builds on. `Some(None)` is a statement that does not read.
#[derive(Debug, Default)]
struct VaStatements {
    lines: BTreeMap<(Section, Domain), AttributeLine>,
    example_patterns: [Option<Option<Vec<Pattern>>>; 2],
    relation: Option<Option<Relation>>,
    option_patterns: [Option<Option<Vec<Pattern>>>; 4],
    option_consistent: [Option<Option<bool>>; 4],
    solution: Option<Option<Vec<usize>>>,
}

/// Read the chain of thought of a VA output, line by line, case-insensitively. Lines of other
/// shapes (the answer block, a converted text rendering, prose) are skipped.
fn read_va_cot(output: &str) -> VaStatements {
    let mut st = VaStatements::default();
    let mut section = None;
    for raw in output.lines() {
        let line = raw.trim().to_ascii_lowercase();
        let line = line.as_str();
        if line.is_empty() {
            continue;
        }
        // Headers end with their colon: `Example 1 (shapes):`, `Query (lines):`,
        // `Option 2 as query panel 3:`. Answer-block and rendering lines carry text after it.
        if let Some(head) = line.strip_suffix(':') {
            if let Some((n, _)) = numbered(head, "example") {
                section = n.checked_sub(1).filter(|&e| e < 2).map(Section::Example);
                continue;
            }
            if head.starts_with("query") {
                section = Some(Section::Query);
                continue;
            }
            if let Some((n, _)) = numbered(head, "option") {
                section = n.checked_sub(1).filter(|&o| o < 4).map(Section::Option);
                continue;
            }
        }
        if let Some((n, rest)) = numbered(line, "example")
            && let Some(patterns) = rest.trim_start().strip_prefix("follows ")
        {
            if let Some(slot) = n
                .checked_sub(1)
                .and_then(|e| st.example_patterns.get_mut(e))
            {
                slot.get_or_insert_with(|| read_patterns(patterns));
            }
            continue;
        }
        if let Some((n, rest)) = numbered(line, "option")
            && let Some(statement) = rest.trim_start().strip_prefix("gives ")
        {
            if let Some(i) = n.checked_sub(1).filter(|&o| o < 4) {
                let (patterns, verdict) = match statement.rsplit_once(':') {
                    Some((p, v)) => (read_patterns(p), read_consistency(v)),
                    None => (None, None),
                };
                st.option_patterns[i].get_or_insert(patterns);
                st.option_consistent[i].get_or_insert(verdict);
            }
            continue;
        }
        if let Some(at) = line.find("r = ")
            && (at == 0 || line[..at].ends_with(' '))
        {
            let name = line[at + 4..].trim().trim_end_matches('.').trim();
            st.relation.get_or_insert(name.parse::<Relation>().ok());
            continue;
        }
        if line.starts_with("only option")
            || line.starts_with("no option")
            || line.starts_with("options ")
        {
            st.solution.get_or_insert(read_solution(line));
            continue;
        }
        if let (Some(section), Some((domain, body))) = (section, attribute_line(line)) {
            st.lines
                .entry((section, domain))
                .or_insert_with(|| read_attribute_line(body));
        }
    }
    st
}

/// `word N…` → (N, the rest after the number).
fn numbered<'a>(line: &'a str, word: &str) -> Option<(usize, &'a str)> {
    let rest = line.strip_prefix(word)?.trim_start();
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let n = rest.get(..digits)?.parse().ok()?;
    Some((n, &rest[digits..]))
}

/// `shape_color: …` → the domain and the text after the colon. `shape color` (the authors'
/// spelling) is a domain too.
fn attribute_line(line: &str) -> Option<(Domain, &str)> {
    let (name, body) = line.split_once(':')?;
    let name = name.split_whitespace().collect::<Vec<_>>().join("_");
    Some((name.parse().ok()?, body))
}

/// `{a, b} | {c} | {d} -> XOR, OR`: the sets, and the relations when there is an arrow.
fn read_attribute_line(body: &str) -> AttributeLine {
    let (sets, relations) = match body.split_once("->") {
        Some((s, r)) => (s, Some(r)),
        None => (body, None),
    };
    AttributeLine {
        sets: sets.split('|').map(read_set).collect(),
        relations: relations.and_then(read_relations),
    }
}

/// `{circle, square}` or `{(1, 1), (2, 3)}` → its values, normalised (no spaces, lower case) so
/// order and spacing do not matter; `{?}` reads as the value `?` the gold chain of thought writes
/// for a panel without the attribute.
fn read_set(text: &str) -> Option<BTreeSet<String>> {
    let inner = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut values = BTreeSet::new();
    let mut depth = 0i32;
    let mut current = String::new();
    for c in inner.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                values.insert(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        if !c.is_whitespace() {
            current.push(c.to_ascii_lowercase());
        }
    }
    values.insert(current);
    values.remove("");
    Some(values)
}

/// `XOR, OR` → the relations; `none` → none.
fn read_relations(text: &str) -> Option<BTreeSet<Relation>> {
    let text = text.trim().trim_end_matches('.').trim();
    if text == "none" {
        return Some(BTreeSet::new());
    }
    text.split(',').map(|r| r.trim().parse().ok()).collect()
}

/// `(shape_size, XOR), (shape_type, OR)` or `no pattern` → the patterns, in order.
fn read_patterns(text: &str) -> Option<Vec<Pattern>> {
    let text = text.trim().trim_end_matches('.').trim();
    if text == "no pattern" {
        return Some(Vec::new());
    }
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('(') {
        let close = open + rest[open..].find(')')?;
        let (domain, relation) = rest[open + 1..close].split_once(',')?;
        let domain = domain.split_whitespace().collect::<Vec<_>>().join("_");
        out.push(Pattern::new(
            domain.parse().ok()?,
            relation.trim().parse().ok()?,
        ));
        rest = &rest[close + 1..];
    }
    (!out.is_empty()).then_some(out)
}

/// The verdict after `Option k gives …:` ends with `consistent` or `inconsistent`.
fn read_consistency(text: &str) -> Option<bool> {
    let last = text
        .trim()
        .trim_end_matches('.')
        .split_whitespace()
        .last()?;
    match last {
        "consistent" => Some(true),
        "inconsistent" => Some(false),
        _ => None,
    }
}

/// `only option 2 is consistent.` → [2]; `no option is consistent.` → []; `options 1, 3 are
/// consistent.` → [1, 3].
fn read_solution(line: &str) -> Option<Vec<usize>> {
    if line.starts_with("no option") {
        return Some(Vec::new());
    }
    let rest = line
        .strip_prefix("only option")
        .or_else(|| line.strip_prefix("options"))?;
    let list = rest.split(" is ").next()?.split(" are ").next()?;
    list.split([',', ' '])
        .filter(|w| !w.is_empty() && *w != "and")
        .map(|w| w.parse().ok())
        .collect()
}

/// One panel's value set of `domain` as the gold chain of thought writes it (`{?}` when the
/// panel has none), read back as [`read_set`] reads it.
fn gold_set(panel: &Panel, domain: Domain) -> Option<BTreeSet<String>> {
    let text = match panel.value_set(domain) {
        Some(set) => format!("{{{set}}}"),
        None => "{?}".to_string(),
    };
    read_set(&text)
}

/// Compare the chain of thought in `output` with the gold one of `instance`, step by step. The
/// gold steps are computed the way [`s2h_cot::analogy::chain_of_thought`] computes them (from
/// the panels, with the solver), so the gold chain of thought makes no error.
pub fn score_va_cot(instance: &AnalogyInstance, output: &str) -> VaCotScore {
    let st = read_va_cot(output);
    let mut score = VaCotScore::default();
    let mut all_right = true;

    // Attribute lines: the value sets (the step) and the relations listed (whole CoT only).
    let mut line = |section: Section,
                    domain: Domain,
                    panels: &[&Panel],
                    relations: Option<Vec<Relation>>|
     -> bool {
        let got = st.lines.get(&(section, domain));
        let want: Option<Vec<BTreeSet<String>>> =
            panels.iter().map(|p| gold_set(p, domain)).collect();
        let sets_right = got.is_some_and(|g| g.sets.is_some() && g.sets == want);
        let relations_right = match relations {
            Some(want) => got.is_some_and(|g| {
                g.relations.as_ref() == Some(&want.into_iter().collect::<BTreeSet<_>>())
            }),
            None => true,
        };
        all_right &= sets_right && relations_right;
        sets_right
    };

    let mut example_solutions = Vec::with_capacity(2);
    for (e, row) in instance.examples.iter().enumerate() {
        let triple = row.each_ref();
        for &domain in Domain::of_kind(row[0].kind()) {
            let right = line(
                Section::Example(e),
                domain,
                &triple,
                Some(relations_holding(triple, domain)),
            );
            score.example_values.kind(domain).add(right);
        }
        example_solutions.push(solve(triple));
    }
    let query_kind = instance.query[0].kind();
    for &domain in Domain::of_kind(query_kind) {
        let panels: Vec<&Panel> = instance.query.iter().collect();
        let right = line(Section::Query, domain, &panels, None);
        score.query_values.kind(domain).add(right);
    }
    let [q1, q2] = &instance.query;
    let mut option_solutions = Vec::with_capacity(4);
    for (o, panel) in instance.options.iter().enumerate() {
        let triple = [q1, q2, panel];
        for &domain in Domain::of_kind(query_kind) {
            let right = line(
                Section::Option(o),
                domain,
                &[panel],
                Some(relations_holding(triple, domain)),
            );
            score.option_values.add(right);
        }
        option_solutions.push(solve(triple));
    }

    // The examples' patterns, and whether their domains differ.
    let stated_examples: Vec<Option<&Vec<Pattern>>> = st
        .example_patterns
        .iter()
        .map(|s| s.as_ref().and_then(Option::as_ref))
        .collect();
    for (want, got) in example_solutions.iter().zip(&stated_examples) {
        let right = *got == Some(want);
        score.example_patterns.add(right);
        all_right &= right;
    }
    if let [[a], [b]] = [&example_solutions[0][..], &example_solutions[1][..]]
        && a.domain != b.domain
    {
        let distinct = match [stated_examples[0], stated_examples[1]] {
            [Some(a), Some(b)] => matches!((&a[..], &b[..]), ([a], [b]) if a.domain != b.domain),
            _ => false,
        };
        score.distinct_domains.add(distinct);
    }

    // The shared relation, as the gold chain of thought decides it.
    let relation = match [&example_solutions[0][..], &example_solutions[1][..]] {
        [[a], [b]] if a.relation == b.relation => a.relation,
        _ => instance.relation,
    };
    let right = st.relation == Some(Some(relation));
    score.relation.add(right);
    all_right &= right;

    // Each option's pattern (its domain and its relation), verdict, and the solution.
    let mut consistent = Vec::new();
    for (o, want) in option_solutions.iter().enumerate() {
        let got = st.option_patterns[o].as_ref().and_then(Option::as_ref);
        let domains = |p: &[Pattern]| p.iter().map(|p| p.domain).collect::<Vec<_>>();
        let relations = |p: &[Pattern]| p.iter().map(|p| p.relation).collect::<Vec<_>>();
        let domain_right = got.is_some_and(|g| domains(g) == domains(want));
        let relation_right = got.is_some_and(|g| relations(g) == relations(want));
        score.option_domains.add(domain_right);
        score.option_relations.add(relation_right);
        let is_consistent = matches!(&want[..], [p] if p.relation == relation);
        if is_consistent {
            consistent.push(o + 1);
        }
        all_right &=
            domain_right && relation_right && st.option_consistent[o] == Some(Some(is_consistent));
    }
    let right = st.solution == Some(Some(consistent));
    score.solution.add(right);
    all_right &= right;

    score.cot_correct = all_right;
    score
}

/// One row of paper Table 14: the error rate of one kind of chain-of-thought step, pooled over
/// outputs (Σ wrong / Σ opportunities).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table14Row {
    /// `examples`, `query`, `options` or `overall`.
    pub part: &'static str,
    /// The step as the paper's table names it.
    pub step: &'static str,
    /// Its key in `metrics.json`; `None` for exact match, which is there as
    /// [`names::EXACT_MATCH`] (its complement).
    pub metric: Option<&'static str>,
    pub wrong: u64,
    pub of: u64,
}

impl Table14Row {
    /// `wrong / of`; `None` when the step never came up (e.g. d1≠d2 outside the hard split,
    /// size values on puzzles of lines only).
    pub fn rate(&self) -> Option<f64> {
        ratio(self.wrong as f64, self.of as usize)
    }
}

type StepOf = fn(&VaCotScore) -> StepCount;

/// The rows of Table 14 that come from the chain of thought, in the paper's order.
const VA_STEPS: &[(&str, &str, &str, StepOf)] = &[
    (
        "examples",
        "type values",
        names::COT_EXAMPLES_TYPE_VALUES_ERROR_RATE,
        |s| s.example_values.type_values,
    ),
    (
        "examples",
        "color values",
        names::COT_EXAMPLES_COLOR_VALUES_ERROR_RATE,
        |s| s.example_values.color_values,
    ),
    (
        "examples",
        "size values",
        names::COT_EXAMPLES_SIZE_VALUES_ERROR_RATE,
        |s| s.example_values.size_values,
    ),
    (
        "examples",
        "quantity values",
        names::COT_EXAMPLES_QUANTITY_VALUES_ERROR_RATE,
        |s| s.example_values.quantity_values,
    ),
    (
        "examples",
        "position values",
        names::COT_EXAMPLES_POSITION_VALUES_ERROR_RATE,
        |s| s.example_values.position_values,
    ),
    (
        "examples",
        "held-out (d_i, r_i)",
        names::COT_EXAMPLES_PATTERN_ERROR_RATE,
        |s| s.example_patterns,
    ),
    (
        "examples",
        "d1≠d2",
        names::COT_EXAMPLES_DISTINCT_DOMAINS_ERROR_RATE,
        |s| s.distinct_domains,
    ),
    (
        "examples",
        "relation",
        names::COT_EXAMPLES_RELATION_ERROR_RATE,
        |s| s.relation,
    ),
    (
        "query",
        "type values",
        names::COT_QUERY_TYPE_VALUES_ERROR_RATE,
        |s| s.query_values.type_values,
    ),
    (
        "query",
        "color values",
        names::COT_QUERY_COLOR_VALUES_ERROR_RATE,
        |s| s.query_values.color_values,
    ),
    (
        "query",
        "size values",
        names::COT_QUERY_SIZE_VALUES_ERROR_RATE,
        |s| s.query_values.size_values,
    ),
    (
        "query",
        "quantity values",
        names::COT_QUERY_QUANTITY_VALUES_ERROR_RATE,
        |s| s.query_values.quantity_values,
    ),
    (
        "query",
        "position values",
        names::COT_QUERY_POSITION_VALUES_ERROR_RATE,
        |s| s.query_values.position_values,
    ),
    (
        "options",
        "attribute domain",
        names::COT_OPTIONS_DOMAIN_ERROR_RATE,
        |s| s.option_domains,
    ),
    (
        "options",
        "attribute values",
        names::COT_OPTIONS_VALUES_ERROR_RATE,
        |s| s.option_values,
    ),
    (
        "options",
        "relation",
        names::COT_OPTIONS_RELATION_ERROR_RATE,
        |s| s.option_relations,
    ),
    (
        "options",
        "identify solution",
        names::COT_OPTIONS_SOLUTION_ERROR_RATE,
        |s| s.solution,
    ),
    ("overall", "whole CoT", names::COT_ERROR_RATE, |s| {
        StepCount {
            wrong: u32::from(!s.cot_correct),
            of: 1,
        }
    }),
];

/// The metric names of the chain-of-thought rows of Table 14, in the paper's order.
pub fn va_step_metrics() -> impl Iterator<Item = &'static str> {
    VA_STEPS.iter().map(|&(_, _, metric, _)| metric)
}

/// Paper Table 14 for the VA results among `results` (any order, any tasks): each
/// chain-of-thought step's errors pooled over the outputs with a VA CoT score, then exact match
/// (wrong = outputs not fully correct, parse failures included, of all VA outputs).
pub fn table14<'a>(results: impl IntoIterator<Item = &'a ExampleResult>) -> Vec<Table14Row> {
    let va: Vec<&ExampleResult> = results
        .into_iter()
        .filter(|r| r.task == TaskKind::Va)
        .collect();
    let mut rows: Vec<Table14Row> = VA_STEPS
        .iter()
        .map(|&(part, step, metric, of)| {
            let mut row = Table14Row {
                part,
                step,
                metric: Some(metric),
                wrong: 0,
                of: 0,
            };
            for s in va.iter().filter_map(|r| r.va_cot.as_ref()) {
                let c = of(s);
                row.wrong += u64::from(c.wrong);
                row.of += u64::from(c.of);
            }
            row
        })
        .collect();
    rows.push(Table14Row {
        part: "overall",
        step: "exact match",
        metric: None,
        wrong: va.iter().filter(|r| !r.correct()).count() as u64,
        of: va.len() as u64,
    });
    rows
}

fn ratio(total: f64, of: usize) -> Option<f64> {
    (of > 0).then(|| total / of as f64)
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s2h_tasks::analogy::{AnalogyConfig, generate};
    use s2h_tasks::grid::{GridObject, GridObstacle, ObstacleKind};
    use s2h_tasks::table::TableInstance;
    use s2h_tasks::{Answer, Instance, Move, Split, TaskConfig};

    use crate::score_output;

    fn puzzle(split: Split, index: u64) -> AnalogyInstance {
        generate(&AnalogyConfig::default(), split, 3, index).expect("puzzle")
    }

    fn va_output(instance: &AnalogyInstance) -> String {
        format!(
            "{}\n{}",
            s2h_cot::analogy::chain_of_thought(instance),
            s2h_cot::analogy::answer_text(&instance.gold_answer())
        )
    }

    /// Every count of a score's steps, in [`VA_STEPS`] order: (wrong, of).
    fn counts(score: &VaCotScore) -> Vec<(u32, u32)> {
        VA_STEPS
            .iter()
            .map(|&(_, _, _, of)| {
                let c = of(score);
                (c.wrong, c.of)
            })
            .collect()
    }

    /// The gold score's counts with the steps named by `metric` made wrong `wrong` times.
    fn gold_with(gold: &VaCotScore, wrong: &[(&str, u32)]) -> Vec<(u32, u32)> {
        VA_STEPS
            .iter()
            .zip(counts(gold))
            .map(|(&(_, _, metric, _), (w, of))| {
                let extra = wrong
                    .iter()
                    .find(|(m, _)| *m == metric)
                    .map_or(0, |&(_, n)| n);
                (w + extra, of)
            })
            .collect()
    }

    /// Replace, inside the section that starts with the line `section`, the first line that
    /// starts with `prefix` by `f(line)`.
    fn edit_line(output: &str, section: &str, prefix: &str, f: &dyn Fn(&str) -> String) -> String {
        let mut inside = false;
        let mut done = false;
        let lines: Vec<String> = output
            .lines()
            .map(|l| {
                if l == section {
                    inside = true;
                } else if inside && !done && l.starts_with(prefix) {
                    done = true;
                    return f(l);
                }
                l.to_string()
            })
            .collect();
        assert!(done, "no `{prefix}` line after `{section}` in\n{output}");
        lines.join("\n")
    }

    /// The header of example `e` (1-based) of a puzzle.
    fn example_header(instance: &AnalogyInstance, e: usize) -> String {
        format!("Example {e} ({}):", instance.examples[e - 1][0].kind())
    }

    #[test]
    fn gold_va_chains_of_thought_make_no_step_error() {
        for split in [Split::Simple, Split::Hard, Split::PatternHeldout] {
            for i in 0..25 {
                let inst = puzzle(split, i);
                let score = score_va_cot(&inst, &va_output(&inst));
                assert!(score.cot_correct, "{split} {i}: {score:?}");
                for (k, (wrong, of)) in counts(&score).into_iter().enumerate() {
                    assert_eq!(wrong, 0, "{split} {i}: {}", VA_STEPS[k].2);
                    let _ = of;
                }
                assert_eq!(score.example_patterns.of, 2);
                assert_eq!(score.relation.of, 1);
                assert_eq!((score.option_domains.of, score.option_relations.of), (4, 4));
                assert_eq!(score.solution.of, 1);
                let d1_differs = split == Split::Hard;
                assert_eq!(score.distinct_domains.of, u32::from(d1_differs), "{split}");
                let attributes = |kind| Domain::of_kind(kind).len() as u32;
                assert_eq!(score.option_values.of, 4 * attributes(inst.query[0].kind()));
                let e = score.example_values;
                let all = [
                    e.type_values,
                    e.color_values,
                    e.size_values,
                    e.quantity_values,
                    e.position_values,
                ];
                assert_eq!(
                    all.iter().map(|c| c.of).sum::<u32>(),
                    attributes(inst.examples[0][0].kind()) + attributes(inst.examples[1][0].kind())
                );
            }
        }
    }

    /// A puzzle whose first example is of shapes, so it has size, quantity and position lines.
    fn shapes_puzzle(split: Split) -> AnalogyInstance {
        (0..200)
            .map(|i| puzzle(split, i))
            .find(|p| {
                p.examples[0][0].kind() == s2h_tasks::analogy::PanelKind::Shapes
                    && p.query[0].kind() == s2h_tasks::analogy::PanelKind::Shapes
            })
            .expect("a shapes puzzle")
    }

    #[test]
    fn a_wrong_color_value_costs_one_example_color_step() {
        let inst = shapes_puzzle(Split::Simple);
        let gold = score_va_cot(&inst, &va_output(&inst));
        // The first panel's colors of example 1 read as 7, a gray no shape has.
        let bad = edit_line(
            &va_output(&inst),
            &example_header(&inst, 1),
            "shape_color:",
            &|l| {
                let (head, rest) = l.split_once('}').expect("a set");
                let (name, _) = head.split_once('{').expect("a set");
                format!("{name}{{7}}{rest}")
            },
        );
        let score = score_va_cot(&inst, &bad);
        assert!(!score.cot_correct);
        assert_eq!(
            score.example_values.color_values,
            StepCount { wrong: 1, of: 2 }
        );
        assert_eq!(
            counts(&score),
            gold_with(
                &gold,
                &[
                    (names::COT_EXAMPLES_COLOR_VALUES_ERROR_RATE, 1),
                    (names::COT_ERROR_RATE, 1),
                ]
            )
        );
    }

    #[test]
    fn reordered_and_respaced_sets_are_the_same_sets() {
        let inst = (0..200)
            .map(|i| puzzle(Split::Simple, i))
            .find(|p| {
                p.examples[0].iter().any(|panel| {
                    panel
                        .value_set(Domain::ShapePosition)
                        .is_some_and(|s| s.len() > 1)
                })
            })
            .expect("an example panel with two shapes");
        let output = va_output(&inst);
        // Example 1's positions, each set's cells in reverse order, spaces moved about.
        let turned = edit_line(
            &output,
            &example_header(&inst, 1),
            "shape_position:",
            &|l| {
                let (_, relations) = l.split_once(" -> ").expect("arrow");
                let sets: Vec<String> = inst.examples[0]
                    .iter()
                    .map(|p| {
                        let mut cells: Vec<String> = p
                            .value_set(Domain::ShapePosition)
                            .map(|s| {
                                s.values()
                                    .iter()
                                    .map(|v| v.to_string().replace(' ', ""))
                                    .collect()
                            })
                            .unwrap_or_default();
                        cells.reverse();
                        format!("{{ {} }}", cells.join(" ,"))
                    })
                    .collect();
                format!("shape_position:{}->{relations}", sets.join("|"))
            },
        );
        assert_ne!(turned, output);
        assert!(score_va_cot(&inst, &turned).cot_correct, "{turned}");
        // The same line with one cell dropped from a two-cell set is wrong.
        let dropped = edit_line(
            &output,
            &example_header(&inst, 1),
            "shape_position:",
            &|l| {
                let (name, rest) = l.split_once(": ").expect("line");
                let sets: Vec<String> = rest
                    .split(" -> ")
                    .next()
                    .expect("sets")
                    .split(" | ")
                    .map(|set| match set.split_once("), (") {
                        Some((first, _)) => format!("{first})}}"),
                        None => set.to_string(),
                    })
                    .collect();
                let (_, relations) = rest.split_once(" -> ").expect("arrow");
                format!("{name}: {} -> {relations}", sets.join(" | "))
            },
        );
        let score = score_va_cot(&inst, &dropped);
        assert_eq!(
            score.example_values.position_values,
            StepCount { wrong: 1, of: 2 }
        );
    }

    #[test]
    fn wrong_query_option_and_solution_steps_each_cost_their_own_rate() {
        let inst = shapes_puzzle(Split::Simple);
        let gold = score_va_cot(&inst, &va_output(&inst));
        let output = va_output(&inst);
        // A wrong position set in the query.
        let bad = edit_line(&output, "Query (shapes):", "shape_position:", &|_| {
            "shape_position: {(9, 9)} | {(1, 1)}".to_string()
        });
        // Option 1 gives a pattern of another domain and another relation.
        let first = solve([&inst.query[0], &inst.query[1], &inst.options[0]]);
        let [p] = first[..] else {
            panic!("one pattern per option");
        };
        let other_domain = Domain::of_kind(inst.query[0].kind())
            .iter()
            .copied()
            .find(|&d| d != p.domain)
            .expect("another domain");
        let other_relation = Relation::ALL
            .iter()
            .copied()
            .find(|&r| r != p.relation)
            .expect("another relation");
        let bad = edit_line(&bad, "Option 1 as query panel 3:", "Option 1 gives", &|l| {
            let (_, verdict) = l.rsplit_once(':').expect("verdict");
            format!("Option 1 gives ({other_domain}, {other_relation}):{verdict}")
        });
        // The solution names another option.
        let wrong_option = inst.params.correct_option % 4 + 1;
        let last = format!("Only option {} is consistent.", inst.params.correct_option);
        assert!(bad.contains(&last));
        let bad = bad.replace(&last, &format!("Only option {wrong_option} is consistent."));
        let score = score_va_cot(&inst, &bad);
        assert_eq!(
            counts(&score),
            gold_with(
                &gold,
                &[
                    (names::COT_QUERY_POSITION_VALUES_ERROR_RATE, 1),
                    (names::COT_OPTIONS_DOMAIN_ERROR_RATE, 1),
                    (names::COT_OPTIONS_RELATION_ERROR_RATE, 1),
                    (names::COT_OPTIONS_SOLUTION_ERROR_RATE, 1),
                    (names::COT_ERROR_RATE, 1),
                ]
            )
        );
    }

    #[test]
    fn a_hard_puzzle_read_with_one_domain_fails_the_distinct_domains_step() {
        let inst = puzzle(Split::Hard, 4);
        let gold = score_va_cot(&inst, &va_output(&inst));
        let [d1, d2] = inst.params.example_patterns.map(|p| p.domain);
        assert_ne!(d1, d2);
        // Example 2 is said to follow example 1's domain: its pattern and d1≠d2 are wrong.
        let bad = edit_line(
            &va_output(&inst),
            &example_header(&inst, 2),
            "Example 2 follows",
            &|_| format!("Example 2 follows ({d1}, {}).", inst.relation),
        );
        let score = score_va_cot(&inst, &bad);
        assert_eq!(score.distinct_domains, StepCount { wrong: 1, of: 1 });
        assert_eq!(
            counts(&score),
            gold_with(
                &gold,
                &[
                    (names::COT_EXAMPLES_PATTERN_ERROR_RATE, 1),
                    (names::COT_EXAMPLES_DISTINCT_DOMAINS_ERROR_RATE, 1),
                    (names::COT_ERROR_RATE, 1),
                ]
            )
        );
        // A wrong shared relation is its own step.
        let other = Relation::ALL
            .iter()
            .copied()
            .find(|&r| r != inst.relation)
            .expect("another relation");
        let said = format!("so r = {}.", inst.relation);
        let bad = va_output(&inst).replace(&said, &format!("so r = {other}."));
        let score = score_va_cot(&inst, &bad);
        assert_eq!(
            counts(&score),
            gold_with(
                &gold,
                &[
                    (names::COT_EXAMPLES_RELATION_ERROR_RATE, 1),
                    (names::COT_ERROR_RATE, 1),
                ]
            )
        );
    }

    #[test]
    fn an_output_without_a_chain_of_thought_is_wrong_on_every_step() {
        let inst = puzzle(Split::Hard, 1);
        let gold = score_va_cot(&inst, &va_output(&inst));
        for output in [
            s2h_cot::analogy::answer_text(&inst.gold_answer()),
            String::new(),
            "Example 1 (shapes):\nshape_type: {circle | ???\nExample 1 follows (shape_weight, XOR).\n\
             r = NAND\nOnly option five is consistent."
                .to_string(),
        ] {
            let score = score_va_cot(&inst, &output);
            assert!(!score.cot_correct);
            for ((wrong, of), (_, gold_of)) in counts(&score).into_iter().zip(counts(&gold)) {
                assert_eq!((wrong, of), (gold_of, gold_of), "{output}");
            }
        }
    }

    #[test]
    fn table14_pools_steps_over_outputs_and_adds_exact_match() {
        let inst = shapes_puzzle(Split::Simple);
        let instance = Instance::Analogy(Box::new(inst.clone()));
        let gold = va_output(&inst);
        let wrong_color = edit_line(&gold, &example_header(&inst, 1), "shape_color:", &|l| {
            let (name, rest) = l.split_once(": ").expect("line");
            let (_, rest) = rest.split_once('}').expect("set");
            format!("{name}: {{7}}{rest}")
        });
        let answer_only = s2h_cot::analogy::answer_text(&inst.gold_answer());
        let results: Vec<ExampleResult> = [&gold, &wrong_color, &answer_only, &String::new()]
            .iter()
            .enumerate()
            .map(|(i, o)| score_output(&format!("v{i}"), Split::Simple, &instance, o))
            .collect::<crate::Result<_>>()
            .expect("scored");
        let rows = table14(&results);
        let row = |step: &str, part: &str| {
            rows.iter()
                .find(|r| r.step == step && r.part == part)
                .cloned()
                .expect("row")
        };
        // Colors: 2 example lines per output (both examples are of shapes in a simple puzzle),
        // 1 wrong in `wrong_color`, 2 in each output without a CoT: 5 of 8.
        let colors = row("color values", "examples");
        assert_eq!((colors.wrong, colors.of), (5, 8));
        assert_eq!(colors.rate(), Some(5.0 / 8.0));
        let query = row("position values", "query");
        assert_eq!((query.wrong, query.of), (2, 4));
        let whole = row("whole CoT", "overall");
        assert_eq!((whole.wrong, whole.of), (3, 4));
        // Exact match reads the answer block: only the empty output is wrong.
        let exact = row("exact match", "overall");
        assert_eq!((exact.wrong, exact.of), (1, 4));
        assert_eq!(exact.metric, None);
        // d1≠d2 never comes up on the simple split.
        assert_eq!(row("d1≠d2", "examples").rate(), None);
        assert_eq!(rows.len(), VA_STEPS.len() + 1);
    }

    // --- K.2 ---

    /// 3×4: S at (1, 1), D at (3, 4); objects a (1, 4), b (3, 1), c (2, 3); obstacles at
    /// (1, 2) and (1, 3).
    fn grid() -> GridInstance {
        let object = |name: &str, row, col| GridObject {
            name: name.to_string(),
            cell: Cell::new(row, col),
        };
        let obstacle = |row, col| GridObstacle {
            kind: ObstacleKind::Dot,
            cell: Cell::new(row, col),
        };
        GridInstance::from_layout(
            3,
            4,
            Cell::new(1, 1),
            Cell::new(3, 4),
            vec![
                object("star", 1, 4),
                object("heart", 3, 1),
                object("moon", 2, 3),
            ],
            vec![obstacle(1, 2), obstacle(1, 3)],
        )
    }

    fn moves(text: &str) -> GridAnswer {
        GridAnswer {
            moves: text
                .split_whitespace()
                .map(|w| w.parse::<Move>().expect("move"))
                .collect(),
        }
    }

    #[test]
    fn source_and_destination_are_read_from_either_wording() {
        let g = grid();
        let gold = s2h_cot::grid::chain_of_thought(&g);
        let score = score_grid_cot(&g, &gold, None);
        assert_eq!(
            (score.source, score.destination),
            (Some(g.start), Some(g.destination))
        );
        assert!(score.source_destination_correct && !score.answer_is_gold);
        for (text, source, destination) in [
            (
                "S is at (1, 1), D is at (3, 4).",
                Some((1, 1)),
                Some((3, 4)),
            ),
            (
                "S is at (1, 1), D is at (4, 3).",
                Some((1, 1)),
                Some((4, 3)),
            ),
            // The authors' wording: letters from a = 1.
            (
                "Source:( a, a) Destination:( c, d)",
                Some((1, 1)),
                Some((3, 4)),
            ),
            // `DS is at` is not a statement of S; the first statement counts.
            (
                "DS is at (2, 2). S is at (1, 1) or S is at (2, 1)",
                Some((1, 1)),
                None,
            ),
            ("S is at (one, 1), D is at (3, 4", None, None),
            ("", None, None),
        ] {
            let s = score_grid_cot(&g, text, None);
            let cell = |c: Option<(u32, u32)>| c.map(|(r, c)| Cell::new(r, c));
            assert_eq!(
                (s.source, s.destination),
                (cell(source), cell(destination)),
                "{text}"
            );
            assert_eq!(
                s.source_destination_correct,
                source == Some((1, 1)) && destination == Some((3, 4)),
                "{text}"
            );
        }
        assert!(score_grid_cot(&g, "", Some(&g.gold_answer())).answer_is_gold);
        assert!(!score_grid_cot(&g, "", Some(&moves("down"))).answer_is_gold);
    }

    #[test]
    fn grid_failure_modes_count_obstacles_objects_and_the_two_averages() {
        let g = grid();
        let instance = Instance::Grid(g.clone());
        let gold = format!(
            "{}\n{}",
            s2h_cot::grid::chain_of_thought(&g),
            s2h_cot::grid::answer_text(&g.gold_answer())
        );
        // Through both obstacles to the star, then down to D: 2 obstacles, 1 of 3 objects.
        let through = "S is at (1, 1), D is at (3, 4).\nAnswer: right right right down down";
        // Wrong D stated; a path that never reaches D and enters no obstacle, no object.
        let astray = "S is at (1, 1), D is at (3, 3).\nAnswer: down";
        let unparsed = "S is at (1, 1), D is at (3, 4).\nI am not sure.";
        let results: Vec<ExampleResult> = [gold.as_str(), through, astray, unparsed]
            .iter()
            .enumerate()
            .map(|(i, o)| score_output(&format!("g{i}"), Split::Simple, &instance, o))
            .collect::<crate::Result<_>>()
            .expect("scored");
        let through_verdict = results[1].verdict.as_ref().expect("parsed");
        assert_eq!(through_verdict.metric(names::OBSTACLES_ENTERED), Some(2.0));
        assert_eq!(through_verdict.metric("objects_collected"), Some(1.0 / 3.0));
        let k2 = grid_failure_modes(&results);
        assert_eq!((k2.examples, k2.parsed), (4, 3));
        // (a) all but `astray`.
        assert_eq!(k2.source_destination_correct, Some(3.0 / 4.0));
        // (b) gold and `through` end on D.
        assert_eq!(k2.reaches_destination_ignoring_obstacles, Some(2.0 / 4.0));
        // (c) 1 + 1/3 + 0 + 0 over 4.
        assert_eq!(k2.objects_collected, Some((1.0 + 1.0 / 3.0) / 4.0));
        // (d) 2 obstacles over the 3 parsed outputs, or over the 2 that are not gold.
        assert_eq!(k2.obstacles_entered, Some(2.0 / 3.0));
        assert_eq!(k2.obstacles_entered_non_gold, Some(2.0 / 2.0));
        // Only the gold output: nothing to average the authors' way.
        let only_gold = grid_failure_modes(&results[..1]);
        assert_eq!(only_gold.obstacles_entered_non_gold, None);
        assert_eq!(only_gold.obstacles_entered, Some(0.0));
    }

    // --- K.1 ---

    fn tr_hard() -> TableInstance {
        match TaskConfig::default().generate(TaskKind::Tr, Split::Hard, 0, 0) {
            Ok(Instance::Table(t)) => t,
            other => panic!("not a table: {other:?}"),
        }
    }

    /// The gold CoT of `t` with the values of steps `from..` (1-based) off by one.
    fn cot_wrong_from(t: &TableInstance, from: usize) -> String {
        s2h_cot::table::chain_of_thought(t)
            .lines()
            .map(|l| {
                let step: Option<usize> = l
                    .strip_prefix("Step ")
                    .and_then(|r| r.split(':').next())
                    .and_then(|n| n.parse().ok());
                match step {
                    Some(k) if k >= from => {
                        let (head, value) = l.rsplit_once(" (").expect("value");
                        let v: u8 = value.trim_end_matches(')').parse().expect("digit");
                        format!("{head} ({})", (v + 1) % 10)
                    }
                    _ => l.to_string(),
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn first_errors_are_found_and_early_ones_counted() {
        let t = tr_hard();
        assert!(t.path.len() > 14, "a long path: {}", t.path.len());
        let instance = Instance::Table(t.clone());
        let outputs = [
            s2h_cot::table::chain_of_thought(&t),
            cot_wrong_from(&t, 3),
            cot_wrong_from(&t, 14),
            String::new(),
        ];
        let results: Vec<ExampleResult> = outputs
            .iter()
            .enumerate()
            .map(|(i, o)| score_output(&format!("t{i}"), Split::Hard, &instance, o))
            .collect::<crate::Result<_>>()
            .expect("scored");
        let k1 = table_failure_modes(&results);
        assert_eq!(k1.examples, 4);
        assert_eq!(
            k1.first_wrong_index_histogram,
            [(1, 1), (3, 1), (14, 1)].into()
        );
        assert_eq!(k1.wrong(), 3);
        assert_eq!(k1.first_wrong_index_mean(), Some(18.0 / 3.0));
        // Steps 1 and 3 come before the 12th, step 14 does not.
        assert_eq!(k1.first_wrong_before_12(), 2);
        assert_eq!(k1.first_wrong_before_12_share(), Some(2.0 / 3.0));
        assert_eq!(k1.first_wrong_before_12_share_of_all(), Some(2.0 / 4.0));
        // The wrong values name the right cells: precision 1; the empty output lists none.
        let n = t.path.iter().collect::<BTreeSet<_>>().len();
        assert_eq!((k1.cells_listed, k1.cells_on_path), (3 * n, 4 * n));
        assert_eq!(k1.cell_precision(), 1.0);
        assert_eq!(k1.cell_recall(), 3.0 / 4.0);
        // Nothing wrong: no mean, no share, none of all.
        let gold = table_failure_modes(&results[..1]);
        assert_eq!(gold.first_wrong_index_mean(), None);
        assert_eq!(gold.first_wrong_before_12_share(), None);
        assert_eq!(gold.first_wrong_before_12_share_of_all(), Some(0.0));
    }

    #[test]
    fn cell_precision_and_recall_pool_counts_instead_of_averaging_ratios() {
        let t = tr_hard();
        let instance = Instance::Table(t.clone());
        let gold = s2h_cot::table::chain_of_thought(&t);
        let steps: Vec<&str> = gold.lines().filter(|l| l.starts_with("Step ")).collect();
        let off = (1..=t.table.rows())
            .flat_map(|r| (1..=t.table.cols()).map(move |c| Cell::new(r, c)))
            .find(|c| !t.path.contains(c))
            .expect("an off-path cell");
        let off_line = format!(
            "Step 99: row {} ({}), column {} ({}): zero (0)",
            off.row,
            t.table.row_label(off),
            off.col,
            t.table.col_label(off)
        );
        // One output lists only an off-path cell (precision 0 of 1); the other lists the first
        // two path cells (precision 2 of 2). Averaged per output: 0.5; pooled: 2 of 3.
        let outputs = [off_line, steps[..2].join("\n")];
        let results: Vec<ExampleResult> = outputs
            .iter()
            .enumerate()
            .map(|(i, o)| score_output(&format!("t{i}"), Split::Hard, &instance, o))
            .collect::<crate::Result<_>>()
            .expect("scored");
        let k1 = table_failure_modes(&results);
        let n = t.path.iter().collect::<BTreeSet<_>>().len();
        assert_eq!(
            (k1.cells_listed, k1.cells_listed_on_path, k1.cells_on_path),
            (3, 2, 2 * n)
        );
        assert_eq!(k1.cell_precision(), 2.0 / 3.0);
        assert_eq!(k1.cell_recall(), 2.0 / (2 * n) as f64);
        let g = crate::aggregate(&results);
        let group = &g.groups[0];
        assert_eq!(group.metric(names::CELL_PRECISION), Some(2.0 / 3.0));
        assert_eq!(group.metric(names::CELL_RECALL), Some(2.0 / (2 * n) as f64));
        // Nothing listed anywhere: precision 0, not undefined.
        assert_eq!(TableFailureModes::default().cell_precision(), 0.0);
    }

    #[test]
    fn malformed_outputs_never_panic() {
        let inst = puzzle(Split::Hard, 2);
        let g = grid();
        for text in [
            "Example 99 (shapes):\nExample 0 follows (\nOption 0 gives (:\nOption 5 gives x",
            "Query (shapes):\nshape_position: {((1, 2)} | {)} -> \u{1F600}\nr = ",
            "Only option\nOptions are consistent.\nNo option is consistent.\n{",
            "S is at (\nD is at ()\nSource:( zz, 1)\nDestination:",
            "S is at (99999999999, 1)",
            "\u{00e9}S is at (1, 1)",
        ] {
            let _ = score_va_cot(&inst, text);
            let _ = score_grid_cot(&g, text, None);
        }
        let _ = Answer::Grid(moves("up"));
    }
}

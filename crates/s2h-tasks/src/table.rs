//! Consecutive Table Readout (CTR, SPEC §2) and Table Readout (TR, SPEC §3).
//!
//! Both tasks show a table of digits with some cells highlighted and ask for the highlighted
//! values in path order, and their sum. CTR reads consecutive cells in row-major order; TR
//! follows a winding path of straight segments that is *induced* (two path cells touch only when
//! they are consecutive), so the highlight, the start and the end fix the reading order.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::common::named_enum;
use crate::labels::{MONTHS, PRODUCT_COUNT, product_name};
use crate::{Cell, MAX_ATTEMPTS, Move, Result, Split, TaskError, TaskKind, TaskRng, Verdict};

// ---------------------------------------------------------------------------------------------
// Values shared by both tasks

/// A labelled table of digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    /// Product names, one per row, distinct.
    pub row_labels: Vec<String>,
    /// Month names, one per column, distinct, in random order.
    pub col_labels: Vec<String>,
    /// `values[r][c]` is the digit in row `r + 1`, column `c + 1`.
    pub values: Vec<Vec<u8>>,
}

impl Table {
    pub fn rows(&self) -> u32 {
        self.row_labels.len() as u32
    }

    pub fn cols(&self) -> u32 {
        self.col_labels.len() as u32
    }

    pub fn contains(&self, cell: Cell) -> bool {
        (1..=self.rows()).contains(&cell.row) && (1..=self.cols()).contains(&cell.col)
    }

    /// The digit at a 1-based cell. The cell must lie inside the table.
    pub fn value(&self, cell: Cell) -> u8 {
        self.values[cell.row as usize - 1][cell.col as usize - 1]
    }

    pub fn row_label(&self, cell: Cell) -> &str {
        &self.row_labels[cell.row as usize - 1]
    }

    pub fn col_label(&self, cell: Cell) -> &str {
        &self.col_labels[cell.col as usize - 1]
    }

    /// A random table: distinct product names, distinct months in random order, digits 0–9.
    fn random(rng: &mut TaskRng, rows: u32, cols: u32) -> Table {
        let row_labels = rng
            .sample_distinct(PRODUCT_COUNT, rows as usize)
            .into_iter()
            .map(product_name)
            .collect();
        let col_labels = rng
            .sample_distinct(MONTHS.len(), cols as usize)
            .into_iter()
            .map(|m| MONTHS[m].to_string())
            .collect();
        let values = (0..rows)
            .map(|_| (0..cols).map(|_| rng.below(10) as u8).collect())
            .collect();
        Table {
            row_labels,
            col_labels,
            values,
        }
    }
}

/// One CTR or TR problem: a table and the highlighted path through it, start first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableInstance {
    pub table: Table,
    pub path: Vec<Cell>,
    /// How the path was drawn, and the configuration it was drawn under.
    pub params: TableParams,
}

/// Generation parameters of a table instance, tagged by task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TableParams {
    Ctr {
        length: u32,
        direction: ReadingDirection,
        config: CtrConfig,
    },
    Tr {
        pattern: TrPattern,
        /// Corner of the bounding box the pattern starts from (before trimming and reversal);
        /// none for `l_random`, which starts anywhere.
        start_corner: Option<Corner>,
        /// First move of the pattern from that corner.
        first_move: Move,
        /// Sense of the pattern's first turn.
        turn: TurnSense,
        /// The sub-rectangle the pattern was drawn in (1-based, inclusive).
        bounding_box: CellRect,
        /// Length drawn before trimming.
        drawn_length: u32,
        trimmed_start: u32,
        trimmed_end: u32,
        reversed: bool,
        /// Maximal straight runs of the final path.
        segments: u32,
        length: u32,
        config: TrConfig,
    },
}

/// The structured answer of both table tasks: the values along the path, and their sum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableAnswer {
    pub values: Vec<u8>,
    pub sum: u32,
}

impl TableAnswer {
    /// An answer whose sum is the sum of its values.
    pub fn from_values(values: Vec<u8>) -> Self {
        let sum = values.iter().map(|&v| u32::from(v)).sum();
        Self { values, sum }
    }
}

impl TableInstance {
    pub fn task(&self) -> TaskKind {
        match self.params {
            TableParams::Ctr { .. } => TaskKind::Ctr,
            TableParams::Tr { .. } => TaskKind::Tr,
        }
    }

    pub fn start(&self) -> Cell {
        self.path[0]
    }

    pub fn end(&self) -> Cell {
        self.path[self.path.len() - 1]
    }

    /// True for highlighted cells.
    pub fn highlighted(&self) -> HashSet<Cell> {
        self.path.iter().copied().collect()
    }

    pub fn gold_answer(&self) -> TableAnswer {
        TableAnswer::from_values(self.path.iter().map(|&c| self.table.value(c)).collect())
    }
}

/// Check an answer: correct iff the value list and the sum both equal the gold ones (SPEC §16:
/// the sum is checked too). Sub-metrics: `values_exact`, `sum_correct`, `length_correct`,
/// `value_accuracy` (fraction of gold positions answered right) and `correct_prefix` (fraction
/// of the path read right before the first error).
pub fn verify(instance: &TableInstance, answer: &TableAnswer) -> Verdict {
    let gold = instance.gold_answer();
    let n = gold.values.len();
    let values_exact = answer.values == gold.values;
    let sum_correct = answer.sum == gold.sum;
    let matches = gold
        .values
        .iter()
        .zip(&answer.values)
        .filter(|(g, a)| g == a)
        .count();
    let prefix = gold
        .values
        .iter()
        .zip(&answer.values)
        .take_while(|(g, a)| g == a)
        .count();
    Verdict::new(values_exact && sum_correct)
        .with("values_exact", f64::from(u8::from(values_exact)))
        .with("sum_correct", f64::from(u8::from(sum_correct)))
        .with(
            "length_correct",
            f64::from(u8::from(answer.values.len() == n)),
        )
        .with("value_accuracy", matches as f64 / n as f64)
        .with("correct_prefix", prefix as f64 / n as f64)
}

/// Maximal straight runs of a path of 4-neighbouring cells (0 for a single cell).
pub fn count_segments(path: &[Cell]) -> usize {
    let moves: Vec<Option<Move>> = path.windows(2).map(|w| Move::between(w[0], w[1])).collect();
    if moves.is_empty() {
        return 0;
    }
    1 + moves.windows(2).filter(|w| w[0] != w[1]).count()
}

/// True when consecutive cells are 4-neighbours, no cell repeats, and no two non-consecutive
/// cells are 4-neighbours — so the cell set alone, with its two ends, fixes the order.
pub fn is_induced_path(path: &[Cell]) -> bool {
    let distinct: HashSet<Cell> = path.iter().copied().collect();
    if distinct.len() != path.len() {
        return false;
    }
    if !path.windows(2).all(|w| w[0].is_neighbour(w[1])) {
        return false;
    }
    for i in 0..path.len() {
        for j in i + 2..path.len() {
            if path[i].is_neighbour(path[j]) {
                return false;
            }
        }
    }
    true
}

// ---------------------------------------------------------------------------------------------
// Consecutive Table Readout

named_enum!(
    /// CTR reading direction: row-major forward, or backward.
    ReadingDirection, "reading direction" {
        /// Left to right, wrapping to the first column of the next row.
        Forward => "forward",
        /// Right to left, wrapping to the last column of the row above.
        Backward => "backward",
    }
);

/// CTR parameters. The default is the paper's; smaller ones are for quick experiments and are
/// recorded in every instance they produce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
// A misspelt parameter is an error, not a silent default.
#[serde(default, deny_unknown_fields)]
pub struct CtrConfig {
    pub rows: u32,
    pub cols: u32,
    /// Inclusive path-length range of each split.
    pub simple_length: [u32; 2],
    pub medium_length: [u32; 2],
    pub hard_length: [u32; 2],
}

impl Default for CtrConfig {
    fn default() -> Self {
        Self {
            rows: 5,
            cols: 10,
            simple_length: [5, 10],
            medium_length: [15, 20],
            hard_length: [25, 30],
        }
    }
}

impl CtrConfig {
    /// The smallest CTR that is still the task: a 2×4 table with paths of 2–3 cells (simple),
    /// 4–5 (medium) and 6–7 (hard), for tests and the smoke tier of the figures, whose records
    /// must be short.
    pub fn tiny() -> Self {
        Self {
            rows: 2,
            cols: 4,
            simple_length: [2, 3],
            medium_length: [4, 5],
            hard_length: [6, 7],
        }
    }

    /// The quickstart's scaled-down CTR, small enough that a model trained from scratch for a
    /// few minutes on a 2-core CPU learns the output format and the path: a 3×4 table with paths of 2–3 cells
    /// (simple), 5–6 (medium) and 8–10 (hard). A teaching scale, not the paper's task (5×10,
    /// paths of 5–10 / 15–20 / 25–30), which stays the default everywhere else.
    pub fn quickstart() -> Self {
        Self {
            rows: 3,
            cols: 4,
            simple_length: [2, 3],
            medium_length: [5, 6],
            hard_length: [8, 10],
        }
    }

    pub fn length_range(&self, split: Split) -> Result<[u32; 2]> {
        TaskKind::Ctr.check_split(split)?;
        Ok(match split {
            Split::Simple => self.simple_length,
            Split::Medium => self.medium_length,
            _ => self.hard_length,
        })
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| {
            Err(TaskError::InvalidConfig {
                task: TaskKind::Ctr,
                reason,
            })
        };
        check_table_shape(
            TaskKind::Ctr,
            [self.rows, self.rows],
            [self.cols, self.cols],
        )?;
        for (name, [lo, hi]) in [
            ("simple_length", self.simple_length),
            ("medium_length", self.medium_length),
            ("hard_length", self.hard_length),
        ] {
            if lo == 0 || lo > hi {
                return bad(format!(
                    "{name} [{lo}, {hi}] must be a range with 1 <= low <= high"
                ));
            }
            if hi > self.rows * self.cols {
                return bad(format!(
                    "{name} reaches {hi} cells but a {}x{} table has only {}",
                    self.rows,
                    self.cols,
                    self.rows * self.cols
                ));
            }
        }
        Ok(())
    }
}

/// Tables are labelled from fixed lists: at most 100 product rows and 12 month columns.
fn check_table_shape(task: TaskKind, rows: [u32; 2], cols: [u32; 2]) -> Result<()> {
    let bad = |reason: String| Err(TaskError::InvalidConfig { task, reason });
    if rows[0] == 0 || rows[0] > rows[1] || rows[1] as usize > PRODUCT_COUNT {
        return bad(format!(
            "rows {rows:?} must be a range within 1..={PRODUCT_COUNT} (one product name per row)"
        ));
    }
    if cols[0] == 0 || cols[0] > cols[1] || cols[1] as usize > MONTHS.len() {
        return bad(format!(
            "columns {cols:?} must be a range within 1..=12 (one month name per column)"
        ));
    }
    Ok(())
}

/// Generate the CTR instance `(split, seed, index)`.
pub fn generate_ctr(
    config: &CtrConfig,
    split: Split,
    seed: u64,
    index: u64,
) -> Result<TableInstance> {
    config.validate()?;
    let [lo, hi] = config.length_range(split)?;
    let mut rng = TaskRng::for_instance(TaskKind::Ctr, split, seed, index);
    let table = Table::random(&mut rng, config.rows, config.cols);
    let length = rng.range(lo as usize, hi as usize);
    let direction = if rng.coin() {
        ReadingDirection::Forward
    } else {
        ReadingDirection::Backward
    };
    // Cells are numbered row-major from 0; the start is uniform among those from which the
    // whole path fits, so no path is ever truncated.
    let cells = (config.rows * config.cols) as usize;
    let path_index: Vec<usize> = match direction {
        ReadingDirection::Forward => {
            let start = rng.below(cells - length + 1);
            (start..start + length).collect()
        }
        ReadingDirection::Backward => {
            let start = length - 1 + rng.below(cells - length + 1);
            (0..length).map(|k| start - k).collect()
        }
    };
    let cols = config.cols as usize;
    let path = path_index
        .into_iter()
        .map(|i| Cell::new((i / cols) as u32 + 1, (i % cols) as u32 + 1))
        .collect();
    Ok(TableInstance {
        table,
        path,
        params: TableParams::Ctr {
            length: length as u32,
            direction,
            config: config.clone(),
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Table Readout

named_enum!(
    /// TR path families (SPEC §3).
    TrPattern, "TR pattern" {
        /// Straight to the current bound, always turning the same way, bounds shrinking by 2.
        Spiral => "spiral",
        /// Long runs in alternating directions joined by 2-cell connectors.
        Snake => "snake",
        /// 1–4 segments between a random start and end (simple only).
        LRandom => "l_random",
        /// Spiral-like and snake-like turns chosen at random at each joint (hard only).
        Composition => "composition",
    }
);

named_enum!(
    /// A corner of a rectangle.
    Corner, "corner" {
        TopLeft => "top_left",
        TopRight => "top_right",
        BottomLeft => "bottom_left",
        BottomRight => "bottom_right",
    }
);

named_enum!(
    /// Sense of a quarter turn.
    TurnSense, "turn sense" {
        Clockwise => "clockwise",
        CounterClockwise => "counter_clockwise",
    }
);

impl TurnSense {
    fn apply(self, m: Move) -> Move {
        match self {
            TurnSense::Clockwise => m.clockwise(),
            TurnSense::CounterClockwise => m.counter_clockwise(),
        }
    }

    fn flip(self) -> TurnSense {
        match self {
            TurnSense::Clockwise => TurnSense::CounterClockwise,
            TurnSense::CounterClockwise => TurnSense::Clockwise,
        }
    }
}

/// An inclusive rectangle of cells, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellRect {
    pub top: u32,
    pub left: u32,
    pub bottom: u32,
    pub right: u32,
}

impl CellRect {
    fn contains(&self, c: Cell) -> bool {
        (self.top..=self.bottom).contains(&c.row) && (self.left..=self.right).contains(&c.col)
    }

    fn corner(&self, corner: Corner) -> Cell {
        match corner {
            Corner::TopLeft => Cell::new(self.top, self.left),
            Corner::TopRight => Cell::new(self.top, self.right),
            Corner::BottomLeft => Cell::new(self.bottom, self.left),
            Corner::BottomRight => Cell::new(self.bottom, self.right),
        }
    }
}

/// TR parameters. The default is the paper's (SPEC §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
// A misspelt parameter is an error, not a silent default.
#[serde(default, deny_unknown_fields)]
pub struct TrConfig {
    /// Inclusive ranges of the table's row and column counts.
    pub rows: [u32; 2],
    pub cols: [u32; 2],
    /// Inclusive range of the length drawn before trimming, per split. After trimming 0–2 cells
    /// at each end and resampling draws that break the segment rule, the mean final lengths
    /// come out near the paper's 12 (simple) and 35 (hard); `tr_split_targets_hold_over_2000_instances`
    /// checks the ranges the spec allows.
    pub simple_length: [u32; 2],
    pub hard_length: [u32; 2],
    /// Inclusive segment-count range of simple paths, and the minimum of hard ones.
    pub simple_segments: [u32; 2],
    pub hard_min_segments: u32,
    /// Up to this many cells are trimmed at each end.
    pub max_trim: u32,
}

impl Default for TrConfig {
    fn default() -> Self {
        Self {
            rows: [8, 12],
            cols: [8, 12],
            simple_length: [11, 19],
            hard_length: [32, 46],
            simple_segments: [1, 4],
            hard_min_segments: 5,
            max_trim: 2,
        }
    }
}

impl TrConfig {
    pub fn validate(&self) -> Result<()> {
        check_table_shape(TaskKind::Tr, self.rows, self.cols)?;
        let bad = |reason: String| {
            Err(TaskError::InvalidConfig {
                task: TaskKind::Tr,
                reason,
            })
        };
        for (name, [lo, hi]) in [
            ("simple_length", self.simple_length),
            ("hard_length", self.hard_length),
        ] {
            if lo < 2 || lo > hi {
                return bad(format!(
                    "{name} [{lo}, {hi}] must be a range with 2 <= low <= high"
                ));
            }
            if lo <= 2 * self.max_trim + 1 {
                return bad(format!(
                    "{name} starts at {lo}: trimming up to {} cells at each end would leave \
                     fewer than 2",
                    self.max_trim
                ));
            }
        }
        let [s_lo, s_hi] = self.simple_segments;
        if s_lo == 0 || s_lo > s_hi {
            return bad(format!(
                "simple_segments {:?} must be a range with 1 <= low <= high",
                self.simple_segments
            ));
        }
        Ok(())
    }
}

/// Generate the TR instance `(split, seed, index)`: draw a pattern, cut it to the drawn length,
/// trim and maybe reverse it, and resample until the split's segment rule holds.
pub fn generate_tr(
    config: &TrConfig,
    split: Split,
    seed: u64,
    index: u64,
) -> Result<TableInstance> {
    config.validate()?;
    TaskKind::Tr.check_split(split)?;
    let mut rng = TaskRng::for_instance(TaskKind::Tr, split, seed, index);
    let rows = rng.range(config.rows[0] as usize, config.rows[1] as usize) as u32;
    let cols = rng.range(config.cols[0] as usize, config.cols[1] as usize) as u32;
    let table = Table::random(&mut rng, rows, cols);
    let [len_lo, len_hi] = match split {
        Split::Simple => config.simple_length,
        _ => config.hard_length,
    };
    let patterns: &[TrPattern] = match split {
        Split::Simple => &[TrPattern::Spiral, TrPattern::Snake, TrPattern::LRandom],
        _ => &[TrPattern::Spiral, TrPattern::Snake, TrPattern::Composition],
    };
    // The family is drawn once, so rejections (more frequent for some families) cannot skew the
    // mix; geometry and length are redrawn until the split's rules hold.
    let pattern = *rng.choose(patterns);
    for _ in 0..MAX_ATTEMPTS {
        let drawn_length = rng.range(len_lo as usize, len_hi as usize);
        let Some(drawn) = draw_pattern(&mut rng, pattern, rows, cols, drawn_length) else {
            continue;
        };
        let trimmed_start = rng.range(0, config.max_trim as usize);
        let trimmed_end = rng.range(0, config.max_trim as usize);
        let reversed = rng.coin();
        let mut path = drawn.path[trimmed_start..drawn.path.len() - trimmed_end].to_vec();
        if reversed {
            path.reverse();
        }
        let segments = count_segments(&path) as u32;
        let segments_ok = match split {
            Split::Simple => {
                (config.simple_segments[0]..=config.simple_segments[1]).contains(&segments)
            }
            _ => segments >= config.hard_min_segments,
        };
        if !segments_ok {
            continue;
        }
        debug_assert!(is_induced_path(&path));
        let length = path.len() as u32;
        return Ok(TableInstance {
            table,
            path,
            params: TableParams::Tr {
                pattern,
                start_corner: drawn.start_corner,
                first_move: drawn.first_move,
                turn: drawn.turn,
                bounding_box: drawn.bounding_box,
                drawn_length: drawn_length as u32,
                trimmed_start: trimmed_start as u32,
                trimmed_end: trimmed_end as u32,
                reversed,
                segments,
                length,
                config: config.clone(),
            },
        });
    }
    Err(TaskError::GenerationFailed {
        task: TaskKind::Tr,
        split,
        seed,
        index,
        attempts: MAX_ATTEMPTS,
    })
}

/// A pattern cut to its drawn length, before trimming and reversal.
struct DrawnPattern {
    path: Vec<Cell>,
    start_corner: Option<Corner>,
    first_move: Move,
    turn: TurnSense,
    bounding_box: CellRect,
}

/// Draws one pattern of exactly `length` cells, or `None` when this draw gets stuck first.
fn draw_pattern(
    rng: &mut TaskRng,
    pattern: TrPattern,
    rows: u32,
    cols: u32,
    length: usize,
) -> Option<DrawnPattern> {
    if pattern == TrPattern::LRandom {
        return draw_l_random(rng, rows, cols, length);
    }
    // A random sub-rectangle of at least 3x3 (room for a turn and a 2-cell connector).
    let min_side = 3.min(rows).min(cols);
    let box_rows = rng.range(min_side as usize, rows as usize) as u32;
    let box_cols = rng.range(min_side as usize, cols as usize) as u32;
    let top = 1 + rng.below((rows - box_rows + 1) as usize) as u32;
    let left = 1 + rng.below((cols - box_cols + 1) as usize) as u32;
    let rect = CellRect {
        top,
        left,
        bottom: top + box_rows - 1,
        right: left + box_cols - 1,
    };
    // Start corner x first move along one of its two edges: the 8 orientations. The first turn
    // must point into the box, which fixes its sense.
    let start_corner = *rng.choose(Corner::ALL);
    let (vertical, horizontal) = match start_corner {
        Corner::TopLeft => (Move::Down, Move::Right),
        Corner::TopRight => (Move::Down, Move::Left),
        Corner::BottomLeft => (Move::Up, Move::Right),
        Corner::BottomRight => (Move::Up, Move::Left),
    };
    let (first_move, inward) = if rng.coin() {
        (horizontal, vertical)
    } else {
        (vertical, horizontal)
    };
    let turn = if first_move.clockwise() == inward {
        TurnSense::Clockwise
    } else {
        TurnSense::CounterClockwise
    };

    let mut turtle = Turtle::new(rect, rect.corner(start_corner), length);
    let mut dir = first_move;
    let mut sense = turn;
    turtle.run(dir);
    while !turtle.done() {
        let spiral_like = match pattern {
            TrPattern::Spiral => true,
            TrPattern::Snake => false,
            _ => rng.coin(),
        };
        if spiral_like {
            dir = sense.apply(dir);
        } else {
            // Snake: a 2-cell connector keeps one empty row/column between parallel runs.
            let connector = sense.apply(dir);
            if !(turtle.step(connector) && (turtle.done() || turtle.step(connector))) {
                break;
            }
            dir = dir.reverse();
            sense = sense.flip();
        }
        if turtle.done() || turtle.run(dir) == 0 {
            break;
        }
    }
    turtle.done().then_some(DrawnPattern {
        path: turtle.path,
        start_corner: Some(start_corner),
        first_move,
        turn,
        bounding_box: rect,
    })
}

/// 1–4 straight segments between a random start and wherever they end, anywhere in the table.
fn draw_l_random(rng: &mut TaskRng, rows: u32, cols: u32, length: usize) -> Option<DrawnPattern> {
    let rect = CellRect {
        top: 1,
        left: 1,
        bottom: rows,
        right: cols,
    };
    let start = Cell::new(
        rng.range(1, rows as usize) as u32,
        rng.range(1, cols as usize) as u32,
    );
    let segments = rng.range(1, 4).min(length - 1);
    // Split the length-1 moves into `segments` positive runs.
    let mut cuts: Vec<usize> = rng
        .sample_distinct(length - 2, segments - 1)
        .into_iter()
        .map(|c| c + 1)
        .collect();
    cuts.sort_unstable();
    cuts.insert(0, 0);
    cuts.push(length - 1);
    let first_move = *rng.choose(Move::ALL);
    let turn = if rng.coin() {
        TurnSense::Clockwise
    } else {
        TurnSense::CounterClockwise
    };
    let mut turtle = Turtle::new(rect, start, length);
    let mut dir = first_move;
    for (i, run) in cuts.windows(2).enumerate() {
        if i > 0 {
            // The first turn's sense is recorded; later ones are drawn afresh.
            let sense = if i == 1 || rng.coin() {
                turn
            } else {
                turn.flip()
            };
            dir = sense.apply(dir);
        }
        for _ in run[0]..run[1] {
            if !turtle.step(dir) {
                return None;
            }
        }
    }
    Some(DrawnPattern {
        path: turtle.path,
        start_corner: None,
        first_move,
        turn,
        bounding_box: rect,
    })
}

/// Walks a path inside a rectangle, allowing only moves that keep the path induced.
struct Turtle {
    rect: CellRect,
    path: Vec<Cell>,
    on_path: HashSet<Cell>,
    target: usize,
}

impl Turtle {
    fn new(rect: CellRect, start: Cell, target: usize) -> Self {
        Self {
            rect,
            path: vec![start],
            on_path: HashSet::from([start]),
            target,
        }
    }

    fn done(&self) -> bool {
        self.path.len() >= self.target
    }

    /// A cell may join when it is inside the rectangle, new, and touches no path cell but the
    /// current end — so every path drawn this way is induced.
    fn can_enter(&self, next: Cell) -> bool {
        let last = self.path[self.path.len() - 1];
        self.rect.contains(next)
            && !self.on_path.contains(&next)
            && Move::ALL
                .iter()
                .filter_map(|&m| next.step(m))
                .all(|n| n == last || !self.on_path.contains(&n))
    }

    fn step(&mut self, m: Move) -> bool {
        if self.done() {
            return false;
        }
        let last = self.path[self.path.len() - 1];
        match last.step(m) {
            Some(next) if self.can_enter(next) => {
                self.path.push(next);
                self.on_path.insert(next);
                true
            }
            _ => false,
        }
    }

    /// Go straight as far as allowed; returns the number of cells added.
    fn run(&mut self, m: Move) -> usize {
        let mut n = 0;
        while self.step(m) {
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctr(split: Split, index: u64) -> TableInstance {
        generate_ctr(&CtrConfig::default(), split, 0, index).unwrap()
    }

    fn tr(split: Split, index: u64) -> TableInstance {
        generate_tr(&TrConfig::default(), split, 0, index).unwrap()
    }

    /// The paper's CTR and the quickstart's smaller one both follow the reading rule.
    #[test]
    fn ctr_paths_follow_the_reading_rule_and_length_ranges() {
        for config in [CtrConfig::default(), CtrConfig::quickstart()] {
            config.validate().unwrap();
            let cols = config.cols;
            let mut directions = [0usize; 2];
            for &split in TaskKind::Ctr.splits() {
                let [lo, hi] = config.length_range(split).unwrap();
                for i in 0..500 {
                    let inst = generate_ctr(&config, split, 0, i).unwrap();
                    let TableParams::Ctr {
                        length, direction, ..
                    } = inst.params
                    else {
                        panic!("not a CTR instance");
                    };
                    assert_eq!(inst.path.len() as u32, length);
                    assert!((lo..=hi).contains(&length));
                    for w in inst.path.windows(2) {
                        let (a, b) = (w[0], w[1]);
                        let expected = match direction {
                            ReadingDirection::Forward if a.col == cols => Cell::new(a.row + 1, 1),
                            ReadingDirection::Forward => Cell::new(a.row, a.col + 1),
                            ReadingDirection::Backward if a.col == 1 => Cell::new(a.row - 1, cols),
                            ReadingDirection::Backward => Cell::new(a.row, a.col - 1),
                        };
                        assert_eq!(b, expected, "{inst:?}");
                    }
                    assert!(inst.path.iter().all(|&c| inst.table.contains(c)));
                    directions[usize::from(direction == ReadingDirection::Forward)] += 1;
                }
            }
            // Both directions, each about half the time.
            assert!(directions.iter().all(|&d| d > 600), "{directions:?}");
        }
    }

    #[test]
    fn ctr_starts_cover_the_whole_admissible_range() {
        // With length 50 on a 5x10 table only one start fits per direction.
        let config = CtrConfig {
            simple_length: [50, 50],
            ..CtrConfig::default()
        };
        for i in 0..20 {
            let inst = generate_ctr(&config, Split::Simple, 1, i).unwrap();
            assert_eq!(inst.path.len(), 50);
            let ends = [inst.start(), inst.end()];
            assert!(ends.contains(&Cell::new(1, 1)) && ends.contains(&Cell::new(5, 10)));
        }
    }

    #[test]
    fn tables_have_distinct_labels_and_digits() {
        for i in 0..50 {
            let inst = tr(Split::Hard, i);
            let t = &inst.table;
            let rows: HashSet<_> = t.row_labels.iter().collect();
            let cols: HashSet<_> = t.col_labels.iter().collect();
            assert_eq!(rows.len(), t.row_labels.len());
            assert_eq!(cols.len(), t.col_labels.len());
            assert!((8..=12).contains(&t.rows()) && (8..=12).contains(&t.cols()));
            assert!(
                t.values
                    .iter()
                    .all(|r| r.len() == t.cols() as usize && r.iter().all(|&v| v <= 9))
            );
        }
    }

    #[test]
    fn tr_split_targets_hold_over_2000_instances() {
        for split in [Split::Simple, Split::Hard] {
            let mut total = 0usize;
            let mut patterns = std::collections::HashMap::new();
            let mut orientations = HashSet::new();
            for i in 0..2000 {
                let inst = tr(split, i);
                assert!(is_induced_path(&inst.path), "not induced: {inst:?}");
                assert!(inst.path.iter().all(|&c| inst.table.contains(c)));
                let segments = count_segments(&inst.path);
                match split {
                    Split::Simple => assert!((1..=4).contains(&segments), "{segments}"),
                    _ => assert!(segments >= 5, "{segments}"),
                }
                let TableParams::Tr {
                    pattern,
                    start_corner,
                    first_move,
                    segments: s,
                    length,
                    ..
                } = inst.params
                else {
                    panic!("not a TR instance");
                };
                assert_eq!(s as usize, segments);
                assert_eq!(length as usize, inst.path.len());
                *patterns.entry(pattern).or_insert(0usize) += 1;
                if pattern != TrPattern::LRandom {
                    orientations.insert((start_corner, first_move));
                }
                total += inst.path.len();
            }
            let mean = total as f64 / 2000.0;
            match split {
                Split::Simple => {
                    assert!((10.0..=14.0).contains(&mean), "simple mean length {mean}");
                    assert_eq!(patterns.len(), 3);
                    assert!(!patterns.contains_key(&TrPattern::Composition));
                }
                _ => {
                    assert!((30.0..=40.0).contains(&mean), "hard mean length {mean}");
                    assert_eq!(patterns.len(), 3);
                    assert!(!patterns.contains_key(&TrPattern::LRandom));
                }
            }
            assert_eq!(orientations.len(), 8, "all 8 orientations appear");
            // Families are drawn once per instance, so rejections do not skew the mix.
            assert!(patterns.values().all(|&n| n > 500), "{patterns:?}");
        }
    }

    #[test]
    fn induced_path_checker_rejects_touching_cells() {
        let u = [
            Cell::new(1, 1),
            Cell::new(1, 2),
            Cell::new(2, 2),
            Cell::new(2, 1),
        ];
        assert!(!is_induced_path(&u));
        let l = [
            Cell::new(1, 1),
            Cell::new(1, 2),
            Cell::new(2, 2),
            Cell::new(3, 2),
        ];
        assert!(is_induced_path(&l));
        assert_eq!(count_segments(&l), 2);
        assert!(!is_induced_path(&[Cell::new(1, 1), Cell::new(1, 3)]));
    }

    #[test]
    fn gold_answers_verify_and_wrong_ones_do_not() {
        for i in 0..100 {
            let inst = if i % 2 == 0 {
                ctr(Split::Medium, i)
            } else {
                tr(Split::Simple, i)
            };
            let gold = inst.gold_answer();
            let v = verify(&inst, &gold);
            assert!(v.correct);
            assert_eq!(v.metric("value_accuracy"), Some(1.0));

            let mut wrong_value = gold.clone();
            wrong_value.values[1] = (wrong_value.values[1] + 1) % 10;
            let v = verify(&inst, &wrong_value);
            assert!(!v.correct);
            assert_eq!(v.metric("sum_correct"), Some(1.0));
            assert_eq!(
                v.metric("correct_prefix"),
                Some(1.0 / gold.values.len() as f64)
            );

            let mut wrong_sum = gold.clone();
            wrong_sum.sum += 1;
            let v = verify(&inst, &wrong_sum);
            assert!(!v.correct, "the sum is checked");
            assert_eq!(v.metric("values_exact"), Some(1.0));
        }
    }

    #[test]
    fn configs_are_validated_with_clear_errors() {
        let too_long = CtrConfig {
            hard_length: [25, 60],
            ..CtrConfig::default()
        };
        let err = generate_ctr(&too_long, Split::Hard, 0, 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("hard_length") && err.contains("50"), "{err}");
        let err = generate_tr(&TrConfig::default(), Split::Medium, 0, 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("medium"), "{err}");
        let too_wide = TrConfig {
            cols: [8, 13],
            ..TrConfig::default()
        };
        assert!(generate_tr(&too_wide, Split::Simple, 0, 0).is_err());
    }

    #[test]
    fn small_configurations_work_and_are_recorded() {
        let config = CtrConfig {
            rows: 3,
            cols: 4,
            simple_length: [2, 4],
            medium_length: [5, 7],
            hard_length: [8, 12],
        };
        let inst = generate_ctr(&config, Split::Hard, 5, 5).unwrap();
        assert_eq!(inst.table.rows(), 3);
        let TableParams::Ctr {
            config: recorded, ..
        } = &inst.params
        else {
            panic!("not a CTR instance");
        };
        assert_eq!(recorded, &config);
    }

    #[test]
    fn generation_is_a_pure_function_of_its_coordinates() {
        assert_eq!(tr(Split::Hard, 17), tr(Split::Hard, 17));
        assert_ne!(tr(Split::Hard, 17), tr(Split::Hard, 18));
        let json = serde_json::to_string(&tr(Split::Hard, 3)).unwrap();
        let back: TableInstance = serde_json::from_str(&json).unwrap();
        assert_eq!(back, tr(Split::Hard, 3));
    }
}

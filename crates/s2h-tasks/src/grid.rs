//! Grid Navigation (SPEC §4).
//!
//! A grid holds a start S, a destination D, objects to collect and obstacles to avoid. The answer
//! is a list of moves from S that collects every object (in any order) and ends on D without
//! leaving the grid or entering an obstacle.
//!
//! Difficulty is not the grid size (both splits draw from the same sizes) but the length of one
//! fixed depth-first search, the reasoning the chain of thought spells out step by step
//! ([`GridInstance::dfs_trace`]). The gold answer is that search's path with every backtracked
//! branch removed, so a model that learns to imitate the search reproduces the gold answer.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::common::named_enum;
use crate::{Cell, MAX_ATTEMPTS, Move, Result, Split, TaskError, TaskKind, TaskRng, Verdict};

// ---------------------------------------------------------------------------------------------
// Symbols

/// The 31 objects to collect, with the Unicode glyph each is drawn as (SPEC §4).
pub const OBJECTS: [(&str, char); 31] = [
    ("heart", '\u{2764}'),
    ("crown", '\u{2654}'),
    ("flag", '\u{2691}'),
    ("star", '\u{2605}'),
    ("flower", '\u{273F}'),
    ("umbrella", '\u{2602}'),
    ("plane", '\u{2708}'),
    ("phone", '\u{260E}'),
    ("spark", '\u{2726}'),
    ("diamond", '\u{2756}'),
    ("queen", '\u{265B}'),
    ("hammer", '\u{2692}'),
    ("club", '\u{2663}'),
    ("gear", '\u{2699}'),
    ("arrow", '\u{279C}'),
    ("sun", '\u{2600}'),
    ("bishop", '\u{2657}'),
    ("note", '\u{266A}'),
    ("coffee", '\u{2615}'),
    ("anchor", '\u{2693}'),
    ("cloud", '\u{2601}'),
    ("pawn", '\u{2659}'),
    ("castle", '\u{2656}'),
    ("horse", '\u{2658}'),
    ("infinity", '\u{221E}'),
    ("moon", '\u{263E}'),
    ("null", '\u{2205}'),
    ("approx", '\u{2248}'),
    ("integral", '\u{222B}'),
    ("product", '\u{220F}'),
    ("sum", '\u{2211}'),
];

/// The 5 obstacle types with their glyphs, in the order of [`ObstacleKind::ALL`] (SPEC §4).
pub const OBSTACLES: [(&str, char); 5] = [
    ("dot", '\u{25CF}'),
    ("cross", '\u{2716}'),
    ("square", '\u{25A0}'),
    ("triangle", '\u{25B2}'),
    ("plus", '\u{271A}'),
];

named_enum!(
    /// An obstacle type; the prompt names the types in use so the model knows what to avoid.
    ObstacleKind, "obstacle type" {
        Dot => "dot",
        Cross => "cross",
        Square => "square",
        Triangle => "triangle",
        Plus => "plus",
    }
);

impl ObstacleKind {
    /// The glyph this obstacle is drawn as.
    pub fn glyph(self) -> char {
        match self {
            ObstacleKind::Dot => '\u{25CF}',
            ObstacleKind::Cross => '\u{2716}',
            ObstacleKind::Square => '\u{25A0}',
            ObstacleKind::Triangle => '\u{25B2}',
            ObstacleKind::Plus => '\u{271A}',
        }
    }
}

/// The glyph of an object name, or `None` for a name outside [`OBJECTS`] (e.g. from a file).
pub fn object_glyph(name: &str) -> Option<char> {
    OBJECTS.iter().find(|(n, _)| *n == name).map(|&(_, g)| g)
}

// ---------------------------------------------------------------------------------------------
// Instances and answers

/// An object to collect, by name (one of [`OBJECTS`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridObject {
    pub name: String,
    pub cell: Cell,
}

/// An obstacle cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridObstacle {
    pub kind: ObstacleKind,
    pub cell: Cell,
}

/// One Grid Navigation problem. S, D, objects and obstacles never share a cell, and S != D.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridInstance {
    pub rows: u32,
    pub cols: u32,
    pub start: Cell,
    pub destination: Cell,
    /// Objects in the order they were drawn (not the order the search collects them, which
    /// would give the answer away if a prompt listed them in this order).
    pub objects: Vec<GridObject>,
    /// Obstacles in row-major order of their cells.
    pub obstacles: Vec<GridObstacle>,
    /// The obstacle types in use, in [`ObstacleKind::ALL`] order; each appears on at least one
    /// cell, so the prompt never names a type the grid does not show.
    pub obstacle_types: Vec<ObstacleKind>,
    /// Moves plus backtracks of the search ([`GridInstance::dfs_trace`]); the split's measure.
    pub dfs_steps: u32,
    /// How many of those steps were backtracks.
    pub backtracks: u32,
    /// Which draw of this instance's stream was accepted (1 = the first); 0 for a hand-built
    /// layout ([`GridInstance::from_layout`]).
    pub attempts: u32,
    /// The configuration the instance was drawn under.
    pub config: GridConfig,
}

/// The structured answer: moves from S, each to a 4-neighbour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridAnswer {
    pub moves: Vec<Move>,
}

/// What one cell holds, as renderers show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellContent<'a> {
    Empty,
    Start,
    Destination,
    Object(&'a str),
    Obstacle(ObstacleKind),
}

impl GridInstance {
    /// An instance from a hand-made layout (tests, examples, other crates' fixtures): the search
    /// metadata is computed, `obstacle_types` collected from the obstacles, `attempts` is 0 and
    /// `config` the default, since nothing was drawn.
    pub fn from_layout(
        rows: u32,
        cols: u32,
        start: Cell,
        destination: Cell,
        objects: Vec<GridObject>,
        mut obstacles: Vec<GridObstacle>,
    ) -> GridInstance {
        obstacles.sort_by_key(|o| o.cell);
        let mut obstacle_types: Vec<ObstacleKind> = obstacles.iter().map(|o| o.kind).collect();
        obstacle_types.sort_unstable();
        obstacle_types.dedup();
        let mut instance = GridInstance {
            rows,
            cols,
            start,
            destination,
            objects,
            obstacles,
            obstacle_types,
            dfs_steps: 0,
            backtracks: 0,
            attempts: 0,
            config: GridConfig::default(),
        };
        let trace = instance.dfs_trace();
        instance.dfs_steps = trace.steps() as u32;
        instance.backtracks = trace.backtracks() as u32;
        instance
    }

    pub fn contains(&self, cell: Cell) -> bool {
        (1..=self.rows).contains(&cell.row) && (1..=self.cols).contains(&cell.col)
    }

    /// What `cell` holds. Generated instances never stack two things on a cell; for a malformed
    /// one read from a file the first of start, destination, object, obstacle wins.
    pub fn content(&self, cell: Cell) -> CellContent<'_> {
        if cell == self.start {
            CellContent::Start
        } else if cell == self.destination {
            CellContent::Destination
        } else if let Some(o) = self.objects.iter().find(|o| o.cell == cell) {
            CellContent::Object(&o.name)
        } else if let Some(o) = self.obstacles.iter().find(|o| o.cell == cell) {
            CellContent::Obstacle(o.kind)
        } else {
            CellContent::Empty
        }
    }

    /// The search the chain of thought spells out (SPEC §4), stopped after [`DFS_STEP_CAP`]
    /// steps. For a generated instance it always reaches D in `dfs_steps` steps.
    pub fn dfs_trace(&self) -> DfsTrace {
        run_dfs(self, DFS_STEP_CAP)
    }

    /// Each leg's final stack, concatenated: the search's path with backtracked branches
    /// removed. For a layout whose search fails this is the partial path, which does not verify.
    pub fn gold_answer(&self) -> GridAnswer {
        GridAnswer {
            moves: self.dfs_trace().moves(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration

/// Largest row or column count a configuration may ask for: grids are drawn with numbered
/// margins and searched cell by cell, so far larger ones are certainly a mistake.
const MAX_SIDE: u32 = 100;

/// Upper bound on the steps of any search. A leg enters each cell at most once and leaves it by
/// backtracking at most once, so every search ends by itself within 2 × cells × legs steps; the
/// cap only stops malformed instances (read from files, with huge sizes) from running long.
/// Every split's step maximum lies below it (`validate` checks), so it never cuts the search
/// of a generated instance.
pub const DFS_STEP_CAP: u32 = 100_000;

/// Grid Navigation parameters. The default is the paper's (SPEC §4); smaller ones are for quick
/// experiments and are recorded in every instance they produce.
///
/// Measured with the default over indices 0..2000 of seed 0, generation rejects on average
/// 3.35 layouts per accepted `simple` instance and 3.64 per `hard` one. Of those rejections,
/// simple: 80% searches still short of D at the step maximum, 14% dead ends, 6% too short;
/// hard: 67%, 21% and 12% (test `split_targets_hold_over_2000_instances` prints the current
/// means).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
// A misspelt parameter is an error, not a silent default.
#[serde(default, deny_unknown_fields)]
pub struct GridConfig {
    /// Inclusive ranges of the grid's row and column counts.
    pub rows: [u32; 2],
    pub cols: [u32; 2],
    /// Share of the free cells (those not holding S, D or an object) that hold an obstacle,
    /// rounded to the nearest cell.
    pub obstacle_fraction: f64,
    /// Inclusive range of the object count, per split.
    pub simple_objects: [u32; 2],
    pub hard_objects: [u32; 2],
    /// Inclusive range of the number of obstacle types in use, per split (at most 5).
    pub simple_obstacle_types: [u32; 2],
    pub hard_obstacle_types: [u32; 2],
    /// Inclusive range of DFS steps (moves plus backtracks), per split.
    pub simple_steps: [u32; 2],
    pub hard_steps: [u32; 2],
}

impl Default for GridConfig {
    fn default() -> Self {
        Self {
            rows: [8, 12],
            cols: [8, 12],
            obstacle_fraction: 1.0 / 3.0,
            simple_objects: [1, 2],
            hard_objects: [2, 5],
            simple_obstacle_types: [1, 1],
            hard_obstacle_types: [3, 5],
            simple_steps: [10, 25],
            hard_steps: [26, 60],
        }
    }
}

/// The ranges that define one split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GridSplitRanges {
    pub objects: [u32; 2],
    pub obstacle_types: [u32; 2],
    pub steps: [u32; 2],
}

impl GridConfig {
    pub fn split_ranges(&self, split: Split) -> Result<GridSplitRanges> {
        TaskKind::Grid.check_split(split)?;
        Ok(match split {
            Split::Simple => GridSplitRanges {
                objects: self.simple_objects,
                obstacle_types: self.simple_obstacle_types,
                steps: self.simple_steps,
            },
            _ => GridSplitRanges {
                objects: self.hard_objects,
                obstacle_types: self.hard_obstacle_types,
                steps: self.hard_steps,
            },
        })
    }

    /// Obstacles on a `rows` × `cols` grid with `objects` objects: the configured share of the
    /// cells left after S, D and the objects.
    pub fn obstacle_count(&self, rows: u32, cols: u32, objects: u32) -> u32 {
        let free = (u64::from(rows) * u64::from(cols)).saturating_sub(2 + u64::from(objects));
        let count = (free as f64 * self.obstacle_fraction).round();
        // The float is validated into [0, 1), so this only guards against a config never
        // validated; the result is at most `free`.
        (count.max(0.0) as u64).min(free).min(u64::from(u32::MAX)) as u32
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| {
            Err(TaskError::InvalidConfig {
                task: TaskKind::Grid,
                reason,
            })
        };
        for (name, [lo, hi]) in [("rows", self.rows), ("cols", self.cols)] {
            if lo == 0 || lo > hi || hi > MAX_SIDE {
                return bad(format!(
                    "{name} [{lo}, {hi}] must be a range with 1 <= low <= high <= {MAX_SIDE}"
                ));
            }
        }
        let f = self.obstacle_fraction;
        if !(f.is_finite() && (0.0..1.0).contains(&f)) {
            return bad(format!(
                "obstacle_fraction {f} must be at least 0 and below 1 (a share of the free cells)"
            ));
        }
        for (split, prefix) in [(Split::Simple, "simple"), (Split::Hard, "hard")] {
            let r = self.split_ranges(split)?;
            let [o_lo, o_hi] = r.objects;
            if o_lo > o_hi || o_hi as usize > OBJECTS.len() {
                return bad(format!(
                    "{prefix}_objects [{o_lo}, {o_hi}] must be a range with low <= high <= {} \
                     (objects have distinct names)",
                    OBJECTS.len()
                ));
            }
            let [t_lo, t_hi] = r.obstacle_types;
            if t_lo == 0 || t_lo > t_hi || t_hi as usize > OBSTACLES.len() {
                return bad(format!(
                    "{prefix}_obstacle_types [{t_lo}, {t_hi}] must be a range with \
                     1 <= low <= high <= {}",
                    OBSTACLES.len()
                ));
            }
            let [s_lo, s_hi] = r.steps;
            if s_lo == 0 || s_lo > s_hi || s_hi > DFS_STEP_CAP {
                return bad(format!(
                    "{prefix}_steps [{s_lo}, {s_hi}] must be a range with \
                     1 <= low <= high <= {DFS_STEP_CAP}"
                ));
            }
            // The smallest grid with the most objects is the tightest case for both checks.
            let (rows, cols) = (self.rows[0], self.cols[0]);
            if u64::from(rows) * u64::from(cols) < 2 + u64::from(o_hi) {
                return bad(format!(
                    "a {rows}x{cols} grid cannot hold S, D and {o_hi} objects ({prefix}_objects)"
                ));
            }
            let obstacles = self.obstacle_count(rows, cols, o_hi);
            if obstacles < t_hi {
                return bad(format!(
                    "a {rows}x{cols} grid with {o_hi} objects gets only {obstacles} obstacles \
                     (obstacle_fraction {f}), fewer than the {t_hi} obstacle types \
                     {prefix}_obstacle_types asks for; every type in use must appear"
                ));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Generation

/// Generate the Grid Navigation instance `(split, seed, index)`.
///
/// The grid size, the object count and names, and the obstacle types and kinds are drawn once;
/// only the positions are redrawn until the search reaches D within the split's step range.
/// Redrawing the counts too would skew them towards the values that pass more often (more
/// objects make longer searches), and the split requires them uniform.
pub fn generate(config: &GridConfig, split: Split, seed: u64, index: u64) -> Result<GridInstance> {
    TaskKind::Grid.check_split(split)?;
    config.validate()?;
    let ranges = config.split_ranges(split)?;
    let mut rng = TaskRng::for_instance(TaskKind::Grid, split, seed, index);
    let draw = |rng: &mut TaskRng, [lo, hi]: [u32; 2]| rng.range(lo as usize, hi as usize) as u32;
    let rows = draw(&mut rng, config.rows);
    let cols = draw(&mut rng, config.cols);
    let object_count = draw(&mut rng, ranges.objects);
    let type_count = draw(&mut rng, ranges.obstacle_types);
    let names: Vec<&str> = rng
        .sample_distinct(OBJECTS.len(), object_count as usize)
        .into_iter()
        .map(|i| OBJECTS[i].0)
        .collect();
    let types: Vec<ObstacleKind> = rng
        .sample_distinct(ObstacleKind::ALL.len(), type_count as usize)
        .into_iter()
        .map(|i| ObstacleKind::ALL[i])
        .collect();
    let obstacle_count = config.obstacle_count(rows, cols, object_count) as usize;
    // Each type in use on one cell at least (validate ensured there are enough obstacles), the
    // rest uniform over the types. Positions are a uniform random arrangement, so which slot
    // gets which kind does not matter.
    let kinds: Vec<ObstacleKind> = (0..obstacle_count)
        .map(|i| types.get(i).copied().unwrap_or_else(|| *rng.choose(&types)))
        .collect();
    let mut obstacle_types = types;
    obstacle_types.sort_unstable();

    let cell_count = rows as usize * cols as usize;
    let cell = |i: usize| {
        Cell::new(
            (i / cols as usize) as u32 + 1,
            (i % cols as usize) as u32 + 1,
        )
    };
    let [lo, hi] = ranges.steps;
    for attempt in 1..=MAX_ATTEMPTS {
        let cells = rng.sample_distinct(cell_count, 2 + names.len() + obstacle_count);
        let (things, obstacle_cells) = cells.split_at(2 + names.len());
        let objects = names
            .iter()
            .zip(&things[2..])
            .map(|(&name, &i)| GridObject {
                name: name.to_string(),
                cell: cell(i),
            })
            .collect();
        let mut obstacles: Vec<GridObstacle> = kinds
            .iter()
            .zip(obstacle_cells)
            .map(|(&kind, &i)| GridObstacle {
                kind,
                cell: cell(i),
            })
            .collect();
        obstacles.sort_by_key(|o| o.cell);
        let mut instance = GridInstance {
            rows,
            cols,
            start: cell(things[0]),
            destination: cell(things[1]),
            objects,
            obstacles,
            obstacle_types: obstacle_types.clone(),
            dfs_steps: 0,
            backtracks: 0,
            attempts: attempt,
            config: config.clone(),
        };
        // Searching no further than the split allows keeps rejected draws cheap.
        let trace = run_dfs(&instance, hi);
        let steps = trace.steps() as u32;
        if trace.outcome != DfsOutcome::Reached || steps < lo {
            continue;
        }
        instance.dfs_steps = steps;
        instance.backtracks = trace.backtracks() as u32;
        return Ok(instance);
    }
    Err(TaskError::GenerationFailed {
        task: TaskKind::Grid,
        split,
        seed,
        index,
        attempts: MAX_ATTEMPTS,
    })
}

// ---------------------------------------------------------------------------------------------
// The search

/// The whole search, leg by leg: what the chain of thought spells out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DfsTrace {
    /// Every leg begun, in order; the last one is unfinished unless `outcome` is `Reached`.
    pub legs: Vec<DfsLeg>,
    pub outcome: DfsOutcome,
}

/// How a search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DfsOutcome {
    /// Entered D with every object collected.
    Reached,
    /// A leg found no valid move at `at` with nothing left to backtrack to.
    Stuck { at: Cell },
    /// Stopped after `limit` steps without reaching D.
    StepLimit { limit: u32 },
}

/// One leg: from where the previous leg ended (S for the first) to the leg's target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DfsLeg {
    pub start: Cell,
    pub target: LegTarget,
    pub steps: Vec<DfsStep>,
    /// The leg's final stack: the moves from `start` it keeps once backtracked branches are
    /// removed. The gold answer is these, leg after leg.
    pub path: Vec<Move>,
}

impl DfsLeg {
    /// True when the leg's last step entered its target.
    pub fn reached(&self) -> bool {
        matches!(
            self.steps.last(),
            Some(DfsStep {
                action: DfsAction::Move {
                    reaches_target: true,
                    ..
                },
                ..
            })
        )
    }
}

/// What a leg heads for: the nearest uncollected object, or D once all are collected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegTarget {
    Object { name: String, cell: Cell },
    Destination { cell: Cell },
}

impl LegTarget {
    pub fn cell(&self) -> Cell {
        match self {
            LegTarget::Object { cell, .. } | LegTarget::Destination { cell } => *cell,
        }
    }
}

/// One step of a leg: standing on `at`, the moves tried in preference order were rejected for
/// the reasons in `rejected`, and then `action` was taken (the first valid move, or a backtrack
/// once all four were rejected).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DfsStep {
    pub at: Cell,
    pub rejected: Vec<RejectedMove>,
    pub action: DfsAction,
}

/// A move tried and found invalid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedMove {
    pub direction: Move,
    pub reason: InvalidMove,
}

/// Why a move is invalid. A cell can only ever fail one of these on a well-formed grid; the
/// checks run in the order listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvalidMove {
    /// It would leave the grid (there is no wrap-around).
    Outside,
    Obstacle(ObstacleKind),
    /// The cell was already entered in this leg (or is where the leg began).
    Visited,
    /// The cell holds another uncollected object, one a later leg collects.
    ObjectCollectedLater(String),
    /// The cell is D but some object is still uncollected.
    DestinationTooEarly,
}

/// What a step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DfsAction {
    /// Took the first valid move. `reaches_target` marks the step that enters the leg's
    /// target: an object is collected there (or D reached) and the leg ends.
    Move {
        direction: Move,
        to: Cell,
        reaches_target: bool,
    },
    /// No move was valid: stepped back to the cell the leg came from.
    Backtrack { to: Cell },
}

impl DfsTrace {
    /// DFS steps (moves plus backtracks) over all legs.
    pub fn steps(&self) -> usize {
        self.legs.iter().map(|l| l.steps.len()).sum()
    }

    pub fn backtracks(&self) -> usize {
        self.legs
            .iter()
            .flat_map(|l| &l.steps)
            .filter(|s| matches!(s.action, DfsAction::Backtrack { .. }))
            .count()
    }

    /// Each leg's final stack, concatenated (the gold answer when the search reached D).
    pub fn moves(&self) -> Vec<Move> {
        self.legs
            .iter()
            .flat_map(|l| l.path.iter().copied())
            .collect()
    }
}

/// The four moves from `from` in the order the search tries them towards `target`: nearest
/// neighbour (Manhattan distance) first, ties broken up, down, left, right. Neighbours off the
/// grid are ranked too, by where they would be.
pub fn preference_order(from: Cell, target: Cell) -> [Move; 4] {
    let mut order = [Move::Up, Move::Down, Move::Left, Move::Right];
    // A stable sort keeps the up, down, left, right order among equal distances.
    order.sort_by_key(|&m| {
        let (r, c) = offset(from, m);
        r.abs_diff(i64::from(target.row)) + c.abs_diff(i64::from(target.col))
    });
    order
}

/// The neighbour of `cell` in direction `m`, in signed coordinates (it may be off the grid).
fn offset(cell: Cell, m: Move) -> (i64, i64) {
    let (dr, dc) = m.delta();
    (i64::from(cell.row) + dr, i64::from(cell.col) + dc)
}

fn manhattan(a: Cell, b: Cell) -> u32 {
    a.row.abs_diff(b.row) + a.col.abs_diff(b.col)
}

/// What the search needs to know about a cell besides being inside.
#[derive(Debug, Clone, Copy)]
enum Content {
    Obstacle(ObstacleKind),
    /// Index into the instance's objects.
    Object(usize),
    Destination,
}

/// An instance indexed by cell for the search and the verifier.
struct Board<'a> {
    instance: &'a GridInstance,
    contents: HashMap<Cell, Content>,
}

impl<'a> Board<'a> {
    fn new(instance: &'a GridInstance) -> Self {
        // On a malformed instance with stacked things, the later insertion wins: D, then an
        // object, then an obstacle.
        let mut contents = HashMap::new();
        for o in &instance.obstacles {
            contents.insert(o.cell, Content::Obstacle(o.kind));
        }
        for (i, o) in instance.objects.iter().enumerate() {
            contents.insert(o.cell, Content::Object(i));
        }
        contents.insert(instance.destination, Content::Destination);
        Self { instance, contents }
    }

    /// The neighbour of `cell` towards `m`, if it lies inside the grid.
    fn neighbour(&self, cell: Cell, m: Move) -> Option<Cell> {
        let (r, c) = offset(cell, m);
        let inside = (1..=i64::from(self.instance.rows)).contains(&r)
            && (1..=i64::from(self.instance.cols)).contains(&c);
        inside.then(|| Cell::new(r as u32, c as u32))
    }

    /// The cell `m` leads to from `at` within a leg heading for `goal`, or why it is invalid.
    fn check(
        &self,
        at: Cell,
        m: Move,
        goal: Cell,
        visited: &HashSet<Cell>,
        collected: &[bool],
    ) -> std::result::Result<Cell, InvalidMove> {
        let to = self.neighbour(at, m).ok_or(InvalidMove::Outside)?;
        let content = self.contents.get(&to).copied();
        if let Some(Content::Obstacle(kind)) = content {
            return Err(InvalidMove::Obstacle(kind));
        }
        if visited.contains(&to) {
            return Err(InvalidMove::Visited);
        }
        if to == goal {
            return Ok(to);
        }
        match content {
            Some(Content::Object(i)) if !collected.get(i).copied().unwrap_or(true) => {
                let name = self.instance.objects.get(i).map(|o| o.name.clone());
                Err(InvalidMove::ObjectCollectedLater(name.unwrap_or_default()))
            }
            Some(Content::Destination) => Err(InvalidMove::DestinationTooEarly),
            _ => Ok(to),
        }
    }

    /// The nearest uncollected object from `from` (ties: lowest row, then lowest column), or D
    /// once every object is collected.
    fn next_target(&self, from: Cell, collected: &[bool]) -> (LegTarget, Option<usize>) {
        let nearest = self
            .instance
            .objects
            .iter()
            .enumerate()
            .filter(|&(i, _)| !collected.get(i).copied().unwrap_or(true))
            .min_by_key(|&(i, o)| (manhattan(from, o.cell), o.cell.row, o.cell.col, i));
        match nearest {
            Some((i, o)) => (
                LegTarget::Object {
                    name: o.name.clone(),
                    cell: o.cell,
                },
                Some(i),
            ),
            None => (
                LegTarget::Destination {
                    cell: self.instance.destination,
                },
                None,
            ),
        }
    }
}

/// The search of SPEC §4, stopped after `step_limit` steps.
fn run_dfs(instance: &GridInstance, step_limit: u32) -> DfsTrace {
    let board = Board::new(instance);
    let mut collected = vec![false; instance.objects.len()];
    let mut legs = Vec::new();
    let mut here = instance.start;
    let mut steps: u32 = 0;
    loop {
        let (target, object) = board.next_target(here, &collected);
        let goal = target.cell();
        let mut leg = DfsLeg {
            start: here,
            target,
            steps: Vec::new(),
            path: Vec::new(),
        };
        let mut visited = HashSet::from([here]);
        // Cells the leg's moves came from, parallel to `leg.path`: where a backtrack returns.
        let mut came_from: Vec<Cell> = Vec::new();
        let mut at = here;
        let failure = loop {
            if steps >= step_limit {
                break Some(DfsOutcome::StepLimit { limit: step_limit });
            }
            let mut rejected = Vec::new();
            let mut chosen = None;
            for direction in preference_order(at, goal) {
                match board.check(at, direction, goal, &visited, &collected) {
                    Ok(to) => {
                        chosen = Some((direction, to));
                        break;
                    }
                    Err(reason) => rejected.push(RejectedMove { direction, reason }),
                }
            }
            let from = at;
            let action = match chosen {
                Some((direction, to)) => {
                    visited.insert(to);
                    leg.path.push(direction);
                    came_from.push(at);
                    at = to;
                    DfsAction::Move {
                        direction,
                        to,
                        reaches_target: to == goal,
                    }
                }
                None => match came_from.pop() {
                    Some(previous) => {
                        leg.path.pop();
                        at = previous;
                        DfsAction::Backtrack { to: previous }
                    }
                    None => break Some(DfsOutcome::Stuck { at }),
                },
            };
            steps += 1;
            leg.steps.push(DfsStep {
                at: from,
                rejected,
                action,
            });
            if matches!(
                action,
                DfsAction::Move {
                    reaches_target: true,
                    ..
                }
            ) {
                break None;
            }
        };
        legs.push(leg);
        if let Some(outcome) = failure {
            return DfsTrace { legs, outcome };
        }
        match object {
            Some(i) => {
                if let Some(c) = collected.get_mut(i) {
                    *c = true;
                }
                here = goal;
            }
            None => {
                return DfsTrace {
                    legs,
                    outcome: DfsOutcome::Reached,
                };
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Verification

/// Check any move list by walking it from S (SPEC §4): correct iff it stays inside the grid,
/// never enters an obstacle, collects every object (in any order, by entering its cell) and
/// ends on D. Passing over D earlier is allowed.
///
/// Sub-metrics (paper appendix K.2):
/// - `stays_inside` (0/1).
/// - `reaches_destination_ignoring_obstacles` (0/1): the walk ends on D, obstacles treated as
///   empty cells and objects not required.
/// - `objects_collected`: fraction of the objects entered (1 when there are none).
/// - `obstacles_entered`: number of distinct obstacle cells entered.
///
/// A move off the grid ends the walk there: there is no cell to stand on and no wrap-around
/// (SPEC §16), so the moves after it are ignored by every sub-metric and such a walk never
/// reaches D. Counting on with the walk "outside" would credit paths that only make sense on a
/// larger grid.
pub fn verify(instance: &GridInstance, answer: &GridAnswer) -> Verdict {
    let board = Board::new(instance);
    let mut collected = vec![false; instance.objects.len()];
    let mut obstacles_hit = HashSet::new();
    let mut at = instance.start;
    let mut stays_inside = instance.contains(at);
    if stays_inside {
        for &m in &answer.moves {
            let Some(next) = board.neighbour(at, m) else {
                stays_inside = false;
                break;
            };
            at = next;
            // Several objects can only share a cell in a malformed instance; collect them all.
            for (i, o) in instance.objects.iter().enumerate() {
                if o.cell == at {
                    collected[i] = true;
                }
            }
            if instance.obstacles.iter().any(|o| o.cell == at) {
                obstacles_hit.insert(at);
            }
        }
    }
    let reaches = stays_inside && at == instance.destination;
    let got = collected.iter().filter(|&&c| c).count();
    let fraction = if collected.is_empty() {
        1.0
    } else {
        got as f64 / collected.len() as f64
    };
    let correct = reaches && obstacles_hit.is_empty() && got == collected.len();
    Verdict::new(correct)
        .with("stays_inside", f64::from(u8::from(stays_inside)))
        .with(
            "reaches_destination_ignoring_obstacles",
            f64::from(u8::from(reaches)),
        )
        .with("objects_collected", fraction)
        .with("obstacles_entered", obstacles_hit.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(split: Split, index: u64) -> GridInstance {
        generate(&GridConfig::default(), split, 0, index).unwrap()
    }

    /// A hand-made layout from a picture: `.` empty, `S`, `D`, `#` a dot obstacle, `x` a
    /// cross obstacle, any other word an object of that name.
    fn layout(picture: &[&str]) -> GridInstance {
        let mut start = None;
        let mut destination = None;
        let mut objects = Vec::new();
        let mut obstacles = Vec::new();
        let rows = picture.len() as u32;
        let mut cols = 0;
        for (r, line) in picture.iter().enumerate() {
            let words: Vec<&str> = line.split_whitespace().collect();
            cols = words.len() as u32;
            for (c, &w) in words.iter().enumerate() {
                let cell = Cell::new(r as u32 + 1, c as u32 + 1);
                match w {
                    "." => {}
                    "S" => start = Some(cell),
                    "D" => destination = Some(cell),
                    "#" => obstacles.push(GridObstacle {
                        kind: ObstacleKind::Dot,
                        cell,
                    }),
                    "x" => obstacles.push(GridObstacle {
                        kind: ObstacleKind::Cross,
                        cell,
                    }),
                    name => objects.push(GridObject {
                        name: name.to_string(),
                        cell,
                    }),
                }
            }
        }
        GridInstance::from_layout(
            rows,
            cols,
            start.unwrap(),
            destination.unwrap(),
            objects,
            obstacles,
        )
    }

    fn moves(words: &str) -> Vec<Move> {
        words
            .split_whitespace()
            .map(|w| w.parse().unwrap())
            .collect()
    }

    fn answer(words: &str) -> GridAnswer {
        GridAnswer {
            moves: moves(words),
        }
    }

    fn rejected(step: &DfsStep) -> Vec<(Move, InvalidMove)> {
        step.rejected
            .iter()
            .map(|r| (r.direction, r.reason.clone()))
            .collect()
    }

    fn moved(direction: Move, to: [u32; 2], reaches_target: bool) -> DfsAction {
        DfsAction::Move {
            direction,
            to: Cell::from(to),
            reaches_target,
        }
    }

    /// Every cell holds at most one thing, all inside, S != D, names and kinds well formed.
    fn assert_well_formed(inst: &GridInstance) {
        let mut seen = HashSet::new();
        let things = [inst.start, inst.destination]
            .into_iter()
            .chain(inst.objects.iter().map(|o| o.cell))
            .chain(inst.obstacles.iter().map(|o| o.cell));
        for c in things {
            assert!(inst.contains(c), "{c} outside: {inst:?}");
            assert!(seen.insert(c), "{c} holds two things: {inst:?}");
        }
        let names: HashSet<&str> = inst.objects.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names.len(), inst.objects.len());
        assert!(names.iter().all(|n| object_glyph(n).is_some()));
        let kinds: HashSet<ObstacleKind> = inst.obstacles.iter().map(|o| o.kind).collect();
        let types: HashSet<ObstacleKind> = inst.obstacle_types.iter().copied().collect();
        assert_eq!(kinds, types, "every type in use appears, and only those");
    }

    #[test]
    fn generation_is_a_pure_function_of_its_coordinates() {
        assert_eq!(grid(Split::Hard, 17), grid(Split::Hard, 17));
        assert_ne!(grid(Split::Hard, 17), grid(Split::Hard, 18));
        assert_ne!(grid(Split::Simple, 17), grid(Split::Hard, 17));
        let other_seed = generate(&GridConfig::default(), Split::Hard, 1, 17).unwrap();
        assert_ne!(other_seed, grid(Split::Hard, 17));
    }

    #[test]
    fn split_targets_hold_over_2000_instances() {
        const N: u64 = 2000;
        let config = GridConfig::default();
        for split in [Split::Simple, Split::Hard] {
            let r = config.split_ranges(split).unwrap();
            let mut step_counts = HashMap::new();
            let mut object_counts = HashMap::new();
            let mut type_counts = HashMap::new();
            let mut sizes = HashSet::new();
            let mut rejected_draws = 0u64;
            let mut backtracking = 0;
            for i in 0..N {
                let inst = grid(split, i);
                assert_well_formed(&inst);
                assert!(inst.attempts >= 1);
                rejected_draws += u64::from(inst.attempts - 1);
                sizes.insert((inst.rows, inst.cols));

                let trace = inst.dfs_trace();
                assert_eq!(trace.outcome, DfsOutcome::Reached);
                assert_eq!(trace.steps() as u32, inst.dfs_steps);
                assert_eq!(trace.backtracks() as u32, inst.backtracks);
                assert_eq!(trace.legs.len(), inst.objects.len() + 1);
                assert!(trace.legs.iter().all(DfsLeg::reached));
                if inst.backtracks > 0 {
                    backtracking += 1;
                }
                let v = verify(&inst, &inst.gold_answer());
                assert!(v.correct, "gold answer fails: {inst:?}");
                assert_eq!(v.metric("objects_collected"), Some(1.0));

                let steps = inst.dfs_steps;
                assert!((r.steps[0]..=r.steps[1]).contains(&steps), "{steps} steps");
                let objects = inst.objects.len() as u32;
                assert!((r.objects[0]..=r.objects[1]).contains(&objects));
                let types = inst.obstacle_types.len() as u32;
                assert!((r.obstacle_types[0]..=r.obstacle_types[1]).contains(&types));

                // A third of the free cells, to the nearest cell.
                let free = inst.rows * inst.cols - 2 - objects;
                let share = inst.obstacles.len() as f64 / f64::from(free);
                assert!(
                    (share - 1.0 / 3.0).abs() <= 0.5 / f64::from(free) + 1e-9,
                    "{share}"
                );

                *step_counts.entry(steps).or_insert(0usize) += 1;
                *object_counts.entry(objects).or_insert(0usize) += 1;
                *type_counts.entry(types).or_insert(0usize) += 1;
            }
            // Object and type counts are uniform: each value within 20% of its share.
            for (counts, [lo, hi]) in [
                (&object_counts, r.objects),
                (&type_counts, r.obstacle_types),
            ] {
                let expected = N as f64 / f64::from(hi - lo + 1);
                for v in lo..=hi {
                    let got = counts.get(&v).copied().unwrap_or(0) as f64;
                    assert!(
                        (got - expected).abs() < 0.2 * expected,
                        "{split}: {v} x {got}, {counts:?}"
                    );
                }
            }
            // Step counts cover the whole range.
            for s in r.steps[0]..=r.steps[1] {
                assert!(
                    step_counts.contains_key(&s),
                    "{split}: no instance with {s} steps: {step_counts:?}"
                );
            }
            assert_eq!(sizes.len(), 25, "every grid size appears");
            assert!(
                backtracking > N / 20,
                "{split}: only {backtracking} searches backtrack"
            );
            let mut histogram: Vec<_> = step_counts.into_iter().collect();
            histogram.sort_unstable();
            println!(
                "{split}: mean rejected draws per accepted instance {:.2}; \
                 {backtracking}/{N} searches backtrack; steps {histogram:?}",
                rejected_draws as f64 / N as f64
            );
        }
    }

    /// The search of SPEC §4 worked by hand on a 5x5 grid. Leg 1 heads for `a` (distance 3;
    /// `b` 4, `c` 5 away), walks into the cup below S, backtracks, refuses D on the way and goes
    /// round the right side. Then `c` (2 away from `a`, `b` 3), `b`, and D.
    #[test]
    fn hand_worked_search_backtracks_and_refuses_the_destination_too_early() {
        let inst = layout(&[
            ". D . . .", //
            ". # S # .",
            ". # . # .",
            "b # # # .",
            "c . a . .",
        ]);
        let trace = inst.dfs_trace();
        assert_eq!(trace.outcome, DfsOutcome::Reached);
        let targets: Vec<Cell> = trace.legs.iter().map(|l| l.target.cell()).collect();
        assert_eq!(
            targets,
            [[5, 3], [5, 1], [4, 1], [1, 2]].map(Cell::from).to_vec()
        );
        assert_eq!(
            trace.legs[0].target,
            LegTarget::Object {
                name: "a".into(),
                cell: Cell::new(5, 3)
            }
        );
        assert_eq!(
            trace.legs[3].target,
            LegTarget::Destination {
                cell: Cell::new(1, 2)
            }
        );
        let [leg1, leg2, leg3, leg4] = &trace.legs[..] else {
            panic!("4 legs expected: {trace:?}");
        };
        use InvalidMove::*;
        use Move::*;
        let obstacle = Obstacle(ObstacleKind::Dot);
        assert_eq!(leg1.steps.len(), 11);
        let s = &leg1.steps;
        assert_eq!((s[0].at, rejected(&s[0])), (Cell::new(2, 3), vec![]));
        assert_eq!(s[0].action, moved(Down, [3, 3], false));
        // In the cup: every move is invalid, so back out.
        assert_eq!(
            rejected(&s[1]),
            vec![
                (Down, obstacle.clone()),
                (Up, Visited),
                (Left, obstacle.clone()),
                (Right, obstacle.clone())
            ]
        );
        assert_eq!(
            s[1].action,
            DfsAction::Backtrack {
                to: Cell::new(2, 3)
            }
        );
        assert_eq!(rejected(&s[2]), vec![(Down, Visited)]);
        assert_eq!(s[2].action, moved(Up, [1, 3], false));
        assert_eq!(
            rejected(&s[3]),
            vec![(Down, Visited), (Up, Outside), (Left, DestinationTooEarly)]
        );
        assert_eq!(s[3].action, moved(Right, [1, 4], false));
        assert_eq!(
            rejected(&s[4]),
            vec![(Down, obstacle.clone()), (Left, Visited), (Up, Outside)]
        );
        assert_eq!(s[4].action, moved(Right, [1, 5], false));
        assert_eq!(s[9].at, Cell::new(5, 5));
        assert_eq!(s[9].action, moved(Left, [5, 4], false));
        assert_eq!(s[10].action, moved(Left, [5, 3], true));
        assert_eq!(
            leg1.path,
            moves("up right right down down down down left left")
        );

        assert_eq!(leg2.start, Cell::new(5, 3));
        assert_eq!(leg2.path, moves("left left"));
        assert_eq!(leg3.path, moves("up"));
        // Towards D: up and right tie at distance 3 and up goes first; right is an obstacle
        // one row later, and the last step enters D.
        assert_eq!(leg4.path, moves("up up up right"));
        assert_eq!(rejected(&leg4.steps[0]), vec![]);
        assert_eq!(leg4.steps[3].action, moved(Right, [1, 2], true));

        assert_eq!((trace.steps(), trace.backtracks()), (18, 1));
        assert_eq!((inst.dfs_steps, inst.backtracks), (18, 1));
        let gold = inst.gold_answer();
        assert_eq!(
            gold.moves,
            moves("up right right down down down down left left left left up up up up right")
        );
        assert!(verify(&inst, &gold).correct);
    }

    /// The same grid with `b` moved next to `a`'s only other approach: leg 1 exhausts both
    /// sides, backtracks to S and has nowhere left to go.
    #[test]
    fn hand_worked_search_reports_a_dead_end() {
        let inst = layout(&[
            ". D . . .", //
            ". # S # .",
            ". # . # .",
            ". # # # .",
            "c . a b .",
        ]);
        let trace = inst.dfs_trace();
        assert_eq!(
            trace.outcome,
            DfsOutcome::Stuck {
                at: Cell::new(2, 3)
            }
        );
        assert_eq!(trace.legs.len(), 1);
        let s = &trace.legs[0].steps;
        assert_eq!(s.len(), 16);
        assert_eq!(s[9].at, Cell::new(5, 5));
        assert_eq!(
            rejected(&s[9]),
            vec![
                (Move::Left, InvalidMove::ObjectCollectedLater("b".into())),
                (Move::Up, InvalidMove::Visited),
                (Move::Down, InvalidMove::Outside),
                (Move::Right, InvalidMove::Outside),
            ]
        );
        assert!(
            s[9..]
                .iter()
                .all(|st| matches!(st.action, DfsAction::Backtrack { .. }))
        );
        assert_eq!(trace.backtracks(), 8);
        assert!(trace.legs[0].path.is_empty());
        assert!(!trace.legs[0].reached());
        assert!(!verify(&inst, &inst.gold_answer()).correct);
    }

    /// Objects `far` and `mid` are both 3 away from S; the lower row wins. On the way the
    /// search refuses to step on `mid` twice (it is collected later).
    #[test]
    fn hand_worked_search_breaks_target_ties_by_row_and_skips_later_objects() {
        let inst = layout(&[
            "S . # far", //
            ". . mid .",
            "D . . .",
        ]);
        let trace = inst.dfs_trace();
        assert_eq!(trace.outcome, DfsOutcome::Reached);
        let names: Vec<&LegTarget> = trace.legs.iter().map(|l| &l.target).collect();
        assert!(matches!(names[0], LegTarget::Object { name, .. } if name == "far"));
        assert!(matches!(names[1], LegTarget::Object { name, .. } if name == "mid"));
        let s = &trace.legs[0].steps;
        use InvalidMove::*;
        use Move::*;
        assert_eq!(rejected(&s[0]), vec![]);
        assert_eq!(s[0].action, moved(Right, [1, 2], false));
        assert_eq!(
            rejected(&s[1]),
            vec![(Right, Obstacle(ObstacleKind::Dot)), (Up, Outside)]
        );
        assert_eq!(
            rejected(&s[2]),
            vec![(Up, Visited), (Right, ObjectCollectedLater("mid".into()))]
        );
        assert_eq!(s[2].action, moved(Down, [3, 2], false));
        assert_eq!(rejected(&s[3]), vec![(Up, Visited)]);
        assert_eq!(
            rejected(&s[4]),
            vec![(Up, ObjectCollectedLater("mid".into()))]
        );
        assert_eq!(s[4].action, moved(Right, [3, 4], false));
        assert_eq!(
            trace.legs[0].path,
            moves("right down down right right up up")
        );
        assert_eq!(trace.legs[1].path, moves("down left"));
        assert_eq!(trace.legs[2].path, moves("down left left"));
        assert_eq!(trace.steps(), 12);
        assert!(verify(&inst, &inst.gold_answer()).correct);
    }

    /// Two objects 2 away in the same row: the lower column wins. The next leg walks back over
    /// cells the first one visited, since each leg starts with a fresh visited set.
    #[test]
    fn hand_worked_search_breaks_target_ties_by_column_with_fresh_visited_sets() {
        let inst = layout(&[
            "left . S . right", //
            ". . . . D",
        ]);
        let trace = inst.dfs_trace();
        let targets: Vec<Cell> = trace.legs.iter().map(|l| l.target.cell()).collect();
        assert_eq!(targets, [[1, 1], [1, 5], [2, 5]].map(Cell::from).to_vec());
        assert_eq!(
            inst.gold_answer().moves,
            moves("left left right right right right down")
        );
        assert_eq!((trace.steps(), trace.backtracks()), (7, 0));
        assert!(
            trace
                .legs
                .iter()
                .all(|l| l.steps.iter().all(|s| s.rejected.is_empty()))
        );
    }

    #[test]
    fn preference_order_ranks_by_distance_then_up_down_left_right() {
        use Move::*;
        assert_eq!(
            preference_order(Cell::new(3, 3), Cell::new(3, 3)),
            [Up, Down, Left, Right]
        );
        assert_eq!(
            preference_order(Cell::new(3, 3), Cell::new(5, 5)),
            [Down, Right, Up, Left]
        );
        assert_eq!(
            preference_order(Cell::new(3, 3), Cell::new(1, 2)),
            [Up, Left, Down, Right]
        );
        // Off-grid neighbours are ranked by where they would be.
        assert_eq!(
            preference_order(Cell::new(1, 1), Cell::new(1, 4)),
            [Right, Up, Down, Left]
        );
    }

    /// A 3x3 grid: S top-left, an object in the middle, D bottom-right, one obstacle.
    fn small() -> GridInstance {
        layout(&[
            "S . .", //
            ". star x", ". . D",
        ])
    }

    #[test]
    fn moves_off_any_edge_are_rejected_without_wrapping() {
        let inst = small();
        let good = verify(&inst, &answer("right down down right"));
        assert!(good.correct, "{good:?}");
        assert_eq!(good.metric("stays_inside"), Some(1.0));
        // Each walk steps off one edge and straight back; were outside cells allowed, each
        // would collect the star and end on D.
        for walk in [
            "up down right down down right",
            "right down down down up right",
            "left right right down down right",
            "right right right left left down down right",
        ] {
            let v = verify(&inst, &answer(walk));
            assert!(!v.correct, "{walk}");
            assert_eq!(v.metric("stays_inside"), Some(0.0), "{walk}");
            assert_eq!(
                v.metric("reaches_destination_ignoring_obstacles"),
                Some(0.0),
                "{walk}"
            );
        }
        // Moves after leaving count for nothing: the star below the exit point is not collected.
        let v = verify(&inst, &answer("left right right down down right"));
        assert_eq!(v.metric("objects_collected"), Some(0.0));
    }

    #[test]
    fn entering_an_obstacle_is_rejected_and_counted() {
        let inst = small();
        let v = verify(&inst, &answer("down right right down"));
        assert!(!v.correct);
        assert_eq!(v.metric("obstacles_entered"), Some(1.0));
        assert_eq!(
            v.metric("reaches_destination_ignoring_obstacles"),
            Some(1.0)
        );
        assert_eq!(v.metric("objects_collected"), Some(1.0));
        assert_eq!(v.metric("stays_inside"), Some(1.0));
        // The same obstacle cell entered twice counts once.
        let v = verify(&inst, &answer("down right right left right down"));
        assert_eq!(v.metric("obstacles_entered"), Some(1.0));
    }

    #[test]
    fn skipped_objects_and_short_walks_are_rejected() {
        let inst = small();
        let skip = verify(&inst, &answer("right right down down"));
        assert!(!skip.correct);
        assert_eq!(skip.metric("objects_collected"), Some(0.0));
        // Entering an obstacle on the way does not change what is collected.
        assert_eq!(skip.metric("obstacles_entered"), Some(1.0));
        assert_eq!(
            skip.metric("reaches_destination_ignoring_obstacles"),
            Some(1.0)
        );
        let skip = verify(&inst, &answer("down down right right"));
        assert!(!skip.correct);
        assert_eq!(skip.metric("objects_collected"), Some(0.0));
        assert_eq!(skip.metric("obstacles_entered"), Some(0.0));

        let short = verify(&inst, &answer("right down"));
        assert!(!short.correct);
        assert_eq!(short.metric("objects_collected"), Some(1.0));
        assert_eq!(
            short.metric("reaches_destination_ignoring_obstacles"),
            Some(0.0)
        );
        let empty = verify(&inst, &GridAnswer::default());
        assert!(!empty.correct);
        // Passing over D and coming back is fine; collecting in any order is fine.
        let two = layout(&["S a D b"]);
        assert!(verify(&two, &answer("right right right left")).correct);
        assert!(!verify(&two, &answer("right right")).correct);
        let v = verify(&two, &answer("right right"));
        assert_eq!(v.metric("objects_collected"), Some(0.5));
    }

    #[test]
    fn malformed_instances_do_not_panic() {
        let mut inst = small();
        inst.objects.push(GridObject {
            name: "nowhere".into(),
            cell: Cell::new(0, 9),
        });
        assert!(inst.dfs_trace().outcome != DfsOutcome::Reached);
        assert!(!verify(&inst, &inst.gold_answer()).correct);
        // A huge grid with an unreachable destination stops at the step cap.
        let mut huge = small();
        huge.rows = 1_000_000_000;
        huge.cols = 1_000_000_000;
        huge.destination = Cell::new(0, 0);
        huge.objects.clear();
        let trace = huge.dfs_trace();
        assert_eq!(
            trace.outcome,
            DfsOutcome::StepLimit {
                limit: DFS_STEP_CAP
            }
        );
        assert_eq!(trace.steps(), DFS_STEP_CAP as usize);
        let mut outside = small();
        outside.start = Cell::new(7, 7);
        let v = verify(&outside, &answer("up left"));
        assert_eq!(v.metric("stays_inside"), Some(0.0));
    }

    #[test]
    fn instances_and_answers_round_trip_with_the_spec_field_names() {
        let inst = grid(Split::Hard, 3);
        let json = serde_json::to_value(&inst).unwrap();
        for key in [
            "rows",
            "cols",
            "start",
            "destination",
            "objects",
            "obstacles",
            "dfs_steps",
        ] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
        assert_eq!(
            json["start"],
            serde_json::json!([inst.start.row, inst.start.col])
        );
        assert!(json["objects"][0]["name"].is_string());
        assert!(json["objects"][0]["cell"].is_array());
        assert!(
            OBSTACLES
                .iter()
                .any(|(n, _)| json["obstacles"][0]["kind"] == *n)
        );
        let back: GridInstance = serde_json::from_value(json).unwrap();
        assert_eq!(back, inst);

        let gold = inst.gold_answer();
        let json = serde_json::to_value(&gold).unwrap();
        assert!(
            json["moves"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| { ["up", "down", "left", "right"].contains(&m.as_str().unwrap()) })
        );
        assert_eq!(serde_json::from_value::<GridAnswer>(json).unwrap(), gold);

        let trace = inst.dfs_trace();
        let text = serde_json::to_string(&trace).unwrap();
        assert_eq!(serde_json::from_str::<DfsTrace>(&text).unwrap(), trace);
        // Config defaults fill in missing fields.
        let partial: GridConfig = serde_json::from_str(r#"{"rows": [5, 6]}"#).unwrap();
        assert_eq!(partial.cols, GridConfig::default().cols);
    }

    #[test]
    fn symbols_are_the_spec_ones() {
        let names: HashSet<&str> = OBJECTS.iter().map(|(n, _)| *n).collect();
        let glyphs: HashSet<char> = OBJECTS.iter().map(|(_, g)| *g).collect();
        assert_eq!((names.len(), glyphs.len()), (31, 31));
        assert_eq!(OBJECTS[0], ("heart", '\u{2764}'));
        assert_eq!(OBJECTS[30], ("sum", '\u{2211}'));
        assert_eq!(object_glyph("coffee"), Some('\u{2615}'));
        assert_eq!(object_glyph("null"), Some('\u{2205}'));
        assert_eq!(object_glyph("unicorn"), None);
        for (&kind, &(name, glyph)) in ObstacleKind::ALL.iter().zip(&OBSTACLES) {
            assert_eq!((kind.name(), kind.glyph()), (name, glyph));
        }
        assert_eq!(ObstacleKind::Triangle.glyph(), '\u{25B2}');
    }

    #[test]
    fn content_reports_what_each_cell_holds() {
        let inst = small();
        assert_eq!(inst.content(Cell::new(1, 1)), CellContent::Start);
        assert_eq!(inst.content(Cell::new(3, 3)), CellContent::Destination);
        assert_eq!(inst.content(Cell::new(2, 2)), CellContent::Object("star"));
        assert_eq!(
            inst.content(Cell::new(2, 3)),
            CellContent::Obstacle(ObstacleKind::Cross)
        );
        assert_eq!(inst.content(Cell::new(1, 2)), CellContent::Empty);
        assert_eq!(inst.obstacle_types, vec![ObstacleKind::Cross]);
    }

    #[test]
    fn configs_are_validated_with_clear_errors() {
        let err = generate(&GridConfig::default(), Split::Medium, 0, 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("medium"), "{err}");
        let cases: [(GridConfig, &str); 7] = [
            (
                GridConfig {
                    rows: [0, 4],
                    ..GridConfig::default()
                },
                "rows",
            ),
            (
                GridConfig {
                    cols: [9, 8],
                    ..GridConfig::default()
                },
                "cols",
            ),
            (
                GridConfig {
                    obstacle_fraction: 1.0,
                    ..GridConfig::default()
                },
                "obstacle_fraction",
            ),
            (
                GridConfig {
                    obstacle_fraction: f64::NAN,
                    ..GridConfig::default()
                },
                "obstacle_fraction",
            ),
            (
                GridConfig {
                    hard_objects: [2, 32],
                    ..GridConfig::default()
                },
                "hard_objects",
            ),
            (
                GridConfig {
                    hard_obstacle_types: [3, 6],
                    ..GridConfig::default()
                },
                "hard_obstacle_types",
            ),
            (
                GridConfig {
                    simple_steps: [30, 20],
                    ..GridConfig::default()
                },
                "simple_steps",
            ),
        ];
        for (config, field) in cases {
            let err = generate(&config, Split::Simple, 0, 0)
                .unwrap_err()
                .to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
        // Too few obstacles to show every type, and too small a grid for the objects.
        let sparse = GridConfig {
            obstacle_fraction: 0.05,
            ..GridConfig::default()
        };
        let err = sparse.validate().unwrap_err().to_string();
        assert!(err.contains("hard_obstacle_types"), "{err}");
        let tiny = GridConfig {
            rows: [2, 2],
            cols: [1, 1],
            ..GridConfig::default()
        };
        let err = tiny.validate().unwrap_err().to_string();
        assert!(err.contains("cannot hold"), "{err}");
        // An unreachable step range is a generation failure, not a hang.
        let unreachable = GridConfig {
            rows: [3, 3],
            cols: [3, 3],
            simple_objects: [1, 1],
            simple_steps: [500, 600],
            hard_objects: [1, 1],
            hard_obstacle_types: [1, 1],
            ..GridConfig::default()
        };
        unreachable.validate().unwrap();
        let err = generate(&unreachable, Split::Simple, 0, 0).unwrap_err();
        assert!(matches!(err, TaskError::GenerationFailed { .. }), "{err}");
    }

    #[test]
    fn small_configurations_work_and_are_recorded() {
        let config = GridConfig {
            rows: [5, 6],
            cols: [5, 5],
            simple_steps: [4, 10],
            hard_objects: [2, 3],
            hard_steps: [11, 30],
            ..GridConfig::default()
        };
        for split in [Split::Simple, Split::Hard] {
            for i in 0..50 {
                let inst = generate(&config, split, 9, i).unwrap();
                assert_well_formed(&inst);
                assert!((5..=6).contains(&inst.rows) && inst.cols == 5);
                assert_eq!(inst.config, config);
                assert!(verify(&inst, &inst.gold_answer()).correct);
            }
        }
    }
}

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::TaskError;

/// A table or grid cell, numbered from 1 as people and models see it; serialised as `[row, col]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "[u32; 2]", into = "[u32; 2]")]
pub struct Cell {
    pub row: u32,
    pub col: u32,
}

impl Cell {
    pub const fn new(row: u32, col: u32) -> Self {
        Self { row, col }
    }

    /// True when the two cells share an edge.
    pub fn is_neighbour(self, other: Cell) -> bool {
        self.row.abs_diff(other.row) + self.col.abs_diff(other.col) == 1
    }
}

impl From<[u32; 2]> for Cell {
    fn from([row, col]: [u32; 2]) -> Self {
        Self { row, col }
    }
}

impl From<Cell> for [u32; 2] {
    fn from(c: Cell) -> Self {
        [c.row, c.col]
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {}]", self.row, self.col)
    }
}

/// Defines a fieldless enum with stable lowercase names used in files, flags and seeds.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name used in files, command lines and seeds.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::TaskError;
            fn from_str(s: &str) -> ::std::result::Result<Self, $crate::TaskError> {
                let wanted = s.trim();
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.name().eq_ignore_ascii_case(wanted))
                    .ok_or_else(|| $crate::TaskError::UnknownName {
                        what: $what,
                        given: s.to_string(),
                        expected: $name::ALL.iter().map(|v| v.name()).collect::<Vec<_>>().join(", "),
                    })
            }
        }
    };
}
pub(crate) use named_enum;

named_enum!(
    /// The task families of the paper.
    TaskKind, "task" {
        /// Consecutive Table Readout.
        Ctr => "ctr",
        /// Table Readout.
        Tr => "tr",
        /// Grid Navigation.
        Grid => "grid",
        /// Visual Analogy.
        Va => "va",
    }
);

named_enum!(
    /// Difficulty level of an instance (SPEC §1).
    Split, "split" {
        Simple => "simple",
        /// Consecutive Table Readout only.
        Medium => "medium",
        Hard => "hard",
        /// Visual Analogy only: simple-style puzzles on held-out patterns.
        PatternHeldout => "pattern_heldout",
    }
);

named_enum!(
    /// How an instance is shown to the model.
    Modality, "modality" {
        Text => "text",
        Image => "image",
    }
);

named_enum!(
    /// One step between 4-neighbouring cells, as the answers of path tasks spell it.
    Move, "move" {
        Up => "up",
        Down => "down",
        Left => "left",
        Right => "right",
    }
);

impl Move {
    /// Row and column change of this move (rows grow downwards).
    pub fn delta(self) -> (i64, i64) {
        match self {
            Move::Up => (-1, 0),
            Move::Down => (1, 0),
            Move::Left => (0, -1),
            Move::Right => (0, 1),
        }
    }

    /// The move that undoes this one.
    pub fn reverse(self) -> Move {
        match self {
            Move::Up => Move::Down,
            Move::Down => Move::Up,
            Move::Left => Move::Right,
            Move::Right => Move::Left,
        }
    }

    /// The move a quarter turn clockwise from this one.
    pub fn clockwise(self) -> Move {
        match self {
            Move::Up => Move::Right,
            Move::Right => Move::Down,
            Move::Down => Move::Left,
            Move::Left => Move::Up,
        }
    }

    /// The move a quarter turn counter-clockwise from this one.
    pub fn counter_clockwise(self) -> Move {
        self.clockwise().reverse()
    }

    /// The move from `from` to a 4-neighbour `to`, if they are neighbours.
    pub fn between(from: Cell, to: Cell) -> Option<Move> {
        let dr = i64::from(to.row) - i64::from(from.row);
        let dc = i64::from(to.col) - i64::from(from.col);
        Move::ALL.iter().copied().find(|m| m.delta() == (dr, dc))
    }
}

impl Cell {
    /// The neighbour in direction `m`, if it has row and column at least 1 (no upper bound check).
    pub fn step(self, m: Move) -> Option<Cell> {
        let (dr, dc) = m.delta();
        let row = i64::from(self.row) + dr;
        let col = i64::from(self.col) + dc;
        (row >= 1 && col >= 1).then(|| Cell::new(row as u32, col as u32))
    }
}

impl TaskKind {
    /// The splits this task defines.
    pub fn splits(self) -> &'static [Split] {
        match self {
            TaskKind::Ctr => &[Split::Simple, Split::Medium, Split::Hard],
            TaskKind::Tr | TaskKind::Grid => &[Split::Simple, Split::Hard],
            TaskKind::Va => &[Split::Simple, Split::Hard, Split::PatternHeldout],
        }
    }

    /// An error unless this task defines `split`.
    pub fn check_split(self, split: Split) -> crate::Result<()> {
        if self.splits().contains(&split) {
            Ok(())
        } else {
            Err(TaskError::UnsupportedSplit {
                task: self,
                split,
                available: self
                    .splits()
                    .iter()
                    .map(|s| s.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        }
    }
}

/// The outcome of checking one structured answer against its instance (SPEC §1.4).
///
/// `correct` is the task's main metric (exact match / valid path); `metrics` holds the task's
/// sub-metrics by name, each a number so they can be averaged over a set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub correct: bool,
    pub metrics: BTreeMap<String, f64>,
}

impl Verdict {
    pub fn new(correct: bool) -> Self {
        Self {
            correct,
            metrics: BTreeMap::new(),
        }
    }

    pub fn with(mut self, name: &str, value: f64) -> Self {
        self.metrics.insert(name.to_string(), value);
        self
    }

    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics.get(name).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_serialises_as_pair() {
        let c = Cell::new(2, 7);
        assert_eq!(serde_json::to_string(&c).unwrap(), "[2,7]");
        assert_eq!(serde_json::from_str::<Cell>("[2,7]").unwrap(), c);
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_explained() {
        for &s in Split::ALL {
            assert_eq!(s.name().parse::<Split>().unwrap(), s);
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.name())
            );
        }
        let err = "mediun".parse::<Split>().unwrap_err().to_string();
        assert!(err.contains("mediun") && err.contains("medium"), "{err}");
    }

    #[test]
    fn only_ctr_has_medium() {
        assert!(TaskKind::Ctr.check_split(Split::Medium).is_ok());
        let err = TaskKind::Tr
            .check_split(Split::Medium)
            .unwrap_err()
            .to_string();
        assert!(err.contains("simple, hard"), "{err}");
    }
}

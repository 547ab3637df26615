//! Prompts, chain of thought and answers of Grid Navigation (SPEC §8).
//!
//! The chain of thought spells out the search of [`GridInstance::dfs_trace`] and nothing else:
//! every line is written from the trace, never re-derived, so it always agrees with the gold
//! answer and with the instance's `dfs_steps`.

use std::fmt::Write as _;

use s2h_tasks::grid::{
    DfsAction, DfsOutcome, DfsStep, GridAnswer, GridInstance, InvalidMove, LegTarget, ObstacleKind,
    object_glyph,
};
use s2h_tasks::{Cell, Modality, Move, TaskKind};

use crate::{ParseError, Result, parse_answer_lines};

/// `(row, col)`, 1-based, as every grid text writes a cell.
fn at(cell: Cell) -> String {
    format!("({}, {})", cell.row, cell.col)
}

/// Names joined as `a, b and c`.
fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The question of a grid instance: what the rendering shows, the objects to collect, the
/// obstacle types to avoid, the moves allowed, and the answer format. For image input each
/// object and obstacle name is followed by its glyph, so the prompt says which symbol is which.
pub fn question(instance: &GridInstance, modality: Modality) -> String {
    let shown = match modality {
        Modality::Text => {
            "The table above is a grid: the header row gives the column numbers and the first column \
             the row numbers, both counted from 1. Each cell holds S (the start), D (the destination), \
             the name of an object, the name of an obstacle type, or . when it is empty."
        }
        Modality::Image => {
            "The image shows a grid with the row numbers on the left and the column numbers on top, \
             both counted from 1. The sky blue cell marked S is the start and the dark green cell \
             marked D is the destination; objects and obstacles are drawn as black symbols."
        }
    };
    let named = |name: &str, glyph: Option<char>| match (modality, glyph) {
        (Modality::Image, Some(g)) => format!("{name} ({g})"),
        _ => name.to_string(),
    };
    let objects: Vec<String> = instance
        .objects
        .iter()
        .map(|o| named(&o.name, object_glyph(&o.name)))
        .collect();
    let obstacles: Vec<String> = instance
        .obstacle_types
        .iter()
        .map(|&k| named(k.name(), Some(k.glyph())))
        .collect();
    let collect = match objects.len() {
        0 => "There are no objects to collect.".to_string(),
        1 => format!("Collect the object {} on the way.", objects[0]),
        _ => format!(
            "Collect every one of these objects, in any order: {}.",
            join_and(&objects)
        ),
    };
    let avoid = match obstacles.len() {
        0 => "There are no obstacles.".to_string(),
        1 => format!("Cells with a {} are obstacles.", obstacles[0]),
        _ => format!(
            "Cells with any of these are obstacles: {}.",
            join_and(&obstacles)
        ),
    };
    format!(
        "{shown} Find a path from S to D. {collect} {avoid} Each move goes one cell up, down, left \
         or right; a move may not leave the grid or enter an obstacle. An object is collected by \
         entering its cell, and the path must end on D. Finish with a line listing the moves from S \
         in order, of the form `Answer: down right right up`."
    )
}

/// Why a move was rejected, as the chain of thought words it.
fn reason_text(reason: &InvalidMove) -> String {
    match reason {
        InvalidMove::Outside => "outside".to_string(),
        InvalidMove::Obstacle(kind) => format!("{} obstacle", article(*kind)),
        InvalidMove::Visited => "visited".to_string(),
        InvalidMove::ObjectCollectedLater(name) => format!("{name}, collected later"),
        InvalidMove::DestinationTooEarly => "D, too early".to_string(),
    }
}

/// `a dot`, `a cross`, … (no obstacle name starts with a vowel sound, but keep it honest).
fn article(kind: ObstacleKind) -> String {
    let name = kind.name();
    let an = name.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {name}", if an { "an" } else { "a" })
}

/// One step line: `Step 4 at (3, 5): up is a cross obstacle; right is visited; down -> (4, 5)`.
fn step_line(out: &mut String, number: usize, step: &DfsStep, target: &LegTarget) {
    let _ = write!(out, "Step {number} at {}: ", at(step.at));
    for r in &step.rejected {
        let _ = write!(out, "{} is {}; ", r.direction, reason_text(&r.reason));
    }
    match step.action {
        DfsAction::Move {
            direction,
            to,
            reaches_target,
        } => {
            let _ = write!(out, "{direction} -> {}", at(to));
            if reaches_target {
                match target {
                    LegTarget::Object { name, .. } => {
                        let _ = write!(out, ", collect {name}");
                    }
                    LegTarget::Destination { .. } => out.push_str(", reached D"),
                }
            }
        }
        DfsAction::Backtrack { to } => {
            let _ = write!(out, "backtrack -> {}", at(to));
        }
    }
    out.push('\n');
}

fn moves_text(moves: &[Move]) -> String {
    let words: Vec<&str> = moves.iter().map(|m| m.name()).collect();
    words.join(" ")
}

/// The search spelled out (SPEC §8): first S, D, the objects and the obstacle types; then, leg
/// by leg, the leg's target and one line per DFS step giving the current cell, each move tried
/// in preference order with why it is invalid, and the move taken (or the backtrack); each leg
/// ends with its path once backtracked branches are removed, and the answer is those paths in
/// order. Rows and columns are written `(row, col)` from 1. No line starts with `Answer:`.
pub fn chain_of_thought(instance: &GridInstance) -> String {
    let trace = instance.dfs_trace();
    let mut out = String::with_capacity(64 * (instance.dfs_steps as usize + 8));
    let objects: Vec<String> = instance
        .objects
        .iter()
        .map(|o| format!("{} at {}", o.name, at(o.cell)))
        .collect();
    let obstacles: Vec<String> = instance
        .obstacle_types
        .iter()
        .map(|k| k.name().to_string())
        .collect();
    let _ = writeln!(
        out,
        "S is at {}, D is at {}. Objects: {}. Obstacles: {}.",
        at(instance.start),
        at(instance.destination),
        if objects.is_empty() {
            "none".to_string()
        } else {
            objects.join(", ")
        },
        if obstacles.is_empty() {
            "none".to_string()
        } else {
            obstacles.join(", ")
        },
    );
    let mut number = 0;
    for (i, leg) in trace.legs.iter().enumerate() {
        let target = match &leg.target {
            LegTarget::Object { name, cell } => {
                format!("the nearest object left, {name} at {}", at(*cell))
            }
            LegTarget::Destination { cell } => {
                format!("all objects collected, D at {}", at(*cell))
            }
        };
        let _ = writeln!(out, "Leg {} from {}: {target}.", i + 1, at(leg.start));
        for step in &leg.steps {
            number += 1;
            step_line(&mut out, number, step, &leg.target);
        }
        if leg.reached() {
            let _ = writeln!(out, "Leg {} path: {}.", i + 1, moves_text(&leg.path));
        }
    }
    match trace.outcome {
        // The answer line that follows is the leg paths in order.
        DfsOutcome::Reached => {}
        DfsOutcome::Stuck { at: cell } => {
            let _ = writeln!(
                out,
                "Stuck at {} with nothing to backtrack to: no path.",
                at(cell)
            );
        }
        DfsOutcome::StepLimit { limit } => {
            let _ = writeln!(out, "Stopped after {limit} steps without reaching D.");
        }
    }
    // The record adds its own newline after the chain of thought.
    if out.ends_with('\n') {
        out.pop();
    }
    out
}

/// `Answer: down right right up`.
pub fn answer_text(answer: &GridAnswer) -> String {
    format!("Answer: {}", moves_text(&answer.moves))
}

/// Read `Answer: down right right up` back. Tolerated: any case, commas or semicolons between
/// moves, extra spaces, a trailing period, surrounding brackets or backticks. Every `Answer:` line must give
/// the same moves. An unknown word is an error naming it, and so is an empty move list: S and D
/// are distinct cells, so no move at all can never be a path, and an empty answer line is far
/// more likely a cut-off output than a claim.
pub fn parse_answer(output: &str) -> Result<GridAnswer> {
    parse_answer_lines(output, parse_answer_line)
}

/// The text after `Answer:`.
fn parse_answer_line(line: &str) -> Result<GridAnswer> {
    let malformed = |reason: String| ParseError::Malformed {
        task: TaskKind::Grid,
        line: line.to_string(),
        reason,
    };
    // Brackets, backticks, a trailing period and spaces around the list are all harmless.
    let body = line.trim_matches(|c: char| "[]()`.".contains(c) || c.is_whitespace());
    let moves = body
        .split([' ', '\t', ',', ';'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            w.parse::<Move>().map_err(|_| {
                malformed(format!(
                    "`{w}` is not a move; write up, down, left or right"
                ))
            })
        })
        .collect::<Result<Vec<Move>>>()?;
    if moves.is_empty() {
        return Err(malformed(
            "no moves after `Answer:`; a path from S to D has at least one".to_string(),
        ));
    }
    Ok(GridAnswer { moves })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use s2h_tasks::grid::{GridConfig, GridObject, GridObstacle, generate, verify};
    use s2h_tasks::{Answer, Instance, Split};

    fn grid(split: Split, index: u64) -> GridInstance {
        generate(&GridConfig::default(), split, 0, index).unwrap()
    }

    fn moves(words: &str) -> GridAnswer {
        GridAnswer {
            moves: words
                .split_whitespace()
                .map(|w| w.parse().unwrap())
                .collect(),
        }
    }

    /// The hand-worked layout of the task crate: the first leg heads for `far`, refuses to step
    /// on `mid` (collected later) and walks round the dot obstacle.
    fn worked() -> GridInstance {
        let o = |name: &str, row, col| GridObject {
            name: name.to_string(),
            cell: Cell::new(row, col),
        };
        GridInstance::from_layout(
            3,
            4,
            Cell::new(1, 1),
            Cell::new(3, 1),
            vec![o("far", 1, 4), o("mid", 2, 3)],
            vec![GridObstacle {
                kind: ObstacleKind::Dot,
                cell: Cell::new(1, 3),
            }],
        )
    }

    #[test]
    fn hand_worked_chain_of_thought() {
        let cot = chain_of_thought(&worked());
        let want = "\
S is at (1, 1), D is at (3, 1). Objects: far at (1, 4), mid at (2, 3). Obstacles: dot.
Leg 1 from (1, 1): the nearest object left, far at (1, 4).
Step 1 at (1, 1): right -> (1, 2)
Step 2 at (1, 2): right is a dot obstacle; up is outside; down -> (2, 2)
Step 3 at (2, 2): up is visited; right is mid, collected later; down -> (3, 2)
Step 4 at (3, 2): up is visited; right -> (3, 3)
Step 5 at (3, 3): up is mid, collected later; right -> (3, 4)
Step 6 at (3, 4): up -> (2, 4)
Step 7 at (2, 4): up -> (1, 4), collect far
Leg 1 path: right down down right right up up.
Leg 2 from (1, 4): the nearest object left, mid at (2, 3).
Step 8 at (1, 4): down -> (2, 4)
Step 9 at (2, 4): left -> (2, 3), collect mid
Leg 2 path: down left.
Leg 3 from (2, 3): all objects collected, D at (3, 1).
Step 10 at (2, 3): down -> (3, 3)
Step 11 at (3, 3): left -> (3, 2)
Step 12 at (3, 2): left -> (3, 1), reached D
Leg 3 path: down left left.";
        assert_eq!(cot, want);
    }

    #[test]
    fn backtracks_and_early_destinations_are_spelled_out() {
        // The star sits behind D:
        //   . . ■ . .
        //   S . D ★ .
        //   ✖ . . . .
        // From (2, 2) the search may not step on D yet, tries the pocket above first, backtracks
        // out of it twice and goes round below.
        let inst = GridInstance::from_layout(
            3,
            5,
            Cell::new(2, 1),
            Cell::new(2, 3),
            vec![GridObject {
                name: "star".into(),
                cell: Cell::new(2, 4),
            }],
            vec![
                GridObstacle {
                    kind: ObstacleKind::Cross,
                    cell: Cell::new(3, 1),
                },
                GridObstacle {
                    kind: ObstacleKind::Square,
                    cell: Cell::new(1, 3),
                },
            ],
        );
        assert_eq!(inst.backtracks, 2, "{}", chain_of_thought(&inst));
        assert!(chain_of_thought(&inst).contains(
            "Step 4 at (1, 1): down is visited; right is visited; up is outside; left is outside; \
             backtrack -> (1, 2)\n\
             Step 5 at (1, 2): down is visited; right is a square obstacle; up is outside; \
             left is visited; backtrack -> (2, 2)\n\
             Step 6 at (2, 2): right is D, too early; up is visited; down -> (3, 2)\n"
        ));
        let trace = inst.dfs_trace();
        assert!(trace.backtracks() > 0, "{trace:?}");
        let cot = chain_of_thought(&inst);
        assert!(cot.contains("is D, too early"), "{cot}");
        assert!(cot.contains("backtrack -> "), "{cot}");
        assert!(cot.contains("right is a square obstacle"), "{cot}");
        assert!(verify(&inst, &inst.gold_answer()).correct);
        assert_cot_follows_trace(&inst);
    }

    /// Step lines number 1..dfs_steps, name each step's cell, give each rejection in order, and
    /// announce every backtrack and pick-up of the trace; the leg paths concatenate to the gold.
    fn assert_cot_follows_trace(inst: &GridInstance) {
        let cot = chain_of_thought(inst);
        let trace = inst.dfs_trace();
        let steps: Vec<&str> = cot.lines().filter(|l| l.starts_with("Step ")).collect();
        assert_eq!(steps.len(), inst.dfs_steps as usize, "{cot}");
        let trace_steps: Vec<&DfsStep> = trace.legs.iter().flat_map(|l| &l.steps).collect();
        for (i, (line, step)) in steps.iter().zip(&trace_steps).enumerate() {
            assert!(
                line.starts_with(&format!("Step {} at {}: ", i + 1, at(step.at))),
                "{line}"
            );
            let parts: Vec<&str> = line.split_once(": ").unwrap().1.split("; ").collect();
            assert_eq!(parts.len(), step.rejected.len() + 1, "{line}");
            for (part, r) in parts.iter().zip(&step.rejected) {
                assert!(part.starts_with(r.direction.name()), "{line}");
            }
            match step.action {
                DfsAction::Backtrack { to } => {
                    assert_eq!(parts.last().unwrap(), &format!("backtrack -> {}", at(to)))
                }
                DfsAction::Move { direction, to, .. } => assert!(
                    parts
                        .last()
                        .unwrap()
                        .starts_with(&format!("{direction} -> {}", at(to))),
                    "{line}"
                ),
            }
        }
        assert_eq!(
            cot.matches("backtrack -> ").count(),
            inst.backtracks as usize
        );
        for o in &inst.objects {
            assert_eq!(
                cot.matches(&format!(", collect {}\n", o.name)).count(),
                1,
                "{cot}"
            );
        }
        assert_eq!(cot.matches(", reached D").count(), 1);
        let paths: Vec<&str> = cot
            .lines()
            .filter_map(|l| {
                l.split_once(" path: ")
                    .map(|(_, p)| p.trim_end_matches('.'))
            })
            .collect();
        assert_eq!(paths.len(), trace.legs.len());
        assert_eq!(moves(&paths.join(" ")), inst.gold_answer());
        assert!(!cot.lines().any(|l| l.trim_start().starts_with("Answer")));
    }

    #[test]
    fn chains_of_thought_follow_the_trace_for_generated_instances() {
        let mut backtracks = 0;
        for split in [Split::Simple, Split::Hard] {
            for i in 0..60 {
                let inst = grid(split, i);
                assert_cot_follows_trace(&inst);
                backtracks += inst.backtracks;
            }
        }
        assert!(backtracks > 0, "some generated search backtracks");
    }

    #[test]
    fn gold_answers_round_trip_through_the_whole_target() {
        for split in [Split::Simple, Split::Hard] {
            for i in 0..40 {
                let inst = grid(split, i);
                let gold = inst.gold_answer();
                let target = format!("{}\n{}", chain_of_thought(&inst), answer_text(&gold));
                assert_eq!(parse_answer(&target).unwrap(), gold);
                let via_lib = crate::parse_answer(TaskKind::Grid, &target).unwrap();
                assert_eq!(via_lib, Answer::Grid(gold.clone()));
                assert!(verify(&inst, &gold).correct);
            }
        }
    }

    proptest! {
        #[test]
        fn any_answer_round_trips(dirs in proptest::collection::vec(0usize..4, 1..80)) {
            let answer = GridAnswer { moves: dirs.iter().map(|&d| Move::ALL[d]).collect() };
            let text = answer_text(&answer);
            prop_assert!(text.starts_with("Answer: ") && !text.contains("  "));
            prop_assert_eq!(parse_answer(&text).unwrap(), answer);
        }
    }

    #[test]
    fn answer_text_is_lowercase_single_spaced() {
        assert_eq!(
            answer_text(&moves("down right right up")),
            "Answer: down right right up"
        );
    }

    #[test]
    fn harmless_variation_is_tolerated() {
        let want = moves("down right right up");
        for text in [
            "Answer: down right right up",
            "answer:down right right up.",
            "ANSWER:   Down,Right, RIGHT ,  up  ",
            "**Answer:** down; right; right; up.",
            "Answer: [down, right, right, up]",
            "Answer: `down right right up`.",
            "thinking...\nAnswer: down right right up\nAnswer: down, right, right, up.",
        ] {
            assert_eq!(parse_answer(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn broken_answers_are_rejected_with_a_reason() {
        assert_eq!(
            parse_answer("down right").unwrap_err(),
            ParseError::NoAnswerLine
        );
        for (text, needle) in [
            ("Answer: down right north", "`north`"),
            ("Answer: down rigth", "`rigth`"),
            ("Answer: go down", "`go`"),
            ("Answer: d r", "`d`"),
            ("Answer:", "no moves"),
            ("Answer: .", "no moves"),
        ] {
            let err = parse_answer(text).unwrap_err();
            assert!(matches!(err, ParseError::Malformed { .. }), "{text}: {err}");
            let message = err.to_string();
            assert!(message.contains(needle), "{text}: {message}");
        }
        let err = parse_answer("Answer: down right\nAnswer: down left").unwrap_err();
        assert!(matches!(err, ParseError::Ambiguous { .. }), "{err}");
        // A malformed line is an error even next to a good one.
        assert!(parse_answer("Answer: down\nAnswer: sideways").is_err());
    }

    #[test]
    fn questions_name_objects_obstacles_rules_and_format() {
        let inst = grid(Split::Hard, 11);
        assert!(inst.objects.len() >= 2 && inst.obstacle_types.len() >= 3);
        for modality in [Modality::Text, Modality::Image] {
            let q = question(&inst, modality);
            for o in &inst.objects {
                assert!(q.contains(&o.name), "{q}");
            }
            for k in &inst.obstacle_types {
                assert!(q.contains(k.name()), "{q}");
            }
            for word in [
                "up, down, left or right",
                "leave the grid",
                "`Answer: down right right up`",
            ] {
                assert!(q.contains(word), "{word}: {q}");
            }
            // Only obstacle types in use are named.
            for k in ObstacleKind::ALL {
                assert_eq!(q.contains(k.name()), inst.obstacle_types.contains(k), "{k}");
            }
        }
        let text = question(&inst, Modality::Text);
        let image = question(&inst, Modality::Image);
        assert!(text.contains(" . when it is empty") && !text.contains("sky blue"));
        assert!(image.contains("sky blue") && image.contains("dark green"));
        let glyph = object_glyph(&inst.objects[0].name).unwrap();
        assert!(image.contains(glyph) && !text.contains(glyph));
        assert!(image.contains(inst.obstacle_types[0].glyph()));
        // The library prompt puts the rendering first.
        let prompt = crate::prompt(
            &Instance::Grid(inst.clone()),
            crate::PromptInput::Text("TABLE"),
        );
        assert!(prompt.starts_with("TABLE\n\n") && prompt.ends_with(&text));
        // One object, one obstacle type: singular wording.
        let one = GridInstance::from_layout(
            2,
            3,
            Cell::new(1, 1),
            Cell::new(2, 3),
            vec![GridObject {
                name: "heart".into(),
                cell: Cell::new(1, 3),
            }],
            vec![GridObstacle {
                kind: ObstacleKind::Dot,
                cell: Cell::new(2, 1),
            }],
        );
        let q = question(&one, Modality::Image);
        assert!(
            q.contains("Collect the object heart (\u{2764}) on the way."),
            "{q}"
        );
        assert!(
            q.contains("Cells with a dot (\u{25CF}) are obstacles."),
            "{q}"
        );
        let q = question(&one, Modality::Text);
        assert!(q.contains("Collect the object heart on the way."), "{q}");
        assert!(q.contains("Cells with a dot are obstacles."), "{q}");
    }
}

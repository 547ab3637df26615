//! Prompts, chain of thought and answers of Visual Analogy (SPEC §8).
//!
//! The chain of thought reads every attribute of every row as value sets and states which
//! relations those sets satisfy, then each row's pattern. Every verdict is computed from the
//! panels with the solver ([`relations_holding`], [`solve`]), never copied from the generation
//! labels in the instance's `params` (SPEC §16).
//!
//! The answer part is a block of seven lines, the first starting with `Example 1:`:
//!
//! ```text
//! Example 1: (shape_size, XOR)
//! Example 2: (shape_position, XOR)
//! Option 1: (shape_type, OR), inconsistent
//! Option 2: (shape_size, XOR), consistent
//! Option 3: (shape_color, AND), inconsistent
//! Option 4: (shape_quantity, Progression), inconsistent
//! Answer: 2
//! ```
//!
//! No line of the chain of thought has the form `Example N:` or `Option N:`, so a parser that
//! takes the last such line of an output reads the answer block.

use std::fmt::Write as _;

use s2h_tasks::analogy::{
    AnalogyAnswer, AnalogyInstance, Domain, OptionAnswer, Panel, Pattern, Relation,
    relations_holding, solve,
};
use s2h_tasks::{Modality, TaskKind};

use crate::{ParseError, Result, parse_answer_lines};

/// What the model is asked: the puzzle's structure, the attributes and relations with their
/// set semantics, and the answer format.
pub fn question(_instance: &AnalogyInstance, modality: Modality) -> String {
    let shown = match modality {
        Modality::Text => {
            "The visual analogy puzzle above is described panel by panel: two examples of three \
             panels, the first two panels of the query, and four options for the query's third \
             panel."
        }
        Modality::Image => {
            "The image shows a visual analogy puzzle. Rows 1 and 2 of the 3x3 block are two \
             examples of three panels; row 3 holds the first two panels of the query and a `?` \
             for the missing third panel; the four numbered panels below are the options for it."
        }
    };
    format!(
        "{shown}\n\
         Each example follows one pattern (attribute, relation) across its three panels, and both \
         examples share the same relation r. Exactly one option completes the query with a pattern \
         whose relation is r.\n\
         A panel holds lines or shapes. Read each attribute of a panel as the set of its values \
         (repeated values count once). Attributes of lines: line_type (falling_diagonal, \
         rising_diagonal, horizontal, vertical, diamond, circle, v_up, v_left, v_down, v_right; a V \
         points its vertex the way it faces), line_color (gray 0, 90, 135, 189). Attributes of \
         shapes: shape_type (circle, square, triangle, pentagon, hexagon), shape_color (gray 0, 90, \
         135, 189, 255), shape_size (20, 27, 34, 41), shape_quantity (the number of shapes), \
         shape_position (the occupied cells (row, col) of a 3x3 layout).\n\
         Relations of panels 1, 2, 3: AND: set 3 is the intersection of sets 1 and 2, not empty. \
         OR: set 3 is the union of sets 1 and 2. XOR: set 3 is the symmetric difference of sets 1 \
         and 2, not empty. Progression: for types, each panel adds exactly one new type to the \
         previous panel's types; for colors, sizes and quantities, each panel has one value and the \
         three values strictly increase or strictly decrease; for positions, every shape moves one \
         cell right, down or diagonally down-right, wrapping around. shape_quantity only has \
         Progression.\n\
         Find the pattern of each example and the relation r, then for each option the pattern it \
         forms as the query's third panel and whether its relation is r. End with exactly these \
         lines:\n\
         Example 1: (attribute, relation)\n\
         Example 2: (attribute, relation)\n\
         Option 1: (attribute, relation), consistent or inconsistent\n\
         (the same for options 2, 3 and 4)\n\
         Answer: N\n\
         where N is the number of the option that completes the query."
    )
}

/// `{circle, square}`: one attribute of one panel as a set (`{?}` for a panel of the other kind
/// or with a value outside the attribute's table).
fn set_text(panel: &Panel, domain: Domain) -> String {
    match panel.value_set(domain) {
        Some(set) => format!("{{{set}}}"),
        None => "{?}".to_string(),
    }
}

/// `XOR`, `AND, OR` or `none`.
fn relations_text(relations: &[Relation]) -> String {
    if relations.is_empty() {
        return "none".to_string();
    }
    relations
        .iter()
        .map(|r| r.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `(shape_size, XOR)`, `(a, b), (c, d)` or `no pattern`.
fn patterns_text(patterns: &[Pattern]) -> String {
    if patterns.is_empty() {
        return "no pattern".to_string();
    }
    patterns
        .iter()
        .map(Pattern::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The single pattern of a triple, if the solver finds exactly one.
fn single(patterns: &[Pattern]) -> Option<Pattern> {
    match patterns {
        [p] => Some(*p),
        _ => None,
    }
}

/// The chain of thought: for each example, each attribute's three sets and the relations they
/// satisfy, and the example's pattern; the common relation; the query's sets; for each option its
/// sets, the relations with the query, its pattern and whether that pattern's relation is r.
pub fn chain_of_thought(instance: &AnalogyInstance) -> String {
    let mut out = String::with_capacity(2048);
    let mut example_patterns = Vec::with_capacity(2);
    for (e, row) in instance.examples.iter().enumerate() {
        let triple = row.each_ref();
        let kind = row[0].kind();
        let _ = writeln!(out, "Example {} ({kind}):", e + 1);
        for &domain in Domain::of_kind(kind) {
            let sets: Vec<String> = row.iter().map(|p| set_text(p, domain)).collect();
            let _ = writeln!(
                out,
                "{domain}: {} -> {}",
                sets.join(" | "),
                relations_text(&relations_holding(triple, domain))
            );
        }
        let patterns = solve(triple);
        let _ = writeln!(
            out,
            "Example {} follows {}.",
            e + 1,
            patterns_text(&patterns)
        );
        example_patterns.push(single(&patterns));
    }

    let relation = match example_patterns[..] {
        [Some(a), Some(b)] if a.relation == b.relation => {
            let _ = writeln!(
                out,
                "Both examples use {}, so r = {}.",
                a.relation, a.relation
            );
            a.relation
        }
        _ => {
            // Only a hand-made puzzle gets here: generated examples have one shared relation.
            let _ = writeln!(
                out,
                "The examples do not show one shared relation; the puzzle states r = {}.",
                instance.relation
            );
            instance.relation
        }
    };

    let kind = instance.query[0].kind();
    let _ = writeln!(out, "Query ({kind}):");
    for &domain in Domain::of_kind(kind) {
        let sets: Vec<String> = instance.query.iter().map(|p| set_text(p, domain)).collect();
        let _ = writeln!(out, "{domain}: {}", sets.join(" | "));
    }

    let mut consistent = Vec::new();
    for (o, panel) in instance.options.iter().enumerate() {
        let [a, b] = &instance.query;
        let triple = [a, b, panel];
        let _ = writeln!(out, "Option {} as query panel 3:", o + 1);
        for &domain in Domain::of_kind(kind) {
            let _ = writeln!(
                out,
                "{domain}: {} -> {}",
                set_text(panel, domain),
                relations_text(&relations_holding(triple, domain))
            );
        }
        let patterns = solve(triple);
        let verdict = match single(&patterns) {
            Some(p) if p.relation == relation => {
                consistent.push(o + 1);
                format!("{relation}, consistent")
            }
            Some(p) => format!("{} is not {relation}, inconsistent", p.relation),
            None => "inconsistent".to_string(),
        };
        let _ = writeln!(
            out,
            "Option {} gives {}: {verdict}.",
            o + 1,
            patterns_text(&patterns)
        );
    }
    let _ = match consistent[..] {
        [one] => write!(out, "Only option {one} is consistent."),
        [] => write!(out, "No option is consistent."),
        _ => {
            let list: Vec<String> = consistent.iter().map(usize::to_string).collect();
            write!(out, "Options {} are consistent.", list.join(", "))
        }
    };
    out
}

/// The answer block (see the module documentation); it starts with `Example 1:` and ends with
/// `Answer: N`, without a final newline.
pub fn answer_text(answer: &AnalogyAnswer) -> String {
    let mut out = String::with_capacity(256);
    for (e, p) in answer.example_patterns.iter().enumerate() {
        let _ = writeln!(out, "Example {}: {p}", e + 1);
    }
    for (o, option) in answer.options.iter().enumerate() {
        let _ = writeln!(
            out,
            "Option {}: {}, {}",
            o + 1,
            option.pattern,
            consistency_word(option.consistent)
        );
    }
    let _ = write!(out, "Answer: {}", answer.option);
    out
}

fn consistency_word(consistent: bool) -> &'static str {
    if consistent {
        "consistent"
    } else {
        "inconsistent"
    }
}

/// Read the answer block back out of a whole output. For each of `Example 1`, `Example 2` and
/// `Option 1`–`Option 4` the last line with that label is read; every `Answer:` line must name
/// the same option. Tolerated: any case, extra spaces (also before the colon and around commas),
/// a trailing period, markdown emphasis or list marks before the label, missing parentheses.
/// The wording of the authors' released data is read too: attribute names with spaces
/// (`shape size`) and `not consistent` for `inconsistent`. A missing line, an unknown attribute
/// or relation name, or a word other than `consistent`/`inconsistent`/`not consistent` is an
/// error that names the line.
pub fn parse_answer(output: &str) -> Result<AnalogyAnswer> {
    let option = parse_option(output)?;
    let example = |n: u8| -> Result<Pattern> {
        let (line, body) = find_labelled(output, "Example", n)?;
        let fields = fields(line, body, 2)?;
        parse_pattern(line, &fields[0], &fields[1])
    };
    let example_patterns = [example(1)?, example(2)?];
    let option_answer = |n: u8| -> Result<OptionAnswer> {
        let (line, body) = find_labelled(output, "Option", n)?;
        let fields = fields(line, body, 3)?;
        let pattern = parse_pattern(line, &fields[0], &fields[1])?;
        let word = words(&fields[2]).to_ascii_lowercase();
        let consistent = match word.as_str() {
            "consistent" => true,
            // `not consistent` is the authors' wording.
            "inconsistent" | "not consistent" => false,
            other => {
                return Err(malformed(
                    line,
                    format!("`{other}` is neither `consistent` nor `inconsistent`"),
                ));
            }
        };
        Ok(OptionAnswer {
            pattern,
            consistent,
        })
    };
    let options = [
        option_answer(1)?,
        option_answer(2)?,
        option_answer(3)?,
        option_answer(4)?,
    ];
    Ok(AnalogyAnswer {
        example_patterns,
        options,
        option,
    })
}

/// The option index of the `Answer: N` line(s) alone: the lenient metric of paper Table 10.
/// Tolerated: `Answer: option 2`, `Answer: (2).`, any case; all answer lines must agree.
pub fn parse_option(output: &str) -> Result<u8> {
    parse_answer_lines(output, parse_option_number)
}

fn parse_option_number(text: &str) -> Result<u8> {
    let body = text.trim().trim_end_matches('.').trim();
    let body = strip_prefix_ci(body, "option").unwrap_or(body).trim();
    let body = body
        .strip_prefix('(')
        .and_then(|b| b.strip_suffix(')'))
        .unwrap_or(body)
        .trim();
    match body.parse::<u8>() {
        Ok(n) if (1..=4).contains(&n) => Ok(n),
        _ => Err(malformed(
            &format!("Answer: {text}"),
            "the answer must be an option number from 1 to 4".to_string(),
        )),
    }
}

fn malformed(line: &str, reason: String) -> ParseError {
    ParseError::Malformed {
        task: TaskKind::Va,
        line: line.to_string(),
        reason,
    }
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// The last line labelled `{word} {n}:` and the text after its colon.
fn find_labelled<'a>(output: &'a str, word: &str, n: u8) -> Result<(&'a str, &'a str)> {
    output
        .lines()
        .rev()
        .find_map(|line| label_body(line, word, n).map(|body| (line.trim(), body)))
        .ok_or_else(|| {
            let shape = if word == "Option" {
                "(attribute, relation), consistent|inconsistent"
            } else {
                "(attribute, relation)"
            };
            malformed(
                &format!("{word} {n}"),
                format!("no `{word} {n}: {shape}` line was found"),
            )
        })
}

/// The text after `{word} {n}:` when `line` carries that label (any case, spaces or markdown
/// marks around it).
fn label_body<'a>(line: &'a str, word: &str, n: u8) -> Option<&'a str> {
    let line = line.trim().trim_start_matches(['*', '#', '-', '>', ' ']);
    let rest = strip_prefix_ci(line, word)?.trim_start();
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 || rest[..digits].parse::<u8>().ok()? != n {
        return None;
    }
    let rest = rest[digits..]
        .trim_start()
        .trim_start_matches('*')
        .trim_start();
    let body = rest.strip_prefix(':')?;
    Some(body.trim().trim_start_matches('*').trim())
}

/// The comma-separated fields of an answer line's body, parentheses dropped.
fn fields(line: &str, body: &str, want: usize) -> Result<Vec<String>> {
    let body = body.trim().trim_end_matches('.').trim();
    let cleaned: String = body.chars().filter(|c| !matches!(c, '(' | ')')).collect();
    let fields: Vec<String> = cleaned.split(',').map(|f| f.trim().to_string()).collect();
    if fields.len() != want || fields.iter().any(String::is_empty) {
        let expected = if want == 3 {
            "`(attribute, relation), consistent|inconsistent`"
        } else {
            "`(attribute, relation)`"
        };
        return Err(malformed(
            line,
            format!("expected {expected}, found {} field(s)", fields.len()),
        ));
    }
    Ok(fields)
}

/// Words separated by single spaces.
fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn parse_pattern(line: &str, domain: &str, relation: &str) -> Result<Pattern> {
    // `shape size` (the authors' wording) is `shape_size`.
    let domain: Domain = words(domain)
        .replace(' ', "_")
        .parse()
        .map_err(|e: s2h_tasks::TaskError| malformed(line, e.to_string()))?;
    let relation: Relation = relation
        .parse()
        .map_err(|e: s2h_tasks::TaskError| malformed(line, e.to_string()))?;
    Ok(Pattern::new(domain, relation))
}

/// The gold answer block in the wording of the authors' released data (what a model trained on
/// it writes): attribute names with a space (`shape size`), `not consistent`, and a blank line
/// before `Answer:`. [`parse_answer`] reads it back.
pub fn authors_answer(answer: &AnalogyAnswer) -> String {
    let spaced = |p: &Pattern| format!("({}, {})", p.domain.name().replace('_', " "), p.relation);
    let mut out = String::new();
    for (e, p) in answer.example_patterns.iter().enumerate() {
        out.push_str(&format!("Example {}: {}\n", e + 1, spaced(p)));
    }
    for (o, option) in answer.options.iter().enumerate() {
        let word = if option.consistent {
            "consistent"
        } else {
            "not consistent"
        };
        out.push_str(&format!(
            "Option {}: {}, {word}\n",
            o + 1,
            spaced(&option.pattern)
        ));
    }
    out.push_str(&format!("\nAnswer: {}", answer.option));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use s2h_tasks::Cell;
    use s2h_tasks::Split;
    use s2h_tasks::analogy::{
        AnalogyConfig, Line, LineType, PanelKind, Shape, ShapeType, attribute_sets, generate,
    };

    const SPLITS: [Split; 3] = [Split::Simple, Split::Hard, Split::PatternHeldout];

    fn puzzle(split: Split, index: u64) -> AnalogyInstance {
        generate(&AnalogyConfig::default(), split, 11, index).unwrap()
    }

    fn full_output(inst: &AnalogyInstance) -> String {
        format!(
            "{}\n{}",
            chain_of_thought(inst),
            answer_text(&inst.gold_answer())
        )
    }

    #[test]
    fn gold_answers_round_trip_through_text() {
        for split in SPLITS {
            for i in 0..60 {
                let inst = puzzle(split, i);
                let gold = inst.gold_answer();
                assert_eq!(parse_answer(&answer_text(&gold)).unwrap(), gold);
                let output = full_output(&inst);
                assert_eq!(parse_answer(&output).unwrap(), gold);
                assert_eq!(parse_option(&output).unwrap(), gold.option);
                assert!(s2h_tasks::analogy::verify(&inst, &gold).correct);
            }
        }
    }

    fn any_pattern() -> impl Strategy<Value = Pattern> {
        (0..Domain::ALL.len(), 0..Relation::ALL.len())
            .prop_map(|(d, r)| Pattern::new(Domain::ALL[d], Relation::ALL[r]))
    }

    fn any_answer() -> impl Strategy<Value = AnalogyAnswer> {
        (
            [any_pattern(), any_pattern()],
            [
                (any_pattern(), any::<bool>()),
                (any_pattern(), any::<bool>()),
                (any_pattern(), any::<bool>()),
                (any_pattern(), any::<bool>()),
            ],
            1u8..=4,
        )
            .prop_map(|(example_patterns, options, option)| AnalogyAnswer {
                example_patterns,
                options: options.map(|(pattern, consistent)| OptionAnswer {
                    pattern,
                    consistent,
                }),
                option,
            })
    }

    proptest! {
        #[test]
        fn any_answer_round_trips(answer in any_answer(), noise in "[a-z ]{0,20}") {
            prop_assert_eq!(parse_answer(&answer_text(&answer)).unwrap(), answer.clone());
            let noisy = format!("{noise}\nExample 1: (line_type, AND)\n{}\n", answer_text(&answer));
            prop_assert_eq!(parse_answer(&noisy).unwrap(), answer);
        }
    }

    #[test]
    fn harmless_variation_is_tolerated() {
        let want = AnalogyAnswer {
            example_patterns: [
                Pattern::new(Domain::ShapeSize, Relation::Xor),
                Pattern::new(Domain::ShapePosition, Relation::Xor),
            ],
            options: [
                (Domain::ShapeType, Relation::Or, false),
                (Domain::ShapeSize, Relation::Xor, true),
                (Domain::ShapeColor, Relation::And, false),
                (Domain::ShapeQuantity, Relation::Progression, false),
            ]
            .map(|(d, r, consistent)| OptionAnswer {
                pattern: Pattern::new(d, r),
                consistent,
            }),
            option: 2,
        };
        let variants = [
            answer_text(&want),
            "example 1: (SHAPE_SIZE, xor).\n  Example 2 :(shape_position,XOR)  \n\
             Option 1 : (shape_type , or) , inconsistent\n\
             option 2: (shape_size, Xor), Consistent.\n\
             OPTION 3:(shape_color, and),inconsistent\n\
             Option 4: (shape_quantity, progression), inconsistent\n\
             answer: 2."
                .to_string(),
            "**Example 1:** (shape_size, XOR)\n- Example 2: shape_position, XOR\n\
             **Option 1:** (shape_type, OR), inconsistent\n\
             Option 2: (shape_size, XOR), consistent\n\
             Option 3: (shape_color, AND), inconsistent\n\
             Option 4: (shape_quantity, Progression), inconsistent\n\
             **Answer:** Option 2"
                .to_string(),
            // An earlier, overridden block: the last line of each label counts.
            format!(
                "Example 1: (line_type, OR)\nOption 2: (line_color, AND), inconsistent\n{}",
                answer_text(&want)
            ),
            format!("{}\nAnswer: (2).", answer_text(&want)),
        ];
        for text in &variants {
            assert_eq!(parse_answer(text).unwrap(), want, "{text}");
        }
        assert_eq!(parse_option("Answer:3").unwrap(), 3);
    }

    #[test]
    fn conflicting_missing_and_unknown_parts_are_rejected_with_the_line() {
        let inst = puzzle(Split::Hard, 3);
        let good = answer_text(&inst.gold_answer());
        let other = inst.gold_answer().option % 4 + 1;

        let err = parse_answer(&format!("{good}\nAnswer: {other}")).unwrap_err();
        assert!(matches!(err, ParseError::Ambiguous { .. }), "{err}");
        assert!(matches!(
            parse_option(&format!("Answer: {other}\n{good}")),
            Err(ParseError::Ambiguous { .. })
        ));
        assert_eq!(
            parse_answer("Example 1: (line_type, AND)").unwrap_err(),
            ParseError::NoAnswerLine
        );
        let checks = [
            (
                "Example 2",
                "Example 2",
                good.replace("Example 2:", "Sample 2:"),
            ),
            ("Option 3", "Option 3", good.replace("Option 3:", "Opt 3:")),
            (
                "Example 1",
                "shape_weight",
                replace_line(&good, 0, "Example 1: (shape_weight, XOR)"),
            ),
            (
                "Option 4",
                "NAND",
                replace_line(&good, 5, "Option 4: (shape_size, NAND), inconsistent"),
            ),
            (
                "Option 1",
                "maybe",
                replace_line(&good, 2, "Option 1: (shape_size, AND), maybe"),
            ),
            (
                "Option 2",
                "field",
                replace_line(&good, 3, "Option 2: (shape_size, AND)"),
            ),
            (
                "Answer: 5",
                "1 to 4",
                good.replace(
                    &format!("Answer: {}", inst.gold_answer().option),
                    "Answer: 5",
                ),
            ),
        ];
        for (line, reason, text) in checks {
            let err = parse_answer(&text).unwrap_err();
            let ParseError::Malformed {
                task,
                line: got,
                reason: why,
            } = &err
            else {
                panic!("{text}: {err}");
            };
            assert_eq!(*task, TaskKind::Va);
            assert!(got.contains(line), "{got} should name {line}");
            assert!(
                why.contains(reason) || got.contains(reason),
                "{err} should mention {reason}"
            );
        }
        assert!(parse_option("Answer: two").is_err());
    }

    #[test]
    fn the_authors_wording_is_read() {
        for split in SPLITS {
            for i in 0..30 {
                let inst = puzzle(split, i);
                let gold = inst.gold_answer();
                // Their chain of thought has bare `Example 1:` headers; the block comes last.
                let text = format!(
                    "We first analyze the examples:\nExample 1:\ntype:\nImage 1: circle\n\
                     Option 1 has shape size of 27, so it is consistent with the XOR relation.\n\n{}",
                    authors_answer(&gold)
                );
                assert_eq!(parse_answer(&text).unwrap(), gold, "{text}");
            }
        }
        let err = parse_answer(
            &answer_text(&puzzle(Split::Simple, 0).gold_answer())
                .replace("Option 1: (", "Option 1: (shape  weight, "),
        );
        assert!(err.is_err());
    }

    fn replace_line(text: &str, n: usize, with: &str) -> String {
        text.lines()
            .enumerate()
            .map(|(i, l)| if i == n { with } else { l })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The CoT's `Example k follows …` and `Option k gives …` statements, in order.
    fn stated_patterns(cot: &str) -> Vec<String> {
        cot.lines()
            .filter(|l| {
                (l.starts_with("Example ") && l.contains(" follows "))
                    || (l.starts_with("Option ") && l.contains(" gives "))
            })
            .map(|l| {
                let start = l.find(" follows ").or_else(|| l.find(" gives ")).unwrap();
                let rest = &l[start..];
                let rest = rest
                    .trim_start_matches(" follows ")
                    .trim_start_matches(" gives ");
                rest.split(':')
                    .next()
                    .unwrap()
                    .trim_end_matches('.')
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn cot_patterns_equal_the_solver_for_every_triple() {
        for split in SPLITS {
            for i in 0..200 {
                let inst = puzzle(split, i);
                let cot = chain_of_thought(&inst);
                let stated = stated_patterns(&cot);
                let mut want = Vec::new();
                for e in 0..2 {
                    want.push(patterns_text(&solve(inst.example_triple(e).unwrap())));
                }
                for o in 0..4 {
                    want.push(patterns_text(&solve(inst.option_triple(o).unwrap())));
                }
                assert_eq!(stated, want, "{split} {i}\n{cot}");
                // Every attribute line's verdict is the solver's.
                for e in 0..2 {
                    let triple = inst.example_triple(e).unwrap();
                    for &d in Domain::of_kind(triple[0].kind()) {
                        let sets = attribute_sets(triple, d).unwrap();
                        let line = format!(
                            "{d}: {{{}}} | {{{}}} | {{{}}} -> {}",
                            sets[0],
                            sets[1],
                            sets[2],
                            relations_text(&relations_holding(triple, d))
                        );
                        assert!(cot.contains(&line), "{line}\n{cot}");
                    }
                }
                assert!(cot.contains(&format!("so r = {}.", inst.relation)));
                let correct = format!("Only option {} is consistent.", inst.params.correct_option);
                assert!(cot.ends_with(&correct), "{cot}");
                // Nothing in the CoT reads as an answer line.
                let probe = format!("{cot}\nAnswer: 1");
                assert_eq!(parse_option(&probe).unwrap(), 1);
                for n in 1..=4 {
                    assert!(find_labelled(&cot, "Option", n).is_err());
                }
                assert!(find_labelled(&cot, "Example", 1).is_err());
            }
        }
    }

    #[test]
    fn cot_verdicts_do_not_come_from_the_labels() {
        let inst = puzzle(Split::Hard, 5);
        let mut tampered = inst.clone();
        tampered.params.example_patterns = [Pattern::new(Domain::LineType, Relation::Or); 2];
        tampered.params.option_patterns = [Pattern::new(Domain::ShapeSize, Relation::And); 4];
        tampered.params.correct_option = inst.params.correct_option % 4 + 1;
        tampered.params.query_pattern = Pattern::new(Domain::LineColor, Relation::Xor);
        assert_eq!(chain_of_thought(&tampered), chain_of_thought(&inst));
        // Rows the solver finds several patterns or none in say so, without panicking.
        let mut broken = inst.clone();
        broken.examples[0] = std::array::from_fn(|_| inst.examples[0][0].clone());
        broken.options[0] = match inst.query[0].kind() {
            PanelKind::Lines => Panel::Shapes(vec![Shape {
                shape_type: ShapeType::Circle,
                color: 0,
                size: 20,
                position: Cell::new(1, 1),
            }]),
            PanelKind::Shapes => Panel::Lines(vec![Line {
                line_type: LineType::Horizontal,
                color: 0,
            }]),
        };
        let cot = chain_of_thought(&broken);
        let first = Domain::of_kind(inst.examples[0][0].kind())[0];
        let several = format!("Example 1 follows ({first}, AND), ({first}, OR), ");
        assert!(cot.contains(&several), "{cot}");
        assert!(cot.contains("do not show one shared relation"), "{cot}");
        assert!(
            cot.contains("Option 1 gives no pattern: inconsistent."),
            "{cot}"
        );
        assert!(cot.contains("{?}"), "{cot}");
    }

    #[test]
    fn questions_explain_attributes_relations_and_the_format() {
        let inst = puzzle(Split::Simple, 0);
        for modality in [Modality::Text, Modality::Image] {
            let q = question(&inst, modality);
            for d in Domain::ALL {
                assert!(q.contains(d.name()), "{d}");
            }
            for r in Relation::ALL {
                assert!(q.contains(r.name()), "{r}");
            }
            for line in ["Example 1: (attribute, relation)", "Answer: N", "Option 1:"] {
                assert!(q.contains(line), "{line}");
            }
        }
        assert!(question(&inst, Modality::Image).contains("image"));
        assert!(question(&inst, Modality::Text).contains("described"));
    }

    #[test]
    fn cot_length_stays_compact() {
        let mut total = 0;
        let n = 100;
        for i in 0..n {
            total += chain_of_thought(&puzzle(Split::Hard, i)).len();
        }
        let mean = total / n as usize;
        assert!(mean < 3000, "mean CoT length {mean} characters");
    }
}

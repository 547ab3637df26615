//! The `generate` example's command line: what it must refuse with a clear message (not a panic,
//! not a silent run of useless work, not data that is something else), and a quiet end when the
//! reader of its output goes away.
//!
//! Builds the example with the Cargo running these tests (`cargo build --example generate`, in
//! the same target directory and profile, so only the example itself compiles) and runs it: the
//! binary checked is always the current code's.

use std::path::Path;
use std::process::{Command, Output, Stdio};

mod common;

fn generate(args: &[&str]) -> Output {
    Command::new(common::example("generate"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("generate starts")
}

/// Exits with an error (status 1 for a refused request, 2 for a refused argument) whose message
/// holds every needle, without a panic and without writing a dataset.
fn assert_refused(out: &Path, args: &[&str], needles: &[&str]) {
    let output = generate(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        matches!(output.status.code(), Some(1 | 2)),
        "{args:?}: {:?}\n{stderr}",
        output.status
    );
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{args:?} lacks `{needle}`: {stderr}"
        );
    }
    assert!(
        !out.join("records.jsonl").exists(),
        "{args:?} wrote a dataset"
    );
}

#[test]
fn an_evaluation_seed_is_refused_for_training_data() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("data");
    let out_arg = out.to_str().unwrap();
    // 2^63 + 5: exactly the instances of `eval-set --seed 5`.
    for seed in [
        "9223372036854775813",
        "9223372036854775808",
        "18446744073709551615",
    ] {
        assert_refused(
            &out,
            &[
                "--task",
                "ctr",
                "--split",
                "medium",
                "--count",
                "2",
                "--supervision",
                "text",
                "--seed",
                seed,
                "--out",
                out_arg,
            ],
            &["top bit", "evaluation sets", "below 2^63", "eval-set"],
        );
    }
}

#[test]
fn counts_and_indices_beyond_the_limits_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("data");
    let out_arg = out.to_str().unwrap();
    let plain = |count: &'static str, start: &'static str| {
        vec![
            "--task",
            "tr",
            "--split",
            "hard",
            "--supervision",
            "image",
            "--count",
            count,
            "--start-index",
            start,
            "--out",
            out_arg,
        ]
    };
    let max = "18446744073709551615";
    assert_refused(&out, &plain(max, "0"), &["limit of 100000000"]);
    assert_refused(&out, &plain("100000001", "0"), &["limit of 100000000"]);
    assert_refused(&out, &plain("2", max), &["overflows"]);
    // Not a count at all: clap says so.
    assert_refused(&out, &plain("1e10", "0"), &["1e10", "--count"]);
    for count in [max, "100000001"] {
        assert_refused(
            &out,
            &[
                "eval-set",
                "--task",
                "ctr",
                "--split",
                "medium",
                "--modality",
                "image",
                "--count",
                count,
                "--out",
                out_arg,
            ],
            &["limit of 100000000"],
        );
    }
    assert_refused(
        &out,
        &[
            "mixture",
            "--task",
            "tr",
            "--supervision",
            "mix_plus",
            "--budget",
            max,
            "--no-eval-check",
            "--out",
            out_arg,
        ],
        &["limit of 100000000"],
    );
}

#[test]
fn thread_counts_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("data");
    let out_arg = out.to_str().unwrap();
    for threads in ["0", "1025", "100000"] {
        assert_refused(
            &out,
            &[
                "--task",
                "tr",
                "--split",
                "simple",
                "--count",
                "1",
                "--supervision",
                "text",
                "--threads",
                threads,
                "--out",
                out_arg,
            ],
            &["--threads", "1024"],
        );
        assert_refused(
            &out,
            &[
                "eval-set",
                "--task",
                "tr",
                "--split",
                "hard",
                "--modality",
                "text",
                "--count",
                "1",
                "--threads",
                threads,
                "--out",
                out_arg,
            ],
            &["--threads", "1024"],
        );
    }
}

#[test]
fn font_scales_the_layouts_cannot_hold_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("data");
    let out_arg = out.to_str().unwrap();
    for scale in ["100", "1.5", "0.001", "0", "NaN", "inf"] {
        assert_refused(
            &out,
            &[
                "--task",
                "grid",
                "--split",
                "simple",
                "--count",
                "1",
                "--supervision",
                "image",
                "--font-scale",
                scale,
                "--out",
                out_arg,
            ],
            &["--font-scale", "from 0.25 to 1"],
        );
    }
}

/// `generate … | head -1`: the reader is gone before `generate` prints its summary. The program
/// ends quietly (killed by SIGPIPE like any Unix tool, or successfully), never with a panic.
#[test]
fn a_closed_pipe_ends_generate_quietly() {
    let exe = common::example("generate");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("data");
    let mut child = Command::new(exe)
        .args([
            "--task",
            "tr",
            "--split",
            "simple",
            "--count",
            "3",
            "--supervision",
            "text",
            "--out",
        ])
        .arg(&out)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("generate starts");
    // Close the reading end at once: every line `generate` prints meets a closed pipe.
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("generate ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert!(
            output.status.success() || output.status.signal() == Some(libc::SIGPIPE),
            "{:?}: {stderr}",
            output.status
        );
    }
    #[cfg(not(unix))]
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
    // The dataset itself was written before the summary.
    assert!(out.join("records.jsonl").is_file());
}

/// `--task-config` generates at the sizes a plan trains on (an evaluation set of 5×5 TR tables
/// from a plan's `[task_config.tr]`), and a misspelt parameter is refused.
#[test]
fn task_parameters_come_from_a_plan() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.toml");
    std::fs::write(
        &plan,
        "[[phase]]\nsupervision = \"text\"\ntask = \"tr\"\nbudget = 10\n\n[task_config.tr]\n\
         rows = [5, 5]\ncols = [5, 5]\nsimple_length = [4, 6]\nhard_length = [12, 16]\n\
         simple_segments = [1, 2]\nhard_min_segments = 3\nmax_trim = 1\n",
    )
    .unwrap();
    // Three simple TR text records with the parameters of `config`, into `out`.
    let args = |config: &Path, out: &Path| -> Vec<String> {
        let (config, out) = (config.to_str().unwrap(), out.to_str().unwrap());
        [
            "eval-set",
            "--task",
            "tr",
            "--split",
            "simple",
            "--modality",
            "text",
            "--count",
            "3",
            "--task-config",
            config,
            "--out",
            out,
        ]
        .map(String::from)
        .to_vec()
    };
    let out = dir.path().join("eval");
    let output = generate(&strs(&args(&plan, &out)));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let records = std::fs::read_to_string(out.join("records.jsonl")).unwrap();
    assert_eq!(records.lines().count(), 3);
    for line in records.lines() {
        // A header column and five month columns.
        assert!(line.contains(r"\\begin{tabular}{|c|c|c|c|c|c|}"), "{line}");
    }

    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "[tr]\nrowz = [5, 5]\n").unwrap();
    let refused = dir.path().join("refused");
    assert_refused(
        &refused,
        &strs(&args(&typo, &refused)),
        &["typo.toml", "rowz"],
    );
}

#[test]
fn a_mixture_is_written_into_out_and_a_plan_phase_by_phase() {
    let dir = tempfile::tempdir().unwrap();
    // From flags: one mixture, its records in --out itself, the same task parameters and seed
    // as the one-phase plan below.
    let flags = dir.path().join("flags");
    let output = generate(&[
        "mixture",
        "--task",
        "ctr",
        "--supervision",
        "text",
        "--budget",
        "12",
        "--seed",
        "3",
        "--no-eval-check",
        "--out",
        flags.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.starts_with("wrote ") && stdout.contains("12 records"),
        "{stdout}"
    );
    let from_flags = std::fs::read_to_string(flags.join("records.jsonl")).unwrap();
    assert_eq!(from_flags.lines().count(), 12);

    // From a plan: each phase in a directory of its own under --out.
    let plan = dir.path().join("plan.toml");
    std::fs::write(
        &plan,
        "seed = 3
\n[[phase]]\nsupervision = \"text\"\ntask = \"ctr\"\nbudget = 12\n",
    )
    .unwrap();
    let planned = dir.path().join("planned");
    let output = generate(&[
        "mixture",
        "--plan",
        plan.to_str().unwrap(),
        "--no-eval-check",
        "--out",
        planned.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!planned.join("records.jsonl").exists());
    let phases: Vec<_> = std::fs::read_dir(&planned)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("records.jsonl").exists())
        .collect();
    assert_eq!(phases.len(), 1, "{phases:?}");
    let from_plan = std::fs::read_to_string(phases[0].join("records.jsonl")).unwrap();
    assert_eq!(
        from_flags, from_plan,
        "the flags and their one-phase plan differ"
    );

    // Render flags beside --plan are refused: the plan holds them.
    let refused = dir.path().join("refused");
    assert_refused(
        &refused,
        &[
            "mixture",
            "--plan",
            plan.to_str().unwrap(),
            "--size",
            "64x64",
            "--out",
            refused.to_str().unwrap(),
        ],
        &["come from the plan"],
    );
}

/// The `&str`s of owned arguments.
fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

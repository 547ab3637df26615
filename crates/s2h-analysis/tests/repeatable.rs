//! Analysis of the same checkpoints twice gives the same numbers and files. In its own test
//! binary: nothing else computes in the process meanwhile, as in a real analysis run.

mod common;

use std::path::Path;

use common::{B, fixture};
use s2h_analysis::{Options, ProjectionKind, ProjectionOptions, Sets, Source, analyze};

/// The whole analysis of a run: every checkpoint, the loss decomposition, the real moments where
/// a checkpoint kept them; run twice, identical.
#[test]
fn analysis_of_a_run_is_complete_and_repeatable() {
    let f = fixture();
    let source = Source::open(&f.run).unwrap();
    let steps: Vec<u64> = source.checkpoints.iter().map(|c| c.step).collect();
    assert_eq!(steps, [5, 10]);
    let seen: Vec<Option<u64>> = source.checkpoints.iter().map(|c| c.examples_seen).collect();
    assert_eq!(seen, [Some(40), Some(80)]);
    let sets = Sets::read(&f.simple, &f.hard, Some(&f.via_text), None).unwrap();
    let options = Options {
        attribute: 1,
        project: Some(ProjectionOptions {
            dim: 256,
            seed: 3,
            kind: ProjectionKind::Rademacher,
            batch: 2,
        }),
        ..Options::default()
    };
    let out = tempfile::tempdir().unwrap();
    let run = |out: &Path| {
        analyze::<B>(
            &source,
            None,
            &sets,
            &options,
            out,
            false,
            &Default::default(),
            &mut |_, _, _, _| {},
        )
        .unwrap()
    };
    let first = run(out.path());
    assert_eq!(first.len(), 2);
    for r in &first {
        for v in [
            Some(r.loss_image_solution),
            r.loss_conversion,
            r.loss_solution_given_conversion,
            Some(r.grad_norm_mean),
            r.alignment,
            r.cosine,
            r.adam_alignment,
        ] {
            assert!(v.is_some_and(f64::is_finite), "{r:?}");
        }
        assert_eq!((r.n_simple, r.n_hard), (4, 3));
        // The projected features: one row of 256 per example and set.
        let projected = r.projected.as_ref().unwrap();
        assert!(projected.cosine.is_some_and(|c| c.abs() <= 1.0 + 1e-6));
        let bytes = std::fs::read(out.path().join(&projected.features)).unwrap();
        let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(tensors.tensor("simple").unwrap().shape(), [4, 256]);
        assert_eq!(tensors.tensor("hard").unwrap().shape(), [3, 256]);
        assert!(!r.attributions.is_empty());
        for png in &r.attributions {
            assert!(out.path().join(png).is_file(), "{png}");
        }
    }
    // Step 5 is mid-phase: its optimizer moments are there; step 10 ends the phase.
    assert!(
        first[0].adam_alignment_state.is_some_and(f64::is_finite),
        "{:?}",
        first[0]
    );
    assert_ne!(first[0].adam_alignment_state, first[0].adam_alignment);
    assert!(first[1].adam_alignment_state.is_none());
    assert!(first[1].adam_state_note.is_some());
    // Training lowered the loss the analysis measures.
    assert_ne!(first[0].loss_image_solution, first[1].loss_image_solution);

    let csv = std::fs::read_to_string(out.path().join("summary.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3);
    assert!(csv.starts_with("step,examples_seen,loss_image_solution"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("step-5.json")).unwrap())
            .unwrap();
    for key in [
        "step",
        "examples_seen",
        "loss_image_solution",
        "loss_conversion",
        "loss_solution_given_conversion",
        "grad_norm_mean",
        "alignment",
        "cosine",
        "adam_alignment",
        "adam_alignment_state",
    ] {
        assert!(json.get(key).is_some(), "step-5.json lacks {key}");
    }

    let again = tempfile::tempdir().unwrap();
    let second = run(again.path());
    assert_eq!(first, second);
    for r in &first {
        let file = &r.projected.as_ref().unwrap().features;
        assert_eq!(
            std::fs::read(out.path().join(file)).unwrap(),
            std::fs::read(again.path().join(file)).unwrap()
        );
    }
    // A rerun into the same directory keeps the finished steps.
    assert_eq!(run(out.path()), first);
}

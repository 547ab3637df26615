//! The analysis against what it must equal: finite differences, hand computations, the training
//! loss, causality, and itself.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{B, I, checkpoint, dataset, examples, fixture};
use s2h_analysis::alignment::{self, AdamHyper, Moments, adam_alignment, set_stats};
use s2h_analysis::attribution::{attribute, frozen};
use s2h_analysis::grads::{Example, FlatGrad, GradientSource, VlmGradients, example_loss, read};
use s2h_analysis::groups::{cot_groups, group_mask};
use s2h_analysis::losses::per_example_losses;
use s2h_analysis::params::{ParamInfo, select};
use s2h_analysis::sets::{EvalSet, SOLUTION};
use s2h_analysis::{Options, ParamSet, ProjectionKind, ProjectionOptions, Sets, Source, analyze};
use s2h_mixture::Supervision;
use s2h_tasks::Split;
use s2h_vlm::burn::module::{AutodiffModule, Module, ModuleMapper, Param, ParamId};
use s2h_vlm::burn::prelude::*;
use s2h_vlm::{Vlm, special};

/// The per-example loss is exactly what the trainer computes for a batch of that one record, and
/// batching several records (with padding) leaves each one's loss unchanged.
#[test]
fn per_example_loss_is_the_training_loss_at_batch_one() {
    let (_, model, processor) = checkpoint(5);
    let hard = examples(&fixture().hard, Supervision::Image, &processor);
    let inner = model.valid();
    let batched = per_example_losses(&inner, &hard, 8).unwrap();
    let alone = per_example_losses(&inner, &hard, 1).unwrap();
    assert_eq!(batched.len(), hard.len());
    for (e, (a, b)) in hard.iter().zip(alone.iter().zip(&batched)) {
        let row = e.encoded.row(e.image.as_deref());
        let gradients =
            s2h_train::step::accumulate_gradients(&model, 1, e.encoded.n_targets(), |_| {
                Ok(s2h_vlm::batch::batch::<B>(
                    &[row],
                    s2h_vlm::Padding::Right,
                    model.image_size,
                    &Default::default(),
                )?)
            })
            .unwrap();
        let training = read(gradients.loss.unwrap());
        assert!((a - training).abs() < 1e-5, "{a} vs training {training}");
        assert!((a - b).abs() < 1e-4, "alone {a} vs batched {b}");
    }
    // Records differ, so their losses do: the check above compares real values.
    assert!(alone.iter().any(|l| (l - alone[0]).abs() > 1e-4));
}

/// Adds `eps · direction` to the selected parameters.
struct Shift {
    by_id: HashMap<ParamId, Tensor<I, 1>>,
    eps: f64,
}

impl ModuleMapper<I> for Shift {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<I, D>>) -> Param<Tensor<I, D>> {
        let (id, tensor, mapper) = param.consume();
        let tensor = match self.by_id.get(&id) {
            Some(d) => {
                let shape = tensor.shape();
                tensor + d.clone().mul_scalar(self.eps).reshape(shape)
            }
            None => tensor,
        };
        Param::from_mapped_value(id, tensor, mapper)
    }
}

fn directional_difference(
    model: &Vlm<I>,
    params: &[ParamInfo],
    direction: &FlatGrad<I>,
    example: &Example,
    eps: f64,
) -> f64 {
    let at = |eps: f64| {
        let by_id = params
            .iter()
            .zip(&direction.parts)
            .map(|(p, d)| (p.id, d.clone()))
            .collect();
        let shifted = model.clone().map(&mut Shift { by_id, eps });
        read(example_loss(&shifted, example).unwrap())
    };
    (at(eps) - at(-eps)) / (2.0 * eps)
}

/// The per-example gradient against central finite differences of the loss, along the gradient
/// itself (checks its length) and along a fixed random direction (checks its direction), over
/// every parameter and over the projector alone.
#[test]
fn gradients_match_finite_differences() {
    let (_, model, processor) = checkpoint(5);
    let hard = examples(&fixture().hard, Supervision::Image, &processor);
    let inner = model.valid();
    for set in [ParamSet::All, ParamSet::Projector] {
        let (selected, params) = select(model.clone(), &set).unwrap();
        let source = VlmGradients {
            model: &selected,
            params: &params,
            examples: &hard,
        };
        let (_, g) = source.loss_and_gradient(0).unwrap();
        let norm = read(g.dot(&g)).sqrt();
        assert!(norm > 1e-3, "{set}: a zero gradient proves nothing");
        let unit = g.map(|p| p.div_scalar(norm));
        let along = directional_difference(&inner, &params, &unit, &hard[0], 1e-2);
        assert!(
            (along - norm).abs() < 0.03 * norm,
            "{set}: finite difference {along} vs gradient norm {norm}"
        );
        // A seeded direction of unit length.
        let mut state = 12345u64;
        let random = g.map(|p| {
            let n = p.dims()[0];
            let values: Vec<f32> = (0..n)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
                })
                .collect();
            Tensor::from_data(TensorData::new(values, [n]), &p.device())
        });
        let rnorm = read(random.dot(&random)).sqrt();
        let random = random.map(|p| p.div_scalar(rnorm));
        let expected = read(g.dot(&random));
        let measured = directional_difference(&inner, &params, &random, &hard[0], 1e-2);
        assert!(
            (measured - expected).abs() < 0.05 * norm,
            "{set}: finite difference {measured} vs ⟨g, d⟩ {expected} (‖g‖ {norm})"
        );
    }
}

/// Eq 3, Eq 7 and Eq 8 are exactly 1 when the simple and the hard set are the same records.
#[test]
fn scores_are_one_when_simple_and_hard_are_the_same_records() {
    let (_, model, processor) = checkpoint(5);
    let hard = examples(&fixture().hard, Supervision::Image, &processor);
    let (selected, params) = select(model, &ParamSet::All).unwrap();
    let source = || VlmGradients {
        model: &selected,
        params: &params,
        examples: &hard,
    };
    let s = set_stats(&mut source(), |_, _| Ok(())).unwrap();
    let h = set_stats(&mut source(), |_, _| Ok(())).unwrap();
    let a = alignment::alignment(&s.mean, &h.mean);
    assert!((a.alignment.unwrap() - 1.0).abs() < 1e-6, "{a:?}");
    assert!((a.cosine.unwrap() - 1.0).abs() < 1e-5, "{a:?}");
    let proxies = Moments::proxies(&s);
    let eq8 = adam_alignment(
        &mut source(),
        &mut source(),
        &h.mean,
        &[&proxies],
        &AdamHyper::default(),
    )
    .unwrap();
    assert!((eq8[0].unwrap() - 1.0).abs() < 1e-6, "{eq8:?}");
    // Other records give other scores: the check can fail.
    let simple = examples(&fixture().simple, Supervision::Image, &processor);
    let mut other = VlmGradients {
        model: &selected,
        params: &params,
        examples: &simple,
    };
    let o = set_stats(&mut other, |_, _| Ok(())).unwrap();
    let b = alignment::alignment(&o.mean, &h.mean);
    assert!((b.alignment.unwrap() - 1.0).abs() > 1e-3, "{b:?}");
}

/// A model with two parameters, `l(x; θ) = ½ (θ·a − y)²`, its gradients taken by Burn's
/// autodiff.
struct TwoParams {
    theta: [f32; 2],
    data: Vec<([f32; 2], f32)>,
}

impl GradientSource<I> for TwoParams {
    fn len(&self) -> usize {
        self.data.len()
    }

    fn gradient(&mut self, i: usize) -> s2h_analysis::Result<FlatGrad<I>> {
        let device = Default::default();
        let _pass = s2h_vlm::autodiff::pass_lock();
        let theta = Tensor::<B, 1>::from_data(TensorData::new(self.theta.to_vec(), [2]), &device)
            .require_grad();
        let (a, y) = self.data[i];
        let a = Tensor::<B, 1>::from_data(TensorData::new(a.to_vec(), [2]), &device);
        let r = (theta.clone() * a).sum().sub_scalar(y);
        let loss = r.clone().mul(r).mul_scalar(0.5);
        let grads = loss.backward();
        Ok(FlatGrad {
            parts: vec![theta.grad(&grads).unwrap()],
        })
    }
}

/// Eq 3, Eq 7, the mean gradient norm and Eq 8 on two parameters, against the numbers worked
/// out by hand: θ = (1, 2); simple examples (a, y) = ((1, 0), 0), ((0, 1), 1) have gradients
/// (θ·a − y) a = (1, 0), (0, 1); hard ones ((1, 1), 1), ((1, −1), 0) have (2, 2), (−1, 1).
#[test]
fn scores_match_a_hand_computation_with_two_parameters() {
    let theta = [1.0, 2.0];
    let mut simple = TwoParams {
        theta,
        data: vec![([1.0, 0.0], 0.0), ([0.0, 1.0], 1.0)],
    };
    let mut hard = TwoParams {
        theta,
        data: vec![([1.0, 1.0], 1.0), ([1.0, -1.0], 0.0)],
    };
    let s = set_stats(&mut simple, |_, _| Ok(())).unwrap();
    let h = set_stats(&mut hard, |_, _| Ok(())).unwrap();
    // g_S = (0.5, 0.5), g_H = (0.5, 1.5): ⟨g_S, g_H⟩ = 1, ⟨g_H, g_H⟩ = 2.5, ⟨g_S, g_S⟩ = 0.5.
    let a = alignment::alignment(&s.mean, &h.mean);
    assert!((a.alignment.unwrap() - 0.4).abs() < 1e-6, "{a:?}");
    assert!(
        (a.cosine.unwrap() - 1.0 / 1.25f64.sqrt()).abs() < 1e-6,
        "{a:?}"
    );
    assert!((s.norm_mean - 1.0).abs() < 1e-6);
    assert!((h.norm_mean - (8f64.sqrt() + 2f64.sqrt()) / 2.0).abs() < 1e-6);
    // Eq 8 with m = g_S = (0.5, 0.5), v = E g⊙g = (0.5, 0.5), β = (0.9, 0.999), ε = 1e-8.
    let adam = AdamHyper::default();
    let hand_h = |g: [f64; 2]| -> [f64; 2] {
        let f = |gi: f64| (0.1 * gi + 0.9 * 0.5) / ((0.001 * gi * gi + 0.999 * 0.5).sqrt() + 1e-8);
        [f(g[0]), f(g[1])]
    };
    let g_hard = [0.5, 1.5];
    let dot = |x: [f64; 2]| x[0] * g_hard[0] + x[1] * g_hard[1];
    let numerator = (dot(hand_h([1.0, 0.0])) + dot(hand_h([0.0, 1.0]))) / 2.0;
    let denominator = (dot(hand_h([2.0, 2.0])) + dot(hand_h([-1.0, 1.0]))) / 2.0;
    let proxies = Moments::proxies(&s);
    let eq8 = adam_alignment(&mut simple, &mut hard, &h.mean, &[&proxies], &adam).unwrap();
    let expected = numerator / denominator;
    assert!(
        (eq8[0].unwrap() - expected).abs() < 1e-5,
        "{eq8:?} vs {expected}"
    );
    // Real moments change h, and so the score.
    let state = Moments::<I> {
        m: FlatGrad::from_host(&[vec![0.0, 0.0]], &Default::default()),
        v: FlatGrad::from_host(&[vec![4.0, 0.01]], &Default::default()),
    };
    let both = adam_alignment(&mut simple, &mut hard, &h.mean, &[&proxies, &state], &adam).unwrap();
    assert_eq!(both[0], eq8[0]);
    assert!((both[1].unwrap() - expected).abs() > 1e-3);
}

/// The loss on a token before the image tokens cannot see the image (causal attention), so its
/// attribution is exactly zero everywhere; a chain-of-thought group's is not.
#[test]
fn attribution_of_an_image_the_loss_cannot_see_is_zero() {
    let (_, model, processor) = checkpoint(10);
    let set = EvalSet::read(&fixture().hard, Supervision::Image, None).unwrap();
    let hard = set.examples(&processor, &SOLUTION).unwrap();
    let model = frozen(model);
    let example = &hard[0];
    let first_image = example
        .encoded
        .input_ids
        .iter()
        .position(|&t| t == special::IMAGE_ID)
        .unwrap();
    assert!(first_image >= 2);
    let mut blind = vec![false; example.encoded.input_ids.len()];
    blind[1] = true;
    let scores = attribute(&model, example, &blind).unwrap();
    assert_eq!(scores.scores.len(), 16 * 16);
    assert!(scores.scores.iter().all(|&s| s == 0.0));

    let groups = cot_groups(&set.records[0]);
    assert!(groups.len() >= 2, "{groups:?}");
    let mask = group_mask(&processor, &set.records[0], &example.encoded, &groups[0]).unwrap();
    let seen = attribute(&model, example, &mask).unwrap();
    assert!(seen.scores.iter().any(|&s| s != 0.0));
}

#[test]
fn bad_input_is_a_clear_error() {
    let f = fixture();
    // Text-supervised records are not what Eq 2 measures.
    let text = tempfile::tempdir().unwrap();
    let text = dataset(text.path(), Split::Simple, 3, 2, Supervision::Text);
    let err = EvalSet::read(&text, Supervision::Image, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("image"), "{err}");
    // The Image set where Image-via-Text records are needed.
    let err = Sets::read(&f.simple, &f.hard, Some(&f.hard), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("image_via_text"), "{err}");
    let source = Source::open(&f.run).unwrap();
    let err = source.select(Some(&[7])).unwrap_err().to_string();
    assert!(err.contains("step 7") && err.contains("5, 10"), "{err}");
    let (_, model, _) = checkpoint(10);
    let err = select(model, &"no.such.param".parse().unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("selects no parameter"), "{err}");
    let empty = tempfile::tempdir().unwrap();
    assert!(Source::open(empty.path()).is_err());
}

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

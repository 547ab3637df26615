//! Training-loop tests on the CPU (flex backend) with a model smaller than `tiny`.

mod common;

use std::path::{Path, PathBuf};

use s2h_mixture::{Component, Supervision};
use s2h_train::data::PhaseData;
use s2h_train::{DataSource, Duration, TrainConfig, TrainError};
use s2h_vlm::burn::backend::Flex;
use s2h_vlm::burn::module::Module;
use s2h_vlm::burn::prelude::*;
use s2h_vlm::{TokenizerKind, VlmConfig, special};

use common::*;

#[test]
fn tiny_model_overfits_sixteen_records() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(&tmp.path().join("data"), Supervision::Text, 16);
    let cfg = TrainConfig {
        duration: Duration::Steps(120),
        batch_size: 16,
        lr: 1e-2,
        save_every: 0,
        log_every: 1,
        ..config(&data, &tmp.path().join("run"))
    };
    let summary = run(&cfg).unwrap();
    let first = summary.loss_curve[0].1;
    let last = summary.final_loss.unwrap();
    assert!(summary.completed && summary.steps == 120);
    // From about ln(vocabulary) to a small fraction of a nat per target token.
    assert!(first > 4.0, "first loss {first}");
    assert!(
        last < 0.2 && last < first / 20.0,
        "loss only fell from {first} to {last}: {:?}",
        summary.loss_curve
    );
    // The model directory loads.
    let dir = summary.model_dir.unwrap();
    let (config, tokenizer, _model) =
        s2h_vlm::load_model::<Flex>(&dir, &Default::default()).unwrap();
    assert_eq!(config.decoder.vocab_size, tokenizer.vocab_size());
    for f in [
        "train_config.json",
        "metrics.jsonl",
        "tokenizer.json",
        "summary.json",
    ] {
        assert!(tmp.path().join("run").join(f).is_file(), "{f}");
    }
}

#[test]
fn resumed_run_repeats_the_uninterrupted_losses_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(&tmp.path().join("data"), Supervision::Text, 24);
    let start = start_model(&data, &tmp.path().join("start"));
    let config = |dir: &str| TrainConfig {
        init_from: Some(start.clone()),
        ..config(&data, &tmp.path().join(dir))
    };
    let full = run(&config("a")).unwrap();
    assert_eq!(full.loss_curve.len(), 20);

    let b = config("b");
    let half = run(&TrainConfig {
        stop_after: Some(10),
        ..b.clone()
    })
    .unwrap();
    assert!(!half.completed && half.steps == 10 && half.model_dir.is_none());
    let resumed = run(&TrainConfig {
        resume: true,
        ..b.clone()
    })
    .unwrap();
    assert!(resumed.completed);
    // Bit-identical on the CPU, and no duplicate or missing metrics line.
    assert_eq!(losses(&full), losses(&resumed));
    let steps: Vec<u64> = resumed.loss_curve.iter().map(|(s, _)| *s).collect();
    assert_eq!(steps, (1..=20).collect::<Vec<_>>());

    // A failure half-way through writing the checkpoint of step 15 removes its temporary
    // directory (a full disk must not stay full); what a killed process leaves is removed on
    // resume. The resumed run starts from step 10 and still matches.
    let c = config("c");
    let err = run(&TrainConfig {
        fail_checkpoint_at: Some(15),
        ..c.clone()
    })
    .unwrap_err();
    assert!(matches!(err, TrainError::InjectedFailure(15)), "{err}");
    let ckpts = tmp.path().join("c").join("checkpoints");
    assert!(!ckpts.join(".tmp-step-000000015").exists());
    assert!(!ckpts.join("step-000000015").exists());
    std::fs::create_dir_all(ckpts.join(".tmp-step-000000015")).unwrap();
    let resumed = run(&TrainConfig {
        resume: true,
        ..c.clone()
    })
    .unwrap();
    assert_eq!(losses(&full), losses(&resumed));
    assert!(!ckpts.join(".tmp-step-000000015").exists());

    // Resuming a finished run changes nothing; resuming with other options is refused.
    let again = run(&TrainConfig {
        resume: true,
        ..c.clone()
    })
    .unwrap();
    assert_eq!(losses(&again), losses(&full));
    let err = run(&TrainConfig {
        resume: true,
        lr: 1e-4,
        ..c
    })
    .unwrap_err();
    assert!(matches!(err, TrainError::Resume { .. }), "{err}");
}

#[test]
fn frozen_components_do_not_change() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(&tmp.path().join("data"), Supervision::Image, 8);
    // A first run trains everything; the second starts from it with the LM alone trainable.
    let first = run(&TrainConfig {
        duration: Duration::Steps(2),
        save_every: 0,
        ..config(&data, &tmp.path().join("first"))
    })
    .unwrap();
    let start = first.model_dir.unwrap();
    let second = run(&TrainConfig {
        init_from: Some(start.clone()),
        trainable: Some(vec![Component::Lm]),
        duration: Duration::Steps(3),
        save_every: 0,
        ..config(&data, &tmp.path().join("second"))
    })
    .unwrap();
    let load = |dir: &Path| {
        s2h_vlm::load_model::<Flex>(dir, &Default::default())
            .unwrap()
            .2
    };
    let (before, after) = (load(&start), load(&second.model_dir.unwrap()));
    let vision = |m: &s2h_vlm::Vlm<Flex>| collect(m.vision.clone().unwrap());
    let projector = |m: &s2h_vlm::Vlm<Flex>| collect(m.projector.clone().unwrap());
    assert!(!vision(&before).is_empty());
    assert_eq!(
        vision(&before),
        vision(&after),
        "the frozen vision tower changed"
    );
    assert_eq!(
        projector(&before),
        projector(&after),
        "the frozen projector changed"
    );
    assert_ne!(
        collect(before.decoder.clone()),
        collect(after.decoder.clone()),
        "the language model did not train"
    );
}

/// Every float parameter of a module, flattened in visiting order.
fn collect<M: Module<Flex>>(module: M) -> Vec<f32> {
    struct Grab(Vec<f32>);
    impl s2h_vlm::burn::module::ModuleVisitor<Flex> for Grab {
        fn visit_float<const D: usize>(
            &mut self,
            param: &s2h_vlm::burn::module::Param<Tensor<Flex, D>>,
        ) {
            self.0.extend(
                param
                    .val()
                    .into_data()
                    .convert::<f32>()
                    .to_vec::<f32>()
                    .unwrap(),
            );
        }
    }
    let mut grab = Grab(Vec::new());
    module.visit(&mut grab);
    grab.0
}

#[test]
fn accumulating_four_micro_batches_of_two_equals_a_batch_of_eight() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(&tmp.path().join("data"), Supervision::Text, 16);
    let base = TrainConfig {
        duration: Duration::Steps(6),
        save_every: 0,
        init_from: Some(start_model(&data, &tmp.path().join("start"))),
        ..config(&data, &tmp.path().join("x"))
    };
    let whole = run(&TrainConfig {
        out: tmp.path().join("whole"),
        ..base.clone()
    })
    .unwrap();
    let accumulated = run(&TrainConfig {
        out: tmp.path().join("accumulated"),
        micro_batch_size: Some(2),
        ..base
    })
    .unwrap();
    assert_eq!(whole.loss_curve.len(), 6);
    for ((s1, l1), (s2, l2)) in whole.loss_curve.iter().zip(&accumulated.loss_curve) {
        assert_eq!(s1, s2);
        assert!(
            (l1 - l2).abs() < 1e-4 * l1.abs().max(1.0),
            "step {s1}: {l1} vs {l2}"
        );
    }
    let load = |dir: &Option<PathBuf>| {
        s2h_vlm::load_model::<Flex>(dir.as_ref().unwrap(), &Default::default())
            .unwrap()
            .2
    };
    let (a, b) = (
        collect(load(&whole.model_dir)),
        collect(load(&accumulated.model_dir)),
    );
    let max_diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(max_diff < 1e-4, "weights differ by {max_diff}");
}

#[test]
fn bad_input_is_a_clear_error_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nothing");
    let err = run(&config(&missing, &tmp.path().join("r1"))).unwrap_err();
    assert!(matches!(err, TrainError::Data { .. }), "{err}");
    assert!(err.to_string().contains("records.jsonl"), "{err}");

    let data = dataset(&tmp.path().join("data"), Supervision::Text, 4);
    // A record longer than the context.
    let mut short = VlmConfig::micro();
    short.decoder.max_seq_len = 40;
    let err = run(&TrainConfig {
        model: short,
        ..config(&data, &tmp.path().join("r2"))
    })
    .unwrap_err();
    assert!(err.to_string().contains("context holds 40"), "{err}");
    assert!(!tmp.path().join("r2").join("checkpoints").exists());
    // A failed start leaves no run behind: the same directory takes a corrected run.
    assert!(!tmp.path().join("r2").join("train_config.json").exists());
    let fixed = run(&TrainConfig {
        duration: Duration::Steps(1),
        save_every: 0,
        ..config(&data, &tmp.path().join("r2"))
    })
    .unwrap();
    assert!(fixed.completed);

    // An existing run directory without --resume.
    let out = tmp.path().join("r3");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let err = run(&config(&data, &out)).unwrap_err();
    assert!(matches!(err, TrainError::RunExists(_)), "{err}");

    // Numbers that cannot work.
    let err = run(&TrainConfig {
        micro_batch_size: Some(3),
        ..config(&data, &tmp.path().join("r4"))
    })
    .unwrap_err();
    assert!(err.to_string().contains("divide the batch size"), "{err}");

    // A plan naming an unknown supervision does not parse.
    let err = s2h_mixture::Plan::from_toml_str(
        "[[phase]]\nsupervision = \"telepathy\"\ntask = \"ctr\"\nbudget = 10\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("telepathy"), "{err}");
}

#[test]
fn a_plan_runs_its_phases_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = s2h_mixture::Plan::from_toml_str(
        "seed = 1\n[[phase]]\nsupervision = \"text_warmup\"\ntask = \"ctr\"\nbudget = 8\nlr = 5e-3\n\
         [[phase]]\nsupervision = \"text\"\ntask = \"ctr\"\nbudget = 8\n",
    )
    .unwrap();
    let plan = s2h_mixture::Plan {
        task_config: small_tasks(),
        ..plan
    };
    let out = tmp.path().join("run");
    let cfg = TrainConfig {
        data: DataSource::Plan { plan },
        duration: Duration::Epochs(2),
        ..config(Path::new("unused"), &out)
    };
    let summary = run(&cfg).unwrap();
    assert!(summary.completed);
    assert_eq!(summary.steps, 4);
    let text = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let lines: Vec<s2h_train::LogLine> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let phases: Vec<&str> = lines.iter().map(|l| l.phase.as_str()).collect();
    assert_eq!(phases, ["text-warmup", "text-warmup", "text", "text"]);
    // Each phase has its own schedule: its first update has learning rate 0.
    assert_eq!(lines[0].lr, 0.0);
    assert_eq!(lines[2].lr, 0.0);
    assert!((lines[1].lr - 5e-3).abs() < 1e-12);
    assert!(out.join("data/01-text-warmup/records.jsonl").is_file());
    assert!(out.join("data/02-text/records.jsonl").is_file());
}

/// A phase's batch holds exactly each record's encoding (ids and loss mask, right-padded) and its
/// image as the processor reads it; text rows get a blank image.
#[test]
fn phase_batches_hold_the_processor_encodings_and_images() {
    let tmp = tempfile::tempdir().unwrap();
    let kind = TokenizerKind::Bpe { vocab_size: 400 };
    let tok = s2h_train::build_tokenizer(kind, &small_tasks(), 1, 0, &[]).unwrap();
    let model = VlmConfig::micro().with_vocab(&tok);
    let processor = s2h_train::Processor::new(tok, &model);
    let device = Default::default();
    for (name, supervision) in [("t", Supervision::Text), ("v", Supervision::ImageViaText)] {
        let dir = dataset(&tmp.path().join(name), supervision, 3);
        let records = s2h_mixture::read_records(&dir).unwrap();
        for targets in [
            s2h_train::ALL_TARGETS.to_vec(),
            vec![s2h_mixture::SegmentKind::Answer],
        ] {
            let mut data = PhaseData::encode(&processor, &records, &targets).unwrap();
            data.load_images(&processor, &dir).unwrap();
            let batch = data
                .batch::<Flex>(&[0, 1, 2], model.image_size(), &device)
                .unwrap();
            let [_, t] = batch.input_ids.dims();
            let ids: Vec<i64> = batch
                .input_ids
                .into_data()
                .convert::<i64>()
                .to_vec()
                .unwrap();
            let mask: Vec<f32> = batch.loss_mask.into_data().to_vec().unwrap();
            let images = batch.images.map(|i| i.into_data().to_vec::<f32>().unwrap());
            let plane = 3 * model.image_size() * model.image_size();
            for (row, record) in records.iter().enumerate() {
                let enc = processor.encode(record, &targets).unwrap();
                let n = enc.input_ids.len();
                let got: Vec<u32> = ids[row * t..row * t + n]
                    .iter()
                    .map(|&x| x as u32)
                    .collect();
                assert_eq!(got, enc.input_ids);
                let got: Vec<bool> = mask[row * t..row * t + n]
                    .iter()
                    .map(|&m| m == 1.0)
                    .collect();
                assert_eq!(got, enc.loss_mask);
                assert!(
                    ids[row * t + n..(row + 1) * t]
                        .iter()
                        .all(|&x| x == special::PAD_ID as i64)
                );
                match (&record.image, &images) {
                    (Some(path), Some(images)) => {
                        let bytes = processor.load_image(&dir.join(path)).unwrap();
                        let want: Vec<f32> = bytes
                            .iter()
                            .map(|&b| s2h_vlm::batch::normalise_pixel(b))
                            .collect();
                        assert_eq!(&images[row * plane..(row + 1) * plane], &want[..]);
                    }
                    (None, None) => {}
                    other => panic!("image mismatch for {}: {other:?}", record.id),
                }
            }
        }
    }
}

/// The tensor bytes of a model directory's weights (what follows the safetensors header, whose
/// metadata map burn-store writes in no fixed order).
fn tensor_bytes(model_dir: &Path) -> Vec<u8> {
    let bytes = std::fs::read(model_dir.join(s2h_vlm::store::WEIGHTS_FILE)).unwrap();
    let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    bytes[8 + header..].to_vec()
}

#[test]
fn a_kept_checkpoint_exports_as_a_model_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(&tmp.path().join("data"), Supervision::Text, 24);
    let run = tmp.path().join("run");
    let summary = common::run(&TrainConfig {
        duration: Duration::Steps(12),
        save_every: 4,
        keep_steps: Some(s2h_train::KeepSteps::Every(4)),
        ..config(&data, &run)
    })
    .unwrap();
    let final_model = summary.model_dir.unwrap();
    let device = Default::default();
    // The last update's checkpoint is the final model, bit for bit.
    let last = tmp.path().join("step-12");
    s2h_train::checkpoint::export_model::<B>(&run, 12, &last, &device).unwrap();
    assert_eq!(tensor_bytes(&last), tensor_bytes(&final_model));
    // An earlier one loads as a model and differs from it.
    let early = tmp.path().join("step-4");
    s2h_train::checkpoint::export_model::<B>(&run, 4, &early, &device).unwrap();
    s2h_vlm::load_model::<Flex>(&early, &device).unwrap();
    assert_ne!(tensor_bytes(&early), tensor_bytes(&final_model));
    // A step without a checkpoint is an error that names the ones there are.
    let err = s2h_train::checkpoint::export_model::<B>(&run, 6, &tmp.path().join("x"), &device)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("update 6") && err.contains("4, 8, 12"),
        "{err}"
    );
}

//! The evaluation pipeline through the root dev-dependencies (as the `evaluate` example uses
//! them): generate an eval set, save a model directory, evaluate it by path, write the files,
//! and score the written predictions again with the `score` code.

use std::path::Path;

use s2h::mixture::{DatasetSpec, Supervision, write_dataset};
use s2h::tasks::{Split, TaskKind};
use s2h_eval::{EvalError, EvalOptions, names};
use s2h_vlm::burn::backend::Flex;
use s2h_vlm::{DecoderConfig, GenerateOptions, TokenizerKind, VlmConfig, VlmTokenizer, special};

fn options(task: Option<TaskKind>) -> EvalOptions {
    EvalOptions {
        generate: GenerateOptions {
            max_new_tokens: 8,
            batch: 2,
            ..Default::default()
        },
        convert: false,
        task,
    }
}

#[test]
fn evaluate_a_model_directory_and_rescore_its_predictions() {
    let data = tempfile::tempdir().unwrap();
    let eval_dir = data.path().join("ctr");
    let spec = DatasetSpec::new(TaskKind::Ctr, Split::Simple, 3, 3, Supervision::Text);
    write_dataset(&spec, &eval_dir, false, &|| {}).unwrap();
    let records = s2h_eval::read_eval_set(&eval_dir).unwrap();
    let texts: Vec<String> = records
        .iter()
        .flat_map(|r| [r.prompt.clone(), r.target.clone()])
        .collect();
    let tokenizer = VlmTokenizer::build(
        TokenizerKind::WordLevel,
        &texts,
        &s2h_train::corpus::task_words(),
    )
    .unwrap();
    let config = VlmConfig::new(
        DecoderConfig::new(tokenizer.vocab_size(), 32, 1, 2, 1, 64, 1024),
        special::IMAGE_ID as usize,
    );
    let model_dir = data.path().join("model");
    let model = config.init::<Flex>(&Default::default()).unwrap();
    s2h_vlm::save_model(&model_dir, &config, &tokenizer, &model).unwrap();

    let report = s2h_eval::evaluate_dirs::<Flex>(
        &model_dir,
        &eval_dir,
        Some(2),
        &options(Some(TaskKind::Ctr)),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(report.predictions.len(), 2);
    let pooled = report.metrics.group(TaskKind::Ctr, None).unwrap();
    let mean = pooled.metric(names::MEAN_GENERATED_TOKENS).unwrap();
    assert!(mean > 0.0 && mean <= 8.0, "{mean}");

    let out = data.path().join("results");
    let files = report.write(&out).unwrap();
    let (predictions, metrics) = (files.per_example, files.metrics);
    assert_eq!(s2h_eval::read_metrics(&metrics).unwrap(), report.metrics);
    // Score the written predictions against the same two records: the same metrics.
    let rescored = s2h_eval::score(
        &records[..2],
        &s2h_eval::read_predictions(&predictions).unwrap(),
    )
    .unwrap();
    let mut expected = report.metrics.clone();
    for g in &mut expected.groups {
        g.metrics.remove(names::MEAN_GENERATED_TOKENS);
    }
    assert_eq!(rescored.metrics, expected);
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());

    // Another task's model, a missing model, a directory that is not an eval set.
    let err = s2h_eval::evaluate_dirs::<Flex>(
        &model_dir,
        &eval_dir,
        None,
        &options(Some(TaskKind::Grid)),
        &Default::default(),
    )
    .unwrap_err();
    assert!(matches!(err, EvalError::TaskMismatch { .. }), "{err}");
    let err = s2h_eval::evaluate_dirs::<Flex>(
        Path::new("/nonexistent"),
        &eval_dir,
        None,
        &options(None),
        &Default::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent"), "{err}");
    let err = s2h_eval::evaluate_dirs::<Flex>(
        &model_dir,
        &model_dir,
        None,
        &options(None),
        &Default::default(),
    )
    .unwrap_err();
    assert!(matches!(err, EvalError::NoEvalSet { .. }), "{err}");

    // A model directory that records its training tasks is not scored on another task's set
    // unless the task is given.
    let record = s2h_train::TrainingRecord {
        tasks: vec![TaskKind::Ctr],
    };
    std::fs::write(
        model_dir.join(s2h_train::TRAINING_FILE),
        serde_json::to_string(&record).unwrap(),
    )
    .unwrap();
    let grid_dir = data.path().join("grid");
    let spec = DatasetSpec::new(TaskKind::Grid, Split::Simple, 3, 1, Supervision::Text);
    write_dataset(&spec, &grid_dir, false, &|| {}).unwrap();
    let on = |eval: &Path, task| {
        s2h_eval::evaluate_dirs::<Flex>(
            &model_dir,
            eval,
            Some(1),
            &options(task),
            &Default::default(),
        )
    };
    let err = on(&grid_dir, None).unwrap_err();
    assert!(matches!(err, EvalError::NotTrainedOn { .. }), "{err}");
    assert!(on(&grid_dir, Some(TaskKind::Grid)).is_ok());
    assert!(on(&eval_dir, None).is_ok());
}

//! Generation and model evaluation on CPU (flex), on real task records: a tiny model trained
//! here to emit a fixed answer generates it exactly; batched and cached generation equal
//! one-at-a-time and uncached generation token for token; "Convert" changes only the prefix; bad
//! inputs are clear errors. (Generation lives in `s2h_vlm::generate`, prompts in
//! `s2h_train::Processor`; this crate sees both.)
#![cfg(feature = "model")]

use std::path::Path;
use std::sync::OnceLock;

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use s2h_eval::{EvalError, EvalOptions, convert};
use s2h_mixture::{DatasetSpec, Record, Segment, SegmentKind, Supervision, write_dataset};
use s2h_tasks::{Split, TaskKind};
use s2h_train::{ALL_TARGETS, Processor};
use s2h_vlm::generate::{self, GenerateOptions, Prompt, StopReason};
use s2h_vlm::{
    ConvNextConfig, DecoderConfig, Padding, TokenizerKind, VisionConfig, VitConfig, Vlm, VlmConfig,
    VlmError, VlmTokenizer, burn, masked_lm_loss, special,
};

type B = Flex;
type AD = Autodiff<Flex>;

/// A written eval set: its directory (kept alive) and records.
struct Set {
    dir: tempfile::TempDir,
    records: Vec<Record>,
}

fn write_set(task: TaskKind, count: u64, supervision: Supervision) -> Set {
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = DatasetSpec::new(task, Split::Simple, 7, count, supervision);
    write_dataset(&spec, dir.path(), false, &|| {}).expect("dataset written");
    let records = s2h_mixture::read_records(dir.path()).expect("records read back");
    Set { dir, records }
}

fn ctr_text() -> &'static Set {
    static SET: OnceLock<Set> = OnceLock::new();
    SET.get_or_init(|| write_set(TaskKind::Ctr, 3, Supervision::Text))
}

fn ctr_image() -> &'static Set {
    static SET: OnceLock<Set> = OnceLock::new();
    SET.get_or_init(|| write_set(TaskKind::Ctr, 2, Supervision::ImageViaText))
}

/// A word-level tokenizer over every text the tests decode.
fn tokenizer() -> VlmTokenizer {
    tokenizer_of(TokenizerKind::WordLevel)
}

/// A tokenizer of `kind` on the fixtures' texts and, as in training's corpus, the conversion
/// line (three times: the compact tokenizer makes a phrase token of a line that recurs).
fn tokenizer_of(kind: TokenizerKind) -> VlmTokenizer {
    let mut texts: Vec<String> = vec![s2h_cot::CONVERT_LINE.to_string(); 3];
    for r in ctr_text().records.iter().chain(&ctr_image().records) {
        texts.push(r.prompt.clone());
        texts.push(r.target.clone());
        texts.push(convert::gold_text(r));
    }
    let words = s2h_train::corpus::task_words();
    VlmTokenizer::build(kind, &texts, &words).expect("tokenizer")
}

fn text_config(vocab: usize) -> VlmConfig {
    VlmConfig::new(
        DecoderConfig::new(vocab, 64, 2, 4, 2, 128, 1024),
        special::IMAGE_ID as usize,
    )
}

fn image_config(vocab: usize) -> VlmConfig {
    text_config(vocab).with_vision(Some(
        VisionConfig::new()
            .with_vit(Some(VitConfig::new(16, 8, 16, 1, 2).with_mlp_ratio(2)))
            .with_convnext(Some(
                ConvNextConfig::new(16, vec![4, 8], vec![1, 1])
                    .with_stem_stride(4)
                    .with_kernel_size(3),
            )),
    ))
}

/// The record with its target cut to the final answer: short enough to learn in a few steps,
/// and still a full-marks output for the scorer.
fn answer_only(record: &Record) -> Record {
    let mut r = record.clone();
    r.segments.retain(|s| s.kind == SegmentKind::Answer);
    r.target = r
        .segments
        .iter()
        .map(|s: &Segment| s.text.as_str())
        .collect();
    r
}

/// A text model trained (AdamW, a few dozen steps) to answer the first CTR record.
fn trained() -> &'static (Vlm<B>, Processor, Record) {
    static MODEL: OnceLock<(Vlm<B>, Processor, Record)> = OnceLock::new();
    MODEL.get_or_init(|| {
        let tok = tokenizer();
        let config = text_config(tok.vocab_size());
        let processor = Processor::new(tok, &config);
        let record = answer_only(&ctr_text().records[0]);
        let device = Default::default();
        let enc = processor.encode(&record, &ALL_TARGETS).expect("encoded");
        let batch = s2h_vlm::batch::batch::<AD>(&[enc.row(None)], Padding::Right, 0, &device)
            .expect("batch");
        let mut model = config.init_seeded::<AD>(1, &device).expect("model");
        let mut optim = AdamWConfig::new().with_weight_decay(0.0).init();
        for _ in 0..60 {
            let _pass = s2h_vlm::autodiff::pass_lock();
            let logits = model.forward(batch.input_ids.clone(), None);
            let loss = masked_lm_loss(logits, batch.input_ids.clone(), batch.loss_mask.clone());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(3e-3, model, grads);
        }
        (model.valid(), processor, record)
    })
}

fn opts(max_new_tokens: usize, batch: usize, use_cache: bool) -> GenerateOptions {
    GenerateOptions {
        max_new_tokens,
        batch,
        use_cache,
        stop_at_end_token: true,
    }
}

#[test]
fn trained_model_decodes_its_answer_and_stops_at_end_token() {
    let (model, processor, record) = trained();
    let prompt = processor.prompt(record, ctr_text().dir.path(), "").unwrap();
    let gens = generate::greedy(
        model,
        &processor.tokenizer,
        std::slice::from_ref(&prompt),
        &opts(64, 1, true),
    )
    .unwrap();
    assert_eq!(gens[0].text, record.target, "decoded {:?}", gens[0].text);
    assert_eq!(gens[0].stop, StopReason::EndToken);
    let answer_tokens = processor.tokenizer.encode(&record.target).unwrap();
    assert_eq!(gens[0].tokens, answer_tokens);
    assert_eq!(gens[0].generated_tokens(), answer_tokens.len() + 1);

    // Cut by max_new_tokens: the same first tokens, no end token.
    let cut = generate::greedy(model, &processor.tokenizer, &[prompt], &opts(3, 1, true)).unwrap();
    assert_eq!(cut[0].stop, StopReason::MaxNewTokens);
    assert_eq!(cut[0].tokens, answer_tokens[..3]);
    assert_eq!(cut[0].generated_tokens(), 3);
}

/// The trained row, left-padded behind a longer prompt, still writes its answer exactly, with and
/// without the cache (the padding mask itself is checked token for token by
/// `batched_and_cached_decoding_equal_single_and_uncached`).
#[test]
fn left_padded_trained_row_decodes_its_answer() {
    let (model, processor, record) = trained();
    let prompt = processor.prompt(record, ctr_text().dir.path(), "").unwrap();
    let longer = Prompt {
        id: "longer".into(),
        input_ids: (0..prompt.input_ids.len() + 9)
            .map(|i| 7 + (i % 20) as u32)
            .collect(),
        image: None,
    };
    for use_cache in [true, false] {
        let gens = generate::greedy(
            model,
            &processor.tokenizer,
            &[longer.clone(), prompt.clone()],
            &opts(40, 2, use_cache),
        )
        .unwrap();
        assert_eq!(gens[1].text, record.target, "cache {use_cache}");
        assert_eq!(gens[1].stop, StopReason::EndToken);
    }
}

#[test]
fn evaluation_scores_with_the_score_code_and_writes_both_files() {
    let (model, processor, record) = trained();
    let dir = ctr_text().dir.path();
    let records = vec![record.clone()];
    let options = EvalOptions {
        generate: opts(64, 4, true),
        convert: false,
        task: Some(TaskKind::Ctr),
    };
    let report = s2h_eval::evaluate_model(model, processor, &records, dir, &options).unwrap();
    let g = report.metrics.group(TaskKind::Ctr, None).unwrap();
    assert_eq!(g.metric(s2h_eval::names::EXACT_MATCH_ANSWER), Some(1.0));
    let n_tokens = processor.tokenizer.encode(&record.target).unwrap().len() + 1;
    assert_eq!(
        g.metric(s2h_eval::names::MEAN_GENERATED_TOKENS),
        Some(n_tokens as f64)
    );
    let out = tempfile::tempdir().unwrap();
    let files = report.write(out.path()).unwrap();
    let (preds, metrics) = (files.per_example, files.metrics);
    assert_eq!(preds, out.path().join("metrics.per_example.jsonl"));
    let line = std::fs::read_to_string(&preds).unwrap();
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    for field in ["id", "output", "answer", "verdict", "generated_tokens"] {
        assert!(!v[field].is_null(), "{field} missing from {line}");
    }
    // The per-example file reads back as score's, and is a predictions file for `score`: the
    // same metrics come back.
    let back = s2h_eval::read_example_results(&preds).unwrap();
    assert_eq!(back, vec![report.predictions[0].result.clone()]);
    let eval_set = tempfile::tempdir().unwrap();
    let records_file = eval_set.path().join("records.jsonl");
    std::fs::write(&records_file, serde_json::to_string(record).unwrap() + "\n").unwrap();
    let rescored = s2h_eval::score_files(&records_file, &preds).unwrap();
    let mut expected = report.metrics.clone();
    for g in &mut expected.groups {
        g.metrics.remove(s2h_eval::names::MEAN_GENERATED_TOKENS);
    }
    assert_eq!(rescored.metrics, expected);
    assert_eq!(s2h_eval::read_metrics(&metrics).unwrap(), report.metrics);
}

/// Mixed prompt lengths, text and image rows, random weights: batched = one at a time and
/// cached = uncached, token for token.
#[test]
fn batched_and_cached_decoding_equal_single_and_uncached() {
    let tok = tokenizer();
    let config = image_config(tok.vocab_size());
    let processor = Processor::new(tok, &config);
    let device = Default::default();
    let model = config.init_seeded::<B>(5, &device).unwrap();
    let mut prompts: Vec<Prompt> = Vec::new();
    for r in &ctr_image().records {
        prompts.push(processor.prompt(r, ctr_image().dir.path(), "").unwrap());
    }
    for (i, text) in ["Answer:", "Convert the image to text.", "sum"]
        .iter()
        .enumerate()
    {
        let ids = processor.prompt_ids(text, false).unwrap();
        prompts.push(Prompt {
            id: format!("t{i}"),
            input_ids: ids,
            image: None,
        });
    }
    let lens: Vec<usize> = prompts.iter().map(|p| p.input_ids.len()).collect();
    assert!(lens.iter().min() < lens.iter().max(), "lengths {lens:?}");
    let n = 12;
    let single: Vec<_> = prompts
        .iter()
        .map(|p| {
            generate::greedy(
                &model,
                &processor.tokenizer,
                std::slice::from_ref(p),
                &opts(n, 1, true),
            )
            .unwrap()
            .remove(0)
        })
        .collect();
    let batched =
        generate::greedy(&model, &processor.tokenizer, &prompts, &opts(n, 5, true)).unwrap();
    let uncached =
        generate::greedy(&model, &processor.tokenizer, &prompts, &opts(n, 5, false)).unwrap();
    for ((s, b), u) in single.iter().zip(&batched).zip(&uncached) {
        assert_eq!(s.tokens, b.tokens, "{}: batched differs from alone", s.id);
        assert_eq!(s.stop, b.stop, "{}", s.id);
        assert_eq!(s.tokens, u.tokens, "{}: uncached differs from cached", s.id);
        assert!(s.generated_tokens() <= n);
    }
}

#[test]
fn convert_prefills_the_tokens_the_conversion_line_was_trained_as() {
    // Word-level: `Convert`, the paper's pre-fill. Compact: the line is one token (a phrase),
    // so the whole line; `Convert` alone would be a token the model never saw there.
    for (kind, expected) in [
        (TokenizerKind::WordLevel, "Convert"),
        (TokenizerKind::Compact, s2h_cot::CONVERT_LINE),
    ] {
        let tok = tokenizer_of(kind);
        let config = image_config(tok.vocab_size());
        let processor = Processor::new(tok, &config);
        let line = processor
            .tokenizer
            .encode_with_offsets(s2h_cot::CONVERT_LINE)
            .unwrap();
        let prefill = convert::prefill(line.iter().map(|(_, span)| span.end));
        assert_eq!(prefill, expected, "{kind:?}");
        let prefill_ids = processor.tokenizer.encode(prefill).unwrap();
        let line_ids: Vec<u32> = line.iter().map(|&(id, _)| id).collect();
        assert!(
            line_ids.starts_with(&prefill_ids),
            "{kind:?}: the pre-fill's tokens open the trained segment"
        );
        for r in &ctr_image().records {
            let dir = ctr_image().dir.path();
            let plain = processor.prompt(r, dir, "").unwrap();
            let conv = processor.prompt(r, dir, prefill).unwrap();
            let mut expected = plain.input_ids.clone();
            expected.extend(&prefill_ids);
            assert_eq!(conv.input_ids, expected);
            assert_eq!(conv.image, plain.image);
        }
    }
}

#[test]
fn conversion_is_scored_exactly_and_per_cell() {
    let r = &ctr_image().records[0];
    let gold = convert::gold_text(r);
    // The training target of an Image-via-Text record is a perfect conversion.
    let perfect = convert::score_conversion(&r.target, &gold);
    assert!(perfect.prompted && perfect.exact, "{perfect:?}");
    assert_eq!(perfect.cells_correct, perfect.cells_total);
    let total = perfect.cells_total.unwrap();
    assert!(total > 4);
    // One wrong row label: not exact, one cell fewer.
    let label = &match &r.instance {
        s2h_tasks::Instance::Table(t) => t.table.row_labels[0].clone(),
        _ => unreachable!(),
    };
    let wrong = r.target.replacen(label.as_str(), "Zzz", 1);
    let s = convert::score_conversion(&wrong, &gold);
    assert!(s.prompted && !s.exact);
    assert_eq!(s.cells_correct, Some(total - 1));
    // No conversion prompt: nothing converted.
    let none = convert::score_conversion("Answer: 1", &gold);
    assert!(!none.prompted && !none.exact);
    assert_eq!(none.cells_correct, Some(0));
}

#[test]
fn evaluate_with_convert_reports_conversion() {
    let tok = tokenizer();
    let config = image_config(tok.vocab_size());
    let processor = Processor::new(tok, &config);
    let device = Default::default();
    let model = config.init::<B>(&device).unwrap();
    let set = ctr_image();
    let options = EvalOptions {
        generate: opts(4, 2, true),
        convert: true,
        task: None,
    };
    let report =
        s2h_eval::evaluate_model(&model, &processor, &set.records, set.dir.path(), &options)
            .unwrap();
    for p in &report.predictions {
        assert!(
            p.result.output.starts_with("Convert"),
            "{}",
            p.result.output
        );
        assert!(p.conversion.is_some());
    }
    let c = report.conversion.unwrap();
    assert_eq!(c.examples, set.records.len());
    let g = report.metrics.group(TaskKind::Ctr, None).unwrap();
    assert!(g.metric(s2h_eval::names::CONVERSION_EXACT).is_some());
    assert!(
        g.metric(s2h_eval::names::CONVERSION_CELL_ACCURACY)
            .is_some()
    );
}

#[test]
fn missing_model_files_and_wrong_tasks_are_clear_errors() {
    let (model, processor, _) = trained();
    let dir = tempfile::tempdir().unwrap();
    let config = text_config(processor.tokenizer.vocab_size());
    s2h_vlm::save_model(dir.path(), &config, &processor.tokenizer, model).unwrap();
    let loaded = s2h_eval::load_model_dir::<B>(dir.path(), &Default::default());
    assert!(loaded.is_ok());
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    let err = s2h_eval::load_model_dir::<B>(dir.path(), &Default::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("model.safetensors"), "{err}");
    let err = s2h_eval::load_model_dir::<B>(Path::new("/nonexistent/model"), &Default::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("does not exist"), "{err}");

    let ctr = &ctr_text().records;
    let err = s2h_eval::check_task(ctr, Some(TaskKind::Grid)).unwrap_err();
    assert!(matches!(err, EvalError::TaskMismatch { .. }), "{err}");
    assert!(err.to_string().contains("`ctr`"), "{err}");
    let options = EvalOptions {
        generate: opts(4, 1, true),
        convert: false,
        task: Some(TaskKind::Va),
    };
    let err = s2h_eval::evaluate_model(model, processor, ctr, ctr_text().dir.path(), &options)
        .unwrap_err();
    assert!(matches!(err, EvalError::TaskMismatch { .. }), "{err}");
    let mut mixed = ctr.clone();
    let mut other = ctr[0].clone();
    other.task = TaskKind::Tr;
    mixed.push(other);
    let err = s2h_eval::check_task(&mixed, None).unwrap_err();
    assert!(matches!(err, EvalError::MixedTasks { .. }), "{err}");

    let err = s2h_eval::read_eval_set(dir.path()).unwrap_err();
    assert!(err.to_string().contains("records.jsonl"), "{err}");
    // A prompt longer than the context, and zero budgets.
    let long = Prompt {
        id: "long".into(),
        input_ids: vec![special::BOS_ID; processor.max_seq_len + 1],
        image: None,
    };
    let err =
        generate::greedy(model, &processor.tokenizer, &[long], &opts(4, 1, true)).unwrap_err();
    assert!(matches!(err, VlmError::PromptTooLong { .. }), "{err}");
    let p = processor
        .prompt(&ctr[0], ctr_text().dir.path(), "")
        .unwrap();
    assert!(generate::greedy(model, &processor.tokenizer, &[p], &opts(0, 1, true)).is_err());
}

//! Writing mixtures and evaluation sets: order, shared images, formats, manifest, overlap check.

use std::collections::HashMap;

use s2h_tasks::Split;
use s2h_tasks::TaskKind;

use super::*;
use crate::LlavaEntry;
use crate::eval_set::EVAL_SEED_BIT;
use crate::export::DatasetSpec;
use crate::interop::{read_llava, read_tsv};
use crate::manifest::{read_manifest, verify_manifest};
use crate::mixture::{CotMode, MixtureKind};
use crate::record::{Supervision, read_records};

fn small_render() -> RenderOptions {
    RenderOptions {
        image_size: Some([240, 128]),
        ..RenderOptions::default()
    }
}

fn all_formats() -> WriteOptions {
    WriteOptions {
        existing: Existing::Refuse,
        formats: Formats {
            llava: true,
            tsv: true,
            oureval: false,
        },
    }
}

fn write(mixture: &Mixture, threads: usize) -> (tempfile::TempDir, ExportSummary) {
    let dir = tempfile::tempdir().unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let eval = EvalTexts::new(TextOptions::default());
    let summary = pool
        .install(|| {
            write_mixture(
                mixture,
                &small_render(),
                &eval,
                dir.path(),
                &all_formats(),
                &|| {},
            )
        })
        .unwrap();
    (dir, summary)
}

#[test]
fn records_follow_the_mixture_order_and_paired_views_share_one_image() {
    let mixture = Mixture::new(MixtureKind::MixPlus, TaskKind::Ctr, 14, 2);
    let refs = mixture.references().unwrap();
    let (dir, summary) = write(&mixture, 2);
    let records = read_records(dir.path()).unwrap();
    assert_eq!(records.len(), refs.len());
    for (r, x) in records.iter().zip(&refs) {
        assert_eq!(
            (r.task, r.split, r.seed, r.index, r.supervision),
            (x.task, x.split, x.seed, x.index, x.supervision)
        );
    }
    // mix_plus 14: 7 simple records over U = 2 instances, 7 hard text records.
    assert_eq!(summary.images, 2);
    let mut paths: HashMap<u64, Vec<&str>> = HashMap::new();
    for r in records.iter().filter(|r| r.image.is_some()) {
        paths
            .entry(r.index)
            .or_default()
            .push(r.image.as_deref().unwrap_or(""));
    }
    for (index, p) in &paths {
        assert!(p.len() >= 2, "instance {index} has one image view");
        assert!(p.windows(2).all(|w| w[0] == w[1]), "{p:?}");
        assert!(dir.path().join(p[0]).is_file());
    }
    let manifest = verify_manifest(dir.path()).unwrap();
    assert_eq!(manifest.kind, "mixture");
    assert_eq!(manifest.counts.records, 14);
    assert_eq!(manifest.counts.images, 2);
    assert_eq!(manifest.counts.unique_instances, 2 + 7);
    assert_eq!(manifest.seeds.instance, [2]);
    // records.jsonl, llava.json, vlmevalkit.tsv and the two PNGs.
    assert_eq!(manifest.files.len(), 5);
    assert_eq!(
        summary.total_bytes,
        manifest.files.iter().map(|f| f.bytes).sum::<u64>()
    );
    assert_eq!(manifest.parameters["mixture"]["kind"], "mix_plus");
}

#[test]
fn output_is_identical_for_one_and_two_threads() {
    let mixture = Mixture::new(MixtureKind::Mix, TaskKind::Tr, 9, 0);
    let (a, _) = write(&mixture, 1);
    let (b, _) = write(&mixture, 2);
    for name in [RECORDS_FILE, LLAVA_FILE, TSV_FILE, MANIFEST_FILE] {
        assert_eq!(
            fs::read(a.path().join(name)).unwrap(),
            fs::read(b.path().join(name)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn llava_tsv_and_manifest_read_back_what_was_written() {
    let mixture = Mixture::new(MixtureKind::TextImage, TaskKind::Ctr, 6, 1);
    let (dir, _) = write(&mixture, 2);
    let records = read_records(dir.path()).unwrap();

    let llava = read_llava(&dir.path().join(LLAVA_FILE)).unwrap();
    let expected: Vec<LlavaEntry> = records.iter().map(LlavaEntry::from_record).collect();
    assert_eq!(llava, expected);
    for (e, r) in llava.iter().zip(&records) {
        assert_eq!(e.conversations[0].from, "human");
        assert_eq!(e.conversations[1].value, r.target);
        if e.image.is_some() {
            assert!(e.conversations[0].value.starts_with("<image>\n"));
        }
    }

    let rows = read_tsv(&dir.path().join(TSV_FILE)).unwrap();
    assert_eq!(rows.len(), records.len());
    for (i, (row, r)) in rows.iter().zip(&records).enumerate() {
        assert_eq!(row.index, i as u64);
        assert_eq!(row.id, r.id);
        assert!(row.answer.starts_with("Answer:"));
        assert!(r.prompt.ends_with(&row.question));
        match &r.image {
            Some(path) => {
                assert_eq!(
                    row.image.as_deref(),
                    Some(&fs::read(dir.path().join(path)).unwrap()[..])
                );
                assert!(!row.question.contains("<image>"));
            }
            None => {
                assert!(row.image.is_none());
                assert!(row.question.contains("\\begin{tabular}"));
            }
        }
    }
    assert_eq!(
        read_manifest(dir.path()).unwrap(),
        verify_manifest(dir.path()).unwrap()
    );

    // A changed file no longer matches the manifest.
    let path = dir.path().join(RECORDS_FILE);
    let mut bytes = fs::read(&path).unwrap();
    bytes.push(b'\n');
    fs::write(&path, bytes).unwrap();
    let err = verify_manifest(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("records.jsonl") && err.contains("SHA-256"),
        "{err}"
    );
}

#[test]
fn cot_can_be_removed_or_truncated_and_segments_follow() {
    let mut mixture = Mixture::new(MixtureKind::Text, TaskKind::Ctr, 5, 0);
    mixture.cot = CotMode::None;
    let (dir, _) = write(&mixture, 1);
    for r in read_records(dir.path()).unwrap() {
        assert_eq!(r.segments.len(), 1);
        assert_eq!(r.segments[0].kind, SegmentKind::Answer);
        assert_eq!(r.target, r.segments[0].text);
        assert!(s2h_cot::parse_answer(r.task, &r.target).is_ok());
    }

    mixture.cot = CotMode::Truncated;
    mixture.budget = Some(6);
    let (dir, _) = write(&mixture, 1);
    let records = read_records(dir.path()).unwrap();
    let full: Vec<usize> = records
        .iter()
        .map(|r| {
            let instance = &r.instance;
            s2h_cot::chain_of_thought(instance).lines().count()
        })
        .collect();
    let kept: Vec<usize> = records
        .iter()
        .map(|r| r.segment_text(SegmentKind::Cot).lines().count())
        .collect();
    assert_eq!(
        kept[0], full[0],
        "the first record keeps its whole chain of thought"
    );
    for (p, (&k, &l)) in kept.iter().zip(&full).enumerate() {
        assert_eq!(k, l * (6 - p) / 6, "record {p}");
    }
    for r in &records {
        let joined: String = r.segments.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(joined, r.target);
    }
}

/// The loss decomposition (Eqs 4, 5) measures Image-via-Text records of held-out instances: the
/// same instances as the image set, with the conversion segments.
#[test]
fn image_via_text_eval_sets_share_the_image_sets_instances() {
    let image = EvalSetSpec::new(TaskKind::Ctr, Split::Simple, Modality::Image, 2);
    let via = EvalSetSpec {
        via_text: true,
        ..image.clone()
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_eval_set(
        &image,
        &small_render(),
        a.path(),
        &WriteOptions::default(),
        &|| {},
    )
    .unwrap();
    write_eval_set(
        &via,
        &small_render(),
        b.path(),
        &WriteOptions::default(),
        &|| {},
    )
    .unwrap();
    let (image_records, via_records) = (
        read_records(a.path()).unwrap(),
        read_records(b.path()).unwrap(),
    );
    for (i, v) in image_records.iter().zip(&via_records) {
        assert_eq!((v.seed, v.index), (i.seed, i.index));
        assert_eq!(v.supervision, Supervision::ImageViaText);
        assert!(
            v.segments
                .iter()
                .any(|s| s.kind == SegmentKind::ConvertedText)
        );
        assert!(
            !i.segments
                .iter()
                .any(|s| s.kind == SegmentKind::ConvertedText)
        );
    }
    let text = EvalSetSpec {
        via_text: true,
        ..EvalSetSpec::new(TaskKind::Ctr, Split::Simple, Modality::Text, 2)
    };
    let err = text.validate().unwrap_err().to_string();
    assert!(err.contains("modality must be image"), "{err}");
}

#[test]
fn eval_sets_use_the_top_half_of_the_seed_space() {
    let spec = EvalSetSpec {
        seed: 5,
        ..EvalSetSpec::new(TaskKind::Ctr, Split::Medium, Modality::Image, 3)
    };
    let dir = tempfile::tempdir().unwrap();
    write_eval_set(&spec, &small_render(), dir.path(), &all_formats(), &|| {}).unwrap();
    let records = read_records(dir.path()).unwrap();
    assert_eq!(records.len(), 3);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seed, 5 | EVAL_SEED_BIT);
        assert_eq!(r.index, i as u64);
        assert_eq!(r.supervision, Supervision::Image);
    }
    let manifest = verify_manifest(dir.path()).unwrap();
    assert_eq!(manifest.kind, "eval_set");
    assert_eq!(manifest.seeds.instance, [5 | EVAL_SEED_BIT]);
    assert_eq!(read_tsv(&dir.path().join(TSV_FILE)).unwrap().len(), 3);

    let bad = EvalSetSpec {
        seed: EVAL_SEED_BIT,
        ..spec.clone()
    };
    let err = write_eval_set(&bad, &small_render(), dir.path(), &all_formats(), &|| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("below 2^63"), "{err}");
    let err =
        write_eval_set(&spec, &small_render(), dir.path(), &all_formats(), &|| {}).unwrap_err();
    assert!(matches!(err, MixtureError::OutputExists(_)), "{err}");
}

#[test]
fn training_export_refuses_to_overlap_an_eval_set() {
    let render = small_render();
    let mixture = Mixture::new(MixtureKind::Text, TaskKind::Ctr, 4, 0);
    // The default evaluation sets share nothing with training seed 0.
    let mut eval = EvalTexts::new(render.text);
    eval.add_default_sets(TaskKind::Ctr, &render.tasks).unwrap();
    assert_eq!(eval.len() as u64, 3 * crate::eval_set::DEFAULT_EVAL_COUNT);
    let dir = tempfile::tempdir().unwrap();
    write_mixture(
        &mixture,
        &render,
        &eval,
        dir.path(),
        &WriteOptions::default(),
        &|| {},
    )
    .unwrap();

    // An "evaluation set" made of training instances is refused, naming both records, and
    // nothing is written.
    let train = read_records(dir.path()).unwrap();
    let mut eval = EvalTexts::new(render.text);
    eval.add_records(&train[2..3]);
    let out = tempfile::tempdir().unwrap();
    let err = write_mixture(
        &mixture,
        &render,
        &eval,
        out.path(),
        &WriteOptions::default(),
        &|| {},
    )
    .unwrap_err();
    let MixtureError::EvalOverlap { train_id, eval_id } = &err else {
        panic!("expected an overlap error, got {err}");
    };
    assert_eq!(eval_id, &train[2].id);
    assert_eq!(train_id, &train[2].id);
    assert!(!out.path().join(RECORDS_FILE).exists());

    // Reading the evaluation set back from its directory works the same.
    let mut from_dir = EvalTexts::new(render.text);
    assert_eq!(from_dir.add_dir(dir.path()).unwrap(), 4);
    assert!(
        from_dir
            .check(&mixture.references().unwrap(), &render.tasks)
            .is_err()
    );
}

#[test]
fn keep_holds_for_every_kind_of_dataset() {
    let keep = WriteOptions {
        existing: Existing::Keep,
        ..all_formats()
    };
    let spec = EvalSetSpec::new(TaskKind::Tr, Split::Hard, Modality::Text, 3);
    let dir = tempfile::tempdir().unwrap();
    let written = write_eval_set(&spec, &small_render(), dir.path(), &keep, &|| {}).unwrap();
    let kept = write_eval_set(&spec, &small_render(), dir.path(), &keep, &|| {}).unwrap();
    assert_eq!(kept, written);

    let bigger = EvalSetSpec {
        count: 4,
        ..spec.clone()
    };
    let err = write_eval_set(&bigger, &small_render(), dir.path(), &keep, &|| {}).unwrap_err();
    assert!(
        err.to_string().contains("parameters.eval_set.count"),
        "{err}"
    );
    let plain = WriteOptions {
        existing: Existing::Keep,
        formats: Formats::default(),
    };
    let err = write_eval_set(&spec, &small_render(), dir.path(), &plain, &|| {}).unwrap_err();
    assert!(err.to_string().contains(LLAVA_FILE), "{err}");
    let mixture = Mixture::new(MixtureKind::Text, TaskKind::Tr, 3, 0);
    let eval = EvalTexts::default();
    let err =
        write_mixture(&mixture, &small_render(), &eval, dir.path(), &keep, &|| {}).unwrap_err();
    assert!(
        matches!(err, MixtureError::OutputDiffers { .. }) && err.to_string().contains("eval_set"),
        "{err}"
    );

    let mut range = DatasetSpec::new(TaskKind::Ctr, Split::Simple, 0, 2, Supervision::Image);
    range.image = range.image.with_size(240, 128);
    let dir = tempfile::tempdir().unwrap();
    let written = write_range(&range, dir.path(), &plain, &|| {}).unwrap();
    assert_eq!(
        write_range(&range, dir.path(), &plain, &|| {}).unwrap(),
        written
    );
    range.image.font_scale = 0.8;
    let err = write_range(&range, dir.path(), &plain, &|| {}).unwrap_err();
    assert!(err.to_string().contains("font_scale"), "{err}");
}

/// The plain range: the same writer, records in index order.
mod range {
    use super::*;

    fn spec(task: TaskKind, supervision: Supervision, count: u64) -> DatasetSpec {
        let mut spec = DatasetSpec::new(task, Split::Simple, 3, count, supervision);
        spec.image = spec.image.with_size(300, 160);
        spec
    }

    fn run(spec: &DatasetSpec, threads: usize) -> (tempfile::TempDir, ExportSummary) {
        let dir = tempfile::tempdir().unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let summary = pool
            .install(|| write_dataset(spec, dir.path(), false, &|| {}))
            .unwrap();
        (dir, summary)
    }

    #[test]
    fn output_is_identical_for_one_and_four_threads() {
        let spec = spec(TaskKind::Tr, Supervision::ImageViaText, 12);
        let (a, sa) = run(&spec, 1);
        let (b, sb) = run(&spec, 4);
        assert_eq!(sa, sb);
        let ra = fs::read(a.path().join(RECORDS_FILE)).unwrap();
        assert_eq!(ra, fs::read(b.path().join(RECORDS_FILE)).unwrap());
        for index in 0..12 {
            let name = image_file_name(TaskKind::Tr, Split::Simple, 3, index);
            let pa = fs::read(a.path().join(IMAGES_DIR).join(&name)).unwrap();
            assert_eq!(
                pa,
                fs::read(b.path().join(IMAGES_DIR).join(&name)).unwrap(),
                "{name}"
            );
        }
    }

    #[test]
    fn records_read_back_and_follow_the_supervision() {
        for supervision in Supervision::ALL {
            let (dir, summary) = run(&spec(TaskKind::Ctr, supervision, 5), 2);
            let records = read_records(dir.path()).unwrap();
            assert_eq!(records.len(), 5);
            assert_eq!(summary.records, 5);
            for (i, r) in records.iter().enumerate() {
                assert_eq!(r.index, i as u64);
                assert_eq!(r.supervision, supervision);
                let kinds: Vec<SegmentKind> = r.segments.iter().map(|s| s.kind).collect();
                match supervision {
                    Supervision::Text => {
                        assert!(r.image.is_none() && r.layout.is_none());
                        assert!(r.prompt.starts_with("\\begin{tabular}"));
                        assert_eq!(kinds, [SegmentKind::Cot, SegmentKind::Answer]);
                    }
                    Supervision::Image => {
                        assert!(r.prompt.starts_with("<image>"));
                        assert_eq!(kinds, [SegmentKind::Cot, SegmentKind::Answer]);
                    }
                    Supervision::ImageViaText => {
                        assert_eq!(
                            kinds,
                            [
                                SegmentKind::ConvertPrompt,
                                SegmentKind::ConvertedText,
                                SegmentKind::Cot,
                                SegmentKind::Answer
                            ]
                        );
                        assert!(
                            r.segment_text(SegmentKind::ConvertedText)
                                .starts_with("\\begin{tabular}")
                        );
                    }
                }
                if let Some(path) = &r.image {
                    let img = image::open(dir.path().join(path)).unwrap();
                    assert_eq!((img.width(), img.height()), (300, 160));
                }
                let parsed = s2h_cot::parse_answer(r.task, &r.target).unwrap();
                assert!(r.instance.verify(&parsed).unwrap().correct);
            }
        }
    }

    #[test]
    fn a_range_has_a_manifest_of_kind_range() {
        let spec = spec(TaskKind::Grid, Supervision::Image, 3);
        let (dir, summary) = run(&spec, 2);
        let manifest = verify_manifest(dir.path()).unwrap();
        assert_eq!(manifest.kind, "range");
        assert_eq!(manifest.parameters["range"]["count"], 3);
        assert_eq!(manifest.counts.records, 3);
        assert_eq!(manifest.seeds.instance, [3]);
        assert_eq!(ExportSummary::from_manifest(&manifest), summary);
    }

    #[test]
    fn existing_output_and_bad_requests_are_refused() {
        let spec = spec(TaskKind::Ctr, Supervision::Text, 2);
        let (dir, _) = run(&spec, 1);
        let err = write_dataset(&spec, dir.path(), false, &|| {}).unwrap_err();
        assert!(matches!(err, MixtureError::OutputExists(_)), "{err}");
        assert!(write_dataset(&spec, dir.path(), true, &|| {}).is_ok());

        let mut medium_tr = spec.clone();
        medium_tr.task = TaskKind::Tr;
        medium_tr.split = Split::Medium;
        let err = write_dataset(&medium_tr, dir.path(), true, &|| {})
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("medium") && err.contains("simple, hard"),
            "{err}"
        );
    }

    #[test]
    fn damaged_files_name_the_line_and_field() {
        let spec = spec(TaskKind::Ctr, Supervision::Text, 2);
        let (dir, _) = run(&spec, 1);
        let path = dir.path().join(RECORDS_FILE);
        let text = fs::read_to_string(&path).unwrap();
        let first = text.lines().next().unwrap().to_string();
        let damaged = first.replace("\"values\":[", "\"values\":[\"x\",");
        fs::write(&path, format!("{first}\n{damaged}\n")).unwrap();
        let err = read_records(&path).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("answer"), "{err}");
    }
}

/// A font scale no layout can hold is refused by every writer, with or without images.
#[test]
fn font_scales_the_layouts_cannot_hold_are_refused_by_every_writer() {
    let dir = tempfile::tempdir().unwrap();
    let eval = EvalTexts::default();
    for scale in [100.0, 0.01, f32::NAN] {
        let render = RenderOptions {
            font_scale: scale,
            ..small_render()
        };
        let check = |err: MixtureError| {
            let message = err.to_string();
            assert!(message.contains("from 0.25 to 1"), "{scale}: {message}");
        };
        for kind in [MixtureKind::Text, MixtureKind::Image] {
            let mixture = Mixture::new(kind, TaskKind::Tr, 4, 0);
            let options = WriteOptions::default();
            check(
                write_mixture(&mixture, &render, &eval, dir.path(), &options, &|| {}).unwrap_err(),
            );
        }
        for modality in [Modality::Text, Modality::Image] {
            let spec = EvalSetSpec::new(TaskKind::Grid, Split::Hard, modality, 2);
            let options = WriteOptions::default();
            check(write_eval_set(&spec, &render, dir.path(), &options, &|| {}).unwrap_err());
        }
        for supervision in Supervision::ALL {
            let mut range = DatasetSpec::new(TaskKind::Va, Split::Hard, 0, 2, supervision);
            range.image.font_scale = scale;
            check(write_dataset(&range, dir.path(), true, &|| {}).unwrap_err());
        }
        assert!(!dir.path().join(RECORDS_FILE).exists());
    }
}

/// Ranges and evaluation sets are made chunk by chunk instead of listed whole: the files are the
/// ones the list would give, whatever the chunk size, and the manifest counts are the same.
#[test]
fn a_range_made_chunk_by_chunk_writes_what_its_list_would() {
    let mut spec = DatasetSpec::new(
        TaskKind::Grid,
        Split::Simple,
        3,
        7,
        Supervision::ImageViaText,
    );
    spec.start_index = 5;
    let range = spec.range();
    let refs = spec.references().unwrap();
    let render = small_render();
    let write = |source: Source<'_>, chunk: u64| {
        let dir = tempfile::tempdir().unwrap();
        let (summary, files) =
            write_refs(source, chunk, &render, dir.path(), &all_formats(), &|| {}).unwrap();
        let mut bytes = Vec::new();
        for file in &files {
            bytes.push((file.clone(), fs::read(dir.path().join(file)).unwrap()));
        }
        (summary, bytes)
    };
    let listed = write(Source::List(&refs), 1024);
    assert_eq!(listed.0.records, 7);
    assert_eq!(listed.0.images, 7);
    for chunk in [1, 3, 7, 1024] {
        assert!(
            listed == write(Source::Range(range), chunk),
            "chunk {chunk}"
        );
    }
    assert_eq!(Source::Range(range).counts(), Source::List(&refs).counts());

    let eval = EvalSetSpec::new(TaskKind::Tr, Split::Hard, Modality::Text, 5);
    let refs = eval.references().unwrap();
    assert!(write(Source::List(&refs), 2) == write(Source::Range(eval.range()), 2));
    assert_eq!(
        Source::Range(eval.range()).counts(),
        Source::List(&refs).counts()
    );
}

#[test]
fn render_options_apply_to_a_range() {
    let mut render = small_render();
    render.tasks.ctr.rows = 3;
    render.font_scale = 0.5;
    let spec = render.apply(DatasetSpec {
        start_index: 5,
        ..DatasetSpec::new(TaskKind::Ctr, Split::Simple, 1, 2, Supervision::Image)
    });
    assert_eq!(spec.tasks, render.tasks);
    assert_eq!(spec.image, render.image_options(TaskKind::Ctr));
    assert_eq!((spec.image.width, spec.image.height), (240, 128));
    assert_eq!(spec.image.font_scale, 0.5);
    assert_eq!((spec.start_index, spec.seed, spec.count), (5, 1, 2));
}

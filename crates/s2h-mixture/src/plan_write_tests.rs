//! Writing plans: phase directories, the existing-output policy, the evaluation check.

use std::sync::atomic::{AtomicU64, Ordering};

use super::*;
use crate::files::{MANIFEST_FILE, RECORDS_FILE};
use crate::materialize::{Existing, write_mixture};
use crate::record::read_records;

const PLAN: &str = r#"
seed = 1
image_size = [240, 128]

[[phase]]
supervision = "align"
task = "ctr"
budget = 6

[[phase]]
supervision = "mix_plus"
task = "ctr"
budget = 8
"#;

fn plan() -> Plan {
    Plan::from_toml_str(PLAN).unwrap()
}

fn options(existing: Existing) -> WriteOptions {
    WriteOptions {
        existing,
        ..WriteOptions::default()
    }
}

fn write(plan: &Plan, out: &Path, existing: Existing) -> Result<Vec<(PathBuf, ExportSummary)>> {
    write_plan(plan, out, &EvalCheck::none(), &options(existing), &|| {})
}

#[test]
fn a_plan_is_its_phases_written_as_mixtures() {
    let plan = plan();
    let out = tempfile::tempdir().unwrap();
    let ticks = AtomicU64::new(0);
    let written = write_plan(
        &plan,
        out.path(),
        &EvalCheck::default_sets(),
        &WriteOptions::default(),
        &|| {
            ticks.fetch_add(1, Ordering::Relaxed);
        },
    )
    .unwrap();
    assert_eq!(ticks.into_inner(), plan.record_count().unwrap());
    assert_eq!(plan.record_count().unwrap(), 6 + 8);
    assert_eq!(Plan::read(&out.path().join(PLAN_FILE)).unwrap(), plan);
    let dirs: Vec<PathBuf> = written.iter().map(|(d, _)| d.clone()).collect();
    assert_eq!(
        dirs,
        [out.path().join("01-align"), out.path().join("02-mix-plus")]
    );
    for (i, (dir, summary)) in written.iter().enumerate() {
        let phase = &plan.phases[i];
        let alone = tempfile::tempdir().unwrap();
        let expected = write_mixture(
            &phase.mixture(plan.seed).unwrap(),
            &plan.render_options(phase),
            &EvalTexts::default(),
            alone.path(),
            &WriteOptions::default(),
            &|| {},
        )
        .unwrap();
        assert_eq!(summary, &expected);
        for name in [RECORDS_FILE, MANIFEST_FILE] {
            assert_eq!(
                fs::read(dir.join(name)).unwrap(),
                fs::read(alone.path().join(name)).unwrap(),
                "phase {i} {name}"
            );
        }
    }
}

#[test]
fn refuse_overwrite_and_keep() {
    let plan = plan();
    let out = tempfile::tempdir().unwrap();
    let first = write(&plan, out.path(), Existing::Refuse).unwrap();

    // Refuse names the records file in the way, before anything is written.
    let err = write(&plan, out.path(), Existing::Refuse).unwrap_err();
    let MixtureError::OutputExists(path) = &err else {
        panic!("expected OutputExists, got {err}");
    };
    assert_eq!(path, &out.path().join("01-align").join(RECORDS_FILE));

    // Keep leaves complete phases untouched and returns their summaries.
    let records = out.path().join("02-mix-plus").join(RECORDS_FILE);
    let modified = fs::metadata(&records).unwrap().modified().unwrap();
    let ticks = AtomicU64::new(0);
    let kept = write_plan(
        &plan,
        out.path(),
        &EvalCheck::none(),
        &options(Existing::Keep),
        &|| {
            ticks.fetch_add(1, Ordering::Relaxed);
        },
    )
    .unwrap();
    assert_eq!(kept, first);
    assert_eq!(ticks.into_inner(), 14, "kept records count as progress");
    assert_eq!(
        fs::metadata(&records).unwrap().modified().unwrap(),
        modified
    );

    // Overwrite writes again, to the same bytes.
    let before = fs::read(&records).unwrap();
    assert_eq!(
        write(&plan, out.path(), Existing::Overwrite).unwrap(),
        first
    );
    assert_eq!(fs::read(&records).unwrap(), before);
}

#[test]
fn keep_refuses_another_plan_in_the_same_directory() {
    let plan = plan();
    let out = tempfile::tempdir().unwrap();
    write(&plan, out.path(), Existing::Refuse).unwrap();
    let plan_toml = fs::read(out.path().join(PLAN_FILE)).unwrap();

    let mut other = plan.clone();
    other.phases[1].budget = Some(10);
    let err = write(&other, out.path(), Existing::Keep).unwrap_err();
    let MixtureError::OutputDiffers { path, reason } = &err else {
        panic!("expected OutputDiffers, got {err}");
    };
    assert_eq!(path, &out.path().join("02-mix-plus"));
    assert!(reason.contains("parameters.mixture.budget"), "{reason}");
    let message = err.to_string();
    assert!(
        message.contains("02-mix-plus") && message.contains("delete"),
        "{message}"
    );
    // Nothing was written, not even the plan.
    assert_eq!(fs::read(out.path().join(PLAN_FILE)).unwrap(), plan_toml);

    // Another rendering differs too.
    let mut other = plan.clone();
    other.image_size = Some([256, 128]);
    let err = write(&other, out.path(), Existing::Keep).unwrap_err();
    assert!(err.to_string().contains("image_size"), "{err}");
}

#[test]
fn keep_writes_an_interrupted_phase_again() {
    let plan = plan();
    let out = tempfile::tempdir().unwrap();
    let first = write(&plan, out.path(), Existing::Refuse).unwrap();
    let dir = out.path().join("01-align");
    let records = fs::read(dir.join(RECORDS_FILE)).unwrap();
    // An interrupted write: a records file, no manifest.
    fs::remove_file(dir.join(MANIFEST_FILE)).unwrap();
    fs::write(dir.join(RECORDS_FILE), "{\"cut\": ").unwrap();
    assert_eq!(write(&plan, out.path(), Existing::Keep).unwrap(), first);
    assert_eq!(fs::read(dir.join(RECORDS_FILE)).unwrap(), records);
    assert!(dir.join(MANIFEST_FILE).is_file());
    assert_eq!(read_records(&dir).unwrap().len(), 6);
}

#[test]
fn a_phase_is_checked_against_evaluation_directories() {
    let plan = plan();
    // The training records of phase 1 stand in for an evaluation set.
    let as_eval = tempfile::tempdir().unwrap();
    write_phase(
        &plan,
        0,
        as_eval.path(),
        &EvalCheck::none(),
        &WriteOptions::default(),
        &|| {},
    )
    .unwrap();
    let check = EvalCheck {
        default_sets: true,
        dirs: vec![as_eval.path().to_path_buf()],
    };
    let out = tempfile::tempdir().unwrap();
    let err = write_phase(
        &plan,
        0,
        out.path(),
        &check,
        &WriteOptions::default(),
        &|| {},
    )
    .unwrap_err();
    assert!(matches!(err, MixtureError::EvalOverlap { .. }), "{err}");
    assert!(!out.path().join(RECORDS_FILE).exists());
    // write_plan refuses the same way.
    let err = write_plan(&plan, out.path(), &check, &WriteOptions::default(), &|| {}).unwrap_err();
    assert!(matches!(err, MixtureError::EvalOverlap { .. }), "{err}");

    // A directory that cannot be read is named.
    let missing = out.path().join("no-such-eval");
    let check = EvalCheck {
        default_sets: false,
        dirs: vec![missing.clone()],
    };
    let err = write_phase(
        &plan,
        0,
        out.path(),
        &check,
        &WriteOptions::default(),
        &|| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("evaluation set") && err.contains(&missing.display().to_string()),
        "{err}"
    );

    let err = write_phase(
        &plan,
        2,
        out.path(),
        &EvalCheck::none(),
        &WriteOptions::default(),
        &|| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("phase 3") && err.contains("has 2"), "{err}");
}

//! Plans: TOML round trip, defaults, and the errors of bad plans.

use super::*;

const EXAMPLE: &str = r#"
name = "align-mix-plus-tr"
seed = 0
image_size = [448, 448]

[[phase]]
supervision = "align"
task = "tr"
budget = 10000
lr = 2e-5

[[phase]]
supervision = "mix_plus"
task = "tr"
budget = 30000
"#;

#[test]
fn the_documented_example_parses() {
    let plan = Plan::from_toml_str(EXAMPLE).unwrap();
    assert_eq!(plan.phases.len(), 2);
    assert_eq!(plan.phases[0].supervision, MixtureKind::Align);
    assert_eq!(plan.phases[1].tasks, [TaskKind::Tr]);
    assert_eq!(plan.phase_dir(1), "02-mix-plus");
    let m = plan.phases[1].mixture(plan.seed).unwrap();
    assert_eq!(m.counts().unwrap()[0].unique_simple, 5000);
    assert_eq!(
        plan.render_options(&plan.phases[0]).image_size,
        Some([448, 448])
    );
}

#[test]
fn a_plan_with_every_option_round_trips_through_toml() {
    let mut warmup = Phase::new(MixtureKind::TextWarmup, TaskKind::Va, 100);
    warmup.name = Some("warm_up".to_string());
    warmup.lr = Some(1e-4);
    warmup.text_format = AnalogyTextFormat::Lossless;
    let mut main = Phase::new(MixtureKind::MixPlus, TaskKind::Ctr, 99);
    main.tasks = vec![TaskKind::Ctr, TaskKind::Tr];
    main.seed = Some(7);
    main.hard_supervision = Some(Supervision::Image);
    main.hard_repeat = Some(2);
    main.cot = CotMode::Truncated;
    main.interleave_batch = Some(16);
    main.train = Some(vec![Component::Projector, Component::Lm]);
    let mut explicit = Phase::new(MixtureKind::Mix, TaskKind::Grid, 0);
    explicit.budget = None;
    explicit.counts = [
        ("simple_text".to_string(), 5),
        ("hard_image".to_string(), 3),
    ]
    .into();
    explicit.cot = CotMode::None;
    let mut plan = Plan::single(warmup, 3);
    plan.phases.push(main);
    plan.phases.push(explicit);
    plan.name = Some("everything".to_string());
    plan.image_size = Some([224, 224]);
    plan.font_scale = Some(0.9);
    plan.task_config.ctr.rows = 4;
    plan.validate().unwrap();

    let text = plan.to_toml_string().unwrap();
    assert_eq!(Plan::from_toml_str(&text).unwrap(), plan, "{text}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.toml");
    plan.write(&path).unwrap();
    assert_eq!(Plan::read(&path).unwrap(), plan);
}

#[test]
fn text_warmup_trains_the_language_model_only() {
    let warmup = Phase::new(MixtureKind::TextWarmup, TaskKind::Tr, 10);
    assert_eq!(warmup.trainable(), [Component::Lm]);
    let mix = Phase::new(MixtureKind::MixPlus, TaskKind::Tr, 10);
    assert_eq!(mix.trainable(), Component::ALL);
    let plan = Plan::from_toml_str(
        "[[phase]]\nsupervision = \"text_warmup\"\ntasks = [\"tr\"]\nbudget = 10\ntrain = [\"lm\", \"vision\"]\n",
    )
    .unwrap();
    assert_eq!(
        plan.phases[0].trainable(),
        [Component::Lm, Component::Vision]
    );
}

#[test]
fn bad_plans_name_what_is_wrong() {
    let phase = |body: &str| format!("[[phase]]\n{body}\n");
    let cases: &[(String, &[&str])] = &[
        (
            phase("supervision = \"mixplus\"\ntask = \"tr\"\nbudget = 10"),
            &["mixplus", "mix_plus"],
        ),
        (
            phase("supervision = \"mix\"\ntask = \"tr\"\nbudget = 0"),
            &["phase 1", "at least 1"],
        ),
        (
            phase("supervision = \"mix\"\ntask = \"tr\"\nbudgett = 10"),
            &["unknown field", "budgett"],
        ),
        (
            phase("supervision = \"mix\"\ntask = \"chess\"\nbudget = 10"),
            &["chess", "ctr, tr, grid, va"],
        ),
        (
            phase("supervision = \"mix\"\nbudget = 10"),
            &["missing field", "tasks"],
        ),
        (
            phase("supervision = \"mix\"\ntask = \"tr\"\nbudget = 10\ntrain = [\"decoder\"]"),
            &["decoder", "lm"],
        ),
        (
            phase("supervision = \"mix\"\ntask = \"tr\"\nbudget = 10\nlr = -1.0"),
            &["lr"],
        ),
        (
            phase("supervision = \"mix\"\ntask = \"tr\"\ncounts = { simple_txt = 3 }"),
            &["simple_txt"],
        ),
        (
            phase("supervision = \"mix\"\ntask = \"tr\"\nbudget = 2"),
            &["phase 1 (`mix`)", "at least 3"],
        ),
        (
            phase("supervision = \"mix\"\ntask = \"tr\"\nbudget = 10\nname = \"a b\""),
            &["name"],
        ),
        ("seed = 1\n".to_string(), &["no phase"]),
        ("sed = 1\n".to_string(), &["unknown field", "sed"]),
        (
            format!(
                "seed = -1\n{}",
                phase("supervision = \"mix\"\ntask = \"tr\"\nbudget = 10")
            ),
            &["seed"],
        ),
        (
            format!(
                "{}{}",
                phase("supervision = \"mix\"\ntask = \"tr\"\nbudget = 10"),
                phase("supervision = \"mix\"\ntask = \"tr\"\nbudget = 20")
            ),
            &["phase 2", "named `mix`"],
        ),
        (
            format!(
                "image_size = [8, 8]\n{}",
                phase("supervision = \"mix\"\ntask = \"tr\"\nbudget = 10")
            ),
            &["image_size"],
        ),
    ];
    for (text, needles) in cases {
        let err = Plan::from_toml_str(text).unwrap_err().to_string();
        for needle in *needles {
            assert!(
                err.contains(needle),
                "error `{err}` lacks `{needle}` for:\n{text}"
            );
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        phase("supervision = \"mix\"\ntask = \"tr\"\nbudget = 0"),
    )
    .unwrap();
    let err = Plan::read(&path).unwrap_err().to_string();
    assert!(err.contains("bad.toml"), "{err}");
}

#[test]
fn font_scales_the_layouts_cannot_hold_are_refused() {
    let body = "[[phase]]\nsupervision = \"mix\"\ntask = \"tr\"\nbudget = 10\n";
    for scale in ["100.0", "1.2", "0.01", "0.0", "-1.0", "nan", "inf"] {
        let text = format!("font_scale = {scale}\n{body}");
        let err = Plan::from_toml_str(&text).unwrap_err().to_string();
        assert!(
            err.contains("font_scale") && err.contains("from 0.25 to 1"),
            "{scale}: {err}"
        );
    }
    for scale in ["0.25", "0.6", "1.0"] {
        let text = format!("font_scale = {scale}\n{body}");
        assert!(Plan::from_toml_str(&text).is_ok(), "{scale}");
    }
}

const MIX_THEN_MIX_PLUS: &str = "[[phase]]\nsupervision = \"mix\"\ntask = \"tr\"\nbudget = 30\nlr = 2e-5\n\
     [[phase]]\nsupervision = \"mix_plus\"\ntask = \"tr\"\nbudget = 30\ncontinues = true\n";

#[test]
fn a_continuing_phase_inherits_the_learning_rate_and_round_trips() {
    let plan = Plan::from_toml_str(MIX_THEN_MIX_PLUS).unwrap();
    assert!(!plan.phases[0].continues && plan.phases[1].continues);
    assert_eq!(plan.phase_lr(0), Some(2e-5));
    assert_eq!(plan.phase_lr(1), Some(2e-5));
    // A third phase chained on: still the first phase's rate; an unchained one has its own.
    let mut chained = plan.clone();
    let mut third = Phase::new(MixtureKind::Text, TaskKind::Tr, 10);
    third.continues = true;
    chained.phases.push(third);
    chained.validate().unwrap();
    assert_eq!(chained.phase_lr(2), Some(2e-5));
    chained.phases[2].continues = false;
    assert_eq!(chained.phase_lr(2), None);
    assert_eq!(chained.phase_lr(9), None);
    let text = plan.to_toml_string().unwrap();
    assert!(text.contains("continues = true"), "{text}");
    assert_eq!(Plan::from_toml_str(&text).unwrap(), plan);
    // A plan without the field writes none (existing plan files and manifests are unchanged).
    let text = Plan::from_toml_str(EXAMPLE)
        .unwrap()
        .to_toml_string()
        .unwrap();
    assert!(!text.contains("continues"), "{text}");
}

#[test]
fn continuing_phases_that_cannot_continue_are_refused() {
    let phase = |body: &str| format!("[[phase]]\n{body}\n");
    let cases: &[(String, &[&str])] = &[
        (
            phase("supervision = \"mix\"\ntask = \"tr\"\nbudget = 30\ncontinues = true"),
            &["phase 1 (`mix`)", "first phase", "continue"],
        ),
        (
            format!(
                "{}{}",
                phase("supervision = \"mix\"\ntask = \"tr\"\nbudget = 30\nlr = 2e-5"),
                phase(
                    "supervision = \"mix_plus\"\ntask = \"tr\"\nbudget = 30\nlr = 1e-5\ncontinues = true"
                )
            ),
            &[
                "phase 2 (`mix_plus`)",
                "lr = 0.00001",
                "0.00002",
                "leave `lr` out",
            ],
        ),
        (
            format!(
                "{}{}",
                phase("supervision = \"mix\"\ntask = \"tr\"\nbudget = 30"),
                phase(
                    "supervision = \"mix_plus\"\ntask = \"tr\"\nbudget = 30\nlr = 1e-5\ncontinues = true"
                )
            ),
            &["phase 2 (`mix_plus`)", "trainer's default"],
        ),
        (
            format!(
                "{}{}",
                phase("supervision = \"text_warmup\"\ntask = \"tr\"\nbudget = 30"),
                phase("supervision = \"mix_plus\"\ntask = \"tr\"\nbudget = 30\ncontinues = true")
            ),
            &[
                "phase 2 (`mix_plus`)",
                "trains [vision, projector, lm]",
                "continues trains [lm]",
            ],
        ),
    ];
    for (text, needles) in cases {
        let err = Plan::from_toml_str(text).unwrap_err().to_string();
        for needle in *needles {
            assert!(
                err.contains(needle),
                "error `{err}` lacks `{needle}` for:\n{text}"
            );
        }
    }
    // The same components in another order, and the same rate written out, are fine.
    let text = "[[phase]]\nsupervision = \"mix\"\ntask = \"tr\"\nbudget = 30\nlr = 2e-5\n\
                train = [\"lm\", \"vision\", \"projector\"]\n\
                [[phase]]\nsupervision = \"mix_plus\"\ntask = \"tr\"\nbudget = 30\nlr = 2e-5\n\
                continues = true\n";
    Plan::from_toml_str(text).unwrap();
}

/// `read_task_config` takes a plan's task parameters or the tables alone; what a file leaves out
/// keeps the paper's values, and a name it does not know is refused.
#[test]
fn task_parameters_are_read_from_a_plan_or_alone() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let plan = write(
        "plan.toml",
        &format!("{EXAMPLE}\n[task_config.tr]\nrows = [5, 5]\ncols = [6, 6]\n"),
    );
    let from_plan = read_task_config(&plan).unwrap();
    assert_eq!(from_plan.tr.rows, [5, 5]);
    assert_eq!(from_plan.tr.cols, [6, 6]);
    assert_eq!(
        from_plan.tr.hard_length,
        TaskConfig::default().tr.hard_length
    );
    assert_eq!(from_plan.ctr, TaskConfig::default().ctr);
    let plain_plan = write("plain.toml", EXAMPLE);
    assert_eq!(
        read_task_config(&plain_plan).unwrap(),
        TaskConfig::default()
    );

    let alone = write("tasks.toml", "[ctr]\nrows = 3\ncols = 4\n");
    let tasks = read_task_config(&alone).unwrap();
    assert_eq!((tasks.ctr.rows, tasks.ctr.cols), (3, 4));
    assert_eq!(tasks.tr, TaskConfig::default().tr);

    for (name, text, says) in [
        ("typo.toml", "[tr]\nrowz = [5, 5]\n", "rowz"),
        ("task.toml", "[ctrr]\nrows = 3\n", "ctrr"),
        (
            "plan-typo.toml",
            "[[phase]]\nsupervision = \"text\"\ntask = \"tr\"\n[task_config.grid]\nobjects = 2\n",
            "objects",
        ),
        ("broken.toml", "[ctr\nrows = 3\n", "broken.toml"),
    ] {
        let path = write(name, text);
        let err = read_task_config(&path).unwrap_err().to_string();
        assert!(err.contains(says), "{name}: {err}");
    }
}

#[test]
fn of_phase_inverts_render_options() {
    let mut tasks = TaskConfig::default();
    tasks.tr.rows = [4, 4];
    tasks.tr.cols = [4, 4];
    let render = RenderOptions {
        tasks,
        image_size: Some([320, 200]),
        font_scale: 0.5,
        text: TextOptions {
            analogy: AnalogyTextFormat::Lossless,
        },
    };
    let plan = Plan::of_phase(Phase::new(MixtureKind::Mix, TaskKind::Tr, 100), 7, &render).unwrap();
    assert_eq!(plan.seed, 7);
    assert_eq!(plan.render_options(&plan.phases[0]), render);
    // A plan that does not validate is refused.
    let bad = RenderOptions {
        font_scale: 3.0,
        ..render
    };
    assert!(Plan::of_phase(Phase::new(MixtureKind::Mix, TaskKind::Tr, 100), 7, &bad).is_err());
}

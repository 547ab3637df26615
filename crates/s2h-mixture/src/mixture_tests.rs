//! Algorithm 1 counting, nesting, pairing and ordering, tested on references alone.

use std::collections::{BTreeSet, HashMap, HashSet};

use s2h_tasks::{Split, TaskKind};

use super::*;
use crate::count_types;
use crate::record::Supervision::{Image, ImageViaText, Text};

fn refs(kind: MixtureKind, budget: u64) -> Vec<RecordRef> {
    Mixture::new(kind, TaskKind::Tr, budget, 0)
        .references()
        .unwrap()
}

/// Records per (split, supervision).
fn tally(refs: &[RecordRef]) -> HashMap<(Split, Supervision), u64> {
    let mut out = HashMap::new();
    for r in refs {
        *out.entry((r.split, r.supervision)).or_default() += 1;
    }
    out
}

fn unique(refs: &[RecordRef], split: Split, sup: Supervision) -> BTreeSet<u64> {
    refs.iter()
        .filter(|r| r.split == split && r.supervision == sup)
        .map(|r| r.index)
        .collect()
}

#[test]
fn paper_budgets_give_the_paper_numbers() {
    use MixtureKind::*;
    // kind, budget, N_simple, N_hard, U_simple, simple epochs, records per simple type.
    let table: &[(MixtureKind, u64, u64, u64, u64, f64, u64)] = &[
        (Text, 30_000, 30_000, 0, 30_000, 1.0, 30_000),
        (Image, 30_000, 30_000, 0, 30_000, 1.0, 30_000),
        (TextImage, 30_000, 30_000, 0, 10_000, 1.5, 15_000),
        (ImageViaText, 30_000, 30_000, 0, 10_000, 3.0, 30_000),
        (Mix, 30_000, 30_000, 0, 10_000, 1.0, 10_000),
        (MixPlus, 30_000, 15_000, 15_000, 5_000, 1.0, 5_000),
        (ImageViaTextPlus, 30_000, 15_000, 15_000, 5_000, 3.0, 15_000),
        (Align, 10_000, 10_000, 0, 5_000, 1.0, 5_000),
        (TextWarmup, 10_000, 5_000, 5_000, 5_000, 1.0, 5_000),
    ];
    for &(kind, budget, n_simple, n_hard, u, epochs, per_type) in table {
        let m = Mixture::new(kind, TaskKind::Tr, budget, 0);
        let c = &m.counts().unwrap()[0];
        assert_eq!(
            (c.n_simple, c.n_hard, c.unique_simple, c.simple_epochs),
            (n_simple, n_hard, u, epochs),
            "{kind}"
        );
        let r = m.references().unwrap();
        assert_eq!(r.len() as u64, budget, "{kind}");
        let t = tally(&r);
        for &sup in kind.simple_types() {
            assert_eq!(t[&(Split::Simple, sup)], per_type, "{kind} {sup}");
            assert_eq!(
                unique(&r, Split::Simple, sup).len() as u64,
                u,
                "{kind} {sup}"
            );
        }
        if n_hard > 0 {
            assert_eq!(t[&(Split::Hard, Supervision::Text)], n_hard, "{kind}");
            // Hard records are all unique.
            assert_eq!(
                unique(&r, Split::Hard, Supervision::Text).len() as u64,
                n_hard,
                "{kind}"
            );
        }
        assert_eq!(t.len(), kind.simple_types().len() + usize::from(n_hard > 0));
    }
}

#[test]
fn counts_follow_algorithm_1_for_awkward_budgets() {
    for kind in MixtureKind::ALL {
        for budget in [6u64, 7, 10, 11, 31, 100, 301, 1000, 1001] {
            let m = Mixture::new(kind, TaskKind::Ctr, budget, 5);
            let c = m.counts().unwrap().remove(0);
            let n_hard = if kind.has_hard() { budget / 2 } else { 0 };
            let n_simple = budget - n_hard;
            let u = n_simple / kind.unique_divisor();
            let types = kind.simple_types();
            let m_types = types.len() as u64;
            assert_eq!(
                (c.n_simple, c.n_hard, c.unique_simple),
                (n_simple, n_hard, u)
            );
            assert_eq!(c.unique_hard, n_hard);
            assert!((c.simple_epochs - n_simple as f64 / (u * m_types) as f64).abs() < 1e-12);

            let r = m.references().unwrap();
            assert_eq!(r.len() as u64, budget, "{kind} {budget}");
            let t = tally(&r);
            let set = u * m_types;
            let (full, rem) = (n_simple / set, n_simple % set);
            for (i, &sup) in types.iter().enumerate() {
                let i = i as u64;
                let expected = full * u + rem / m_types + u64::from(i < rem % m_types);
                assert_eq!(t[&(Split::Simple, sup)], expected, "{kind} {budget} {sup}");
                // Types stay equal in number, within one.
                assert!(expected.abs_diff(n_simple / m_types) <= 1);
                // Every unique instance appears in every full repeat.
                let seen = unique(&r, Split::Simple, sup);
                assert_eq!(seen.len() as u64, if full > 0 { u } else { expected });
                assert!(seen.iter().all(|&i| i < u));
            }
            // The manifest's per-type counts are the ones Algorithm 1 announced.
            for tc in &c.types {
                let rt = tc.record_type;
                assert_eq!(
                    t[&(rt.split, rt.supervision)],
                    tc.records,
                    "{kind} {budget}"
                );
            }
            assert_eq!(count_types(&r).len(), c.types.len());
        }
    }
}

#[test]
fn repeats_are_whole_shuffled_sets() {
    // image_via_text, budget 30: 10 instances, each exactly 3 times, one per repeat.
    let r = refs(MixtureKind::ImageViaText, 30);
    for epoch in r.chunks(10) {
        let idx: BTreeSet<u64> = epoch.iter().map(|r| r.index).collect();
        assert_eq!(idx, (0..10).collect());
    }
    // text_image, budget 60: 20 instances; the first 40 records are the whole set, then a
    // prefix with 10 of each type.
    let r = refs(MixtureKind::TextImage, 60);
    let first: HashSet<(u64, Supervision)> =
        r[..40].iter().map(|r| (r.index, r.supervision)).collect();
    assert_eq!(first.len(), 40);
    let t = tally(&r[40..]);
    assert_eq!(
        (t[&(Split::Simple, Text)], t[&(Split::Simple, Image)]),
        (10, 10)
    );
}

#[test]
fn budgets_nest() {
    for kind in MixtureKind::ALL {
        let budgets = [12u64, 30, 66, 300, 3000];
        for w in budgets.windows(2) {
            let (small, large) = (refs(kind, w[0]), refs(kind, w[1]));
            let keys = |r: &[RecordRef]| -> HashSet<(Split, u64)> {
                r.iter().map(|r| (r.split, r.index)).collect()
            };
            assert!(keys(&small).is_subset(&keys(&large)), "{kind} {w:?}");
        }
    }
}

#[test]
fn paired_views_share_instances() {
    for (kind, budget) in [
        (MixtureKind::Mix, 300),
        (MixtureKind::MixPlus, 600),
        (MixtureKind::TextImage, 300),
        (MixtureKind::Align, 200),
    ] {
        let r = refs(kind, budget);
        let mut views: HashMap<u64, BTreeSet<Supervision>> = HashMap::new();
        for x in r.iter().filter(|r| r.split == Split::Simple) {
            views.entry(x.index).or_default().insert(x.supervision);
        }
        let all: BTreeSet<Supervision> = kind.simple_types().iter().copied().collect();
        assert_eq!(
            views.len() as u64,
            (budget - budget / 2 * u64::from(kind.has_hard())) / kind.unique_divisor()
        );
        for (i, v) in &views {
            assert_eq!(v, &all, "{kind}: instance {i}");
        }
    }
}

#[test]
fn order_is_deterministic_for_a_seed_and_differs_between_seeds() {
    let m = |seed| Mixture::new(MixtureKind::MixPlus, TaskKind::Tr, 600, seed);
    assert_eq!(m(3).references().unwrap(), m(3).references().unwrap());
    let a: Vec<_> = m(3)
        .references()
        .unwrap()
        .iter()
        .map(|r| (r.split, r.index, r.supervision))
        .collect();
    let b: Vec<_> = m(4)
        .references()
        .unwrap()
        .iter()
        .map(|r| (r.split, r.index, r.supervision))
        .collect();
    assert_ne!(a, b);
    assert!(m(4).references().unwrap().iter().all(|r| r.seed == 4));
    // The order is shuffled: hard records are spread over the whole phase.
    let first_half_hard = a[..300].iter().filter(|x| x.0 == Split::Hard).count();
    assert!((100..200).contains(&first_half_hard), "{first_half_hard}");
}

#[test]
fn interleaving_keeps_the_nominal_ratio_in_every_batch() {
    for (kind, budget) in [
        (MixtureKind::MixPlus, 600u64),
        (MixtureKind::MixPlus, 1001),
        (MixtureKind::Mix, 999),
        (MixtureKind::TextImage, 500),
        (MixtureKind::Align, 333),
    ] {
        for batch in [4u64, 6, 8, 32, 64] {
            let mut m = Mixture::new(kind, TaskKind::Tr, budget, 1);
            let plain = m.references().unwrap();
            m.interleave_batch = Some(batch);
            let mixed = m.references().unwrap();
            // Same records, other order.
            let sorted = |v: &[RecordRef]| {
                let mut v: Vec<_> = v
                    .iter()
                    .map(|r| (r.split, r.index, r.supervision))
                    .collect();
                v.sort();
                v
            };
            assert_eq!(sorted(&plain), sorted(&mixed));
            let total = mixed.len() as u64;
            let totals = tally(&mixed);
            for chunk in mixed
                .chunks(batch as usize)
                .filter(|c| c.len() as u64 == batch)
            {
                let t = tally(chunk);
                for (key, &c) in &totals {
                    let ideal = batch * c;
                    let (lo, hi) = (ideal / total, ideal.div_ceil(total));
                    let got = t.get(key).copied().unwrap_or(0);
                    assert!(
                        (lo..=hi).contains(&got),
                        "{kind} {budget} batch {batch}: {key:?} has {got}, nominal {lo}..={hi}"
                    );
                }
            }
        }
    }
}

#[test]
fn multi_task_mixtures_split_the_budget_evenly() {
    let mut m = Mixture::new(MixtureKind::MixPlus, TaskKind::Ctr, 1003, 0);
    m.tasks = vec![TaskKind::Ctr, TaskKind::Tr, TaskKind::Grid, TaskKind::Va];
    let counts = m.counts().unwrap();
    let budgets: Vec<u64> = counts.iter().map(|c| c.budget).collect();
    assert_eq!(budgets, [251, 251, 251, 250]);
    let r = m.references().unwrap();
    assert_eq!(r.len(), 1003);
    for c in &counts {
        let n = r.iter().filter(|x| x.task == c.task).count() as u64;
        assert_eq!(n, c.budget);
        assert_eq!(c.n_hard, c.budget / 2);
    }
    m.tasks = vec![TaskKind::Tr, TaskKind::Tr];
    assert!(m.counts().unwrap_err().to_string().contains("twice"));
}

#[test]
fn hard_variants_change_hard_records_only() {
    let mut m = Mixture::new(MixtureKind::MixPlus, TaskKind::Tr, 60, 0);
    m.hard_supervision = Image;
    let t = tally(&m.references().unwrap());
    assert_eq!(t[&(Split::Hard, Image)], 30);
    assert!(!t.contains_key(&(Split::Hard, Text)));

    let mut m = Mixture::new(MixtureKind::MixPlus, TaskKind::Tr, 60, 0);
    m.hard_repeat = 3;
    let r = m.references().unwrap();
    let c = &m.counts().unwrap()[0];
    assert_eq!((c.n_hard, c.unique_hard, c.hard_epochs), (30, 10, 3.0));
    let mut per_index: HashMap<u64, u32> = HashMap::new();
    for x in r.iter().filter(|r| r.split == Split::Hard) {
        *per_index.entry(x.index).or_default() += 1;
    }
    assert_eq!(per_index.len(), 10);
    assert!(per_index.values().all(|&n| n == 3));
}

#[test]
fn explicit_counts_override_algorithm_1() {
    let mut m = Mixture::new(MixtureKind::Mix, TaskKind::Tr, 0, 0);
    m.budget = None;
    m.counts = vec![
        ExplicitCount::parse("simple_text", 10).unwrap(),
        ExplicitCount::parse("SIMPLE_image", 4).unwrap(),
        ExplicitCount::parse("hard_image_via_text", 7).unwrap(),
    ];
    let r = m.references().unwrap();
    let t = tally(&r);
    assert_eq!(r.len(), 21);
    assert_eq!(t[&(Split::Simple, Text)], 10);
    assert_eq!(t[&(Split::Simple, Image)], 4);
    assert_eq!(t[&(Split::Hard, ImageViaText)], 7);
    // Views still pair on the shared prefix of instances.
    assert_eq!(unique(&r, Split::Simple, Image), (0..4).collect());
    m.budget = Some(22);
    assert!(m.counts().unwrap_err().to_string().contains("differs"));
    let err = ExplicitCount::parse("simple_txt", 1)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("simple_txt") && err.contains("simple_text"),
        "{err}"
    );
    m.budget = None;
    m.counts = vec![ExplicitCount::parse("medium_text", 3).unwrap()];
    let err = m.counts().unwrap_err().to_string();
    assert!(err.contains("medium"), "{err}");
}

#[test]
fn bad_mixtures_are_refused_with_clear_errors() {
    let check = |m: Mixture, needle: &str| {
        let err = m.references().unwrap_err().to_string();
        assert!(err.contains(needle), "`{err}` lacks `{needle}`");
    };
    check(
        Mixture::new(MixtureKind::Mix, TaskKind::Tr, 0, 0),
        "at least 1",
    );
    check(
        Mixture::new(MixtureKind::Mix, TaskKind::Tr, 2, 0),
        "needs at least 3",
    );
    check(
        Mixture::new(MixtureKind::MixPlus, TaskKind::Tr, 4, 0),
        "needs at least 5",
    );
    check(
        Mixture::new(MixtureKind::TextWarmup, TaskKind::Tr, 1, 0),
        "needs at least 2",
    );
    assert!(
        Mixture::new(MixtureKind::MixPlus, TaskKind::Tr, 5, 0)
            .references()
            .is_ok()
    );
    check(
        Mixture::new(MixtureKind::Text, TaskKind::Tr, 5, 1 << 63),
        "reserved for evaluation",
    );
    let mut m = Mixture::new(MixtureKind::Mix, TaskKind::Tr, 30, 0);
    m.hard_supervision = Image;
    check(m, "hard_supervision");
    let mut m = Mixture::new(MixtureKind::MixPlus, TaskKind::Tr, 30, 0);
    m.hard_repeat = 0;
    check(m, "hard_repeat");
    let mut m = Mixture::new(MixtureKind::MixPlus, TaskKind::Tr, 30, 0);
    m.interleave_batch = Some(0);
    check(m, "interleave_batch");
    check(
        Mixture::new(MixtureKind::Text, TaskKind::Tr, MAX_RECORDS + 1, 0),
        "over the limit",
    );
}

#[test]
fn mixture_names_parse_leniently_and_reject_unknown_ones() {
    assert_eq!("Mix+".parse::<MixtureKind>().unwrap(), MixtureKind::MixPlus);
    assert_eq!(
        "image-via-text-plus".parse::<MixtureKind>().unwrap(),
        MixtureKind::ImageViaTextPlus
    );
    for kind in MixtureKind::ALL {
        assert_eq!(kind.name().parse::<MixtureKind>().unwrap(), kind);
    }
    let err = "mixplus".parse::<MixtureKind>().unwrap_err().to_string();
    assert!(
        err.contains("`mixplus`") && err.contains("mix_plus, image_via_text_plus"),
        "{err}"
    );
}

#[test]
fn cot_modes_set_what_each_record_keeps() {
    let mut m = Mixture::new(MixtureKind::Text, TaskKind::Tr, 10, 0);
    assert!(
        m.references()
            .unwrap()
            .iter()
            .all(|r| r.cot == CotKeep::Full)
    );
    m.cot = CotMode::None;
    assert!(
        m.references()
            .unwrap()
            .iter()
            .all(|r| r.cot == CotKeep::Nothing)
    );
    m.cot = CotMode::Truncated;
    let kept: Vec<usize> = m
        .references()
        .unwrap()
        .iter()
        .map(|r| r.cot.lines_kept(20))
        .collect();
    assert_eq!(kept, [20, 18, 16, 14, 12, 10, 8, 6, 4, 2]);
    assert_eq!(CotKeep::Fraction { keep: 1, of: 3 }.lines_kept(7), 2);
}

#[test]
fn has_images_says_whether_any_record_shows_one() {
    // Agrees with the records the mixture makes, for every kind.
    for kind in MixtureKind::ALL {
        let mixture = Mixture::new(kind, TaskKind::Tr, 12, 0);
        let shows = refs(kind, 12).iter().any(|r| r.supervision != Text);
        assert_eq!(mixture.has_images(), shows, "{kind}");
    }
    let hard_image = Mixture {
        hard_supervision: Image,
        ..Mixture::new(MixtureKind::TextWarmup, TaskKind::Tr, 12, 0)
    };
    assert!(hard_image.has_images());
    let counts = |supervision, count| Mixture {
        counts: vec![
            ExplicitCount {
                split: Split::Simple,
                supervision: Text,
                count: 4,
            },
            ExplicitCount {
                split: Split::Hard,
                supervision,
                count,
            },
        ],
        ..Mixture::new(MixtureKind::Text, TaskKind::Tr, 12, 0)
    };
    assert!(!counts(Text, 4).has_images());
    assert!(!counts(ImageViaText, 0).has_images());
    assert!(counts(ImageViaText, 4).has_images());
}

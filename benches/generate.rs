//! Throughput of the data path: generate an instance, render it, encode the PNG (image
//! records), or generate and serialise the full JSON record (text records). One record per
//! iteration on one thread, so the reported rate is records per second per core.
//!
//! cargo bench --bench generate
//!
//! Mean PNG sizes are printed before the timings (over 200 instances per setting).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use s2h::mixture::{Supervision, build_record};
use s2h::render::{ImageOptions, TextOptions, render_image};
use s2h::tasks::{Split, TaskConfig, TaskKind};

/// A canvas `(width, height)`; `None` means the paper's.
type Canvas = Option<(u32, u32)>;

/// (task, split, canvas) settings measured.
const IMAGE_SETTINGS: &[(TaskKind, Split, Canvas)] = &[
    (TaskKind::Ctr, Split::Simple, None),
    (TaskKind::Ctr, Split::Simple, Some((448, 448))),
    (TaskKind::Tr, Split::Hard, None),
    (TaskKind::Tr, Split::Hard, Some((448, 448))),
    (TaskKind::Grid, Split::Hard, None),
    (TaskKind::Va, Split::Hard, None),
];

fn options(task: TaskKind, size: Option<(u32, u32)>) -> ImageOptions {
    let paper = ImageOptions::paper(task);
    match size {
        Some((w, h)) => paper.with_size(w, h),
        None => paper,
    }
}

fn image_record(
    config: &TaskConfig,
    task: TaskKind,
    split: Split,
    index: u64,
    options: &ImageOptions,
) -> Option<usize> {
    let instance = config.generate(task, split, 0, index).ok()?;
    let rendered = render_image(&instance, options).ok()?;
    Some(rendered.png().ok()?.len())
}

fn bench(c: &mut Criterion) {
    let config = TaskConfig::default();
    let mut group = c.benchmark_group("records");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    for &(task, split, size) in IMAGE_SETTINGS {
        let options = options(task, size);
        let Some(_) = image_record(&config, task, split, 0, &options) else {
            eprintln!("skipping {task}/{split}: it cannot be rendered in this build");
            continue;
        };
        let sizes: Vec<usize> = (0..200)
            .filter_map(|i| image_record(&config, task, split, i, &options))
            .collect();
        let mean = sizes.iter().sum::<usize>() as f64 / sizes.len().max(1) as f64;
        let name = format!("{task}-{split}-image-{}x{}", options.width, options.height);
        eprintln!("{name}: mean PNG {:.1} KB", mean / 1000.0);
        let mut index = 0u64;
        group.bench_function(&name, |b| {
            b.iter(|| {
                index += 1;
                image_record(&config, task, split, index, &options)
            })
        });
    }
    for task in [TaskKind::Ctr, TaskKind::Tr] {
        let mut index = 0u64;
        group.bench_function(format!("{task}-hard-text"), |b| {
            b.iter(|| {
                index += 1;
                let instance = config.generate(task, Split::Hard, 0, index).ok()?;
                let record = build_record(
                    &instance,
                    Split::Hard,
                    0,
                    index,
                    Supervision::Text,
                    None,
                    &TextOptions::default(),
                )
                .ok()?;
                serde_json::to_string(&record).ok()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

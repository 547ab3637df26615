//! Throughput of the seeded random projection (`s2h_analysis::projection`): a gradient of
//! P = 10⁶ parameters (split into named parts like a model's) to k = 4096 dimensions, one
//! gradient per call and eight sharing each generated block. Throughput is gradient coordinates
//! per second; seconds per gradient = time per iteration / n. Uses all of rayon's threads.
//!
//! cargo bench -p s2h-analysis --bench projection

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use s2h_analysis::projection::{Named, ProjectionKind, Projector};

/// Parameters of the benchmarked gradient.
const P: usize = 1_000_000;

/// Deterministic values in [−1, 1) (an LCG: only the amount of work matters here).
fn values(seed: u64, len: usize) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 40) as f32 / 8_388_608.0 - 1.0
        })
        .collect()
}

/// A model-like split: two large matrices, a bias, a norm.
fn named(values: &[f32]) -> Vec<Named<'_>> {
    let (q, rest) = values.split_at(values.len() / 2);
    let (bias, rest) = rest.split_at(1024);
    let (up, norm) = rest.split_at(rest.len() - 768);
    vec![
        Named {
            name: "decoder.layers.0.attn.q_proj.weight",
            values: q,
        },
        Named {
            name: "decoder.layers.0.attn.q_proj.bias",
            values: bias,
        },
        Named {
            name: "decoder.layers.0.mlp.up.weight",
            values: up,
        },
        Named {
            name: "decoder.norm.weight",
            values: norm,
        },
    ]
}

fn bench(c: &mut Criterion) {
    let data: Vec<Vec<f32>> = (0..8).map(|i| values(i, P)).collect();
    let mut group = c.benchmark_group("projection");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    // k = 4096 is not 0: the one way `new` fails.
    let projector = Projector::new(Projector::DEFAULT_DIM, 0, ProjectionKind::Rademacher)
        .expect("k = 4096 is valid");
    for n in [1, 8] {
        let gradients: Vec<Vec<Named<'_>>> = data[..n].iter().map(|v| named(v)).collect();
        group.throughput(Throughput::Elements((n * P) as u64));
        let id = BenchmarkId::new("rademacher_k4096_p1M", format!("n{n}"));
        group.bench_with_input(id, &gradients, |b, gradients| {
            b.iter(|| projector.project_many(black_box(gradients)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

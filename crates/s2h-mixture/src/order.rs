//! The order of a mixture's records: random merging of streams and batch interleaving.

use std::collections::HashMap;

use s2h_tasks::TaskRng;

use crate::reference::{RecordRef, RecordType};

/// Merge streams at random, each keeping its order: every next record comes from a stream
/// chosen with probability proportional to what it has left.
pub(crate) fn random_merge(streams: Vec<Vec<RecordRef>>, rng: &mut TaskRng) -> Vec<RecordRef> {
    let mut left: Vec<usize> = streams.iter().map(Vec::len).collect();
    let mut total: usize = left.iter().sum();
    let mut iters: Vec<_> = streams.into_iter().map(Vec::into_iter).collect();
    let mut out = Vec::with_capacity(total);
    while total > 0 {
        let mut x = rng.below(total);
        let mut s = 0;
        while x >= left[s] {
            x -= left[s];
            s += 1;
        }
        if let Some(r) = iters[s].next() {
            out.push(r);
        }
        left[s] -= 1;
        total -= 1;
    }
    out
}

/// Regroup records so each batch of `batch` holds every type in its nominal share, rounded down
/// or up; records of a type keep their order; each batch is shuffled.
pub(crate) fn interleave(refs: Vec<RecordRef>, batch: usize, rng: &mut TaskRng) -> Vec<RecordRef> {
    let total = refs.len();
    let mut order: Vec<RecordType> = Vec::new();
    let mut by_type: HashMap<RecordType, Vec<RecordRef>> = HashMap::new();
    for r in refs {
        let t = r.record_type();
        if !by_type.contains_key(&t) {
            order.push(t);
        }
        by_type.entry(t).or_default().push(r);
    }
    let mut streams: Vec<std::vec::IntoIter<RecordRef>> = order
        .iter()
        .map(|t| by_type.remove(t).unwrap_or_default().into_iter())
        .collect();
    let sizes: Vec<u128> = streams.iter().map(|s| s.len() as u128).collect();
    let mut given = vec![0u128; sizes.len()];
    let mut out = Vec::with_capacity(total);
    let t = total as u128;
    let mut pos = 0usize;
    while pos < total {
        let b = batch.min(total - pos);
        let end = (pos + b) as u128;
        let mut quota: Vec<u128> = sizes
            .iter()
            .zip(&given)
            .map(|(&c, &g)| (b as u128 * c / t).min(c - g))
            .collect();
        let mut short = b as u128 - quota.iter().sum::<u128>();
        // Extra records go to the types furthest behind their ideal cumulative share.
        let mut credit: Vec<(i128, usize)> = sizes
            .iter()
            .enumerate()
            .map(|(s, &c)| ((end * c) as i128 - ((given[s] + quota[s]) * t) as i128, s))
            .collect();
        credit.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        while short > 0 {
            let before = short;
            for &(_, s) in &credit {
                if short > 0 && given[s] + quota[s] < sizes[s] {
                    quota[s] += 1;
                    short -= 1;
                }
            }
            if before == short {
                break;
            }
        }
        let mut chunk = Vec::with_capacity(b);
        for (s, q) in quota.iter().enumerate() {
            chunk.extend(streams[s].by_ref().take(*q as usize));
            given[s] += q;
        }
        rng.shuffle(&mut chunk);
        pos += chunk.len().max(1);
        out.extend(chunk);
    }
    out
}

//! The learning-rate schedule as a plain function of the step (SPEC §12): linear warmup from 0
//! over the first `ceil(warmup_ratio * total)` steps, then cosine decay to 0.
//!
//! With `W` warmup steps out of `T`, step `s` (0-based, the s-th optimizer update) uses
//!
//! ```text
//! lr(s) = peak * s / W                                   for s < W
//! lr(s) = peak * (1 + cos(pi * (s - W) / (T - W))) / 2   for W <= s < T
//! ```
//!
//! (the Hugging Face `cosine_with_warmup` schedule the paper's runs use; its first update has a
//! learning rate of exactly 0, which Burn's linear warmup cannot express).
//!
//! Each phase has its own schedule, but phases chained with `continues` (paper Fig 8, "Mix →
//! Mix+") share one over their combined updates: update `s` of such a phase is update
//! `offset + s` of the chain ([`phase_schedules`]).

/// Warmup steps for `total` steps: `ceil(ratio * total)`, at most `total`.
pub fn warmup_steps(total: u64, ratio: f64) -> u64 {
    if !(ratio.is_finite() && ratio > 0.0) {
        return 0;
    }
    ((ratio * total as f64).ceil() as u64).min(total)
}

/// Learning rate of update `step` (0-based) out of `total`, peak `peak`, `warmup` warmup steps.
pub fn learning_rate(step: u64, total: u64, peak: f64, warmup: u64) -> f64 {
    if total == 0 || step >= total {
        return 0.0;
    }
    if step < warmup {
        return peak * step as f64 / warmup as f64;
    }
    let span = (total - warmup).max(1) as f64;
    let progress = (step - warmup) as f64 / span;
    peak * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

/// Where a phase's updates sit in the schedule they follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseSchedule {
    /// Updates of the schedule before the phase's first (those of the phases it continues).
    pub offset: u64,
    /// Updates of the whole schedule (the phase and every phase chained with it).
    pub total: u64,
}

impl PhaseSchedule {
    /// Learning rate of the phase's update `step` (0-based within the phase), with the warmup
    /// taken over the whole schedule (so it happens in the first phase of a chain).
    pub fn learning_rate(&self, step: u64, peak: f64, warmup_ratio: f64) -> f64 {
        learning_rate(
            self.offset + step,
            self.total,
            peak,
            warmup_steps(self.total, warmup_ratio),
        )
    }
}

/// The schedule of each phase, given the updates of each (`steps`) and whether each continues
/// the one before it (`continues`; ignored for the first): a phase that does not continue
/// starts a schedule, and the phases that continue it extend it.
pub fn phase_schedules(steps: &[u64], continues: &[bool]) -> Vec<PhaseSchedule> {
    let mut schedules = Vec::with_capacity(steps.len());
    let mut start = 0;
    while start < steps.len() {
        let mut end = start + 1;
        while end < steps.len() && continues.get(end).copied().unwrap_or(false) {
            end += 1;
        }
        let total = steps[start..end].iter().sum();
        let mut offset = 0;
        for &n in &steps[start..end] {
            schedules.push(PhaseSchedule { offset, total });
            offset += n;
        }
        start = end;
    }
    schedules
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chained_phases_share_one_schedule() {
        let s = phase_schedules(&[10, 20, 5, 7, 3], &[true, true, false, false, true]);
        let at = |offset, total| PhaseSchedule { offset, total };
        assert_eq!(s, [at(0, 30), at(10, 30), at(0, 5), at(0, 10), at(7, 10)]);
        assert!(phase_schedules(&[], &[]).is_empty());
        // Update s of the continuing phase is update 10 + s of one 30-update schedule.
        let (peak, ratio) = (1e-3, 0.1);
        let w = warmup_steps(30, ratio);
        for step in 0..20 {
            assert_eq!(
                s[1].learning_rate(step, peak, ratio),
                learning_rate(10 + step, 30, peak, w)
            );
        }
        // A phase of its own is the plain schedule.
        assert_eq!(
            s[2].learning_rate(1, peak, ratio),
            learning_rate(1, 5, peak, warmup_steps(5, ratio))
        );
    }

    #[test]
    fn warmup_then_cosine_matches_the_closed_form() {
        let (t, peak) = (100, 2e-3);
        let w = warmup_steps(t, 0.03);
        assert_eq!(w, 3);
        assert_eq!(learning_rate(0, t, peak, w), 0.0);
        assert!((learning_rate(1, t, peak, w) - peak / 3.0).abs() < 1e-15);
        assert!((learning_rate(2, t, peak, w) - 2.0 * peak / 3.0).abs() < 1e-15);
        assert!((learning_rate(3, t, peak, w) - peak).abs() < 1e-15);
        // Half-way through the decay the rate is half the peak.
        let half = 3 + 97 / 2;
        let expected = peak * 0.5 * (1.0 + (std::f64::consts::PI * 48.0 / 97.0).cos());
        assert!((learning_rate(half, t, peak, w) - expected).abs() < 1e-15);
        assert!(
            (learning_rate(99, t, peak, w)
                - peak * 0.5 * (1.0 + (std::f64::consts::PI * 96.0 / 97.0).cos()))
            .abs()
                < 1e-15
        );
        assert_eq!(learning_rate(100, t, peak, w), 0.0);
        // Monotone after the peak.
        for s in 3..99 {
            assert!(learning_rate(s + 1, t, peak, w) <= learning_rate(s, t, peak, w));
        }
        assert_eq!(warmup_steps(1000, 0.03), 30);
        assert_eq!(warmup_steps(10, 0.03), 1);
        assert_eq!(warmup_steps(10, 0.0), 0);
        assert!((learning_rate(0, 10, peak, 0) - peak).abs() < 1e-15);
    }
}

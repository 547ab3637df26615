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

#[cfg(test)]
mod tests {
    use super::*;

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

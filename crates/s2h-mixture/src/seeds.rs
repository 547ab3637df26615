//! The two halves of the seed space (SPEC §1.2): training seeds are below 2^63, and evaluation
//! sets generate their instances with the top bit set ([`EVAL_SEED_BIT`]). Instance streams
//! hash the whole seed, so the two halves never share a stream.

use crate::{MixtureError, Result};

/// The top bit of a seed: set on every evaluation instance seed, never on a training seed.
pub const EVAL_SEED_BIT: u64 = 1 << 63;

/// Training seeds must leave the top bit clear.
pub fn check_training_seed(seed: u64) -> Result<()> {
    if is_eval_seed(seed) {
        Err(MixtureError::TrainingSeed(seed))
    } else {
        Ok(())
    }
}

/// True for seeds of the evaluation half.
pub fn is_eval_seed(seed: u64) -> bool {
    seed & EVAL_SEED_BIT != 0
}

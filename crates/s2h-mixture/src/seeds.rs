//! The two halves of the seed space (SPEC §1.2): training seeds are below 2^63, and evaluation
//! sets generate their instances with the top bit set ([`EVAL_SEED_BIT`]). Instance streams
//! hash the whole seed, so the two halves never share a stream.
//!
//! Every path that writes training data refuses a seed of the evaluation half
//! ([`check_training_seed`]), and a reader of training data refuses records of it
//! ([`check_training_records`]), so an evaluation set can never be trained on by mistake.

use crate::record::Record;
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

/// Refuse training records that are evaluation instances (seed with the top bit set); the
/// error names the first such record and its position (1-based, the line of `records.jsonl`
/// when the records were read from one).
pub fn check_training_records(records: &[Record]) -> Result<()> {
    match records
        .iter()
        .enumerate()
        .find(|(_, r)| is_eval_seed(r.seed))
    {
        Some((i, r)) => Err(MixtureError::EvalRecord {
            position: i + 1,
            id: r.id.clone(),
            seed: r.seed,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Supervision, build_record};
    use s2h_render::TextOptions;
    use s2h_tasks::{Split, TaskConfig, TaskKind};

    fn record(seed: u64, index: u64) -> Record {
        let instance = TaskConfig::default()
            .generate(TaskKind::Tr, Split::Simple, seed, index)
            .unwrap();
        build_record(
            &instance,
            Split::Simple,
            seed,
            index,
            Supervision::Text,
            None,
            &TextOptions::default(),
        )
        .unwrap()
    }

    #[test]
    fn training_records_refuse_evaluation_instances() {
        let training = vec![record(0, 0), record(EVAL_SEED_BIT - 1, 1)];
        assert!(check_training_records(&training).is_ok());
        assert!(check_training_records(&[]).is_ok());

        let mut mixed = training.clone();
        mixed.push(record(EVAL_SEED_BIT | 5, 2));
        mixed.push(record(EVAL_SEED_BIT, 3));
        let err = check_training_records(&mixed).unwrap_err();
        let id = &mixed[2].id;
        assert!(
            matches!(&err, MixtureError::EvalRecord { position: 3, id: found, .. } if found == id),
            "{err}"
        );
        let message = err.to_string();
        for part in ["record 3", id.as_str(), "evaluation instance"] {
            assert!(message.contains(part), "{part}: {message}");
        }
    }
}

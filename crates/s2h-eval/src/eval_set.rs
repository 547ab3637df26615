//! Reading an eval set, and checking that it is one task's (a model is trained on one task).

use std::path::Path;

use s2h_mixture::{RECORDS_FILE, Record};
use s2h_tasks::TaskKind;

use crate::{EvalError, Result};

/// The single task of an eval set. Errors: no records, records of several tasks, or a task
/// other than `expected`.
pub fn check_task(records: &[Record], expected: Option<TaskKind>) -> Result<TaskKind> {
    let first = records.first().ok_or(EvalError::EmptyEvalSet)?.task;
    let mut tasks: Vec<TaskKind> = records.iter().map(|r| r.task).collect();
    tasks.sort_unstable();
    tasks.dedup();
    if tasks.len() > 1 {
        let tasks = tasks
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(EvalError::MixedTasks { tasks });
    }
    match expected {
        Some(expected) if expected != first => Err(EvalError::TaskMismatch {
            expected,
            found: first,
        }),
        _ => Ok(first),
    }
}

/// Read an eval set directory's records, with a clear error when it is not one.
pub fn read_eval_set(dir: &Path) -> Result<Vec<Record>> {
    let file = if dir.is_dir() {
        dir.join(RECORDS_FILE)
    } else {
        dir.to_path_buf()
    };
    if !file.is_file() {
        return Err(EvalError::NoEvalSet {
            path: dir.to_path_buf(),
        });
    }
    Ok(s2h_mixture::read_records(&file)?)
}

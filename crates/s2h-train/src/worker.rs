//! Runs trained side by side, each in a child process of its own.
//!
//! Burn 0.21's autodiff keeps one graph registry per process, and s2h holds
//! [`s2h_vlm::autodiff::pass_lock`] through every forward-and-backward (tracel-ai/burn#5573): two
//! runs on two threads of one process take turns, and each trains at half its speed. On a CPU
//! the small models trained side by side leave cores idle instead, so [`crate::train_all`] starts
//! each run in a child process — the same executable, told by an environment variable which run to
//! train — with its share of the cores.
//!
//! A binary opts in by calling [`serve`] first thing in `main`, before it parses arguments or
//! touches a file: in a child, `serve` trains the run it was given and exits; in the parent it
//! only records that children can be started. A binary that does not call it (a test harness, a
//! user's program) trains side by side on threads: correct, only slower.
//!
//! The child reports on its standard output, one line each: `progress` lines (position, length,
//! prefix and message of its progress bar, which the parent draws), then `summary` with the
//! [`TrainSummary`] as JSON, or `error` with the message. A child whose parent is gone notices it
//! at its next report (the pipe is closed) and exits; its checkpoints are written atomically, so
//! the run resumes from the last one.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::ProgressBar;
use s2h_vlm::BackendKind;
use serde::{Deserialize, Serialize};

use crate::{Result, TrainConfig, TrainError, TrainSummary};

/// The environment variable that makes a process a training child: the job as JSON.
pub const JOB_ENV: &str = "S2H_TRAIN_JOB";

static CAN_SPAWN: AtomicBool = AtomicBool::new(false);

/// How often a child reports its progress.
const REPORT_EVERY: Duration = Duration::from_millis(200);

#[derive(Serialize, Deserialize)]
struct Job {
    /// A [`BackendKind`] by name.
    backend: String,
    config: TrainConfig,
}

/// Call first thing in `main` of a binary that trains runs side by side (through
/// [`crate::train_all`]). In a training child it trains the run it was given and exits the
/// process; otherwise it returns at once.
pub fn serve() {
    let Some(job) = std::env::var_os(JOB_ENV) else {
        CAN_SPAWN.store(true, Ordering::Relaxed);
        return;
    };
    let outcome = match serde_json::from_str::<Job>(&job.to_string_lossy()) {
        Ok(job) => match job.backend.parse::<BackendKind>() {
            Ok(backend) => train_child(backend, &job.config),
            Err(e) => Err(e.into()),
        },
        Err(e) => Err(TrainError::Config(format!(
            "{JOB_ENV} holds no training job: {e}"
        ))),
    };
    let (line, code) = match outcome {
        Ok(summary) => match serde_json::to_string(&summary) {
            Ok(json) => (format!("summary\t{json}"), 0),
            Err(e) => (format!("error\tcannot write the summary: {e}"), 1),
        },
        Err(e) => (format!("error\t{}", one_line(&e.to_string())), 1),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|_| out.flush());
    std::process::exit(code);
}

/// Whether this process may start training children: it called [`serve`] and is not a child.
pub fn can_spawn() -> bool {
    CAN_SPAWN.load(Ordering::Relaxed)
}

fn one_line(text: &str) -> String {
    text.replace(['\n', '\t'], " ")
}

fn train_child(backend: BackendKind, config: &TrainConfig) -> Result<TrainSummary> {
    let bar = ProgressBar::hidden();
    let reporter = bar.clone();
    std::thread::spawn(move || {
        loop {
            let line = format!(
                "progress\t{}\t{}\t{}\t{}\n",
                reporter.position(),
                reporter.length().unwrap_or(0),
                one_line(&reporter.prefix()),
                one_line(&reporter.message()),
            );
            let mut out = std::io::stdout().lock();
            if out
                .write_all(line.as_bytes())
                .and_then(|_| out.flush())
                .is_err()
            {
                // The parent is gone: stop rather than train for no one.
                std::process::exit(1);
            }
            drop(out);
            std::thread::sleep(REPORT_EVERY);
        }
    });
    crate::train_on_with_bar(backend, config, bar)
}

/// How `n` runs share the cores this process may use (`RAYON_NUM_THREADS` when set, else every
/// core): how many train at once, and the threads each gets. With more runs than cores, one run
/// per core and the rest queue — nine single-threaded processes on two cores would each take a
/// ninth of a core and evict each other's caches, and none would finish before all do.
fn sharing(n: usize) -> (usize, usize) {
    let total = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&t| t > 0)
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1);
    let at_once = n.clamp(1, total);
    (at_once, (total / at_once).max(1))
}

/// Train every configuration in a child process of its own, as many side by side as there are
/// cores and the rest as the first finish (the longest plans first, so a long one does not end
/// alone on an otherwise idle machine), drawing each child's progress on its bar. Returns the
/// summaries in the order given; the first error wins (the other runs still train: each is
/// independent and resumable, and a caller that retries finds them done).
pub(crate) fn train_in_children(
    backend: BackendKind,
    configs: &[TrainConfig],
    bars: Vec<ProgressBar>,
) -> Result<Vec<TrainSummary>> {
    let exe = std::env::current_exe().map_err(|e| TrainError::io("the current executable", e))?;
    let (at_once, threads) = sharing(configs.len());
    let order = longest_first(configs);
    let next = AtomicUsize::new(0);
    let outcomes: Vec<Mutex<Option<Result<TrainSummary>>>> =
        configs.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..at_once {
            scope.spawn(|| {
                while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let (Some(config), Some(bar)) = (configs.get(i), bars.get(i)) else {
                        break;
                    };
                    let outcome = train_child_process(&exe, backend, config, threads)
                        .and_then(|child| follow(child, bar.clone(), config));
                    if let Ok(mut slot) = outcomes[i].lock() {
                        *slot = Some(outcome);
                    }
                }
            });
        }
    });
    outcomes
        .into_iter()
        .zip(configs)
        .map(|(slot, config)| match slot.into_inner() {
            Ok(Some(outcome)) => outcome,
            _ => Err(TrainError::Panicked(config.out.clone())),
        })
        .collect()
}

/// The indices of `configs`, those with the most training records first (a plan's records as
/// Algorithm 1 counts them; a directory of records counts as none, its size unknown until it is
/// read), ties in the order given.
fn longest_first(configs: &[TrainConfig]) -> Vec<usize> {
    let records = |config: &TrainConfig| match &config.data {
        crate::DataSource::Plan { plan } => plan.record_count().unwrap_or(0),
        crate::DataSource::Records { .. } => 0,
    };
    let mut order: Vec<usize> = (0..configs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(records(&configs[i])));
    order
}

/// Start the child process that trains `config` on `threads` threads.
fn train_child_process(
    exe: &std::path::Path,
    backend: BackendKind,
    config: &TrainConfig,
    threads: usize,
) -> Result<std::process::Child> {
    let job = serde_json::to_string(&Job {
        backend: backend.to_string(),
        config: config.clone(),
    })
    .map_err(|e| TrainError::Config(format!("cannot write the training job: {e}")))?;
    Command::new(exe)
        .env(JOB_ENV, job)
        .env("RAYON_NUM_THREADS", threads.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| TrainError::io(exe, e))
}

/// Read a child's reports until it exits; its summary or its error.
fn follow(
    mut child: std::process::Child,
    bar: ProgressBar,
    config: &TrainConfig,
) -> Result<TrainSummary> {
    let mut outcome: Option<Result<TrainSummary>> = None;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let mut fields = line.splitn(5, '\t');
            match fields.next() {
                Some("progress") => {
                    let mut num = || fields.next().and_then(|f| f.parse::<u64>().ok());
                    if let (Some(pos), Some(len)) = (num(), num()) {
                        bar.set_length(len);
                        bar.set_position(pos);
                    }
                    bar.set_prefix(fields.next().unwrap_or_default().to_string());
                    bar.set_message(fields.next().unwrap_or_default().to_string());
                }
                Some("summary") => {
                    let json = line.split_once('\t').map_or("", |(_, j)| j);
                    outcome = Some(serde_json::from_str(json).map_err(|e| TrainError::Data {
                        path: config.out.clone(),
                        message: format!("the training process sent an unreadable summary: {e}"),
                    }));
                }
                Some("error") => {
                    let message = line.split_once('\t').map_or("", |(_, m)| m);
                    outcome = Some(Err(TrainError::Child {
                        out: config.out.clone(),
                        message: message.to_string(),
                    }));
                }
                _ => {}
            }
        }
    }
    let status = child.wait().map_err(|e| TrainError::io(&config.out, e))?;
    bar.finish_and_clear();
    match outcome {
        Some(result) => result,
        None => Err(TrainError::Child {
            out: config.out.clone(),
            message: format!("the training process ended ({status}) without a result"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cores_are_shared_evenly_and_never_below_one() {
        let (one, total) = sharing(1);
        assert_eq!(one, 1);
        assert!(total >= 1);
        assert_eq!(sharing(total), (total, 1));
        // More runs than cores: one per core, the rest wait.
        assert_eq!(sharing(total * 4), (total, 1));
        assert_eq!(sharing(2), (2.min(total), (total / 2).max(1)));
        assert_eq!(sharing(0), (1, total));
    }

    #[test]
    fn the_longest_plans_train_first() {
        use s2h_mixture::{MixtureKind, Phase, Plan};
        use s2h_tasks::TaskKind;
        let plan = |budget| crate::DataSource::Plan {
            plan: Plan::single(Phase::new(MixtureKind::Text, TaskKind::Ctr, budget), 0),
        };
        let config = |data| TrainConfig {
            data,
            ..TrainConfig::default()
        };
        let configs = [
            config(plan(100)),
            config(crate::DataSource::Records { dir: "d".into() }),
            config(plan(400)),
            config(plan(200)),
            config(plan(400)),
        ];
        assert_eq!(longest_first(&configs), [2, 4, 3, 0, 1]);
    }

    #[test]
    fn reports_are_one_line() {
        assert_eq!(one_line("a\nb\tc"), "a b c");
    }
}

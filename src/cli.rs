//! Conventions the command-line binaries (the examples) share: bounded worker threads and their
//! pool, the values their options take (image sizes, font scales), a progress bar, and a quiet
//! end when their output pipe closes.

use indicatif::{ProgressBar, ProgressStyle};

/// Most worker threads a binary accepts. Results never depend on the thread count, so threads
/// beyond the machine's cores buy nothing. 1024 is above the hardware threads of today's
/// largest single machines (two 192-core sockets with two threads a core: 768) and starts
/// in under two seconds even on a small machine (1.7 s measured on 2 shared cores), while
/// a typo such as 20000 ran for 7 minutes there and then aborted out of memory. A fixed
/// number rather than a multiple of the cores, so a command line that works on one machine
/// works on every machine.
pub const MAX_THREADS: usize = 1024;

/// Accept a worker thread count from 1 to [`MAX_THREADS`]; the error says what to give.
pub fn check_threads(threads: usize) -> Result<usize, String> {
    match threads {
        0 => Err(format!(
            "0 worker threads cannot do any work; give 1 to {MAX_THREADS}, or leave the \
             option out to use every core"
        )),
        n if n > MAX_THREADS => Err(format!(
            "{n} worker threads is over the limit of {MAX_THREADS} (output is the same for \
             any number; more threads than cores only slow start-up); give at most \
             {MAX_THREADS}, or leave the option out to use every core"
        )),
        n => Ok(n),
    }
}

/// [`check_threads`] on a command-line value, for clap's `value_parser`:
/// `#[arg(long, value_parser = s2h::cli::parse_threads)] threads: Option<usize>`.
pub fn parse_threads(text: &str) -> Result<usize, String> {
    let threads = text.trim().parse::<usize>().map_err(|_| {
        format!("`{text}` is not a number of threads; give a whole number from 1 to {MAX_THREADS}")
    })?;
    check_threads(threads)
}

/// Any `FromStr` value (a task, split, supervision, …) for clap's `value_parser`, its error
/// as the type words it: `#[arg(long, value_parser = s2h::cli::parse_name::<TaskKind>)]`.
pub fn parse_name<T: std::str::FromStr<Err: std::fmt::Display>>(text: &str) -> Result<T, String> {
    text.parse::<T>().map_err(|e| e.to_string())
}

/// A rayon pool of `threads` workers ([`check_threads`]), or of every core when `None`.
pub fn thread_pool(threads: Option<usize>) -> Result<rayon::ThreadPool, String> {
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(threads) = threads {
        pool = pool.num_threads(check_threads(threads)?);
    }
    pool.build()
        .map_err(|e| format!("cannot start the worker threads: {e}"))
}

/// An image size `WIDTHxHEIGHT` (`448x448`), for clap's `value_parser`.
pub fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let err = || format!("`{text}` is not a size; write WIDTHxHEIGHT, e.g. 448x448");
    let (w, h) = text.split_once(['x', 'X']).ok_or_else(err)?;
    Ok((
        w.trim().parse().map_err(|_| err())?,
        h.trim().parse().map_err(|_| err())?,
    ))
}

/// A font scale the layouts can hold ([`s2h_render::check_font_scale`]), for clap's
/// `value_parser`.
pub fn parse_font_scale(text: &str) -> Result<f32, String> {
    let scale: f32 = text.trim().parse().map_err(|_| {
        format!(
            "`{text}` is not a number; give a font scale from {} to {}",
            s2h_render::MIN_FONT_SCALE,
            s2h_render::MAX_FONT_SCALE
        )
    })?;
    s2h_render::check_font_scale(scale).map_err(|e| e.to_string())?;
    Ok(scale)
}

/// A progress bar of `len` items labelled `message`, with its rate and the time left.
pub fn progress_bar(len: u64, message: impl Into<String>) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message.into());
    bar
}

/// Let a closed standard output end the program quietly, like any Unix tool
/// (`generate … | head -1`): call it first thing in `main`.
///
/// Rust starts every program with SIGPIPE ignored, so a write to a closed pipe fails with
/// `EPIPE` and `println!` panics on it. This restores the default action: the process ends
/// at that write, killed by SIGPIPE, as `cat` or `grep` would, and the shell reads that as
/// the reader having had enough. A no-op on other platforms. For binaries only: a library
/// must not change the signals of the process it runs in.
pub fn restore_sigpipe() {
    // SAFETY: `signal` with `SIG_DFL` installs no handler (no code of ours runs on the
    // signal); it only changes what a write to a closed pipe does to this process.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The exit status of a command-line binary's `run`: success, or the error (with its causes, as
/// `anyhow` prints them with `{:#}`) on standard error and status 1.
pub fn exit_code<E: std::fmt::Display>(result: Result<(), E>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Keep freed memory in the process instead of handing large blocks back to the system.
///
/// A model's forward and backward allocate and free tensors of tens of megabytes (the attention
/// scores of long records) many times per update, from several threads. glibc serves each with
/// a fresh `mmap`, or from per-thread arenas that it trims, and returns it on free, so every
/// such tensor costs page faults on first touch: profiling a Visual Analogy training showed the
/// kernel's page-fault path above matrix multiplication, and half the run's time in the kernel.
/// One arena, the largest mmap threshold glibc accepts, and a 1 GiB top pad and trim threshold
/// make the allocator keep and reuse that memory. A no-op off glibc. For binaries only, first
/// thing in `main`.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets allocator parameters; called before any other thread exists.
    unsafe {
        const GIB: libc::c_int = 1 << 30;
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TOP_PAD, GIB);
        libc::mallopt(libc::M_TRIM_THRESHOLD, GIB);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_counts_are_bounded() {
        assert_eq!(parse_threads("1"), Ok(1));
        assert_eq!(parse_threads(" 8 "), Ok(8));
        assert_eq!(parse_threads("1024"), Ok(MAX_THREADS));
        for (text, needle) in [
            ("0", "1 to 1024"),
            ("1025", "limit of 1024"),
            ("100000", "limit of 1024"),
            ("-1", "not a number"),
            ("1e3", "not a number"),
            ("18446744073709551616", "not a number"),
        ] {
            let err = parse_threads(text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    /// The disposition itself; `tests/generate_cli.rs` checks the effect on a binary.
    #[cfg(unix)]
    #[test]
    fn sigpipe_gets_its_default_action_back() {
        let disposition = || unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            assert_eq!(
                libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old),
                0
            );
            old.sa_sigaction
        };
        // What the Rust runtime sets up in every program, this test binary included.
        assert_eq!(disposition(), libc::SIG_IGN);
        restore_sigpipe();
        assert_eq!(disposition(), libc::SIG_DFL);
    }
}

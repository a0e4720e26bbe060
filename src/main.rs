use std::process::ExitCode;

fn main() -> ExitCode {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    return_freed_blocks_to_the_system();
    officina::cli::main()
}

/// glibc only: every allocation of 128 KiB or more is its own mapping, unmapped when freed, so
/// what a large request (an 837 or an 835 of 10 000 claims) allocated goes back to the system
/// when it ends instead of staying in the worker thread's arena. By default glibc raises this
/// threshold (up to 32 MiB) the first time such a block is freed, and from then on keeps big
/// freed blocks in per-thread arenas: +100 MB of resident memory that never shrinks after one
/// large import (BENCHMARKS.md, *Memory*). Equivalent to starting the process with
/// `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072`; skipped when `GLIBC_TUNABLES` is set.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn return_freed_blocks_to_the_system() {
    // An operator's own glibc tuning wins (it is read before main).
    if std::env::var_os("GLIBC_TUNABLES").is_some() {
        return;
    }
    // SAFETY: mallopt only sets an allocator parameter; it is called once, first thing in main,
    // before any other thread exists. A failure (returns 0) leaves glibc's default in place.
    let _ = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024) };
}

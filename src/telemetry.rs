//! Logging: `tracing` with a pretty or JSON formatter, filtered by `RUST_LOG` (default `info`).
//! Logs carry request ids, methods, paths and statuses; never bodies, query strings or tokens.
//!
//! Lines go to stderr through a buffer ([`Buffered`]): `serve` logs a line per request, and one
//! `write` to stderr per line cost a loaded server more than the rest of the line (a system call
//! per request, on the request's thread). Lines below `WARN` wait in memory until the buffer
//! holds [`FLUSH_AT`] bytes (then the thread that filled it writes it, unless another thread is
//! writing already) or a background thread empties it, every `OFFICINA_LOG_FLUSH_MS` (100 ms by
//! default; 0 writes every line at once). A warning or an error is written at once, after the
//! lines buffered before it. A panic writes the buffer before its message (unless another thread
//! is writing at that moment, whose write then carries those lines). [`init`]'s guard writes what
//! is left when the command ends (`serve` included, once it stops on a signal). Past [`WAIT_AT`]
//! bytes waiting (a destination that stalls), logging threads wait for the write.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

/// A buffer this full is written by the thread that filled it (or by the write under way).
pub const FLUSH_AT: usize = 64 * 1024;
/// This many bytes waiting make a logging thread wait for the write under way, so a destination
/// that stalls cannot make the buffer grow without bound.
pub const WAIT_AT: usize = 4 * FLUSH_AT;

/// Installs the global subscriber, its lines waiting at most `flush_every` (zero: not at all).
/// Keep the guard for as long as the command runs: dropping it writes the lines still buffered.
pub fn init(format: LogFormat, flush_every: Duration) -> LogGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let writer = if flush_every.is_zero() {
        Buffered::unbuffered(io::stderr())
    } else {
        Buffered::new(io::stderr())
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer.clone());
    // A second initialisation (tests) is harmless: keep the first subscriber. The thread and the
    // hook below then serve a writer nobody logs to, until the guard is dropped.
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    if !flush_every.is_zero() {
        writer.flush_periodically(flush_every);
        writer.flush_before_panics();
    }
    LogGuard(writer)
}

/// Writes the buffered lines when dropped.
pub struct LogGuard(Buffered<io::Stderr>);

impl Drop for LogGuard {
    fn drop(&mut self) {
        let _ = self.0.flush();
    }
}

/// A log destination behind an in-memory buffer (see the module's documentation).
pub struct Buffered<W> {
    shared: Arc<Shared<W>>,
    /// Every line is written at once (no buffering).
    direct: bool,
}

/// Lines are appended under one lock and written out under another, so a slow write (a
/// destination the kernel throttles) holds up the thread writing, not the threads logging lines
/// below `WARN` (until [`WAIT_AT`] bytes wait); warnings and errors wait for it, to be written
/// in order.
struct Shared<W> {
    lines: Mutex<Vec<u8>>,
    out: Mutex<Out<W>>,
}

/// The destination, and the buffer the lines are swapped into while they are written.
struct Out<W> {
    dest: W,
    writing: Vec<u8>,
}

impl<W> Clone for Buffered<W> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            direct: self.direct,
        }
    }
}

impl<W: Write + Send + 'static> Buffered<W> {
    pub fn new(dest: W) -> Self {
        Self::with(dest, false)
    }

    /// Every line written at once, as `dest` takes it.
    pub fn unbuffered(dest: W) -> Self {
        Self::with(dest, true)
    }

    fn with(dest: W, direct: bool) -> Self {
        let capacity = if direct { 0 } else { FLUSH_AT };
        Self {
            shared: Arc::new(Shared {
                lines: Mutex::new(Vec::with_capacity(capacity)),
                out: Mutex::new(Out {
                    dest,
                    writing: Vec::with_capacity(capacity),
                }),
            }),
            direct,
        }
    }

    /// Writes what is buffered, now.
    pub fn flush(&self) -> io::Result<()> {
        self.shared.write_out(Wait::Yes)
    }

    /// Starts the thread that empties the buffer every `every`; it ends once every handle on
    /// the buffer is gone (with the process, for the global subscriber's).
    fn flush_periodically(&self, every: Duration) {
        let weak = Arc::downgrade(&self.shared);
        let spawned = std::thread::Builder::new()
            .name("log-flush".into())
            .spawn(move || {
                while let Some(shared) = weak.upgrade() {
                    let _ = shared.write_out(Wait::Yes);
                    drop(shared);
                    std::thread::sleep(every);
                }
            });
        if let Err(e) = spawned {
            // Lines are still written when the buffer fills, at warnings and at exit.
            eprintln!("officina: cannot start the log writer thread: {e}");
        }
    }

    /// Makes a panic write the buffered lines before its own message (then the previous hook
    /// runs). A panic while a lock is held (inside a write) leaves the buffer as it is.
    fn flush_before_panics(&self) {
        let weak = Arc::downgrade(&self.shared);
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(shared) = weak.upgrade() {
                let _ = shared.write_out(Wait::No);
            }
            previous(info);
        }));
    }
}

/// Whether [`Shared::write_out`] waits for a write already under way.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    Yes,
    /// Returns at once, writing nothing, if a write is under way (on another thread, or on
    /// this one: a panic inside the write) or the lines are being appended to at that instant;
    /// the next write takes them.
    No,
}

impl Wait {
    /// `m` locked, waiting for it or not; `None` when it is held and this does not wait.
    fn lock<T>(self, m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
        match self {
            Wait::Yes => Some(lock(m)),
            Wait::No => try_lock(m),
        }
    }
}

/// A lock, taken again after a panic elsewhere: at worst a line is partly appended, or the lines
/// of a write that panicked are dropped ([`Shared::write_out`]).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn try_lock<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

impl<W: Write> Shared<W> {
    /// Appends a line; returns how many bytes wait.
    fn append(&self, line: &[u8]) -> usize {
        let mut lines = lock(&self.lines);
        lines.extend_from_slice(line);
        lines.len()
    }

    /// Takes every line appended so far and writes them. One writer at a time, in the order
    /// they took their lines, so lines reach the destination in the order they were appended.
    fn write_out(&self, wait: Wait) -> io::Result<()> {
        let Some(mut out) = wait.lock(&self.out) else {
            return Ok(());
        };
        let Out { dest, writing } = &mut *out;
        // The lines of the previous write are dropped, even if it failed (stderr closed: the
        // buffer must not grow without bound) or panicked (taking them again would write them
        // after newer lines).
        writing.clear();
        {
            let Some(mut lines) = wait.lock(&self.lines) else {
                return Ok(());
            };
            if lines.is_empty() {
                return Ok(());
            }
            std::mem::swap(&mut *lines, writing);
        }
        dest.write_all(writing).and_then(|()| dest.flush())
    }
}

/// What the formatter writes one line into.
pub struct LineWriter<'a, W> {
    shared: &'a Shared<W>,
    at_once: bool,
}

impl<W: Write> Write for LineWriter<'_, W> {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let waiting = self.shared.append(line);
        if self.at_once {
            self.shared.write_out(Wait::Yes)?;
        } else if waiting >= FLUSH_AT {
            // Whoever is writing already will not take these lines, the next write will; past
            // `WAIT_AT` (a destination that stalls), wait for it.
            let wait = if waiting >= WAIT_AT {
                Wait::Yes
            } else {
                Wait::No
            };
            self.shared.write_out(wait)?;
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.shared.write_out(Wait::Yes)
    }
}

impl<'a, W: Write + 'a> MakeWriter<'a> for Buffered<W> {
    type Writer = LineWriter<'a, W>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
            at_once: self.direct,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
            // Levels order from ERROR (the smallest) to TRACE.
            at_once: self.direct || *meta.level() <= Level::WARN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::subscriber::with_default;

    /// A destination the test can read, behind the buffer.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("sink").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().expect("sink").clone()).expect("utf-8")
        }
    }

    fn logging_to(sink: &Sink) -> (Buffered<Sink>, impl tracing::Subscriber + Send + Sync) {
        let writer = Buffered::new(sink.clone());
        (writer.clone(), subscriber(writer))
    }

    fn subscriber(writer: Buffered<Sink>) -> impl tracing::Subscriber + Send + Sync {
        tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(false)
            .with_max_level(Level::INFO)
            .finish()
    }

    /// Both messages were written, `first` before `second`.
    fn assert_in_order(text: &str, first: &str, second: &str) {
        match (text.find(first), text.find(second)) {
            (Some(a), Some(b)) => assert!(a < b, "{text}"),
            _ => panic!("{first} or {second} missing: {text}"),
        }
    }

    #[test]
    fn info_lines_wait_for_the_flush() {
        let sink = Sink::default();
        let (writer, subscriber) = logging_to(&sink);
        with_default(subscriber, || {
            tracing::info!("first");
            tracing::info!("second");
        });
        assert_eq!(sink.text(), "", "written before any flush");
        writer.flush().expect("flush");
        assert_in_order(&sink.text(), "first", "second");
    }

    #[test]
    fn a_warning_is_written_at_once_after_the_lines_before_it() {
        let sink = Sink::default();
        let (_writer, subscriber) = logging_to(&sink);
        with_default(subscriber, || {
            tracing::info!("routine");
            tracing::warn!("trouble");
        });
        assert_in_order(&sink.text(), "routine", "trouble");
    }

    #[test]
    fn a_full_buffer_is_written_by_the_thread_that_filled_it() {
        let sink = Sink::default();
        let (_writer, subscriber) = logging_to(&sink);
        let long = "x".repeat(1024);
        with_default(subscriber, || {
            for _ in 0..(FLUSH_AT / 1024 + 1) {
                tracing::info!("{long}");
            }
        });
        assert!(sink.text().len() >= FLUSH_AT, "{} bytes", sink.text().len());
    }

    #[test]
    fn unbuffered_lines_are_written_at_once() {
        let sink = Sink::default();
        let subscriber = subscriber(Buffered::unbuffered(sink.clone()));
        with_default(subscriber, || tracing::info!("now"));
        assert!(sink.text().contains("now"), "{}", sink.text());
    }

    /// A destination whose writes wait until the test opens it.
    struct Gate {
        entered: std::sync::mpsc::Sender<()>,
        open: Arc<(Mutex<bool>, std::sync::Condvar)>,
        sink: Sink,
    }

    impl Write for Gate {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let _ = self.entered.send(());
            let (open, cv) = &*self.open;
            let mut is_open = open.lock().expect("gate");
            while !*is_open {
                is_open = cv.wait(is_open).expect("gate");
            }
            self.sink.write(b)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Writes `line` on a new thread; the receiver hears once the write returned.
    fn log_on_a_thread(writer: &Buffered<Gate>, line: Vec<u8>) -> std::sync::mpsc::Receiver<()> {
        let (logged, done) = std::sync::mpsc::channel();
        let writer = writer.clone();
        std::thread::spawn(move || {
            writer.make_writer().write_all(&line).expect("append");
            let _ = logged.send(());
        });
        done
    }

    #[test]
    fn a_stalled_write_holds_up_the_writer_not_the_threads_logging() {
        use std::sync::mpsc::channel;
        let sink = Sink::default();
        let (entered, in_write) = channel();
        let open = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let writer = Buffered::new(Gate {
            entered,
            open: open.clone(),
            sink: sink.clone(),
        });
        writer.make_writer().write_all(b"first\n").expect("append");
        let flushing = {
            let writer = writer.clone();
            std::thread::spawn(move || writer.flush())
        };
        in_write
            .recv_timeout(Duration::from_secs(10))
            .expect("the write began");
        log_on_a_thread(&writer, b"second\n".to_vec())
            .recv_timeout(Duration::from_secs(10))
            .expect("logging waited for the stalled write");
        // A line that fills the buffer past FLUSH_AT does not wait for the write under way
        // either (its write is left to the next one).
        log_on_a_thread(&writer, format!("{}\n", "x".repeat(FLUSH_AT)).into_bytes())
            .recv_timeout(Duration::from_secs(10))
            .expect("a full buffer waited for the stalled write");
        *open.0.lock().expect("gate") = true;
        open.1.notify_all();
        flushing.join().expect("join").expect("flush");
        writer.flush().expect("flush");
        let x = "x".repeat(FLUSH_AT);
        assert_eq!(sink.text(), format!("first\nsecond\n{x}\n"));
    }

    #[test]
    fn the_background_thread_writes_what_waits() {
        let sink = Sink::default();
        let (writer, subscriber) = logging_to(&sink);
        writer.flush_periodically(Duration::from_millis(5));
        with_default(subscriber, || tracing::info!("soon"));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !sink.text().contains("soon") {
            assert!(std::time::Instant::now() < deadline, "never written");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

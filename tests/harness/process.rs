//! Child processes: `llserver`, `llclient`, the `openssl` command line and scripts.
//!
//! A [`Spawn`] says how to start one (arguments, stdin, environment, directory, how its stdout
//! is read); the [`Proc`] it starts is a guard that kills the child when dropped. The child's
//! stdout and stderr are read on threads as they come, so it never blocks on a full pipe
//! (unless a test holds its stdout back on purpose), and a test waits for the output itself:
//! a line, a pattern, the pipe closing. Every wait is bounded; a failure prints the command,
//! its status, stdout and stderr in a frame. [`Proc::finish`] waits for the exit and returns a
//! [`Finished`] with everything the child wrote. [`LlServer`] is `llserver --port 0` with the
//! port it printed.
//!
//! Peak memory and open descriptors are read from /proc (Linux); a reading that cannot be
//! taken fails the test that asked for it, with the reason.

use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::{STARTUP, TIMEOUT};

pub const LLSERVER: &str = env!("CARGO_BIN_EXE_llserver");
pub const LLCLIENT: &str = env!("CARGO_BIN_EXE_llclient");

/// What llclient prints on stderr after a clean close, as upstream.
pub const CONNECTION_CLOSED: &str = "Connection closed";

/// How often a wait for a child's exit looks again (std has no bounded wait for a child) and
/// samples its memory.
const EXIT_POLL: Duration = Duration::from_millis(2);
/// How long a child's output pipes may stay open after it exited.
const DRAIN: Duration = Duration::from_secs(10);

/// What a child reads on stdin.
pub enum Input {
    /// Nothing: EOF at once.
    Null,
    /// These bytes, written by a thread, then EOF.
    Bytes(Vec<u8>),
    /// This file, opened as the child's stdin (a regular file, not a pipe).
    File(PathBuf),
    /// A pipe the test writes to as it goes ([`Proc::write`], [`Proc::take_stdin`]) and
    /// closes with [`Proc::close_stdin`].
    Piped,
}

/// How to start a child.
pub struct Spawn {
    program: PathBuf,
    pub args: Vec<String>,
    input: Input,
    env: Vec<(String, String)>,
    dir: Option<PathBuf>,
    own_process_group: bool,
    stdout: ReadOptions,
}

/// How a child's output is read.
#[derive(Default)]
struct ReadOptions {
    /// Hold back reading until this fires (or its sender is dropped).
    gate: Option<Receiver<()>>,
    /// Pause this long before each read (a slow reader).
    throttle: Option<Duration>,
    /// Close the pipe after reading this many bytes (like `| head -c N`).
    close_after: Option<usize>,
}

impl Spawn {
    /// `program` with `args`, stdin empty ([`Input::Null`]).
    pub fn new(program: impl AsRef<Path>, args: &[&str]) -> Self {
        Self {
            program: program.as_ref().to_owned(),
            args: args.iter().map(|s| s.to_string()).collect(),
            input: Input::Null,
            env: Vec::new(),
            dir: None,
            own_process_group: false,
            stdout: ReadOptions::default(),
        }
    }

    pub fn input(mut self, input: Input) -> Self {
        self.input = input;
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Runs the child in `dir` (relative paths in its arguments start there).
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.dir = Some(dir.as_ref().to_owned());
        self
    }

    /// Puts the child in a process group of its own, killed as a whole: for scripts, whose
    /// own children must not outlive them.
    pub fn own_process_group(mut self) -> Self {
        self.own_process_group = true;
        self
    }

    /// Holds back reading stdout until `gate` fires.
    pub fn stdout_gate(mut self, gate: Receiver<()>) -> Self {
        self.stdout.gate = Some(gate);
        self
    }

    /// Pauses this long before each read of stdout (a slow reader).
    pub fn stdout_throttle(mut self, pause: Duration) -> Self {
        self.stdout.throttle = Some(pause);
        self
    }

    /// Closes stdout after reading this many bytes (like `| head -c N`).
    pub fn stdout_close_after(mut self, num_bytes: usize) -> Self {
        self.stdout.close_after = Some(num_bytes);
        self
    }

    pub fn start(self) -> Proc {
        let name = self
            .program
            .file_name()
            .unwrap_or(self.program.as_os_str())
            .to_string_lossy()
            .into_owned();
        let cmd = std::iter::once(name)
            .chain(self.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Tests decide about logging: an inherited RUST_LOG would change the output they
            // check. A panic shows its backtrace in the failure frame.
            .env_remove("RUST_LOG")
            .env("RUST_BACKTRACE", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = &self.dir {
            command.current_dir(dir);
        }
        if self.own_process_group {
            command.process_group(0);
        }
        let mut bytes = None;
        match self.input {
            Input::Null => {
                command.stdin(Stdio::null());
            }
            Input::Bytes(b) => {
                command.stdin(Stdio::piped());
                bytes = Some(b);
            }
            Input::File(path) => {
                let file = fs::File::open(&path)
                    .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
                command.stdin(file);
            }
            Input::Piped => {
                command.stdin(Stdio::piped());
            }
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd}: {e}"));
        let mut stdin = child.stdin.take();
        if let Some(bytes) = bytes {
            let mut pipe = stdin.take().expect("piped stdin");
            // The child may exit without reading it all (e.g. on error).
            thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            });
        }
        let stdout = Output::start(child.stdout.take().expect("piped stdout"), self.stdout);
        let stderr = Output::start(
            child.stderr.take().expect("piped stderr"),
            ReadOptions::default(),
        );
        Proc {
            cmd,
            child,
            stdin,
            stdout,
            stderr,
            status: None,
            started: Instant::now(),
            peak_kib: None,
            own_process_group: self.own_process_group,
        }
    }
}

/// One output stream of a child, appended by a reader thread; waiters are woken on every
/// change.
#[derive(Default)]
struct Output {
    state: Mutex<OutputState>,
    changed: Condvar,
}

#[derive(Default)]
struct OutputState {
    bytes: Vec<u8>,
    /// The reader is done: the pipe reached EOF (or was closed on purpose).
    closed: bool,
}

impl Output {
    fn start(mut stream: impl Read + Send + 'static, options: ReadOptions) -> Arc<Self> {
        let output = Arc::new(Self::default());
        let shared = output.clone();
        thread::spawn(move || {
            if let Some(gate) = options.gate {
                // A dropped sender also opens the gate.
                let _ = gate.recv();
            }
            // A throttled reader takes small bites with pauses in between.
            let mut chunk = vec![0; if options.throttle.is_some() { 16 } else { 64 } * 1024];
            loop {
                if let Some(pause) = options.throttle {
                    thread::sleep(pause);
                }
                let n = stream.read(&mut chunk).unwrap_or(0);
                let mut state = shared.state.lock().unwrap();
                state.bytes.extend_from_slice(&chunk[..n]);
                // Dropping the stream closes the pipe: the child's next write fails with
                // EPIPE, as under `| head`.
                let limit_reached = options
                    .close_after
                    .is_some_and(|limit| state.bytes.len() >= limit);
                state.closed = n == 0 || limit_reached;
                shared.changed.notify_all();
                if state.closed {
                    return;
                }
            }
        });
        output
    }

    /// Waits until `done(bytes, closed)` holds or `timeout` passes; returns whether it held.
    fn wait(&self, timeout: Duration, mut done: impl FnMut(&[u8], bool) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().unwrap();
        loop {
            if done(&state.bytes, state.closed) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self.changed.wait_timeout(state, deadline - now).unwrap().0;
        }
    }

    fn contents(&self) -> Vec<u8> {
        self.state.lock().unwrap().bytes.clone()
    }

    fn is_closed(&self) -> bool {
        self.state.lock().unwrap().closed
    }
}

/// A running child process, killed when dropped.
pub struct Proc {
    cmd: String,
    child: std::process::Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Output>,
    stderr: Arc<Output>,
    status: Option<ExitStatus>,
    started: Instant,
    /// Highest VmHWM read so far, in KiB.
    peak_kib: Option<u64>,
    own_process_group: bool,
}

impl Proc {
    /// Starts `program` with `args` and stdin a pipe the test writes to ([`Input::Piped`]).
    pub fn spawn(program: impl AsRef<Path>, args: &[&str]) -> Self {
        Spawn::new(program, args).input(Input::Piped).start()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes `bytes` to the child's stdin (a broken pipe is ignored: the child may be done).
    pub fn write(&mut self, bytes: &[u8]) {
        if let Some(stdin) = &mut self.stdin {
            let _ = stdin.write_all(bytes).and_then(|()| stdin.flush());
        }
    }

    /// Takes stdin, e.g. for a writer thread; dropping it closes the pipe.
    pub fn take_stdin(&mut self) -> ChildStdin {
        self.stdin.take().expect("stdin piped and not taken yet")
    }

    /// Closes stdin: the child reads EOF.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    pub fn stdout(&self) -> Vec<u8> {
        self.stdout.contents()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents()).into_owned()
    }

    /// Waits until stdout satisfies `done`; panics with the frame after `timeout`.
    pub fn wait_stdout(&self, what: &str, timeout: Duration, mut done: impl FnMut(&[u8]) -> bool) {
        if !self.stdout.wait(timeout, |out, _| done(out)) {
            panic!(
                "{}",
                self.frame(&format!("no {what} on stdout within {timeout:?}"))
            );
        }
    }

    /// Waits until stdout contains `needle`.
    pub fn wait_stdout_contains(&self, needle: &str, timeout: Duration) {
        self.wait_stdout(&format!("{needle:?}"), timeout, |out| {
            super::data::contains(out, needle.as_bytes())
        });
    }

    /// Waits until stdout contains `needle` (true) or closes without it (false, e.g. the
    /// child exited); panics after `timeout`.
    pub fn stdout_shows(&self, needle: &str, timeout: Duration) -> bool {
        let mut shown = false;
        let settled = self.stdout.wait(timeout, |out, closed| {
            shown = super::data::contains(out, needle.as_bytes());
            shown || closed
        });
        if !settled {
            panic!(
                "{}",
                self.frame(&format!("no {needle:?} on stdout within {timeout:?}"))
            );
        }
        shown
    }

    /// Waits until stderr satisfies `done`; panics with the frame after `timeout`.
    pub fn wait_stderr(&self, what: &str, timeout: Duration, mut done: impl FnMut(&str) -> bool) {
        if !self
            .stderr
            .wait(timeout, |err, _| done(&String::from_utf8_lossy(err)))
        {
            panic!(
                "{}",
                self.frame(&format!("no {what} on stderr within {timeout:?}"))
            );
        }
    }

    /// Waits until stderr contains `needle`.
    pub fn wait_stderr_contains(&self, needle: &str, timeout: Duration) {
        self.wait_stderr(&format!("{needle:?}"), timeout, |err| err.contains(needle));
    }

    /// Waits until stderr contains `needle` (true) or closes without it (false, e.g. the
    /// child exited); panics after `timeout`.
    pub fn stderr_shows(&self, needle: &str, timeout: Duration) -> bool {
        let mut shown = false;
        let settled = self.stderr.wait(timeout, |err, closed| {
            shown = super::data::contains(err, needle.as_bytes());
            shown || closed
        });
        if !settled {
            panic!(
                "{}",
                self.frame(&format!("no {needle:?} on stderr within {timeout:?}"))
            );
        }
        shown
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self) -> bool {
        self.status.is_none() && matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the child to exit, at most `timeout`, and for its output to be read to the
    /// end; on timeout kills it and panics with the frame. Samples its peak memory meanwhile.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(status) = self.status {
            return status;
        }
        let deadline = Instant::now() + timeout;
        loop {
            self.sample_peak();
            if let Some(status) = self.child.try_wait().expect("try_wait on a child") {
                self.status = Some(status);
                // What it wrote last may still be in the pipes.
                let drained = self.stdout.wait(DRAIN, |_, closed| closed)
                    && self.stderr.wait(DRAIN, |_, closed| closed);
                assert!(
                    drained,
                    "{}",
                    self.frame("output pipes still open after exit")
                );
                return status;
            }
            let now = Instant::now();
            if now >= deadline {
                self.kill();
                panic!(
                    "{}",
                    self.frame(&format!("did not exit within {timeout:?}"))
                );
            }
            // An exiting child closes stderr: wake on that, else look again after a poll.
            let poll = EXIT_POLL.min(deadline - now);
            if self.stderr.is_closed() {
                thread::sleep(poll);
            } else {
                self.stderr.wait(poll, |_, closed| closed);
            }
        }
    }

    /// Waits for exit and asserts it succeeded.
    pub fn wait_success(&mut self, timeout: Duration) {
        let status = self.wait(timeout);
        assert!(status.success(), "{}", self.frame("failed"));
    }

    /// Waits for the child to exit (at most `timeout`) and for its output to end; returns
    /// all of it.
    pub fn finish(mut self, timeout: Duration) -> Finished {
        self.wait(timeout);
        self.finished()
    }

    /// Kills the child (a server runs until killed) and returns its output.
    pub fn stop(mut self) -> Finished {
        self.sample_peak();
        self.kill();
        self.stdout.wait(DRAIN, |_, closed| closed);
        self.stderr.wait(DRAIN, |_, closed| closed);
        self.finished()
    }

    fn finished(&self) -> Finished {
        Finished {
            cmd: self.cmd.clone(),
            status: self.status.expect("exited"),
            stdout: self.stdout(),
            stderr: self.stderr(),
            elapsed: self.started.elapsed(),
            peak_kib: self.peak_kib,
        }
    }

    /// Kills the child (and its process group, if it has its own) and reaps it.
    pub fn kill(&mut self) {
        if self.status.is_none() {
            if self.own_process_group {
                let group = -i32::try_from(self.pid()).expect("pid fits in pid_t");
                // SAFETY: kill(2) with a process group id and a signal number: no memory is
                // involved.
                unsafe { libc::kill(group, libc::SIGKILL) };
            }
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    /// Takes a VmHWM reading if one can be had (not after the child exited).
    fn sample_peak(&mut self) {
        if let Ok(kib) = proc_status_kib(self.pid(), "VmHWM") {
            self.peak_kib = self.peak_kib.max(Some(kib));
        }
    }

    /// Peak resident memory (VmHWM) of the running child, in KiB. Fails the test when it
    /// cannot be read.
    pub fn peak_rss_kib(&mut self) -> u64 {
        match proc_status_kib(self.pid(), "VmHWM") {
            Ok(kib) => *self.peak_kib.insert(self.peak_kib.unwrap_or(0).max(kib)),
            Err(reason) => panic!(
                "cannot read the peak RSS of {}: {reason}\n{}",
                self.cmd,
                self.frame("no peak RSS")
            ),
        }
    }

    /// Resident memory (VmRSS) of the running child now, in KiB. Fails the test when it
    /// cannot be read.
    pub fn rss_kib(&self) -> u64 {
        proc_status_kib(self.pid(), "VmRSS")
            .unwrap_or_else(|reason| panic!("cannot read the RSS of {}: {reason}", self.cmd))
    }

    /// Descriptors the running child holds open. Fails the test when they cannot be counted.
    pub fn open_fds(&self) -> usize {
        let dir = format!("/proc/{}/fd", self.pid());
        fs::read_dir(&dir)
            .map(|entries| entries.count())
            .unwrap_or_else(|e| panic!("cannot count the descriptors of {}: {dir}: {e}", self.cmd))
    }

    /// The command, its status, stdout (its ends when large or binary) and stderr.
    pub fn frame(&self, headline: &str) -> String {
        let status = match self.status {
            Some(status) => status.to_string(),
            None => "running".to_owned(),
        };
        frame(headline, &self.cmd, &status, &self.stdout(), &self.stderr())
    }

    /// Asserts the child never panicked (Rust programs print "panicked at" on stderr).
    pub fn assert_no_panic(&self) {
        assert!(
            !self.stderr().contains("panicked"),
            "{}",
            self.frame("panicked")
        );
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `kB` field of /proc/PID/status (`VmHWM`: peak resident memory, `VmRSS`: now), in KiB.
pub fn proc_status_kib(pid: u32, field: &str) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let status = fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let value = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .ok_or_else(|| format!("no {field} line in {path} (has the process exited?)"))?;
    value
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .map_err(|e| format!("{field} in {path}: {value:?}: {e}"))
}

/// A finished child and everything it wrote.
pub struct Finished {
    pub cmd: String,
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub elapsed: Duration,
    /// Peak resident memory (VmHWM) read while it ran, in KiB.
    pub peak_kib: Option<u64>,
}

impl Finished {
    pub fn frame(&self, headline: &str) -> String {
        frame(
            headline,
            &self.cmd,
            &self.status.to_string(),
            &self.stdout,
            &self.stderr,
        )
    }

    /// Peak resident memory (VmHWM) while it ran, in KiB. Fails the test when no reading
    /// could be taken.
    pub fn peak_rss_kib(&self) -> u64 {
        self.peak_kib.unwrap_or_else(|| {
            panic!(
                "{}",
                self.frame("cannot read the peak RSS: no /proc/PID/status reading while it ran")
            )
        })
    }

    /// Asserts exit 0 without a panic and returns stdout.
    pub fn success(&self) -> &[u8] {
        assert!(self.status.success(), "{}", self.frame("expected success"));
        assert!(
            !self.stderr.contains("panicked"),
            "{}",
            self.frame("panicked")
        );
        &self.stdout
    }

    /// Asserts a failure as the programs report one: exit code 1, one line on stderr, no
    /// panic, no backtrace. Returns that line.
    pub fn failure_line(&self) -> String {
        assert_eq!(
            self.status.code(),
            Some(1),
            "{}",
            self.frame("expected exit code 1")
        );
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("backtrace"),
            "{}",
            self.frame("panicked")
        );
        assert_eq!(
            self.stderr.lines().count(),
            1,
            "{}",
            self.frame("expected one line on stderr")
        );
        self.stderr.trim_end().to_owned()
    }

    /// Asserts stdout is exactly `expected` (the peer's data alone) and the client reported
    /// `Connection closed` on stderr.
    pub fn assert_received(&self, expected: &[u8]) {
        let stdout = self.success();
        assert!(stdout == expected, "{}", self.frame("unexpected stdout"));
        self.assert_connection_closed();
    }

    /// Asserts the client's last stderr line is upstream's `Connection closed`.
    pub fn assert_connection_closed(&self) {
        assert_eq!(
            self.stderr.lines().last(),
            Some(CONNECTION_CLOSED),
            "{}",
            self.frame(&format!("expected `{CONNECTION_CLOSED}` on stderr"))
        );
    }
}

/// A framed report of one process, printed when a test fails.
pub fn frame(headline: &str, cmd: &str, status: &str, stdout: &[u8], stderr: &str) -> String {
    const MAX: usize = 8 * 1024;
    let mut out = String::new();
    let _ = writeln!(out, "┌─── {headline}");
    let _ = writeln!(out, "├─── command\n│ {cmd}\n├─── exit: {status}");
    let _ = writeln!(out, "├─── stdout ({}B)", stdout.len());
    match std::str::from_utf8(stdout) {
        Ok(text) if stdout.len() <= MAX => {
            for line in text.lines() {
                let _ = writeln!(out, "│ {line}");
            }
        }
        // Bulk or binary data: its ends say enough.
        _ => {
            let head = &stdout[..stdout.len().min(64)];
            let tail = &stdout[stdout.len().saturating_sub(64)..];
            let _ = writeln!(out, "│ starts: {}", head.escape_ascii());
            let _ = writeln!(out, "│ ends:   {}", tail.escape_ascii());
        }
    }
    let _ = writeln!(out, "├─── stderr ({}B)", stderr.len());
    let skip = stderr.len().saturating_sub(4 * MAX);
    let start = (skip..=stderr.len())
        .find(|&i| stderr.is_char_boundary(i))
        .unwrap_or(stderr.len());
    if skip > 0 {
        let _ = writeln!(out, "│ … ({skip}B before)");
    }
    for line in stderr[start..].lines() {
        let _ = writeln!(out, "│ {line}");
    }
    out.push_str("└───");
    out
}

/// A running `llserver` and the port it listens on.
pub struct LlServer {
    pub proc: Proc,
    pub port: u16,
}

impl LlServer {
    /// Starts `llserver --port 0 ARGS…` and reads its `listening on ADDR` line.
    pub fn start(args: &[&str]) -> Self {
        Self::start_with(Spawn::new(LLSERVER, args))
    }

    /// [`LlServer::start`] with more options for the child.
    pub fn start_with(mut spawn: Spawn) -> Self {
        spawn.args.splice(0..0, ["--port".into(), "0".into()]);
        Self::listening(spawn.start())
    }

    /// Reads the `listening on ADDR` line of an llserver started some other way (e.g. by a
    /// shell that set limits first).
    pub fn listening(proc: Proc) -> Self {
        let has_line = proc
            .stdout
            .wait(STARTUP, |out, closed| out.contains(&b'\n') || closed);
        let stdout = String::from_utf8_lossy(&proc.stdout()).into_owned();
        let port = stdout
            .lines()
            .next()
            .filter(|_| has_line)
            .and_then(|line| line.strip_prefix("listening on "))
            .and_then(|addr| addr.rsplit(':').next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "{}",
                    proc.frame(&format!("no `listening on ADDR` line within {STARTUP:?}"))
                )
            });
        Self { proc, port }
    }

    /// Where clients connect: 127.0.0.1 and the port.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Asserts the server is still running (it must survive bad clients) and never panicked.
    pub fn assert_healthy(&mut self) {
        assert!(
            self.proc.is_running(),
            "{}",
            self.proc.frame("llserver exited")
        );
        self.proc.assert_no_panic();
    }
}

/// Runs `llclient --port PORT ARGS…` to completion (bounded by [`TIMEOUT`]).
pub fn llclient(port: u16, args: &[&str], input: Input) -> Finished {
    llclient_with(port, Spawn::new(LLCLIENT, args).input(input))
}

/// [`llclient`] with more options for the child.
pub fn llclient_with(port: u16, mut spawn: Spawn) -> Finished {
    spawn
        .args
        .splice(0..0, ["--port".to_string(), port.to_string()]);
    spawn.start().finish(TIMEOUT)
}

/// The `openssl` command line on PATH. Panics with what to do when it is missing.
pub fn openssl() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("openssl"))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "the `openssl` command line is not on PATH: these interop tests run it \
             (install it, e.g. `apt-get install openssl`; .ci/run does so when it is missing)"
        )
    })
}

/// `openssl s_server ARGS… -accept 127.0.0.1:PORT` on a free port, once it printed `ACCEPT`;
/// stdin is a pipe (s_server sends what it reads there). Retries when another process took
/// the port between the probe and s_server's bind.
pub fn openssl_s_server(args: &[&str]) -> (Proc, u16) {
    for _ in 0..3 {
        let port = free_port();
        let accept = format!("127.0.0.1:{port}");
        let mut all = vec!["s_server"];
        all.extend_from_slice(args);
        all.extend(["-accept", &accept]);
        let server = Proc::spawn(openssl(), &all);
        if server.stdout_shows("ACCEPT\n", STARTUP) {
            return (server, port);
        }
    }
    panic!("s_server did not start listening in three attempts");
}

/// [`openssl_s_server`] for one connection with a test PKI's server certificate: `dir` (e.g.
/// `certs` or `certs/rsa`, in the repository) holds `server.pem`, `inter.pem` and `server.key`.
pub fn openssl_s_server_for_one(dir: &str, args: &[&str]) -> (Proc, u16) {
    let [cert, chain, key] =
        ["server.pem", "inter.pem", "server.key"].map(|file| super::repo(&format!("{dir}/{file}")));
    let mut all = vec![
        "-cert",
        &cert,
        "-cert_chain",
        &chain,
        "-key",
        &key,
        "-naccept",
        "1",
    ];
    all.extend_from_slice(args);
    openssl_s_server(&all)
}

/// `openssl s_client ARGS…` to 127.0.0.1:`port` for `localhost`, verifying the server against
/// the CA file `ca` and failing if it does not verify. Its stdin is a pipe; add `-nocommands`
/// when it carries data only (s_client otherwise takes a read starting with `Q`, `R`, `K` or
/// `k` as a command).
pub fn openssl_s_client(port: u16, ca: &str, args: &[&str]) -> Proc {
    let connect = format!("127.0.0.1:{port}");
    let mut all = vec![
        "s_client",
        "-connect",
        &connect,
        "-servername",
        "localhost",
        "-CAfile",
        ca,
        "-verify_return_error",
    ];
    all.extend_from_slice(args);
    Proc::spawn(openssl(), &all)
}

/// A port that was free a moment ago (bind 127.0.0.1:0, read it, close it). Another process
/// may take it in between: callers that cannot pass port 0 retry on failure.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

//! Child processes for the interop and robustness tests: `llserver`, `llclient` and the
//! `openssl` command line, with stdin written as the test goes and stdout/stderr watched.
//!
//! Every wait is bounded and waits on the event itself (output appearing, a pipe closing),
//! never on a sleep. Children are killed when their guard drops. Failures print the command,
//! its status, stdout and stderr in a frame.
#![allow(dead_code)] // each test binary uses a different part

use std::env;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub const LLSERVER: &str = env!("CARGO_BIN_EXE_llserver");
pub const LLCLIENT: &str = env!("CARGO_BIN_EXE_llclient");

/// Upper bound for a program to start listening.
pub const STARTUP: Duration = Duration::from_secs(20);
/// Upper bound for one exchange or one process to finish.
pub const EXCHANGE: Duration = Duration::from_secs(60);

/// A path inside the repository, as a string for command lines.
pub fn repo(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

/// A fresh scratch path (per process, per name).
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("interop");
    std::fs::create_dir_all(&dir).expect("create scratch directory");
    dir.join(format!("{}-{name}", std::process::id()))
}

/// The `openssl` command line on PATH. Panics with what to do when it is missing.
pub fn openssl() -> PathBuf {
    let found = env::var_os("PATH").and_then(|path| {
        env::split_paths(&path)
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

/// Output of a child, appended by a reader thread; waiters are woken on every change.
#[derive(Default)]
struct Watched {
    state: Mutex<(Vec<u8>, bool)>,
    changed: Condvar,
}

impl Watched {
    fn start(mut stream: impl Read + Send + 'static) -> Arc<Self> {
        let watched = Arc::new(Self::default());
        let shared = watched.clone();
        thread::spawn(move || {
            let mut chunk = vec![0; 64 * 1024];
            loop {
                let n = stream.read(&mut chunk).unwrap_or(0);
                let mut state = shared.state.lock().unwrap();
                if n == 0 {
                    state.1 = true;
                } else {
                    state.0.extend_from_slice(&chunk[..n]);
                }
                shared.changed.notify_all();
                if n == 0 {
                    return;
                }
            }
        });
        watched
    }

    /// Waits until `done(output, eof)` holds or `timeout` passes; returns whether it held.
    fn wait(&self, timeout: Duration, mut done: impl FnMut(&[u8], bool) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().unwrap();
        loop {
            if done(&state.0, state.1) {
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
        self.state.lock().unwrap().0.clone()
    }
}

/// A running child process, killed on drop.
pub struct Child {
    command: String,
    child: std::process::Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Watched>,
    stderr: Arc<Watched>,
    status: Option<ExitStatus>,
}

impl Child {
    /// Starts `program` with `args`, every stream piped.
    pub fn spawn(program: impl AsRef<Path>, args: &[&str]) -> Self {
        Self::spawn_with_env(program, args, &[])
    }

    pub fn spawn_with_env(program: impl AsRef<Path>, args: &[&str], envs: &[(&str, &str)]) -> Self {
        let program = program.as_ref();
        let command = std::iter::once(program.to_string_lossy().into_owned())
            .chain(args.iter().map(|arg| arg.to_string()))
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = Command::new(program)
            .args(args)
            // Children log nothing unless a test asks (their stderr is checked for panics).
            .env_remove("RUST_LOG")
            .env("RUST_BACKTRACE", "1")
            .envs(envs.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command}: {e}"));
        let stdout = Watched::start(child.stdout.take().expect("piped stdout"));
        let stderr = Watched::start(child.stderr.take().expect("piped stderr"));
        Self {
            command,
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
            status: None,
        }
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
        self.stdin.take().expect("stdin not taken yet")
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
    pub fn wait_stdout(&self, what: &str, timeout: Duration, done: impl FnMut(&[u8]) -> bool) {
        let mut done = done;
        if !self.stdout.wait(timeout, |out, _| done(out)) {
            panic!(
                "{}",
                self.frame(&format!("timed out waiting for {what} on stdout"))
            );
        }
    }

    /// Waits until stdout contains `needle`.
    pub fn wait_stdout_contains(&self, needle: &str, timeout: Duration) {
        self.wait_stdout(&format!("{needle:?}"), timeout, |out| {
            contains(out, needle.as_bytes())
        });
    }

    /// Waits until stdout contains `needle` (true) or closes without it (false, e.g. the
    /// child exited); panics after `timeout`.
    pub fn stdout_shows(&self, needle: &str, timeout: Duration) -> bool {
        let mut shown = false;
        let settled = self.stdout.wait(timeout, |out, eof| {
            shown = contains(out, needle.as_bytes());
            shown || eof
        });
        if !settled {
            panic!(
                "{}",
                self.frame(&format!("timed out waiting for {needle:?} on stdout"))
            );
        }
        shown
    }

    /// Waits until stderr contains `needle`.
    pub fn wait_stderr_contains(&self, needle: &str, timeout: Duration) {
        if !self
            .stderr
            .wait(timeout, |err, _| contains(err, needle.as_bytes()))
        {
            panic!(
                "{}",
                self.frame(&format!("timed out waiting for {needle:?} on stderr"))
            );
        }
    }

    /// Waits for the child to exit (both output pipes closed, then the status).
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(status) = self.status {
            return status;
        }
        let deadline = Instant::now() + timeout;
        let closed = self.stdout.wait(timeout, |_, eof| eof)
            && self.stderr.wait(
                deadline.saturating_duration_since(Instant::now()),
                |_, eof| eof,
            );
        if closed {
            // Both pipes closed: the child has exited or is about to; `wait` returns promptly.
            let status = self.child.wait().expect("wait for child");
            self.status = Some(status);
            return status;
        }
        panic!("{}", self.frame("did not exit in time"));
    }

    /// Waits for exit and asserts it succeeded.
    pub fn wait_success(&mut self, timeout: Duration) {
        let status = self.wait(timeout);
        assert!(status.success(), "{}", self.frame("failed"));
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self) -> bool {
        self.status.is_none() && matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the child and waits for it.
    pub fn kill(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    /// The command, its status, stdout (or its size when large) and stderr.
    pub fn frame(&self, headline: &str) -> String {
        let stdout = self.stdout();
        let shown = if stdout.len() > 4096 {
            format!(
                "({}B, last 2 KiB)\n{}",
                stdout.len(),
                String::from_utf8_lossy(&stdout[stdout.len() - 2048..])
            )
        } else {
            String::from_utf8_lossy(&stdout).into_owned()
        };
        format!(
            "\n===== {headline}\ncommand: {}\nstatus: {:?}\n----- stdout\n{shown}\n----- stderr\n{}\n=====",
            self.command,
            self.status,
            self.stderr()
        )
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

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

pub fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .rposition(|window| window == needle)
}

/// `llserver` listening on a port it chose (`--port 0`).
pub struct LlServer {
    pub child: Child,
    pub port: u16,
}

impl LlServer {
    /// Starts `llserver --port 0 ARGS…` and reads its `listening on ADDR` line.
    pub fn start(args: &[&str]) -> Self {
        let mut all = vec!["--port", "0"];
        all.extend_from_slice(args);
        let child = Child::spawn(LLSERVER, &all);
        child.wait_stdout("the listening line", STARTUP, |out| out.ends_with(b"\n"));
        let line = String::from_utf8_lossy(&child.stdout()).into_owned();
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|addr| addr.rsplit(':').next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("{}", child.frame("no `listening on ADDR` line")));
        Self { child, port }
    }

    /// Asserts the server is still running and never panicked.
    pub fn assert_healthy(&mut self) {
        assert!(
            self.child.is_running(),
            "{}",
            self.child.frame("llserver exited")
        );
        self.child.assert_no_panic();
    }
}

/// A port that was free a moment ago (bind 127.0.0.1:0, read it, close it). Another process
/// may take it in between: callers that cannot pass port 0 retry on failure.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

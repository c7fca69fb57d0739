//! `--trace` and `--sequence-diagram` in both programs: a tracer on the
//! connection's socket, its records printed on stderr as they are traced
//! (stdout carries application data only), and the diagram written when the
//! connection ends.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::{ClientConfig, ServerConfig};

use super::net::TlsConn;
use crate::conn::Side;
use crate::trace::{Role, TraceKeyLog, TraceReport, Tracer};

/// What `--trace` and `--sequence-diagram` ask for, shared by every
/// connection of a program.
#[derive(Debug, Clone)]
pub struct TraceSettings {
    /// The configs' key log: each connection's tracer finds its secrets there.
    keys: Arc<TraceKeyLog>,
    /// `--trace`: one line per record on stderr.
    lines: bool,
    /// `--sequence-diagram FILE`.
    diagram: Option<PathBuf>,
}

impl TraceSettings {
    /// Settings for the options given, or `None` when neither asks for a
    /// trace. Installs the tracer's key log in the config (a copy of it).
    ///
    /// Fails at once when the diagram file cannot be written (it is
    /// created, empty), rather than when the connection ends.
    pub fn client(
        lines: bool,
        diagram: Option<&Path>,
        config: &mut Arc<ClientConfig>,
    ) -> Result<Option<Self>, DiagramError> {
        if !lines && diagram.is_none() {
            return Ok(None);
        }
        check_writable(diagram)?;
        let mut traced = (**config).clone();
        let keys = TraceKeyLog::install_client(&mut traced);
        *config = Arc::new(traced);
        Ok(Some(Self::new(keys, lines, diagram)))
    }

    /// As [`client`](Self::client), for a server config.
    pub fn server(
        lines: bool,
        diagram: Option<&Path>,
        config: &mut Arc<ServerConfig>,
    ) -> Result<Option<Self>, DiagramError> {
        if !lines && diagram.is_none() {
            return Ok(None);
        }
        check_writable(diagram)?;
        let mut traced = (**config).clone();
        let keys = TraceKeyLog::install_server(&mut traced);
        *config = Arc::new(traced);
        Ok(Some(Self::new(keys, lines, diagram)))
    }

    fn new(keys: Arc<TraceKeyLog>, lines: bool, diagram: Option<&Path>) -> Self {
        Self {
            keys,
            lines,
            diagram: diagram.map(Path::to_path_buf),
        }
    }

    /// Puts a tracer on `tls` (at the `role` end) and returns what reports
    /// its records.
    pub fn attach<C: Side>(&self, tls: &mut TlsConn<C>, role: Role) -> TraceOutput {
        tls.set_tracer(Tracer::with_keys(self.keys.clone()), role);
        let diagram = self.diagram.is_some().then_some(role);
        TraceOutput {
            report: TraceReport::new(self.lines, diagram),
            diagram: self.diagram.clone(),
        }
    }
}

/// Opens (creating it if needed) the diagram file, to find out now that it
/// cannot be written.
fn check_writable(diagram: Option<&Path>) -> Result<(), DiagramError> {
    let Some(path) = diagram else {
        return Ok(());
    };
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map(drop)
        .map_err(|error| DiagramError {
            path: path.to_path_buf(),
            error,
        })
}

/// The records one connection's tracer saw, on their way to stderr and to
/// the diagram.
#[derive(Debug)]
pub struct TraceOutput {
    report: TraceReport,
    diagram: Option<PathBuf>,
}

impl TraceOutput {
    /// Prints the records traced so far on stderr and adds them to the
    /// diagram. Call it after each round of the event loop.
    pub fn take<C: Side>(&mut self, tls: &mut TlsConn<C>) {
        if let Some(tracer) = tls.tracer() {
            // A stderr that cannot be written to has no one to tell.
            let _ = self.report.take(tracer, &mut io::stderr().lock());
        }
    }

    /// The connection ended: reports what is left and writes the diagram
    /// (replacing the file: a server writes each connection's in turn).
    pub fn finish<C: Side>(&mut self, tls: &mut TlsConn<C>) -> Result<(), DiagramError> {
        if let Some(tracer) = tls.tracer() {
            tracer.finish();
        }
        self.take(tls);
        if let (Some(path), Some(diagram)) = (&self.diagram, self.report.diagram()) {
            std::fs::write(path, diagram).map_err(|error| DiagramError {
                path: path.clone(),
                error,
            })?;
        }
        Ok(())
    }
}

/// The sequence diagram could not be written.
#[derive(Debug)]
pub struct DiagramError {
    /// The `--sequence-diagram` file.
    pub path: PathBuf,
    /// Why.
    pub error: io::Error,
}

impl std::fmt::Display for DiagramError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot write {}: {}", self.path.display(), self.error)
    }
}

impl std::error::Error for DiagramError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

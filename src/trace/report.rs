//! What a program does with a trace: record lines, a diagram, or both.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use super::diagram::SequenceDiagram;
use super::record::Event;
use super::{Role, Tracer};

/// What a program does with one connection's trace: one line per record
/// (`--trace`), a sequence diagram (`--sequence-diagram`), or both.
///
/// The program decides where lines go (`llclient` and `llserver` use
/// stderr, keeping stdout for application data).
#[derive(Debug)]
pub struct TraceReport {
    lines: bool,
    diagram: Option<SequenceDiagram>,
}

impl TraceReport {
    /// A report that prints record lines if `lines`, and draws a diagram
    /// from `diagram`'s end if given.
    #[must_use]
    pub fn new(lines: bool, diagram: Option<Role>) -> Self {
        Self {
            lines,
            diagram: diagram.map(SequenceDiagram::new),
        }
    }

    /// Takes every event `tracer` has ready: writes each record's line to
    /// `out` and adds the events to the diagram.
    pub fn take(
        &mut self,
        tracer: &mut Tracer,
        out: &mut impl std::io::Write,
    ) -> std::io::Result<()> {
        while let Some(event) = tracer.poll_event() {
            if let (true, Event::Record(record)) = (self.lines, &event) {
                writeln!(out, "{record}")?;
            }
            if let Some(diagram) = &mut self.diagram {
                diagram.push(&event);
            }
        }
        Ok(())
    }

    /// The diagram as mermaid source, if one is drawn.
    #[must_use]
    pub fn diagram(&mut self) -> Option<String> {
        self.diagram.as_mut().map(SequenceDiagram::render)
    }
}

//! env_logger output (`--verbose`) parsed into events that compare across runs, and a diff of
//! two event sequences for failure messages.

use std::fmt::Write as _;

/// One log record: level, target and message, normalised for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    pub level: String,
    pub target: String,
    pub message: String,
}

impl std::fmt::Display for LogEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.level, self.target, self.message)
    }
}

/// Parses env_logger's default format (`[TIMESTAMP LEVEL TARGET] message`),
/// folding the continuation lines of multi-line Debug dumps into their
/// record, and keeps the records whose target starts with `target_prefix`.
/// Messages are normalised: whitespace runs become one space, hex runs of 8
/// or more digits become `<hex>`, and per-connection random numbers
/// (`order_seed`, `age_add`) become `<n>`.
pub fn log_events(log: &str, target_prefix: &str) -> Vec<LogEvent> {
    let mut records: Vec<(String, String, String)> = Vec::new();
    for line in log.lines() {
        let header = line
            .strip_prefix('[')
            .and_then(|rest| rest.split_once("] "))
            .and_then(|(head, message)| {
                let mut parts = head.split_whitespace();
                let (_timestamp, level, target) = (parts.next()?, parts.next()?, parts.next()?);
                Some((level.to_string(), target.to_string(), message.to_string()))
            });
        match (header, records.last_mut()) {
            (Some(record), _) => records.push(record),
            (None, Some(last)) => {
                last.2.push(' ');
                last.2.push_str(line);
            }
            (None, None) => {}
        }
    }
    records
        .into_iter()
        .filter(|(_, target, _)| target.starts_with(target_prefix))
        .map(|(level, target, message)| LogEvent {
            level,
            target,
            message: normalise(&message),
        })
        .collect()
}

fn normalise(message: &str) -> String {
    let mut text = message.split_whitespace().collect::<Vec<_>>().join(" ");
    for field in ["order_seed: ", "age_add: "] {
        text = replace_number_after(&text, field);
    }
    let chars: Vec<char> = text.chars().collect();
    let mut result = String::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let run = chars[i..]
            .iter()
            .take_while(|c| c.is_ascii_hexdigit())
            .count();
        if run >= 8 {
            result.push_str("<hex>");
        } else if run > 0 {
            result.extend(&chars[i..i + run]);
        } else {
            result.push(chars[i]);
        }
        i += run.max(1);
    }
    result
}

/// Replaces the decimal number after each `field` with `<n>`.
fn replace_number_after(text: &str, field: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(field) {
        out.push_str(&rest[..at + field.len()]);
        rest = &rest[at + field.len()..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        out.push_str("<n>");
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

/// A line-by-line comparison of two event sequences, for failure messages.
pub fn event_diff(expected: &[LogEvent], actual: &[LogEvent]) -> String {
    let mut out = String::new();
    for i in 0..expected.len().max(actual.len()) {
        let e = expected.get(i).map(ToString::to_string).unwrap_or_default();
        let a = actual.get(i).map(ToString::to_string).unwrap_or_default();
        let mark = if e == a { ' ' } else { '!' };
        let _ = writeln!(
            out,
            "{mark} {i:3} expected: {}\n        actual:   {}",
            clip(&e),
            clip(&a)
        );
    }
    out
}

fn clip(s: &str) -> &str {
    let end = (0..=s.len().min(160))
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0);
    &s[..end]
}

//! The one results table: rows as TSV (so `scripts/bench.sh` can merge the
//! rows of several programs) and the table printed from them.

use std::fmt::Write as _;

/// Which way is better for a figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
    /// Context only (e.g. the AEAD speed of one core).
    Neither,
}

impl Better {
    fn as_str(self) -> &'static str {
        match self {
            Better::Higher => "higher",
            Better::Lower => "lower",
            Better::Neither => "",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "higher" => Better::Higher,
            "lower" => Better::Lower,
            _ => Better::Neither,
        }
    }
}

/// One figure per stack. The columns:
///
/// - `lltls`: lltls as it ships, with its in-place record layer after the
///   handshake (header `in-place`);
/// - `rustls_mode`: lltls with `RecordLayer::Rustls`, rustls's record layer
///   throughout (header `rustls-mode`);
/// - `buffered`: rustls's buffered `ClientConnection`/`ServerConnection`;
/// - `openssl`: a figure from outside the three (openssl's tools);
/// - `rustls024`: the peer on rustls's newest API, 0.24's `Connection`
///   (header `rustls-0.24`).
#[derive(Clone, Debug)]
pub struct Row {
    pub section: String,
    pub case: String,
    pub lltls: Option<f64>,
    pub rustls_mode: Option<f64>,
    pub buffered: Option<f64>,
    pub openssl: Option<f64>,
    pub rustls024: Option<f64>,
    pub unit: String,
    pub better: Better,
}

impl Row {
    pub fn new(section: &str, case: impl Into<String>, unit: &str, better: Better) -> Self {
        Self {
            section: section.to_owned(),
            case: case.into(),
            lltls: None,
            rustls_mode: None,
            buffered: None,
            openssl: None,
            rustls024: None,
            unit: unit.to_owned(),
            better,
        }
    }

    pub fn values(mut self, lltls: f64, buffered: f64) -> Self {
        self.lltls = Some(lltls);
        self.buffered = Some(buffered);
        self
    }

    /// A figure for the in-place column alone.
    pub fn with_lltls(mut self, value: f64) -> Self {
        self.lltls = Some(value);
        self
    }

    /// lltls (in-place) against the rustls 0.24 peer.
    pub fn versus_024(mut self, lltls: f64, rustls024: f64) -> Self {
        self.lltls = Some(lltls);
        self.rustls024 = Some(rustls024);
        self
    }

    /// The three stacks' figures: in-place, rustls mode, buffered.
    pub fn stacks(mut self, in_place: f64, rustls_mode: f64, buffered: f64) -> Self {
        self.lltls = Some(in_place);
        self.rustls_mode = Some(rustls_mode);
        self.buffered = Some(buffered);
        self
    }

    /// One TSV line: section, case, lltls, buffered, openssl, unit, better,
    /// rustls mode, rustls 0.24 (`-` for a missing figure). The later
    /// figures come last so that shorter lines (older ones, or
    /// `scripts/bench.sh` rows without them) read the same.
    pub fn to_tsv(&self) -> String {
        let num = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v}"));
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            self.section,
            self.case,
            num(self.lltls),
            num(self.buffered),
            num(self.openssl),
            self.unit,
            self.better.as_str(),
            num(self.rustls_mode),
            num(self.rustls024)
        )
    }

    pub fn from_tsv(line: &str) -> Option<Self> {
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() < 6 {
            return None;
        }
        let num = |s: &str| s.trim().parse::<f64>().ok();
        Some(Self {
            section: fields[0].to_owned(),
            case: fields[1].to_owned(),
            lltls: num(fields[2]),
            rustls_mode: fields.get(7).copied().and_then(num),
            buffered: num(fields[3]),
            openssl: num(fields[4]),
            rustls024: fields.get(8).copied().and_then(num),
            unit: fields[5].to_owned(),
            better: Better::parse(fields.get(6).copied().unwrap_or("")),
        })
    }
}

/// Three significant-ish digits: enough for noisy figures.
fn figure(v: Option<f64>) -> String {
    match v {
        None => "-".to_owned(),
        Some(v) if !v.is_finite() => "-".to_owned(),
        Some(v) if v.abs() >= 100.0 || v == v.trunc() => format!("{v:.0}"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

/// `a ÷ b`.
fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 && a.is_finite() && b.is_finite() => {
            format!("{:.2}x", a / b)
        }
        _ => "-".to_owned(),
    }
}

/// What the columns mean, for under the table.
pub const LEGEND: &str = "in-place = lltls with its in-place record layer (the default); \
rustls-mode = lltls with RecordLayer::Rustls; buffered = rustls ClientConnection/ServerConnection;
rustls-0.24 = rustls 0.24.0-dev.2's Connection (read_tls/write into caller buffers), aws-lc-rs provider;
'split' rows: lltls's SendHalf/ReceiveHalf against 0.24's SplitConnection { send, receive }, both halves
in one thread (CPU time); % of unsplit = the split figure / the same stack unsplit, measured alternately;
ip/buf = in-place / buffered, ip/rm = in-place / rustls-mode, ip/r24 = in-place / rustls-0.24;
'better' says which way is good
";

/// The table, one section after another in the order rows came.
pub fn table(rows: &[Row]) -> String {
    let header = [
        "section",
        "case",
        "in-place",
        "rustls-mode",
        "buffered",
        "ip/buf",
        "ip/rm",
        "rustls-0.24",
        "ip/r24",
        "openssl",
        "unit",
        "better",
    ];
    let cells: Vec<[String; 12]> = rows
        .iter()
        .map(|row| {
            [
                row.section.clone(),
                row.case.clone(),
                figure(row.lltls),
                figure(row.rustls_mode),
                figure(row.buffered),
                ratio(row.lltls, row.buffered),
                ratio(row.lltls, row.rustls_mode),
                figure(row.rustls024),
                ratio(row.lltls, row.rustls024),
                figure(row.openssl),
                row.unit.clone(),
                row.better.as_str().to_owned(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: &[String], out: &mut String| {
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            // Text left, figures right.
            let numeric = (2..=9).contains(&i);
            let pad = width - cell.chars().count();
            let sep = if i == 0 { "" } else { "  " };
            if numeric {
                let _ = write!(out, "{sep}{}{cell}", " ".repeat(pad));
            } else if i + 1 == cells.len() {
                let _ = write!(out, "{sep}{cell}");
            } else {
                let _ = write!(out, "{sep}{cell}{}", " ".repeat(pad));
            }
        }
        out.push('\n');
    };
    line(&header.map(str::to_owned), &mut out);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(&rule, &mut out);
    let mut last_section = None;
    for (row, cells) in rows.iter().zip(&cells) {
        if last_section.is_some() && last_section != Some(&row.section) {
            out.push('\n');
        }
        last_section = Some(&row.section);
        line(cells, &mut out);
    }
    out
}

//! In-memory benchmarks of three TLS stacks on the same work: lltls with its
//! in-place record layer (as it ships), lltls with rustls's record layer
//! (`RecordLayer::Rustls`) and rustls's buffered API. Bulk transfer against
//! the bare AEAD's limit, handshakes, allocations, memory per idle
//! connection. Then lltls against a fourth stack, rustls 0.24's own
//! caller-managed-buffer API (see `peer`), on the same measures, and
//! lltls's split halves against 0.24's split connection.
//!
//! All stacks run in one thread over the same in-memory wire (see
//! `harness`), so the figures measure the TLS layers and their copies, not
//! the kernel.
//!
//! Usage: `cargo bench --profile dev --bench inmem -- [--quick] [--tsv]`
//! prints the table (or its rows as TSV); `--table FILE…` prints the table
//! of TSV rows collected by `scripts/bench.sh`.

mod alloc;
mod buffered;
mod configs;
mod copy;
mod harness;
mod limit;
mod ll;
mod peer;
mod report;

use std::process::ExitCode;

use alloc::{Snapshot, Tally};
use buffered::Buffered;
use configs::{Configs, Suite};
use harness::{connect, transfer, Api, Endpoint, Meter, Sink, Stopwatch, Wires};
use limit::LimitTrial;
use ll::{Ll, LlPooled, LlRoom, LlRustls, LlSplit};
use peer::{Peer, PeerSplit};
use report::{Better, Row};

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// How much work each measurement does.
struct Settings {
    /// Plaintext per timed bulk run.
    bulk_bytes: usize,
    /// Timed runs per figure (the median is reported), after one warm-up
    /// run that also checks the data.
    runs: usize,
    /// Handshakes per timed handshake run.
    handshakes: usize,
    /// Idle connections held for the memory figure.
    idle_connections: usize,
    /// Only bulk and handshake cases whose name contains this (`--case`).
    case: Option<String>,
}

impl Settings {
    fn wants(&self, case: &str) -> bool {
        self.case
            .as_ref()
            .map_or(true, |filter| case.contains(filter.as_str()))
    }
}

const FULL: Settings = Settings {
    bulk_bytes: 64 << 20,
    runs: 11,
    handshakes: 100,
    idle_connections: 1000,
    case: None,
};

const QUICK: Settings = Settings {
    bulk_bytes: 8 << 20,
    runs: 3,
    handshakes: 20,
    idle_connections: 100,
    case: None,
};

/// One part of the benchmark: its rows, under the given settings.
type Section = fn(&Settings) -> Vec<Row>;

/// The plaintext record size both APIs fragment into.
const RECORD: usize = 16_384;

fn main() -> ExitCode {
    let mut quick = false;
    let mut tsv = false;
    let mut only: Vec<String> = Vec::new();
    let mut bulk_mib = None;
    let mut case = None;
    let mut tables = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--tsv" => tsv = true,
            "--only" => only.extend(args.next()),
            "--case" => case = args.next(),
            "--bulk-mib" => match args.next().and_then(|v| v.parse::<usize>().ok()) {
                Some(mib) => bulk_mib = Some(mib),
                None => {
                    eprintln!("inmem: --bulk-mib needs a number");
                    return ExitCode::from(2);
                }
            },
            // `cargo bench` appends `--bench` after our own arguments.
            "--table" => tables.extend(args.by_ref().filter(|a| a != "--bench")),
            // `cargo bench` passes `--bench` to every bench binary.
            "--bench" => {}
            "-h" | "--help" => {
                println!(
                    "usage: inmem [--quick] [--tsv] [--only copy|bulk|handshake|memory|rustls024]... \
                     [--bulk-mib N] [--case TEXT] | inmem --table FILE..."
                );
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("inmem: unknown argument {other}");
                return ExitCode::from(2);
            }
        }
    }
    if !tables.is_empty() {
        return print_tables(&tables);
    }
    let mut settings = if quick { QUICK } else { FULL };
    if let Some(mib) = bulk_mib {
        settings.bulk_bytes = mib << 20;
    }
    settings.case = case;
    let settings = &settings;
    let mut rows = Vec::new();
    let emit = |rows: &mut Vec<Row>, row: Row| {
        if tsv {
            println!("{}", row.to_tsv());
        }
        rows.push(row);
    };
    // aws-lc seeds its generator on first use (tens of milliseconds of
    // CPU): do it here, not inside whichever API happens to run first.
    let mut seed = [0u8; 32];
    rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(&mut seed)
        .expect("random");
    let wanted = |section: &str| only.is_empty() || only.iter().any(|o| o == section);
    let sections: [(&str, Section); 5] = [
        ("copy", copy::copy_rows),
        ("bulk", bulk_rows),
        ("handshake", handshake_rows),
        ("memory", memory_rows),
        ("rustls024", rustls024_rows),
    ];
    for (name, section) in sections {
        if wanted(name) {
            for row in section(settings) {
                emit(&mut rows, row);
            }
        }
    }
    if !tsv {
        print!("{}", report::table(&rows));
        print!("\n{}", report::LEGEND);
    }
    ExitCode::SUCCESS
}

fn print_tables(files: &[String]) -> ExitCode {
    let mut rows = Vec::new();
    for file in files {
        match std::fs::read_to_string(file) {
            Ok(text) => rows.extend(text.lines().filter_map(Row::from_tsv)),
            Err(e) => {
                eprintln!("inmem: cannot read {file}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    print!("{}", report::table(&rows));
    ExitCode::SUCCESS
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Pseudo-random plaintext (xorshift64*), so nothing compresses or repeats
/// within a record.
fn block(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    ClientToServer,
    ServerToClient,
}

impl Direction {
    fn label(self) -> &'static str {
        match self {
            Direction::ClientToServer => "c->s",
            Direction::ServerToClient => "s->c",
        }
    }
}

/// A connected pair through API `A`, and its wires.
struct Instance<A: Api> {
    client: A::Client,
    server: A::Server,
    wires: Wires,
}

impl<A: Api> Instance<A> {
    fn connect(suite: Suite) -> Self {
        let mut client = A::client(&A::Configs::client(suite, false, A::SECRET_EXTRACTION));
        let mut server = A::server(&A::Configs::server(A::SECRET_EXTRACTION));
        let mut wires = Wires::new();
        connect(
            &mut client,
            &mut server,
            &mut wires,
            &mut Sink::counting(),
            &mut Meter::default(),
            &mut Meter::default(),
        );
        Self {
            client,
            server,
            wires,
        }
    }

    fn transfer(
        &mut self,
        direction: Direction,
        data: &[u8],
        writes: usize,
        sink: &mut Sink,
        meters: (&mut Meter, &mut Meter),
    ) {
        match direction {
            Direction::ClientToServer => transfer(
                &mut self.client,
                &mut self.server,
                &mut self.wires.client_to_server,
                data,
                writes,
                sink,
                meters,
            ),
            Direction::ServerToClient => transfer(
                &mut self.server,
                &mut self.client,
                &mut self.wires.server_to_client,
                data,
                writes,
                sink,
                meters,
            ),
        }
    }
}

/// One API's side of a comparison, prepared once and then timed run by run.
trait Trial {
    /// One timed run; returns its rate (work per CPU-second).
    fn run(&mut self, index: usize) -> f64;
}

/// Runs every trial `runs` times, one run of each in turn, so that a slow
/// spell on the shared machine falls on all of them alike; returns each
/// one's rates.
fn interleave_all<const N: usize>(runs: usize, mut trials: [&mut dyn Trial; N]) -> [Vec<f64>; N] {
    let mut rates = std::array::from_fn(|_| Vec::new());
    for index in 0..runs {
        for (trial, rates) in trials.iter_mut().zip(&mut rates) {
            rates.push(trial.run(index));
        }
    }
    rates
}

/// Throughput one way through API `A`.
///
/// Each run uses a new connection, placed differently in memory: copies
/// (`rep movsb`) run at very different speeds depending on how source and
/// destination are aligned, so one connection's buffers can be lucky or
/// unlucky for its whole life. A new pair per run behind a spacer of
/// varying size samples that lottery instead of reporting one draw.
struct BulkTrial<A: Api> {
    suite: Suite,
    direction: Direction,
    data: Vec<u8>,
    writes: usize,
    /// Allocations on each side over the timed runs.
    sender: Meter,
    receiver: Meter,
    _api: std::marker::PhantomData<A>,
}

impl<A: Api> BulkTrial<A> {
    /// Checks on a first connection that every byte arrives intact.
    fn new(settings: &Settings, suite: Suite, direction: Direction, write_size: usize) -> Self {
        let data = block(write_size);
        let writes = (settings.bulk_bytes / write_size).max(1);
        let mut instance = Instance::<A>::connect(suite);
        let mut sink = Sink::checking(&data);
        instance.transfer(
            direction,
            &data,
            writes,
            &mut sink,
            (&mut Meter::default(), &mut Meter::default()),
        );
        assert_eq!(sink.received, (writes * write_size) as u64);
        // The record layer under test is the one that carried the data.
        for side in [
            instance.client.record_layer(),
            instance.server.record_layer(),
        ] {
            assert_eq!(side, A::RECORD_LAYER, "{}: record layer", A::NAME);
        }
        Self {
            suite,
            direction,
            data,
            writes,
            sender: Meter::default(),
            receiver: Meter::default(),
            _api: std::marker::PhantomData,
        }
    }
}

impl<A: Api> Trial for BulkTrial<A> {
    fn run(&mut self, index: usize) -> f64 {
        let spacer = vec![0u8; 16 + (index * 1552) % 4096];
        let mut instance = Instance::<A>::connect(self.suite);
        // Untimed: lets the buffers reach their working size.
        instance.transfer(
            self.direction,
            &self.data,
            self.writes.div_ceil(16),
            &mut Sink::counting(),
            (&mut Meter::default(), &mut Meter::default()),
        );
        let mut sink = Sink::counting();
        let started = Stopwatch::start();
        instance.transfer(
            self.direction,
            &self.data,
            self.writes,
            &mut sink,
            (&mut self.sender, &mut self.receiver),
        );
        let elapsed = started.seconds();
        drop(instance);
        drop(spacer);
        sink.received as f64 / elapsed / (1 << 20) as f64
    }
}

/// A trial's outcome: the median rate, and the slowest and fastest run.
struct Rates {
    median: f64,
    low: f64,
    high: f64,
}

impl Rates {
    /// The median and the range, for the progress lines.
    fn show(&self) -> String {
        format!("{:.0} ({:.0}-{:.0})", self.median, self.low, self.high)
    }

    fn of(rates: Vec<f64>) -> Self {
        let (low, high) = rates
            .iter()
            .fold((f64::MAX, 0.0_f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
        Self {
            median: median(rates),
            low,
            high,
        }
    }
}

/// Allocations of lltls (0) and rustls 0.24 (1), sender and receiver, over
/// a suite's cases, with the records each stack made.
#[derive(Default)]
struct AllocTally {
    tallies: [[Tally; 2]; 2],
    records: [u64; 2],
}

impl AllocTally {
    /// The allocations of an lltls trial and a rustls 0.24 trial of one
    /// case over `runs` timed runs.
    fn add<A: Api, B: Api>(
        &mut self,
        suite: Suite,
        runs: usize,
        ll: &BulkTrial<A>,
        peer: &BulkTrial<B>,
    ) {
        let write_size = ll.data.len();
        let writes = (runs * ll.writes) as u64;
        self.records[0] += writes * write_size.div_ceil(RECORD) as u64;
        self.records[1] += writes * records_024(suite, write_size) as u64;
        let stacks = [
            [ll.sender.alloc, ll.receiver.alloc],
            [peer.sender.alloc, peer.receiver.alloc],
        ];
        for (stack, sides) in stacks.into_iter().enumerate() {
            for (side, tally) in sides.into_iter().enumerate() {
                self.tallies[stack][side] += tally;
            }
        }
    }

    /// Allocations and bytes per record, each side, in `section`; a
    /// warning line when lltls allocated at all (its target is 0).
    fn rows(&self, suite: Suite, section: &str, case_suffix: &str) -> Vec<Row> {
        let mut rows = Vec::new();
        if self.records[0] == 0 {
            return rows;
        }
        for (side, side_label) in ["sender", "receiver"].into_iter().enumerate() {
            let case = format!("{}, all cases{case_suffix}, {side_label}", suite.label());
            let [ll, peer] =
                [0, 1].map(|stack| per(self.tallies[stack][side], self.records[stack]));
            if self.tallies[0][side].allocs > 0 {
                eprintln!(
                    "vs rustls 0.24: lltls allocated {} times over {} records ({case})",
                    self.tallies[0][side].allocs, self.records[0]
                );
            }
            rows.push(
                Row::new(section, case.clone(), "allocs/record", Better::Lower)
                    .versus_024(ll.0, peer.0),
            );
            rows.push(Row::new(section, case, "B/record", Better::Lower).versus_024(ll.1, peer.1));
        }
        rows
    }
}

fn per(tally: Tally, count: u64) -> (f64, f64) {
    (
        tally.allocs as f64 / count as f64,
        tally.bytes as f64 / count as f64,
    )
}

/// The suite whose allocations per record are shown case by case; the
/// others' are shown summed over their cases.
const ALLOC_DETAIL_SUITE: Suite = Suite::Tls13Aes256;

/// Allocations of the three stacks (and the in-place one sending through
/// `record_room`) over some bulk cases, each side.
#[derive(Default)]
struct BulkAllocs {
    records: u64,
    /// in-place, rustls mode, buffered: sender and receiver.
    stacks: [[Tally; 2]; 3],
    room_records: u64,
    room_sender: Tally,
}

impl BulkAllocs {
    fn add(&mut self, other: &BulkAllocs) {
        self.records += other.records;
        self.room_records += other.room_records;
        self.room_sender += other.room_sender;
        for (ours, theirs) in self.stacks.iter_mut().zip(&other.stacks) {
            for (ours, theirs) in ours.iter_mut().zip(theirs) {
                *ours += *theirs;
            }
        }
    }

    /// Rows: allocations and bytes per record, sender and receiver.
    fn rows(&self, case: &str, room_case: Option<&str>) -> Vec<Row> {
        let mut rows = Vec::new();
        let mut push = |case: String, [a, b, c]: [(f64, f64); 3]| {
            rows.push(
                Row::new("alloc/record", case.clone(), "allocs/record", Better::Lower)
                    .stacks(a.0, b.0, c.0),
            );
            rows.push(
                Row::new("alloc/record", case, "B/record", Better::Lower).stacks(a.1, b.1, c.1),
            );
        };
        for (index, side) in ["sender", "receiver"].into_iter().enumerate() {
            let [in_place, rustls_mode, buffered] =
                self.stacks.map(|s| per(s[index], self.records));
            push(format!("{case}, {side}"), [in_place, rustls_mode, buffered]);
            if let (Some(room_case), 0) = (room_case, index) {
                if self.room_records > 0 {
                    let room = per(self.room_sender, self.room_records);
                    push(
                        format!("{room_case}, sender"),
                        [room, rustls_mode, buffered],
                    );
                }
            }
        }
        rows
    }
}

fn bulk_rows(settings: &Settings) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut percent_rows = Vec::new();
    // Case by case for one suite first, then the other suites' sums.
    let mut alloc_rows = Vec::new();
    let mut alloc_sum_rows = Vec::new();
    for suite in Suite::ALL {
        let mut suite_rows = Vec::new();
        let mut suite_percent_rows = Vec::new();
        let mut limit_rates = Vec::new();
        let mut wire_limit_rates = Vec::new();
        let mut suite_allocs = BulkAllocs::default();
        for direction in [Direction::ClientToServer, Direction::ServerToClient] {
            for (write_size, size_label) in [(16 << 10, "16KiB"), (1 << 20, "1MiB")] {
                let case = format!("{} {size_label} {}", direction.label(), suite.label());
                let room_case = format!("{case} room");
                // The zero-copy send, one direction (both are alike).
                let room = direction == Direction::ClientToServer;
                if !(settings.wants(&case) || room && settings.wants(&room_case)) {
                    continue;
                }
                let mut in_place = BulkTrial::<Ll>::new(settings, suite, direction, write_size);
                let mut rustls_mode =
                    BulkTrial::<LlRustls>::new(settings, suite, direction, write_size);
                let mut buffered =
                    BulkTrial::<Buffered>::new(settings, suite, direction, write_size);
                let mut limit = LimitTrial::new(settings, suite);
                let mut wire_limit = LimitTrial::with_wire(settings, suite, true);
                let mut room_trial =
                    room.then(|| BulkTrial::<LlRoom>::new(settings, suite, direction, write_size));
                let [ip_rates, rm_rates, buf_rates, limit_case_rates, wire_limit_case_rates] =
                    interleave_all(
                        settings.runs,
                        [
                            &mut in_place,
                            &mut rustls_mode,
                            &mut buffered,
                            &mut limit,
                            &mut wire_limit,
                        ],
                    );
                // The room variant runs after the others; its own runs
                // alternate with fresh limit runs, so its share of the limit
                // is measured in the same spell.
                let room_rates = room_trial.as_mut().map(|trial| {
                    let [room_rates, limit_rates] =
                        interleave_all(settings.runs, [trial, &mut limit]);
                    (Rates::of(room_rates), median(limit_rates))
                });
                limit_rates.extend(&limit_case_rates);
                wire_limit_rates.extend(wire_limit_case_rates);
                let limit_median = median(limit_case_rates);
                let [ip, rm, buf] = [ip_rates, rm_rates, buf_rates].map(Rates::of);
                eprintln!(
                    "bulk {case}: in-place {}, rustls-mode {}, buffered {}, limit {limit_median:.0} MiB/s{}",
                    ip.show(),
                    rm.show(),
                    buf.show(),
                    room_rates
                        .as_ref()
                        .map(|(room, _)| format!(", room {}", room.show()))
                        .unwrap_or_default()
                );
                let percent = |rate: f64, limit: f64| rate / limit * 100.0;
                suite_rows.push(
                    Row::new("bulk (mem)", case.clone(), "MiB/s", Better::Higher)
                        .stacks(ip.median, rm.median, buf.median),
                );
                suite_percent_rows.push(
                    Row::new(
                        "bulk/limit (mem)",
                        case.clone(),
                        "% of limit",
                        Better::Higher,
                    )
                    .stacks(
                        percent(ip.median, limit_median),
                        percent(rm.median, limit_median),
                        percent(buf.median, limit_median),
                    ),
                );
                if let Some((room, room_limit)) = &room_rates {
                    suite_rows.push(
                        Row::new("bulk (mem)", room_case.clone(), "MiB/s", Better::Higher).stacks(
                            room.median,
                            rm.median,
                            buf.median,
                        ),
                    );
                    suite_percent_rows.push(
                        Row::new(
                            "bulk/limit (mem)",
                            room_case.clone(),
                            "% of limit",
                            Better::Higher,
                        )
                        .stacks(
                            percent(room.median, *room_limit),
                            percent(rm.median, limit_median),
                            percent(buf.median, limit_median),
                        ),
                    );
                }
                let records =
                    (settings.runs * in_place.writes * write_size.div_ceil(RECORD)) as u64;
                let case_allocs = BulkAllocs {
                    records,
                    stacks: [
                        [in_place.sender.alloc, in_place.receiver.alloc],
                        [rustls_mode.sender.alloc, rustls_mode.receiver.alloc],
                        [buffered.sender.alloc, buffered.receiver.alloc],
                    ],
                    room_records: if room_trial.is_some() { records } else { 0 },
                    room_sender: room_trial.map(|t| t.sender.alloc).unwrap_or_default(),
                };
                if suite == ALLOC_DETAIL_SUITE {
                    alloc_rows.extend(case_allocs.rows(&case, room.then_some(room_case.as_str())));
                }
                suite_allocs.add(&case_allocs);
            }
        }
        if limit_rates.is_empty() {
            continue;
        }
        let (limit, wire_limit) = (median(limit_rates), median(wire_limit_rates));
        rows.push(
            Row::new(
                "bulk (mem)",
                format!("{} limit: aws-lc-rs seal+open", suite.label()),
                "MiB/s",
                Better::Neither,
            )
            .with_lltls(limit),
        );
        let wire_case = format!("{} limit + the wire's 2 copies", suite.label());
        rows.push(
            Row::new("bulk (mem)", wire_case.clone(), "MiB/s", Better::Neither)
                .with_lltls(wire_limit),
        );
        suite_percent_rows.insert(
            0,
            Row::new("bulk/limit (mem)", wire_case, "% of limit", Better::Neither)
                .with_lltls(wire_limit / limit * 100.0),
        );
        percent_rows.extend(suite_percent_rows);
        rows.extend(suite_rows);
        if suite != ALLOC_DETAIL_SUITE {
            let case = format!("{}, all cases", suite.label());
            let room_case = format!("{}, room cases", suite.label());
            alloc_sum_rows.extend(suite_allocs.rows(&case, Some(&room_case)));
        }
    }
    rows.extend(percent_rows);
    rows.extend(alloc_rows);
    rows.extend(alloc_sum_rows);
    rows
}

/// Handshakes per CPU-second through API `A`, each on a new client and
/// server.
struct HandshakeTrial<A: Api> {
    client_config: <A::Configs as Configs>::Client,
    server_config: <A::Configs as Configs>::Server,
    count: usize,
    wires: Wires,
    sink: Sink,
    /// Each side's CPU time and allocations over the timed runs.
    client: Meter,
    server: Meter,
    _api: std::marker::PhantomData<A>,
}

impl<A: Api> HandshakeTrial<A> {
    fn new(settings: &Settings, suite: Suite, resume: bool) -> Self {
        let mut trial = Self {
            client_config: A::Configs::client(suite, resume, A::SECRET_EXTRACTION),
            server_config: A::Configs::server(A::SECRET_EXTRACTION),
            count: settings.handshakes,
            wires: Wires::new(),
            sink: Sink::counting(),
            client: Meter::cpu(),
            server: Meter::cpu(),
            _api: std::marker::PhantomData,
        };
        if resume {
            // The first handshake is a full one and leaves a ticket; each
            // resumed one leaves new ones.
            trial.one(&mut Meter::default(), &mut Meter::default());
        }
        // Warm-up, and proof that resumption happens as intended.
        for _ in 0..settings.handshakes.min(20) {
            let resumed = trial.one(&mut Meter::default(), &mut Meter::default());
            assert_eq!(resumed, (resume, resume), "{} resumption", A::NAME);
        }
        trial
    }

    /// One handshake; returns whether each side resumed.
    fn one(&mut self, client_meter: &mut Meter, server_meter: &mut Meter) -> (bool, bool) {
        let mut client = client_meter.run(|| A::client(&self.client_config));
        let mut server = server_meter.run(|| A::server(&self.server_config));
        connect(
            &mut client,
            &mut server,
            &mut self.wires,
            &mut self.sink,
            client_meter,
            server_meter,
        );
        let resumed = (client.resumed(), server.resumed());
        client_meter.run(|| drop(client));
        server_meter.run(|| drop(server));
        resumed
    }
}

impl<A: Api> Trial for HandshakeTrial<A> {
    fn run(&mut self, _: usize) -> f64 {
        let (mut client, mut server) = (self.client, self.server);
        let started = Stopwatch::start();
        for _ in 0..self.count {
            self.one(&mut client, &mut server);
        }
        let rate = self.count as f64 / started.seconds();
        (self.client, self.server) = (client, server);
        rate
    }
}

fn handshake_rows(settings: &Settings) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut alloc_rows = Vec::new();
    for suite in [Suite::Tls13Aes256, Suite::Tls12EcdheEcdsaAes256] {
        for resume in [false, true] {
            let kind = if resume { "resumed" } else { "full" };
            let version = &suite.label()[..6];
            if !settings.wants(&format!("{version} {kind}")) {
                continue;
            }
            let mut in_place = HandshakeTrial::<Ll>::new(settings, suite, resume);
            let mut pooled = HandshakeTrial::<LlPooled>::new(settings, suite, resume);
            let mut rustls_mode = HandshakeTrial::<LlRustls>::new(settings, suite, resume);
            let mut buffered = HandshakeTrial::<Buffered>::new(settings, suite, resume);
            let rates = interleave_all(
                settings.runs,
                [&mut in_place, &mut pooled, &mut rustls_mode, &mut buffered],
            );
            let [ip_rates, pooled_rates, rm_rates, buf_rates] = rates.map(Rates::of);
            eprintln!(
                "handshake {version} {kind}: in-place {}/s, pooled {}/s, rustls-mode {}/s, \
                 buffered {}/s",
                ip_rates.show(),
                pooled_rates.show(),
                rm_rates.show(),
                buf_rates.show()
            );
            let count = (settings.runs * settings.handshakes) as u64;
            rows.push(
                Row::new(
                    "handshake (mem)",
                    format!("{version} {kind}, client+server"),
                    "handshakes/s",
                    Better::Higher,
                )
                .stacks(ip_rates.median, rm_rates.median, buf_rates.median),
            );
            rows.push(
                Row::new(
                    "handshake (mem)",
                    format!("{version} {kind}, client+server, in-place with pooled buffers"),
                    "handshakes/s",
                    Better::Higher,
                )
                .values(pooled_rates.median, buf_rates.median),
            );
            for (side, meters) in [
                (
                    "client",
                    [in_place.client, rustls_mode.client, buffered.client],
                ),
                (
                    "server",
                    [in_place.server, rustls_mode.server, buffered.server],
                ),
            ] {
                let micros = |m: Meter| m.time.as_secs_f64() * 1e6 / count as f64;
                let [ip, rm, buf] = meters.map(micros);
                rows.push(
                    Row::new(
                        "handshake (mem)",
                        format!("{version} {kind}, {side} CPU"),
                        "us/handshake",
                        Better::Lower,
                    )
                    .stacks(ip, rm, buf),
                );
                let [ip, rm, buf] = meters.map(|m| per(m.alloc, count));
                alloc_rows.push(
                    Row::new(
                        "alloc/handshake",
                        format!("{version} {kind}, {side}"),
                        "allocs/handshake",
                        Better::Lower,
                    )
                    .stacks(ip.0, rm.0, buf.0),
                );
                alloc_rows.push(
                    Row::new(
                        "alloc/handshake",
                        format!("{version} {kind}, {side}"),
                        "B/handshake",
                        Better::Lower,
                    )
                    .stacks(ip.1, rm.1, buf.1),
                );
            }
            let both_sides = |client: Meter, server: Meter| {
                let mut tally = client.alloc;
                tally += server.alloc;
                per(tally, count)
            };
            let (pooled_allocs, pooled_bytes) = both_sides(pooled.client, pooled.server);
            let (buf_allocs, buf_bytes) = both_sides(buffered.client, buffered.server);
            alloc_rows.push(
                Row::new(
                    "alloc/handshake",
                    format!("{version} {kind}, both sides, in-place with pooled buffers"),
                    "allocs/handshake",
                    Better::Lower,
                )
                .values(pooled_allocs, buf_allocs),
            );
            alloc_rows.push(
                Row::new(
                    "alloc/handshake",
                    format!("{version} {kind}, both sides, in-place with pooled buffers"),
                    "B/handshake",
                    Better::Lower,
                )
                .values(pooled_bytes, buf_bytes),
            );
        }
    }
    rows.extend(alloc_rows);
    rows
}

struct IdleMemory {
    server: f64,
    client: f64,
    /// Bytes still held in caller-visible buffers per server connection,
    /// when the API has such buffers.
    server_buffers: Option<f64>,
}

/// Heap held per established, idle connection: handshake done, 100 bytes
/// exchanged each way, buffers released as far as the API allows.
fn idle_memory<A: Api>(settings: &Settings) -> IdleMemory {
    let server_config = A::Configs::server(A::SECRET_EXTRACTION);
    let client_config = A::Configs::client(Suite::Tls13Aes256, false, A::SECRET_EXTRACTION);
    let mut wires = Wires::new();
    let mut sink = Sink::counting();
    let message = [0x2a_u8; 100];
    let establish = |wires: &mut Wires, sink: &mut Sink| {
        let mut client = A::client(&client_config);
        let mut server = A::server(&server_config);
        connect(
            &mut client,
            &mut server,
            wires,
            sink,
            &mut Meter::default(),
            &mut Meter::default(),
        );
        assert_eq!(client.write_app(&message), message.len());
        client.flush(&mut wires.client_to_server);
        server.receive(&mut wires.client_to_server, sink);
        assert_eq!(server.write_app(&message), message.len());
        server.flush(&mut wires.server_to_client);
        client.receive(&mut wires.server_to_client, sink);
        // Measured with the record layer the stack runs after the handshake
        // (for the in-place one: switched, rustls's connection given up).
        for side in [client.record_layer(), server.record_layer()] {
            assert_eq!(side, A::RECORD_LAYER, "{}: idle record layer", A::NAME);
        }
        client.release_buffers();
        server.release_buffers();
        (client, server)
    };
    // rustls's server session cache keeps up to 256 sessions; fill it first
    // so that what the measured connections add is theirs alone.
    for _ in 0..300 {
        drop(establish(&mut wires, &mut sink));
    }
    let n = settings.idle_connections;
    let before = Snapshot::now();
    let mut clients = Vec::with_capacity(n);
    let mut servers = Vec::with_capacity(n);
    for _ in 0..n {
        let (client, server) = establish(&mut wires, &mut sink);
        clients.push(client);
        servers.push(server);
    }
    let both = before.live_delta();
    drop(clients);
    let servers_only = before.live_delta();
    let buffers: Option<usize> = servers
        .iter_mut()
        .map(|server| server.release_buffers())
        .sum();
    drop(servers);
    IdleMemory {
        server: servers_only as f64 / n as f64,
        client: (both - servers_only) as f64 / n as f64,
        server_buffers: buffers.map(|b| b as f64 / n as f64),
    }
}

fn memory_rows(settings: &Settings) -> Vec<Row> {
    let in_place = idle_memory::<Ll>(settings);
    let rustls_mode = idle_memory::<LlRustls>(settings);
    let buffered = idle_memory::<Buffered>(settings);
    eprintln!(
        "idle memory: server in-place {:.0} B, rustls-mode {:.0} B, buffered {:.0} B; \
         client in-place {:.0} B, rustls-mode {:.0} B, buffered {:.0} B",
        in_place.server,
        rustls_mode.server,
        buffered.server,
        in_place.client,
        rustls_mode.client,
        buffered.client
    );
    let mut buffers = Row::new(
        "memory (mem)",
        "buffers held by an idle server connection",
        "B/conn",
        Better::Lower,
    );
    buffers.lltls = in_place.server_buffers;
    buffers.rustls_mode = rustls_mode.server_buffers;
    buffers.buffered = buffered.server_buffers;
    vec![
        Row::new(
            "memory (mem)",
            "heap held by an idle server connection",
            "B/conn",
            Better::Lower,
        )
        .stacks(in_place.server, rustls_mode.server, buffered.server),
        Row::new(
            "memory (mem)",
            "heap held by an idle client connection",
            "B/conn",
            Better::Lower,
        )
        .stacks(in_place.client, rustls_mode.client, buffered.client),
        buffers,
    ]
}

/// The plaintext of one rustls 0.24 record in TLS 1.3: it fragments so that
/// the protected record, not the plaintext, fits 16,384 bytes (16,384 less
/// the AEAD tag and the content-type byte).
const RECORD_024: usize = 16_384 - 17;

/// Records rustls 0.24 makes of a `write_size` write in `suite`: its
/// plaintext per record is 16,384 less the suite's expansion (TLS 1.3: tag
/// and type byte, 17; TLS 1.2 GCM: explicit nonce and tag, 24; TLS 1.2
/// ChaCha20: tag, 16).
fn records_024(suite: Suite, write_size: usize) -> usize {
    let expansion = match suite {
        Suite::Tls13Aes128 | Suite::Tls13Aes256 | Suite::Tls13Chacha => 17,
        Suite::Tls12EcdheEcdsaAes128 | Suite::Tls12EcdheEcdsaAes256 => 24,
        Suite::Tls12EcdheEcdsaChacha => 16,
    };
    write_size.div_ceil(RECORD - expansion)
}

/// lltls as it ships (in-place record layer, `encrypt`) against rustls
/// 0.24's `Connection`, each run of one interleaved with a run of the
/// other: bulk transfer per suite at 16 KiB writes and at writes of one
/// 0.24 record (and lltls sending through `record_room`, one direction) (each also as a share of the suite's ceiling, the bare AEAD
/// plus the wire's two copies), allocations per record, handshakes, idle
/// heap.
fn rustls024_rows(settings: &Settings) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut alloc_rows = Vec::new();
    let mut percent_rows = Vec::new();
    const SECTION: &str = "vs 0.24 bulk (mem)";
    for suite in Suite::ALL {
        let mut allocs = AllocTally::default();
        for direction in [Direction::ClientToServer, Direction::ServerToClient] {
            for (write_size, size_label) in [(16 << 10, "16KiB"), (RECORD_024, "16367B")] {
                let case = format!("{} {size_label} {}", direction.label(), suite.label());
                if !settings.wants(&case) {
                    continue;
                }
                let mut ll = BulkTrial::<Ll>::new(settings, suite, direction, write_size);
                let mut peer = BulkTrial::<Peer>::new(settings, suite, direction, write_size);
                let mut wire_limit = LimitTrial::with_wire(settings, suite, true);
                // lltls's zero-copy send too, one direction (both are alike),
                // in the same spell.
                let mut room = (direction == Direction::ClientToServer)
                    .then(|| BulkTrial::<LlRoom>::new(settings, suite, direction, write_size));
                let rates: Vec<Rates> = match room.as_mut() {
                    Some(room) => {
                        interleave_all(settings.runs, [&mut ll, &mut peer, &mut wire_limit, room])
                            .map(Rates::of)
                            .into()
                    }
                    None => interleave_all(settings.runs, [&mut ll, &mut peer, &mut wire_limit])
                        .map(Rates::of)
                        .into(),
                };
                let (ll_rates, peer_rates, limit) = (&rates[0], &rates[1], rates[2].median);
                let room_rates = rates.get(3);
                eprintln!(
                    "vs rustls 0.24, bulk {case}: lltls {}, rustls 0.24 {}, limit + wire {} MiB/s{}",
                    ll_rates.show(),
                    peer_rates.show(),
                    rates[2].show(),
                    room_rates
                        .map(|room| format!(", room {}", room.show()))
                        .unwrap_or_default()
                );
                // Each lltls figure against the peer, and as a share of the
                // ceiling: a stack near it cannot be far ahead of another.
                let lltls_rows = [(case.clone(), ll_rates)]
                    .into_iter()
                    .chain(room_rates.map(|room| (format!("{case} room"), room)));
                for (case, lltls) in lltls_rows {
                    rows.push(
                        Row::new(SECTION, case.clone(), "MiB/s", Better::Higher)
                            .versus_024(lltls.median, peer_rates.median),
                    );
                    percent_rows.push(
                        Row::new(
                            "vs 0.24 bulk/limit (mem)",
                            case,
                            "% of limit",
                            Better::Higher,
                        )
                        .versus_024(
                            lltls.median / limit * 100.0,
                            peer_rates.median / limit * 100.0,
                        ),
                    );
                }
                allocs.add(suite, settings.runs, &ll, &peer);
            }
        }
        alloc_rows.extend(allocs.rows(suite, "vs 0.24 alloc/record", ""));
    }
    rows.extend(percent_rows);
    rows.extend(alloc_rows);
    rows.extend(rustls024_split_rows(settings));
    rows.extend(rustls024_handshake_rows(settings));
    if settings.case.is_none() {
        let ll = idle_memory::<Ll>(settings);
        let peer = idle_memory::<Peer>(settings);
        eprintln!(
            "vs rustls 0.24, idle memory: server lltls {:.0} B, rustls 0.24 {:.0} B; \
             client lltls {:.0} B, rustls 0.24 {:.0} B",
            ll.server, peer.server, ll.client, peer.client
        );
        for (side, ll, peer) in [
            ("server", ll.server, peer.server),
            ("client", ll.client, peer.client),
        ] {
            rows.push(
                Row::new(
                    "vs 0.24 memory (mem)",
                    format!("heap held by an idle {side} connection"),
                    "B/conn",
                    Better::Lower,
                )
                .versus_024(ll, peer),
            );
        }
    }
    rows
}

/// lltls's split halves against rustls 0.24's split connection: each
/// connection is split once its handshake is done (`Endpoint::connected`),
/// then the sender seals through its send half (lltls `SendHalf::encrypt`,
/// 0.24 `SendTraffic::write`) and the receiver opens through its receive
/// half (lltls `ReceiveHalf::process`, 0.24 `ReceiveTraffic::read`), with
/// the buffers the whole connection had. Both halves of an endpoint run in
/// the bench's one thread: the figures are CPU time per byte, as the other
/// rows', not what two threads reach. Per suite, each way, at 16 KiB and
/// 16,367-byte writes; each also against the same stack unsplit in the same
/// spell (split ÷ whole), and allocations per record on each side.
fn rustls024_split_rows(settings: &Settings) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut whole_rows = Vec::new();
    let mut alloc_rows = Vec::new();
    for suite in Suite::ALL {
        let mut allocs = AllocTally::default();
        for direction in [Direction::ClientToServer, Direction::ServerToClient] {
            for (write_size, size_label) in [(16 << 10, "16KiB"), (RECORD_024, "16367B")] {
                let case = format!("{} {size_label} {} split", direction.label(), suite.label());
                if !settings.wants(&case) {
                    continue;
                }
                let mut ll = BulkTrial::<LlSplit>::new(settings, suite, direction, write_size);
                let mut peer = BulkTrial::<PeerSplit>::new(settings, suite, direction, write_size);
                let mut ll_whole = BulkTrial::<Ll>::new(settings, suite, direction, write_size);
                let mut peer_whole = BulkTrial::<Peer>::new(settings, suite, direction, write_size);
                let [ll_rates, peer_rates, ll_whole_rates, peer_whole_rates] = interleave_all(
                    settings.runs,
                    [&mut ll, &mut peer, &mut ll_whole, &mut peer_whole],
                )
                .map(Rates::of);
                eprintln!(
                    "vs rustls 0.24, bulk {case}: lltls halves {}, rustls 0.24 halves {} MiB/s \
                     (unsplit: lltls {}, rustls 0.24 {})",
                    ll_rates.show(),
                    peer_rates.show(),
                    ll_whole_rates.show(),
                    peer_whole_rates.show()
                );
                rows.push(
                    Row::new(
                        "vs 0.24 split bulk (mem)",
                        case.clone(),
                        "MiB/s",
                        Better::Higher,
                    )
                    .versus_024(ll_rates.median, peer_rates.median),
                );
                whole_rows.push(
                    Row::new(
                        "vs 0.24 split/whole (mem)",
                        case,
                        "% of unsplit",
                        Better::Higher,
                    )
                    .versus_024(
                        ll_rates.median / ll_whole_rates.median * 100.0,
                        peer_rates.median / peer_whole_rates.median * 100.0,
                    ),
                );
                allocs.add(suite, settings.runs, &ll, &peer);
            }
        }
        alloc_rows.extend(allocs.rows(suite, "vs 0.24 split alloc/record", ", split"));
    }
    rows.extend(whole_rows);
    rows.extend(alloc_rows);
    rows
}

/// Handshakes per CPU-second, lltls against rustls 0.24, client and server
/// together, full and resumed, in the two versions the handshake rows use.
fn rustls024_handshake_rows(settings: &Settings) -> Vec<Row> {
    let mut rows = Vec::new();
    for suite in [Suite::Tls13Aes256, Suite::Tls12EcdheEcdsaAes256] {
        for resume in [false, true] {
            let kind = if resume { "resumed" } else { "full" };
            let version = &suite.label()[..6];
            if !settings.wants(&format!("{version} {kind}")) {
                continue;
            }
            let mut ll = HandshakeTrial::<Ll>::new(settings, suite, resume);
            let mut peer = HandshakeTrial::<Peer>::new(settings, suite, resume);
            let [ll_rates, peer_rates] =
                interleave_all(settings.runs, [&mut ll, &mut peer]).map(Rates::of);
            eprintln!(
                "vs rustls 0.24, handshake {version} {kind}: lltls {}/s, rustls 0.24 {}/s",
                ll_rates.show(),
                peer_rates.show()
            );
            rows.push(
                Row::new(
                    "vs 0.24 handshake (mem)",
                    format!("{version} {kind}, client+server"),
                    "handshakes/s",
                    Better::Higher,
                )
                .versus_024(ll_rates.median, peer_rates.median),
            );
        }
    }
    rows
}

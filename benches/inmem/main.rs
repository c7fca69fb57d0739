//! In-memory benchmarks of lltls against rustls's buffered API, on the same
//! work: bulk transfer, handshakes, allocations, memory per idle connection.
//!
//! Both APIs run in one thread over the same in-memory wire (see
//! `harness`), so the figures measure the TLS layers and their copies, not
//! the kernel.
//!
//! Usage: `cargo bench --profile dev --bench inmem -- [--quick] [--tsv]`
//! prints the table (or its rows as TSV); `--table FILE…` prints the table
//! of TSV rows collected by `scripts/bench.sh`.

mod alloc;
mod buffered;
mod configs;
mod harness;
mod ll;
mod report;

use std::process::ExitCode;
use std::sync::Arc;

use alloc::{Snapshot, Tally};
use buffered::Buffered;
use configs::Suite;
use harness::{connect, transfer, Api, Endpoint, Meter, Sink, Stopwatch, Wires};
use ll::{Ll, LlPooled};
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
                    "usage: inmem [--quick] [--tsv] [--only bulk|handshake|memory]... \
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
    let sections: [(&str, Section); 3] = [
        ("bulk", bulk_rows),
        ("handshake", handshake_rows),
        ("memory", memory_rows),
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
        let mut client = A::client(&configs::client(suite, false));
        let mut server = A::server(&configs::server());
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

/// Runs both trials `runs` times, alternating, so that a slow spell on the
/// shared machine falls on both APIs alike; returns each one's rates.
fn interleave(runs: usize, ours: &mut impl Trial, theirs: &mut impl Trial) -> [Vec<f64>; 2] {
    let [ours, theirs] = interleave_all(runs, [ours, theirs]);
    [ours, theirs]
}

/// [`interleave`] for any number of trials.
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

fn per(tally: Tally, count: u64) -> (f64, f64) {
    (
        tally.allocs as f64 / count as f64,
        tally.bytes as f64 / count as f64,
    )
}

fn bulk_rows(settings: &Settings) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut alloc_rows = Vec::new();
    for suite in Suite::ALL {
        for direction in [Direction::ClientToServer, Direction::ServerToClient] {
            for (write_size, size_label) in [(16 << 10, "16KiB"), (1 << 20, "1MiB")] {
                let case = format!("{} {size_label} {}", direction.label(), suite.label());
                if !settings.wants(&case) {
                    continue;
                }
                let mut ours = BulkTrial::<Ll>::new(settings, suite, direction, write_size);
                let mut theirs = BulkTrial::<Buffered>::new(settings, suite, direction, write_size);
                let [our_rates, their_rates] = interleave(settings.runs, &mut ours, &mut theirs);
                let (our_rates, their_rates) = (Rates::of(our_rates), Rates::of(their_rates));
                eprintln!(
                    "bulk {case}: lltls {:.0} MiB/s ({:.0}-{:.0}), buffered {:.0} MiB/s ({:.0}-{:.0})",
                    our_rates.median,
                    our_rates.low,
                    our_rates.high,
                    their_rates.median,
                    their_rates.low,
                    their_rates.high
                );
                rows.push(
                    Row::new("bulk (mem)", case.clone(), "MiB/s", Better::Higher)
                        .values(our_rates.median, their_rates.median),
                );
                let records = (settings.runs * ours.writes * write_size.div_ceil(RECORD)) as u64;
                // Allocation profiles are alike for every suite; show the
                // first one's, in both directions and write sizes.
                if suite == Suite::Tls13Aes256 {
                    for (side, ours_tally, theirs_tally) in [
                        ("sender", ours.sender.alloc, theirs.sender.alloc),
                        ("receiver", ours.receiver.alloc, theirs.receiver.alloc),
                    ] {
                        let (our_allocs, our_bytes) = per(ours_tally, records);
                        let (their_allocs, their_bytes) = per(theirs_tally, records);
                        alloc_rows.push(
                            Row::new(
                                "alloc/record",
                                format!("{case}, {side}"),
                                "allocs/record",
                                Better::Lower,
                            )
                            .values(our_allocs, their_allocs),
                        );
                        alloc_rows.push(
                            Row::new(
                                "alloc/record",
                                format!("{case}, {side}"),
                                "B/record",
                                Better::Lower,
                            )
                            .values(our_bytes, their_bytes),
                        );
                    }
                }
            }
        }
    }
    rows.extend(alloc_rows);
    rows
}

/// Handshakes per CPU-second through API `A`, each on a new client and
/// server.
struct HandshakeTrial<A: Api> {
    client_config: Arc<rustls::ClientConfig>,
    server_config: Arc<rustls::ServerConfig>,
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
            client_config: configs::client(suite, resume),
            server_config: configs::server(),
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
            let mut ours = HandshakeTrial::<Ll>::new(settings, suite, resume);
            let mut pooled = HandshakeTrial::<LlPooled>::new(settings, suite, resume);
            let mut theirs = HandshakeTrial::<Buffered>::new(settings, suite, resume);
            let [our_rates, pooled_rates, their_rates] =
                interleave_all(settings.runs, [&mut ours, &mut pooled, &mut theirs]);
            let (our_rates, pooled_rates, their_rates) = (
                Rates::of(our_rates),
                Rates::of(pooled_rates),
                Rates::of(their_rates),
            );
            eprintln!(
                "handshake {version} {kind}: lltls {:.0}/s ({:.0}-{:.0}), pooled {:.0}/s \
                 ({:.0}-{:.0}), buffered {:.0}/s ({:.0}-{:.0})",
                our_rates.median,
                our_rates.low,
                our_rates.high,
                pooled_rates.median,
                pooled_rates.low,
                pooled_rates.high,
                their_rates.median,
                their_rates.low,
                their_rates.high
            );
            let count = (settings.runs * settings.handshakes) as u64;
            rows.push(
                Row::new(
                    "handshake (mem)",
                    format!("{version} {kind}, client+server"),
                    "handshakes/s",
                    Better::Higher,
                )
                .values(our_rates.median, their_rates.median),
            );
            rows.push(
                Row::new(
                    "handshake (mem)",
                    format!("{version} {kind}, client+server, lltls with pooled buffers"),
                    "handshakes/s",
                    Better::Higher,
                )
                .values(pooled_rates.median, their_rates.median),
            );
            for (side, our_meter, their_meter) in [
                ("client", ours.client, theirs.client),
                ("server", ours.server, theirs.server),
            ] {
                let micros = |m: Meter, n: u64| m.time.as_secs_f64() * 1e6 / n as f64;
                rows.push(
                    Row::new(
                        "handshake (mem)",
                        format!("{version} {kind}, {side} CPU"),
                        "us/handshake",
                        Better::Lower,
                    )
                    .values(micros(our_meter, count), micros(their_meter, count)),
                );
                let (our_allocs, our_bytes) = per(our_meter.alloc, count);
                let (their_allocs, their_bytes) = per(their_meter.alloc, count);
                alloc_rows.push(
                    Row::new(
                        "alloc/handshake",
                        format!("{version} {kind}, {side}"),
                        "allocs/handshake",
                        Better::Lower,
                    )
                    .values(our_allocs, their_allocs),
                );
                alloc_rows.push(
                    Row::new(
                        "alloc/handshake",
                        format!("{version} {kind}, {side}"),
                        "B/handshake",
                        Better::Lower,
                    )
                    .values(our_bytes, their_bytes),
                );
            }
            let pooled_tally = {
                let mut tally = pooled.client.alloc;
                tally += pooled.server.alloc;
                tally
            };
            let their_tally = {
                let mut tally = theirs.client.alloc;
                tally += theirs.server.alloc;
                tally
            };
            let (pooled_allocs, pooled_bytes) = per(pooled_tally, count);
            let (their_allocs, their_bytes) = per(their_tally, count);
            alloc_rows.push(
                Row::new(
                    "alloc/handshake",
                    format!("{version} {kind}, both sides, lltls with pooled buffers"),
                    "allocs/handshake",
                    Better::Lower,
                )
                .values(pooled_allocs, their_allocs),
            );
            alloc_rows.push(
                Row::new(
                    "alloc/handshake",
                    format!("{version} {kind}, both sides, lltls with pooled buffers"),
                    "B/handshake",
                    Better::Lower,
                )
                .values(pooled_bytes, their_bytes),
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
    let server_config = configs::server();
    let client_config = configs::client(Suite::Tls13Aes256, false);
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
    let ours = idle_memory::<Ll>(settings);
    let theirs = idle_memory::<Buffered>(settings);
    eprintln!(
        "idle memory: lltls server {:.0} B, buffered server {:.0} B",
        ours.server, theirs.server
    );
    let mut buffers = Row::new(
        "memory (mem)",
        "buffers held by an idle server connection",
        "B/conn",
        Better::Lower,
    );
    buffers.lltls = ours.server_buffers;
    buffers.buffered = theirs.server_buffers;
    vec![
        Row::new(
            "memory (mem)",
            "heap held by an idle server connection",
            "B/conn",
            Better::Lower,
        )
        .values(ours.server, theirs.server),
        Row::new(
            "memory (mem)",
            "heap held by an idle client connection",
            "B/conn",
            Better::Lower,
        )
        .values(ours.client, theirs.client),
        buffers,
    ]
}

//! Allocations per record, counted by a global allocator (this test binary's
//! own): in steady state the in-place record layer allocates nothing per
//! record, sent (`encrypt`, `record_room` + `seal`, `echo_app_data`) or
//! received (`process` + `next_record`), on either side, and neither do the
//! split halves (`SendHalf::encrypt`, `SendHalf::record_room` + `seal`,
//! `ReceiveHalf::process` + `next_record`); rustls's record layer allocates
//! for every record received (README: "one allocation per record"), which
//! shows the count sees what it should.

mod harness;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use harness::configs::{client_config, server_config, Pki};
use harness::pair::{Endpoint, Pair};
use lltls::{
    IncomingTls, OutgoingTls, ReceiveHalf, ReceiveStatus, RecordLayer, SendHalf, Side, Status,
};

/// Counts the allocations (and reallocations) of the thread that asked for
/// counting; tests run on threads of their own, so others do not interfere.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation() {
    // `try_with`: the allocator also runs while a thread's locals are torn down.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
    }
}

// SAFETY: every call is passed unchanged to the system allocator; counting
// touches only const-initialised thread locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns how many allocations it made on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    ALLOCATIONS.with(Cell::get) - before
}

/// How a record is sent.
#[derive(Clone, Copy, Debug)]
enum Send {
    Encrypt,
    Room,
}

/// Seals one record of `plaintext` (at most one fragment) on `end`.
fn send<C: Side>(end: &mut Endpoint<C>, plaintext: &[u8], how: Send) {
    let taken = match how {
        Send::Encrypt => end
            .conn
            .encrypt(plaintext, &mut end.incoming, &mut end.outgoing)
            .unwrap(),
        Send::Room => {
            let mut room = end
                .conn
                .record_room(&mut end.incoming, &mut end.outgoing)
                .unwrap()
                .expect("room after the handshake");
            room.buf()[..plaintext.len()].copy_from_slice(plaintext);
            room.seal(plaintext.len()).unwrap()
        }
    };
    assert_eq!(taken, plaintext.len(), "{how:?}");
}

/// Moves everything `from` has to send into `to`'s incoming buffer, which
/// reserved room for a record when it last asked for more.
fn transfer<A: Side, B: Side>(from: &mut Endpoint<A>, to: &mut Endpoint<B>) {
    let pending = from.outgoing.filled();
    let room = to.incoming.unfilled();
    assert!(room.len() >= pending.len(), "receiver has room");
    room[..pending.len()].copy_from_slice(pending);
    let n = pending.len();
    to.incoming.advance(n);
    from.outgoing.discard(n);
}

/// Reads what arrived with `process` and `next_record`; checks it is
/// `expected` and returns how many records carried it.
fn receive<C: Side>(end: &mut Endpoint<C>, expected: &[u8]) -> usize {
    let (mut records, mut at) = (0, 0);
    loop {
        match end.conn.process(&mut end.incoming, &mut end.outgoing) {
            Ok(Status::AppDataAvailable(mut data)) => {
                while let Some(record) = data.next_record() {
                    let record = record.unwrap();
                    assert!(record == &expected[at..at + record.len()], "plaintext");
                    at += record.len();
                    records += 1;
                }
            }
            Ok(Status::NeedsMoreTlsData) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(at, expected.len(), "everything arrived");
    records
}

/// What one steady-state run counted.
#[derive(Debug, Default)]
struct Counts {
    /// Allocations while sealing, while opening and reading.
    sending: u64,
    receiving: u64,
    /// Records each way (and echoed).
    records: usize,
}

/// Records of `plaintext` one at a time, each way, with every sending
/// method, after a warm-up that brings buffers and state to their steady
/// size.
fn steady_state(tls12: bool, layer: RecordLayer, rounds: usize) -> Counts {
    let mut pair = Pair::with_record_layer(
        std::sync::Arc::new(client_config(Pki::Ecdsa, tls12)),
        std::sync::Arc::new(server_config(Pki::Ecdsa, tls12)),
        layer,
    );
    pair.connect();
    // Tickets, and the first full records, past.
    pair.client.to_send = vec![1; 100_000];
    pair.server.to_send = vec![2; 100_000];
    pair.drive();
    assert!(pair.client.error.is_none() && pair.server.error.is_none());
    assert_eq!(pair.client.conn.record_layer(), layer);
    assert_eq!(pair.server.conn.record_layer(), layer);

    let plaintext: Vec<u8> = (0..16_384u32).map(|i| (i % 253) as u8).collect();
    let mut counts = Counts::default();
    let Pair { client, server, .. } = &mut pair;
    for round in 0..rounds + 1 {
        let mut round_counts = Counts::default();
        for how in [Send::Encrypt, Send::Room] {
            // Client to server, then server to client; full and short records.
            for len in [16_384, 1000] {
                let data = &plaintext[..len];
                round_counts.sending += allocations(|| send(client, data, how));
                transfer(client, server);
                round_counts.receiving += allocations(|| {
                    round_counts.records += receive(server, data);
                });
                round_counts.sending += allocations(|| send(server, data, how));
                transfer(server, client);
                round_counts.receiving += allocations(|| {
                    round_counts.records += receive(client, data);
                });
            }
        }
        if layer == RecordLayer::InPlace {
            // The server echoes what the client sent, record by record.
            round_counts.sending += allocations(|| send(client, &plaintext, Send::Encrypt));
            transfer(client, server);
            round_counts.sending += allocations(|| {
                let echoed = server
                    .conn
                    .echo_app_data(&mut server.incoming, &mut server.outgoing)
                    .unwrap();
                assert_eq!(echoed, plaintext.len());
            });
            transfer(server, client);
            round_counts.receiving += allocations(|| {
                round_counts.records += receive(client, &plaintext);
            });
        }
        // The first round warms up: buffers reach their steady size.
        if round > 0 {
            counts.sending += round_counts.sending;
            counts.receiving += round_counts.receiving;
            counts.records += round_counts.records;
        }
    }
    counts
}

#[test]
fn in_place_records_allocate_nothing_in_steady_state() {
    for tls12 in [false, true] {
        let counts = steady_state(tls12, RecordLayer::InPlace, 50);
        // 50 rounds: 8 records each way with encrypt and the room, and an echo.
        eprintln!("in place, tls12={tls12}: {counts:?}");
        assert_eq!(counts.records, 50 * 9, "tls12={tls12}");
        assert_eq!(
            (counts.sending, counts.receiving),
            (0, 0),
            "tls12={tls12}: allocations over {} records (sending, receiving)",
            counts.records
        );
    }
}

#[test]
fn rustls_records_allocate_for_every_record_received() {
    for tls12 in [false, true] {
        let counts = steady_state(tls12, RecordLayer::Rustls, 50);
        eprintln!("rustls, tls12={tls12}: {counts:?}");
        assert_eq!(counts.records, 50 * 8, "tls12={tls12}");
        assert!(
            counts.receiving >= counts.records as u64,
            "tls12={tls12}: {} allocations over {} records received",
            counts.receiving,
            counts.records
        );
    }
}

/// Seals one record of `plaintext` (at most one fragment) with a send half.
fn send_half<C: Side>(
    half: &mut SendHalf<C>,
    outgoing: &mut OutgoingTls,
    plaintext: &[u8],
    how: Send,
) {
    let taken = match how {
        Send::Encrypt => half.encrypt(plaintext, outgoing).unwrap(),
        Send::Room => {
            let mut room = half
                .record_room(outgoing)
                .unwrap()
                .expect("room before close_notify");
            room.buf()[..plaintext.len()].copy_from_slice(plaintext);
            room.seal(plaintext.len()).unwrap()
        }
    };
    assert_eq!(taken, plaintext.len(), "{how:?}");
}

/// Moves everything in `outgoing` into `incoming`, which reserved room for
/// a record when its receive half last asked for more.
fn deliver(outgoing: &mut OutgoingTls, incoming: &mut IncomingTls) {
    let pending = outgoing.filled();
    let room = incoming.unfilled();
    assert!(room.len() >= pending.len(), "receiver has room");
    room[..pending.len()].copy_from_slice(pending);
    let n = pending.len();
    incoming.advance(n);
    outgoing.discard(n);
}

/// Reads what arrived with a receive half; checks it is `expected` and
/// returns how many records carried it.
fn receive_half<C: Side>(
    half: &mut ReceiveHalf<C>,
    incoming: &mut IncomingTls,
    expected: &[u8],
) -> usize {
    let (mut records, mut at) = (0, 0);
    loop {
        match half.process(incoming) {
            Ok(ReceiveStatus::AppDataAvailable(mut data)) => {
                while let Some(record) = data.next_record() {
                    let record = record.unwrap();
                    assert!(record == &expected[at..at + record.len()], "plaintext");
                    at += record.len();
                    records += 1;
                }
            }
            Ok(ReceiveStatus::NeedsMoreTlsData) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(at, expected.len(), "everything arrived");
    records
}

/// Records one at a time each way through split halves, with both sending
/// methods, after a warm-up round.
fn split_steady_state(tls12: bool, rounds: usize) -> Counts {
    let mut pair = Pair::with_record_layer(
        std::sync::Arc::new(client_config(Pki::Ecdsa, tls12)),
        std::sync::Arc::new(server_config(Pki::Ecdsa, tls12)),
        RecordLayer::InPlace,
    );
    pair.connect();
    // Tickets, and the first full records, past, before the split.
    pair.client.to_send = vec![1; 100_000];
    pair.server.to_send = vec![2; 100_000];
    pair.drive();
    assert!(pair.client.error.is_none() && pair.server.error.is_none());
    let Pair { client, server, .. } = pair;
    let (mut client_send, mut client_receive) = client
        .conn
        .into_split()
        .unwrap_or_else(|(_, error)| panic!("client into_split: {error}"));
    let (mut server_send, mut server_receive) = server
        .conn
        .into_split()
        .unwrap_or_else(|(_, error)| panic!("server into_split: {error}"));
    let (mut client_in, mut client_out) = (client.incoming, client.outgoing);
    let (mut server_in, mut server_out) = (server.incoming, server.outgoing);
    // Whatever the whole connections left (nothing is expected) goes first.
    deliver(&mut client_out, &mut server_in);
    deliver(&mut server_out, &mut client_in);
    receive_half(&mut server_receive, &mut server_in, &[]);
    receive_half(&mut client_receive, &mut client_in, &[]);

    let plaintext: Vec<u8> = (0..16_384u32).map(|i| (i % 253) as u8).collect();
    let mut counts = Counts::default();
    for round in 0..rounds + 1 {
        let mut round_counts = Counts::default();
        for how in [Send::Encrypt, Send::Room] {
            for len in [16_384, 1000] {
                let data = &plaintext[..len];
                round_counts.sending +=
                    allocations(|| send_half(&mut client_send, &mut client_out, data, how));
                deliver(&mut client_out, &mut server_in);
                round_counts.receiving += allocations(|| {
                    round_counts.records += receive_half(&mut server_receive, &mut server_in, data);
                });
                round_counts.sending +=
                    allocations(|| send_half(&mut server_send, &mut server_out, data, how));
                deliver(&mut server_out, &mut client_in);
                round_counts.receiving += allocations(|| {
                    round_counts.records += receive_half(&mut client_receive, &mut client_in, data);
                });
            }
        }
        // The first round warms up: buffers reach their steady size.
        if round > 0 {
            counts.sending += round_counts.sending;
            counts.receiving += round_counts.receiving;
            counts.records += round_counts.records;
        }
    }
    counts
}

#[test]
fn split_halves_allocate_nothing_per_record_in_steady_state() {
    for tls12 in [false, true] {
        let counts = split_steady_state(tls12, 50);
        // 50 rounds: 4 records each way (encrypt and the room, full and short).
        eprintln!("split halves, tls12={tls12}: {counts:?}");
        assert_eq!(counts.records, 50 * 8, "tls12={tls12}");
        assert_eq!(
            (counts.sending, counts.receiving),
            (0, 0),
            "tls12={tls12}: allocations over {} records through split halves (sending, receiving)",
            counts.records
        );
    }
}

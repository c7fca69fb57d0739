//! What both APIs are driven through: an in-memory wire, a plaintext sink,
//! and one loop for handshakes and one for bulk transfer.
//!
//! The wire models a socket: bytes are copied into it by the sender and out
//! of it by the receiver, so each API pays the same two copies a kernel
//! socket costs, and neither gets a shortcut the other cannot have.

use std::hint::black_box;
use std::io;
use std::time::{Duration, Instant};

use lltls::RecordLayer;

use crate::alloc::{Snapshot, Tally};
use crate::configs::Configs;

/// Room in one direction of the wire, like a socket's send buffer: bigger
/// than what either API produces per step (64 KiB of plaintext), so a step
/// never stalls on it.
pub const WIRE_CAPACITY: usize = 256 * 1024;

/// Copies as the wire and the application do: like lltls's own copies
/// (src/buffer/copy.rs), in 1 KiB pieces when the destination lies 1 to 63
/// bytes after the source modulo 4 KiB, else with one `memcpy`. There glibc's
/// `rep movsb` is about 20 times slower on AMD Zen 3 and 4 (the `copy` rows),
/// and which buffers land that way depends on where the allocator put them:
/// one whole copy per step made whole runs of either stack slow by the luck
/// of the layout.
pub fn copy_bytes(dst: &mut [u8], src: &[u8]) {
    let distance = (dst.as_ptr() as usize).wrapping_sub(src.as_ptr() as usize) % 4096;
    if (1..64).contains(&distance) {
        copy_in_pieces(dst, src);
    } else {
        dst.copy_from_slice(src);
    }
}

/// Copies in 1 KiB pieces, below the size at which glibc uses `rep movsb`.
pub fn copy_in_pieces(dst: &mut [u8], src: &[u8]) {
    assert_eq!(dst.len(), src.len());
    for (to, from) in dst.chunks_mut(1024).zip(src.chunks(1024)) {
        to.copy_from_slice(from);
    }
}

/// One direction of an in-memory connection.
pub struct Wire {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Wire {
    pub fn new() -> Self {
        Self {
            buf: vec![0; WIRE_CAPACITY],
            start: 0,
            end: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Takes as much of `data` as there is room for.
    pub fn push(&mut self, data: &[u8]) -> usize {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.buf.len() - self.end < data.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let num_bytes = data.len().min(self.buf.len() - self.end);
        copy_bytes(
            &mut self.buf[self.end..self.end + num_bytes],
            &data[..num_bytes],
        );
        self.end += num_bytes;
        num_bytes
    }

    /// Gives as much as `out` has room for.
    pub fn pull(&mut self, out: &mut [u8]) -> usize {
        let num_bytes = out.len().min(self.end - self.start);
        copy_bytes(
            &mut out[..num_bytes],
            &self.buf[self.start..self.start + num_bytes],
        );
        self.start += num_bytes;
        num_bytes
    }
}

/// rustls's buffered API reads and writes through `io` traits.
impl io::Read for Wire {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(self.pull(out))
    }
}

impl io::Write for Wire {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self.push(data) {
            0 if !data.is_empty() => Err(io::ErrorKind::WouldBlock.into()),
            num_bytes => Ok(num_bytes),
        }
    }

    /// `write_tls` hands over its queued records as one vectored write; take
    /// them all, as `writev` on a socket would.
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let mut total = 0;
        for buf in bufs {
            let num_bytes = self.push(buf);
            total += num_bytes;
            if num_bytes < buf.len() {
                break;
            }
        }
        if total == 0 && bufs.iter().any(|b| !b.is_empty()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(total)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Plaintext an application reads per `reader().read` call with the
/// buffered API: more than rustls holds at once (its received-plaintext
/// limit is 16 KiB, exceeded by at most one record).
const READ_BUF: usize = 64 * 1024;

/// The application: where received plaintext goes. It is counted, and in a
/// checking run compared with what was sent.
pub struct Sink {
    pub received: u64,
    /// The block the sender repeats; `None` in timed runs.
    expected: Option<Vec<u8>>,
    /// The buffer the buffered API copies plaintext into. One per
    /// application (an event loop reads every connection into the same
    /// buffer), so it is not counted against any connection.
    pub read_buf: Vec<u8>,
}

impl Sink {
    pub fn counting() -> Self {
        Self {
            received: 0,
            expected: None,
            read_buf: vec![0; READ_BUF],
        }
    }

    pub fn checking(expected: &[u8]) -> Self {
        Self {
            expected: Some(expected.to_vec()),
            ..Self::counting()
        }
    }

    pub fn consume(&mut self, plaintext: &[u8]) {
        if let Some(expected) = &self.expected {
            let mut rest = plaintext;
            let mut offset = (self.received % expected.len() as u64) as usize;
            while !rest.is_empty() {
                let take = rest.len().min(expected.len() - offset);
                assert!(
                    rest[..take] == expected[offset..offset + take],
                    "plaintext differs near byte {}",
                    self.received
                );
                rest = &rest[take..];
                offset = 0;
            }
        } else {
            black_box(plaintext);
        }
        self.received += plaintext.len() as u64;
    }
}

/// One side of a connection, through either API.
pub trait Endpoint {
    /// Offers plaintext to send; returns how much the connection took
    /// (`0` when it cannot take more before `flush`).
    fn write_app(&mut self, app_data: &[u8]) -> usize;
    /// Moves the TLS bytes it has ready onto `wire`; returns how many.
    fn flush(&mut self, wire: &mut Wire) -> usize;
    /// Takes TLS bytes from `wire`, processes them and hands the plaintext
    /// to `sink`; returns how many bytes it took off the wire.
    fn receive(&mut self, wire: &mut Wire, sink: &mut Sink) -> usize;
    fn is_handshaking(&self) -> bool;
    fn resumed(&self) -> bool;
    /// Gives back what buffer memory the API lets an idle connection give
    /// back; returns the buffer bytes still held in caller-visible buffers
    /// (`None` where the API keeps its buffers out of sight).
    fn release_buffers(&mut self) -> Option<usize>;
    /// The lltls record layer protecting records now (`None` for the
    /// buffered API).
    fn record_layer(&self) -> Option<RecordLayer> {
        None
    }
    /// The handshake is over and nothing is left to move either way: an
    /// API that goes on through split halves splits here, once, outside
    /// any timed span.
    fn connected(&mut self) {}
}

/// Time and allocations spent on one side.
#[derive(Default, Clone, Copy)]
pub struct Meter {
    pub time: Duration,
    pub alloc: Tally,
    /// Time by the thread's CPU clock (a system call per reading, fine for
    /// handshake steps) rather than the wall clock (cheap enough for every
    /// record of a bulk transfer).
    cpu_clock: bool,
}

impl Meter {
    /// A meter timing by the thread's CPU clock.
    pub fn cpu() -> Self {
        Self {
            cpu_clock: true,
            ..Self::default()
        }
    }

    pub fn run<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let started = if self.cpu_clock {
            Stopwatch::start()
        } else {
            Stopwatch::wall()
        };
        let before = Snapshot::now();
        let result = f();
        self.alloc += before.since();
        self.time += Duration::from_secs_f64(started.seconds());
        result
    }
}

/// Both wires of a connection.
pub struct Wires {
    pub client_to_server: Wire,
    pub server_to_client: Wire,
}

impl Wires {
    pub fn new() -> Self {
        Self {
            client_to_server: Wire::new(),
            server_to_client: Wire::new(),
        }
    }
}

/// Upper bound on exchange rounds for a handshake (it needs 2 or 3, plus
/// one for the tickets).
const MAX_HANDSHAKE_ROUNDS: usize = 16;

/// Drives both sides until the handshake is done and nothing more moves
/// (the client has processed the server's session tickets).
pub fn connect(
    client: &mut impl Endpoint,
    server: &mut impl Endpoint,
    wires: &mut Wires,
    sink: &mut Sink,
    client_meter: &mut Meter,
    server_meter: &mut Meter,
) {
    for _ in 0..MAX_HANDSHAKE_ROUNDS {
        let mut moved = client_meter.run(|| {
            client.receive(&mut wires.server_to_client, sink)
                + client.flush(&mut wires.client_to_server)
        });
        moved += server_meter.run(|| {
            server.receive(&mut wires.client_to_server, sink)
                + server.flush(&mut wires.server_to_client)
        });
        if moved == 0 && !client.is_handshaking() && !server.is_handshaking() {
            client.connected();
            server.connected();
            return;
        }
    }
    panic!("handshake did not finish within {MAX_HANDSHAKE_ROUNDS} rounds");
}

/// Sends `writes` application writes of `block` from `sender` to `receiver`
/// and waits until all of it arrived.
///
/// Each step offers the sender the rest of the current write once (both
/// APIs take at most 64 KiB of plaintext per offer), moves its records onto
/// the wire, and lets the receiver take everything off it.
pub fn transfer(
    sender: &mut impl Endpoint,
    receiver: &mut impl Endpoint,
    wire: &mut Wire,
    block: &[u8],
    writes: usize,
    sink: &mut Sink,
    (sender_meter, receiver_meter): (&mut Meter, &mut Meter),
) {
    let target = sink.received + (block.len() * writes) as u64;
    for _ in 0..writes {
        let mut offset = 0;
        while offset < block.len() {
            let (taken, flushed) =
                sender_meter.run(|| (sender.write_app(&block[offset..]), sender.flush(wire)));
            offset += taken;
            let received = receiver_meter.run(|| receiver.receive(wire, sink));
            assert!(
                taken + flushed + received > 0,
                "bulk transfer stalled at {offset} of {}",
                block.len()
            );
        }
    }
    // Whatever is still queued on the sender's side.
    while sink.received < target {
        let flushed = sender_meter.run(|| sender.flush(wire));
        let received = receiver_meter.run(|| receiver.receive(wire, sink));
        assert!(flushed + received > 0, "bulk transfer stalled at the end");
    }
}

/// Makes connections through one API.
pub trait Api {
    const NAME: &'static str;
    /// The lltls record layer its connections use after the handshake
    /// (`None` for the buffered API).
    const RECORD_LAYER: Option<RecordLayer>;
    /// Whether its rustls configs need `enable_secret_extraction` (lltls's
    /// in-place record layer takes the traffic secrets from rustls).
    const SECRET_EXTRACTION: bool = matches!(Self::RECORD_LAYER, Some(RecordLayer::InPlace));
    /// Which rustls's configurations it takes.
    type Configs: Configs;
    type Client: Endpoint;
    type Server: Endpoint;
    fn client(config: &<Self::Configs as Configs>::Client) -> Self::Client;
    fn server(config: &<Self::Configs as Configs>::Server) -> Self::Server;
}

/// Times a run by the CPU time this thread got, not the wall clock: the
/// machine is shared (two cores, other builds), and time spent waiting for
/// a core is not the code's. `CLOCK_THREAD_CPUTIME_ID` counts exactly that,
/// in nanoseconds; where it fails, the wall clock is used.
pub struct Stopwatch {
    wall: Instant,
    cpu: Option<Duration>,
}

fn thread_cpu_time() -> Option<Duration> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the duration of the
    // call, which is all clock_gettime requires.
    let result = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    (result == 0).then(|| Duration::new(now.tv_sec as u64, now.tv_nsec as u32))
}

impl Stopwatch {
    pub fn start() -> Self {
        Self {
            cpu: thread_cpu_time(),
            wall: Instant::now(),
        }
    }

    /// A stopwatch on the wall clock only.
    pub fn wall() -> Self {
        Self {
            cpu: None,
            wall: Instant::now(),
        }
    }

    /// Seconds since `start`: on-CPU time where known, else wall time.
    pub fn seconds(&self) -> f64 {
        match (self.cpu, thread_cpu_time()) {
            (Some(start), Some(now)) if now > start => (now - start).as_secs_f64(),
            _ => self.wall.elapsed().as_secs_f64(),
        }
    }
}

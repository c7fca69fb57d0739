//! The caller-owned buffers: TLS bytes received ([`IncomingTls`]), TLS bytes
//! to send ([`OutgoingTls`]), and what backs them ([`Storage`]).

mod copy;
mod incoming;
mod outgoing;
mod storage;

pub(crate) use copy::copy_bytes;
pub(crate) use incoming::HANDSHAKE_READ_SIZE;
pub use incoming::{IncomingTls, MAX_HANDSHAKE_BUFFER, MAX_RECORD_SIZE};
pub use outgoing::OutgoingTls;
pub(crate) use outgoing::WriteError;
pub use storage::Storage;

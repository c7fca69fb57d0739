//! A TLS echo server on two threads per connection: after the handshake the
//! connection is split, one thread receives and the other sends, both at
//! once, each with its own buffer. The receiving thread hands plaintext to
//! the sending one over a channel; KeyUpdate answers and alerts reach the
//! send half through the connection itself.
//!
//! It prints `listening on ADDR`, serves one connection, and exits.
//!
//! ```sh
//! cargo run --example split_echo -- certs/fullchain.pem certs/server.key &
//! llclient --cafile certs/ca.pem --port PORT localhost < some-file
//! ```
//!
//! CI echoes a file through it with `llclient` (`scripts/interop.sh`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use lltls::{Error, LlServerConnection, Next, OutgoingTls, Pump, ReceiveStatus, ServerSendHalf};
use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};

/// What the receiving thread tells the sending one.
enum ToSender {
    Echo(Vec<u8>),
    /// The receive half queued a record (or failed): flush the send half.
    Flush,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let [chain, key] = &std::env::args().skip(1).collect::<Vec<_>>()[..] else {
        return Err("usage: split_echo CHAIN KEY".into());
    };
    let chain = CertificateDer::pem_file_iter(chain)?.collect::<Result<Vec<_>, _>>()?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, PrivateKeyDer::from_pem_file(key)?)?;
    config.enable_secret_extraction = true; // for the in-place record layer

    let listener = TcpListener::bind("127.0.0.1:0")?;
    println!("listening on {}", listener.local_addr()?);
    std::io::stdout().flush()?;
    let (mut socket, _) = listener.accept()?;
    socket.set_read_timeout(Some(Duration::from_secs(30)))?;
    socket.set_write_timeout(Some(Duration::from_secs(30)))?;

    // The handshake, with a pump, until the in-place record layer runs.
    let mut pump = Pump::new(LlServerConnection::new(Arc::new(config))?);
    let mut complete = false;
    loop {
        match pump.poll()? {
            Next::Transmit => {
                let num_bytes = socket.write(pump.to_transmit())?;
                pump.transmitted(num_bytes);
            }
            Next::HandshakeComplete(_) => complete = true,
            // Plaintext already here stays in the connection for the
            // receive half.
            Next::Receive | Next::Plaintext if complete => break,
            Next::Receive => {
                let num_bytes = socket.read(pump.receive_buffer())?;
                pump.received(num_bytes)?;
            }
            other => return Err(format!("during the handshake: {other:?}").into()),
        }
    }
    let (conn, mut incoming, outgoing) = pump.into_parts();
    let (mut send, mut receive) = conn.into_split().map_err(|(_, error)| error)?;

    // The receiving thread: plaintext out to the sender, until close_notify.
    let (to_sender, from_receiver) = mpsc::channel();
    let mut reader = socket.try_clone()?;
    let receiving = thread::spawn(move || -> Result<(), Error> {
        let result = loop {
            match receive.process(&mut incoming) {
                Ok(ReceiveStatus::AppDataAvailable(mut records)) => {
                    while let Some(record) = records.next_record() {
                        let _ = to_sender.send(ToSender::Echo(record?.to_vec()));
                    }
                }
                Ok(ReceiveStatus::NeedsMoreTlsData) => {
                    let num_bytes = reader.read(incoming.unfilled()).unwrap_or(0);
                    if num_bytes == 0 {
                        break receive.handle_eof();
                    }
                    incoming.advance(num_bytes);
                }
                Ok(ReceiveStatus::FlushSender) => drop(to_sender.send(ToSender::Flush)),
                Ok(ReceiveStatus::PeerClosed) => break Ok(()),
                Ok(_) => {}
                Err(error) => break Err(error),
            }
        };
        if result.is_err() {
            // The send half seals the alert due.
            let _ = to_sender.send(ToSender::Flush);
        }
        result // dropping `to_sender` tells the sender we are done
    });

    // This thread sends: echoes, then close_notify once the peer closed.
    let result = echo(&mut send, outgoing, &mut socket, from_receiver);
    let received = receiving.join().map_err(|_| "receiving thread panicked")?;
    received?;
    result
}

fn echo(
    send: &mut ServerSendHalf,
    mut outgoing: OutgoingTls,
    socket: &mut TcpStream,
    from_receiver: mpsc::Receiver<ToSender>,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut transmit = |outgoing: &mut OutgoingTls| -> std::io::Result<()> {
        socket.write_all(outgoing.filled())?;
        outgoing.discard(outgoing.len());
        Ok(())
    };
    transmit(&mut outgoing)?;
    for message in from_receiver {
        let result = match message {
            ToSender::Echo(data) => {
                let mut rest = &data[..];
                loop {
                    match send.encrypt(rest, &mut outgoing) {
                        Ok(taken) if taken < rest.len() => rest = &rest[taken..],
                        Ok(_) => break Ok(()),
                        Err(error) => break Err(error),
                    }
                }
            }
            ToSender::Flush => send.flush(&mut outgoing),
        };
        // An error's fatal alert, if any, is in `outgoing`: it goes first.
        transmit(&mut outgoing)?;
        result?;
    }
    send.queue_close_notify(&mut outgoing)?;
    transmit(&mut outgoing)?;
    Ok(())
}

/// The provider of whichever backend this build has.
#[cfg(feature = "aws-lc-rs")]
fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

#[cfg(not(feature = "aws-lc-rs"))]
fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

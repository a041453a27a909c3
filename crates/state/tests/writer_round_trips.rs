//! Round trips of the PostgreSQL batch writer, counted on the wire: a relay between the store
//! and the server counts each connection's Sync and Query messages (each is one wait for
//! the server's ReadyForQuery). A small batch is one statement, so it must cost one round
//! trip; sqlx's ping of every connection handed back to a pool made it two, and the next
//! batch waited for that ping (`src/sql/postgres/held.rs`). This test owns that count only:
//! what the batches write is `store_conformance`'s.

mod conformance;

use conformance::bench::{four_step_template, serial_batches};
use conformance::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use tasker_model::Timestamp;
use tasker_state::{PostgresStore, Store};

/// What one client connection sent.
#[derive(Default, Debug, Clone)]
struct Sent {
    /// Sync and simple Query messages: each waits for a ReadyForQuery.
    round_trips: usize,
    /// Parse messages (a statement prepared: its own Sync).
    parses: usize,
    /// Whether it prepared the batch write (`WITH w1 AS (…)`).
    writes: bool,
}

/// Accepts connections on a local port and relays each to `server`, counting what the
/// client sends (`Sent`, one per connection, in accept order).
fn relay(server: String) -> (u16, Arc<Mutex<Vec<Sent>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let port = listener.local_addr().unwrap().port();
    let sent: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let all = sent.clone();
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(upstream) = TcpStream::connect(&server) else {
                return;
            };
            let index = {
                let mut all = all.lock().unwrap();
                all.push(Sent::default());
                all.len() - 1
            };
            let (mut from_server, mut to_client) =
                (upstream.try_clone().unwrap(), client.try_clone().unwrap());
            thread::spawn(move || {
                let _ = std::io::copy(&mut from_server, &mut to_client);
                let _ = to_client.shutdown(Shutdown::Both);
            });
            let all = all.clone();
            thread::spawn(move || pump(client, upstream, &all, index));
        }
    });
    (port, sent)
}

/// Forwards the client's bytes to the server, reading its messages as they pass: untyped
/// packets (SSL request, startup) until the startup message, then typed ones.
fn pump(mut client: TcpStream, mut server: TcpStream, all: &Mutex<Vec<Sent>>, index: usize) {
    let mut pending: Vec<u8> = Vec::new();
    let mut started = false;
    let mut buf = [0u8; 16384];
    loop {
        let n = match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if server.write_all(&buf[..n]).is_err() {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
        loop {
            let head = if started { 1 } else { 0 };
            if pending.len() < head + 4 {
                break;
            }
            let len = u32::from_be_bytes(pending[head..head + 4].try_into().unwrap()) as usize;
            if pending.len() < head + len {
                break;
            }
            let message: Vec<u8> = pending.drain(..head + len).collect();
            if !started {
                // 196608: protocol 3.0, the startup message; anything else (SSL or GSS
                // request) is followed by another untyped packet.
                started = u32::from_be_bytes(message[4..8].try_into().unwrap()) == 196608;
                continue;
            }
            let mut all = all.lock().unwrap();
            let sent = &mut all[index];
            match message[0] {
                b'S' | b'Q' => sent.round_trips += 1,
                b'P' => {
                    sent.parses += 1;
                    if String::from_utf8_lossy(&message).contains("WITH w1 AS") {
                        sent.writes = true;
                    }
                }
                _ => {}
            }
        }
    }
    let _ = server.shutdown(Shutdown::Both);
}

/// `url` with its host and port replaced by 127.0.0.1:`port`.
fn through(url: &str, port: u16) -> (String, String) {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (user, rest) = match rest.split_once('@') {
        Some((user, rest)) => (format!("{user}@"), rest),
        None => (String::new(), rest),
    };
    let cut = rest.find(['/', '?']).unwrap_or(rest.len());
    let server = match &rest[..cut] {
        "" | "localhost" => "127.0.0.1:5432".to_string(),
        host if host.contains(':') => host.to_string(),
        host => format!("{host}:5432"),
    };
    (
        format!("{scheme}://{user}127.0.0.1:{port}{}", &rest[cut..]),
        server,
    )
}

#[test]
fn a_small_batch_is_one_round_trip() {
    let Some(schema) = PgSchema::new("round_trips") else {
        return;
    };
    let (_, server) = through(&schema.url(), 0);
    let (port, sent) = relay(server);
    let (url, _) = through(&schema.url(), port);
    let store = PostgresStore::open(&url).expect("opening the store through the relay");
    let template = four_step_template("linear", true);
    store.register_template(&template).unwrap();
    // A serial engine's batches for 4-step chains, each committed before the next is sent,
    // as the state actor does.
    let tasks = 4;
    let mut batches = 0;
    for _ in 0..tasks {
        let now = Timestamp::now();
        let plan = serial_batches(new_task(&store, &template, now), now);
        for batch in plan {
            apply(&store, batch).unwrap();
            batches += 1;
        }
    }
    let writer = sent
        .lock()
        .unwrap()
        .iter()
        .find(|s| s.writes)
        .cloned()
        .expect("a connection prepared the batch write");
    drop(store);
    // Each prepared statement shape has a Sync of its own; every other round trip of the
    // writer's connection is a batch's. Before the writer kept its connection, each batch
    // also paid the pool's ping: 2 per batch. Not `<= 1.0`: a kept connection idle for a
    // second is pinged first (held.rs), and a loaded CI machine may stall this thread that
    // long between two batches; a few such pings stay far below the 2 a batch this catches.
    let per_batch = (writer.round_trips - writer.parses) as f64 / batches as f64;
    assert!(
        per_batch < 1.5,
        "{batches} batches took {} round trips besides {} prepares ({per_batch:.2} a batch): {writer:?}",
        writer.round_trips - writer.parses,
        writer.parses
    );
}

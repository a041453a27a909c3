//! A relay between a store and the PostgreSQL server that reads what the store sends, for
//! tests that must see the wire: how many round trips a batch costs (`writer_round_trips`),
//! which statements ran and in what order (`deferred_commits`), and a store opened through
//! one. It only reads the client's messages; it changes nothing on the way.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use tasker_state::PostgresStore;

use super::PgSchema;

/// What one client connection sent.
#[derive(Default, Debug, Clone)]
pub struct Sent {
    /// Sync and simple Query messages: each waits for a ReadyForQuery.
    pub round_trips: usize,
    /// Parse messages (a statement prepared: its own Sync).
    pub parses: usize,
    /// Whether it prepared the batch write (`WITH w1 AS (…)`).
    pub writes: bool,
    /// The text of each statement prepared, by name (`""`: the unnamed one).
    prepared: HashMap<String, String>,
}

/// What the relay saw: per connection (in accept order), and every statement run on any of
/// them as (connection, text), in the order the client asked for it.
#[derive(Default, Debug)]
pub struct Wire {
    pub connections: Vec<Sent>,
    pub statements: Vec<(usize, String)>,
}

/// Accepts connections on a local port and relays each to `server`, reading what the client
/// sends into a [`Wire`].
pub fn relay(server: String) -> (u16, Arc<Mutex<Wire>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let port = listener.local_addr().unwrap().port();
    let wire: Arc<Mutex<Wire>> = Arc::default();
    let all = wire.clone();
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(upstream) = TcpStream::connect(&server) else {
                return;
            };
            let index = {
                let mut all = all.lock().unwrap();
                all.connections.push(Sent::default());
                all.connections.len() - 1
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
    (port, wire)
}

/// The NUL-terminated string at `at` in `body`, and where the next field starts.
fn c_string(body: &[u8], at: usize) -> (String, usize) {
    let end = body[at..]
        .iter()
        .position(|b| *b == 0)
        .map_or(body.len(), |n| at + n);
    (
        String::from_utf8_lossy(&body[at..end]).into_owned(),
        end + 1,
    )
}

/// Forwards the client's bytes to the server, reading its messages as they pass: untyped
/// packets (SSL request, startup) until the startup message, then typed ones.
fn pump(mut client: TcpStream, mut server: TcpStream, all: &Mutex<Wire>, index: usize) {
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
            let body = &message[5..];
            match message[0] {
                b'S' => all.connections[index].round_trips += 1,
                b'Q' => {
                    all.connections[index].round_trips += 1;
                    let (text, _) = c_string(body, 0);
                    all.statements.push((index, text));
                }
                b'P' => {
                    let (name, next) = c_string(body, 0);
                    let (text, _) = c_string(body, next);
                    let sent = &mut all.connections[index];
                    sent.parses += 1;
                    sent.writes |= text.contains("WITH w1 AS");
                    sent.prepared.insert(name, text);
                }
                b'B' => {
                    let (_portal, next) = c_string(body, 0);
                    let (name, _) = c_string(body, next);
                    let text = all.connections[index]
                        .prepared
                        .get(&name)
                        .cloned()
                        .unwrap_or_default();
                    all.statements.push((index, text));
                }
                _ => {}
            }
        }
    }
    let _ = server.shutdown(Shutdown::Both);
}

/// A store on a fresh schema (named after `tag`) that reaches the server through a
/// [`relay`]; with it the schema, which the test keeps to its end (dropping it drops the
/// schema), and what the relay sees. `None`, the test skipped, without a PostgreSQL server.
pub fn relayed_store(tag: &str) -> Option<(PgSchema, PostgresStore, Arc<Mutex<Wire>>)> {
    let schema = PgSchema::new(tag)?;
    let (_, server) = through(&schema.url(), 0);
    let (port, wire) = relay(server);
    let (url, _) = through(&schema.url(), port);
    let store = PostgresStore::open(&url).expect("opening the store through the relay");
    Some((schema, store, wire))
}

/// `url` with its host and port replaced by 127.0.0.1:`port`, and the server it named
/// (`host:port`).
pub fn through(url: &str, port: u16) -> (String, String) {
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

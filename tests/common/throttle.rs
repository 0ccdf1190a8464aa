//! A TCP relay on 127.0.0.1 that paces what a server sends to each
//! connection at a fixed rate, for an honestly slow origin. nginx's own
//! `limit_rate` is no such thing: it allows `rate × (whole seconds since
//! the request started + 1)` bytes, so every response's first second (and
//! any range smaller than the rate) goes out at full speed.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Bytes relayed per write: the largest burst a client sees.
const CHUNK_BYTES: usize = 4096;

pub struct Throttle {
    pub port: u16,
    stopped: Arc<AtomicBool>,
}

impl Throttle {
    /// Relays connections to `127.0.0.1:upstream_port`, each one's replies
    /// paced at `bytes_per_second`; requests pass unpaced.
    pub fn start(upstream_port: u16, bytes_per_second: f64) -> Throttle {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stopped = Arc::new(AtomicBool::new(false));
        let stop = stopped.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream_port)) else {
                    continue;
                };
                relay(client, server, bytes_per_second);
            }
        });
        Throttle { port, stopped }
    }
}

impl Drop for Throttle {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Relaxed);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Copies both ways on two threads; either side closing closes both.
fn relay(client: TcpStream, server: TcpStream, bytes_per_second: f64) {
    let (Ok(client_out), Ok(server_in)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut &client, &mut &server_in);
        let _ = server_in.shutdown(Shutdown::Both);
        let _ = client.shutdown(Shutdown::Both);
    });
    std::thread::spawn(move || {
        paced_copy(&server, &client_out, bytes_per_second);
        let _ = server.shutdown(Shutdown::Both);
        let _ = client_out.shutdown(Shutdown::Both);
    });
}

/// Writes what `from` sends to `to`, never ahead of `bytes_per_second`
/// counted from when the data arrived (an idle link earns no credit).
fn paced_copy(mut from: &TcpStream, mut to: &TcpStream, bytes_per_second: f64) {
    let mut buffer = [0u8; CHUNK_BYTES];
    let mut next_write = Instant::now();
    loop {
        let Ok(read) = from.read(&mut buffer) else {
            return;
        };
        if read == 0 {
            return;
        }
        let now = Instant::now();
        if next_write > now {
            std::thread::sleep(next_write - now);
        }
        if to.write_all(&buffer[..read]).is_err() {
            return;
        }
        next_write = next_write.max(now) + Duration::from_secs_f64(read as f64 / bytes_per_second);
    }
}

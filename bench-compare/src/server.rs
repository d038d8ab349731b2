//! (h) A small HTTP/1.1-style server and its clients in one process, over
//! 127.0.0.1 only.
//!
//! A thread pool serves keep-alive connections; every request is parsed into
//! owned `String`s and `HashMap`s (request line, query, headers) and answered
//! with a generated JSON-ish body of 100 B–64 KiB. Clients parse the
//! response the same way. The run is bounded by a request count and a time
//! limit, and every socket has a read timeout, so it always ends by itself.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::raw::XorShift;

const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// What to run.
#[derive(Clone, Copy, Debug)]
pub struct ServerConfig {
    /// Threads in the server's pool.
    pub workers: usize,
    /// Client threads, one keep-alive connection each.
    pub clients: usize,
    /// Requests in all (split over the clients).
    pub requests: u64,
    /// The clients stop sending after this long, whatever the count.
    pub time_limit: Duration,
}

/// Runs the server and clients; returns the requests answered and the time
/// from the clients' start to the last answer.
pub fn run(cfg: ServerConfig) -> (u64, Duration) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("local addr");
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");

    // Acceptor: takes exactly `clients` connections (or gives up at the time
    // limit) and queues them for the pool.
    let (conn_tx, conn_rx) = channel::<TcpStream>();
    let conn_rx = Arc::new(Mutex::new(conn_rx));
    let deadline = Instant::now() + cfg.time_limit + IO_TIMEOUT;
    let acceptor = thread::spawn(move || {
        let mut accepted = 0;
        while accepted < cfg.clients && Instant::now() < deadline {
            match listener.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false).expect("blocking stream");
                    conn_tx.send(s).expect("pool alive");
                    accepted += 1;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    thread::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    });
    let pool: Vec<_> = (0..cfg.workers)
        .map(|_| {
            let rx = Arc::clone(&conn_rx);
            thread::spawn(move || {
                loop {
                    let next = rx.lock().unwrap().recv();
                    match next {
                        Ok(stream) => serve(stream),
                        Err(_) => break, // acceptor done and queue empty
                    }
                }
            })
        })
        .collect();

    let answered = AtomicU64::new(0);
    let per_client = cfg.requests.div_ceil(cfg.clients as u64);
    let start = Instant::now();
    let stop_at = start + cfg.time_limit;
    thread::scope(|s| {
        for c in 0..cfg.clients {
            let answered = &answered;
            s.spawn(move || {
                let n = client(addr, c as u64, per_client, stop_at);
                answered.fetch_add(n, Ordering::Relaxed);
            });
        }
    });
    let elapsed = start.elapsed();
    acceptor.join().expect("acceptor");
    for w in pool {
        w.join().expect("server worker");
    }
    (answered.into_inner(), elapsed)
}

/// A parsed request: everything owned, as a real server's handler gets it.
struct Request {
    method: String,
    path: String,
    query: HashMap<String, String>,
    headers: HashMap<String, String>,
}

fn parse_request(line: &str, head: &[String]) -> Option<Request> {
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?;
    let (path, q) = target.split_once('?').unwrap_or((target, ""));
    let query = q
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Some(Request {
        method,
        path: path.to_string(),
        query,
        headers: parse_headers(head),
    })
}

fn parse_headers(head: &[String]) -> HashMap<String, String> {
    head.iter()
        .filter_map(|h| h.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect()
}

/// Reads a line without its CRLF; `None` at end of stream.
fn read_line(r: &mut impl BufRead) -> Option<String> {
    let mut line = String::new();
    match r.read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => {
            line.truncate(line.trim_end_matches(['\r', '\n']).len());
            Some(line)
        }
    }
}

/// Reads a head: the first line and the header lines up to the blank one.
fn read_head(r: &mut impl BufRead) -> Option<(String, Vec<String>)> {
    let first = read_line(r)?;
    let mut head = Vec::new();
    loop {
        let l = read_line(r)?;
        if l.is_empty() {
            return Some((first, head));
        }
        head.push(l);
    }
}

/// Serves one keep-alive connection until the client closes it.
fn serve(stream: TcpStream) {
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    stream.set_nodelay(true).expect("nodelay");
    let mut w = stream.try_clone().expect("clone stream");
    let mut r = BufReader::new(stream);
    while let Some((line, head)) = read_head(&mut r) {
        let Some(req) = parse_request(&line, &head) else {
            return;
        };
        let size: usize = req
            .query
            .get("size")
            .and_then(|s| s.parse().ok())
            .unwrap_or(100);
        let body = make_body(&req, size);
        let mut resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nX-Path: {}\r\n\r\n",
            body.len(),
            req.path
        )
        .into_bytes();
        resp.extend_from_slice(body.as_bytes());
        if w.write_all(&resp).is_err() {
            return;
        }
    }
}

/// A body of exactly `size` bytes built from the request's fields.
fn make_body(req: &Request, size: usize) -> String {
    let user = req.query.get("user").map(String::as_str).unwrap_or("-");
    let agent = req
        .headers
        .get("user-agent")
        .map(String::as_str)
        .unwrap_or("-");
    let mut body = String::with_capacity(64);
    let mut i = 0u64;
    while body.len() < size {
        let item = format!(
            "{{\"i\":{i},\"m\":\"{}\",\"u\":\"{user}\",\"a\":\"{agent}\",\"p\":\"{}\"}}\n",
            req.method, req.path
        );
        body.push_str(&item);
        i += 1;
    }
    body.truncate(size);
    body
}

/// One client: `n` requests on one connection (fewer if `stop_at` passes).
/// Returns the responses received and checked.
fn client(addr: std::net::SocketAddr, id: u64, n: u64, stop_at: Instant) -> u64 {
    let stream = TcpStream::connect(addr).expect("connect 127.0.0.1");
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    stream.set_nodelay(true).expect("nodelay");
    let mut w = stream.try_clone().expect("clone stream");
    let mut r = BufReader::new(stream);
    let mut rng = XorShift::new(0x4 + id);
    let mut done = 0;
    while done < n && Instant::now() < stop_at {
        let size = rng.log_range(100, 64 << 10);
        let req = format!(
            "GET /items/{}?size={size}&user=u{}&tag=bench HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: memalloc-bench/{id}\r\nAccept: */*\r\n\r\n",
            rng.next_u64() % 100_000,
            rng.next_u64() % 1000
        );
        if w.write_all(req.as_bytes()).is_err() {
            break;
        }
        let Some((status, head)) = read_head(&mut r) else {
            break;
        };
        let headers = parse_headers(&head);
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        if r.read_exact(&mut body).is_err() {
            break;
        }
        assert!(
            status.starts_with("HTTP/1.1 200") && len == size,
            "bad response: {status}, {len} B for {size}"
        );
        done += 1;
    }
    done
}

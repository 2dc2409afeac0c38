//! HTTP/1.1 by hand over a raw socket, for tests about what a client holds open: a head sent
//! in part, a keep-alive connection left idle, connections beyond the limit.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr)
        .await
        .expect("connect to the test server")
}

/// A complete `GET` request head for `path`, keep-alive.
pub fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: klaxon.test\r\n\r\n")
}

pub async fn send(stream: &mut TcpStream, text: &str) {
    stream
        .write_all(text.as_bytes())
        .await
        .expect("write to the test server");
}

/// Reads one response (head plus a `Content-Length` body); returns its status code, or
/// `None` if the connection ended first.
pub async fn read_response(stream: &mut TcpStream) -> Option<u16> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find(&received, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..end]).to_string();
            let length = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if received.len() >= end + 4 + length {
                return head.split(' ').nth(1)?.parse().ok();
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
        }
    }
}

/// How long until the server closes the connection (EOF or reset), reading and discarding
/// anything it sends first; `None` if it is still open after `bound`.
pub async fn closed_within(stream: &mut TcpStream, bound: Duration) -> Option<Duration> {
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + bound;
    let mut chunk = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

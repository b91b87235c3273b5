//! Holds many keep-alive connections to a redirect server, each sending requests at a
//! fixed rate (an open model: a slow answer does not slow the senders), and reports the
//! latency distribution. wrk and k6 cannot do this at 10,000 connections on two cores:
//! wrk is a closed loop (each connection sends as soon as its answer arrives, so latency
//! grows with the connection count by Little's law), and k6 spends its CPU on JavaScript.
//!
//! Latency is measured from when a request was due, not when it was sent, so a stalled
//! connection counts its whole delay (no coordinated omission).
//!
//! Usage: `hold ADDR CODES_FILE CONNECTIONS RATE_PER_CONNECTION SECONDS`
//! e.g. `hold 127.0.0.1:8081 codes.txt 10000 2 30`. Prints one JSON line.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

struct Totals {
    errors: AtomicU64,
    connected: AtomicU64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: hold ADDR CODES_FILE CONNECTIONS RATE_PER_CONNECTION SECONDS");
        std::process::exit(2);
    }
    let addr = args[1].clone();
    let codes: Arc<Vec<String>> = Arc::new(
        std::fs::read_to_string(&args[2])?
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
    );
    let connections: usize = args[3].parse()?;
    let rate: f64 = args[4].parse()?;
    let seconds: u64 = args[5].parse()?;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let totals = Arc::new(Totals {
        errors: AtomicU64::new(0),
        connected: AtomicU64::new(0),
    });
    // Connections open over a few seconds (as users arrive), then everyone sends for
    // `seconds`; only that window is measured.
    let ramp = Duration::from_secs(5);
    let start = Instant::now() + ramp + Duration::from_secs(1);
    let end = start + Duration::from_secs(seconds);
    let mut tasks = Vec::with_capacity(connections);
    for i in 0..connections {
        let (addr, codes, totals) = (addr.clone(), codes.clone(), totals.clone());
        let open_at = Instant::now() + ramp.mul_f64(i as f64 / connections as f64);
        // Each connection's first request at a random phase within one interval.
        let phase = interval.mul_f64(rand::random::<f64>());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(open_at.into()).await;
            let mut latencies = Vec::with_capacity((seconds as f64 * rate) as usize + 1);
            let Ok(mut stream) = TcpStream::connect(&addr).await else {
                totals.errors.fetch_add(1, Ordering::Relaxed);
                return latencies;
            };
            let _ = stream.set_nodelay(true);
            totals.connected.fetch_add(1, Ordering::Relaxed);
            let mut due = start + phase;
            let mut buf = vec![0u8; 4096];
            let mut n = i;
            while due < end {
                tokio::time::sleep_until(due.into()).await;
                n = n.wrapping_add(7919);
                let code = &codes[n % codes.len()];
                let request =
                    format!("GET /{code} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: hold\r\n\r\n");
                let ok = stream.write_all(request.as_bytes()).await.is_ok()
                    && read_head(&mut stream, &mut buf).await;
                if !ok {
                    totals.errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                latencies.push(due.elapsed().as_micros() as u32);
                due += interval;
            }
            latencies
        }));
    }
    let mut all: Vec<u32> = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap_or_default());
    }
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        f64::from(all[i]) / 1000.0
    };
    println!(
        "{{\"connections\":{connections},\"held\":{},\"rate_per_connection\":{rate},\"seconds\":{seconds},\
         \"requests\":{},\"requests_per_second\":{:.0},\"errors\":{},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\
         \"p999_ms\":{:.3},\"max_ms\":{:.3}}}",
        totals.connected.load(Ordering::Relaxed),
        all.len(),
        all.len() as f64 / seconds as f64,
        totals.errors.load(Ordering::Relaxed),
        pct(0.50),
        pct(0.99),
        pct(0.999),
        pct(1.0),
    );
    Ok(())
}

/// Reads one response head (the redirect's answers have no body); false on a broken
/// connection or an answer that is not a redirect.
async fn read_head(stream: &mut TcpStream, buf: &mut [u8]) -> bool {
    let mut filled = 0;
    loop {
        match stream.read(&mut buf[filled..]).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => filled += n,
        }
        if let Some(end) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
            let head = &buf[..end];
            return head.starts_with(b"HTTP/1.1 3") && end + 4 == filled;
        }
        if filled == buf.len() {
            return false;
        }
    }
}

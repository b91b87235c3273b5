//! `hop probe URL`: one plain HTTP/1.1 GET, exit status from the answer's status code. The
//! runtime image has no shell and no curl, so compose healthchecks run this instead.

use crate::cli::ProbeArgs;
use anyhow::{Context as _, bail};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Succeeds when `args.url` answers 2xx within the timeout.
pub async fn run(args: &ProbeArgs) -> anyhow::Result<()> {
    let timeout = Duration::from_millis(args.timeout_ms);
    let status = tokio::time::timeout(timeout, get(&args.url))
        .await
        .with_context(|| format!("{} gave no answer within {timeout:?}", args.url))??;
    if !(200..300).contains(&status) {
        bail!("{} answered {status}", args.url);
    }
    Ok(())
}

/// The status code of `GET url`.
async fn get(url: &str) -> anyhow::Result<u16> {
    let url = url::Url::parse(url).context("URL")?;
    if url.scheme() != "http" {
        bail!("only http:// URLs can be probed");
    }
    let host = url.host_str().context("the URL has no host")?;
    let port = url.port_or_known_default().unwrap_or(80);
    let mut stream = tokio::net::TcpStream::connect((host, port))
        .await
        .with_context(|| format!("connecting to {host}:{port}"))?;
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\nUser-Agent: hop-probe\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    parse_status(&head).context("not an HTTP response")
}

fn parse_status(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(
            parse_status(b"HTTP/1.0 503 Service Unavailable\r\n"),
            Some(503)
        );
        assert_eq!(parse_status(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status(b""), None);
    }
}

//! The pure half of the built-in HTTP check: the request bytes and the status-line parser.
//!
//! Only the status line of the response matters (2xx = healthy), so the reader stops there;
//! a response that does not deliver one within [`MAX_RESPONSE`] bytes is a failure. Nothing
//! here panics on any input.
use std::net::SocketAddrV4;

/// Bytes of the response read at most while looking for the status line.
pub const MAX_RESPONSE: usize = 4096;
/// Longest reason phrase kept for the log line.
const MAX_REASON: usize = 100;

/// The GET request for `path` on `addr`; the connection closes after one response.
pub fn request(addr: SocketAddrV4, path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: ipfailover/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    )
    .into_bytes()
}

/// What the bytes received so far say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// No complete status line yet; read more.
    Incomplete,
    /// A well-formed status line.
    Status {
        code: u16,
        /// Log-safe: control characters escaped, at most [`MAX_REASON`] characters.
        reason: String,
    },
    /// Not an HTTP/1.x response, or no status line within [`MAX_RESPONSE`] bytes; why.
    Invalid(String),
}

impl Parsed {
    /// Whether this is a 2xx status.
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            Parsed::Status {
                code: 200..=299,
                ..
            }
        )
    }
}

/// Parses the status line `HTTP/1.<d> <3 digits>[ <reason>]` at the start of `buf`.
pub fn parse_status(buf: &[u8]) -> Parsed {
    let Some(end) = buf.iter().position(|&b| b == b'\n') else {
        return if buf.len() >= MAX_RESPONSE {
            Parsed::Invalid(format!("no status line in the first {MAX_RESPONSE} bytes"))
        } else if buf.len() >= 5 && !buf.starts_with(b"HTTP/") {
            // Fail early on garbage instead of waiting for the cap or the timeout.
            Parsed::Invalid(format!(
                "not an HTTP response: {}",
                printable(&buf[..buf.len().min(32)])
            ))
        } else {
            Parsed::Incomplete
        };
    };
    let line = buf[..end].strip_suffix(b"\r").unwrap_or(&buf[..end]);
    let bad = || {
        Parsed::Invalid(format!(
            "bad status line: {}",
            printable(&line[..line.len().min(64)])
        ))
    };
    let Some(rest) = line.strip_prefix(b"HTTP/1.") else {
        return bad();
    };
    match rest {
        [minor, b' ', d1, d2, d3, tail @ ..]
            if minor.is_ascii_digit()
                && [d1, d2, d3].iter().all(|d| d.is_ascii_digit())
                && (tail.is_empty() || tail[0] == b' ') =>
        {
            let code = [d1, d2, d3]
                .iter()
                .fold(0u16, |n, d| n * 10 + u16::from(**d - b'0'));
            let reason = printable(tail.get(1..).unwrap_or(&[]));
            Parsed::Status { code, reason }
        }
        _ => bad(),
    }
}

/// Bytes as one log-safe line: lossy UTF-8, control characters escaped, bounded.
fn printable(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for (i, c) in text.trim().chars().enumerate() {
        if i == MAX_REASON {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn status(code: u16, reason: &str) -> Parsed {
        Parsed::Status {
            code,
            reason: reason.to_string(),
        }
    }

    #[test]
    fn request_bytes() {
        let addr = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 11), 1936);
        let r = String::from_utf8(request(addr, "/healthz/ready")).expect("ascii");
        assert!(
            r.starts_with("GET /healthz/ready HTTP/1.1\r\nHost: 192.0.2.11:1936\r\n"),
            "{r}"
        );
        assert!(r.ends_with("Connection: close\r\n\r\n"), "{r}");
        assert_eq!(r.matches("\r\n").count(), 6);
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"),
            status(200, "OK")
        );
        assert_eq!(
            parse_status(b"HTTP/1.0 503 Service Unavailable\n"),
            status(503, "Service Unavailable")
        );
        assert_eq!(parse_status(b"HTTP/1.1 204\r\n"), status(204, ""));
        assert_eq!(parse_status(b"HTTP/1.1 200 \r\n"), status(200, ""));
        assert_eq!(
            parse_status(b"HTTP/1.1 500 bad\x1b[0m\r\n"),
            status(500, "bad\\u{1b}[0m")
        );
        assert!(parse_status(b"HTTP/1.1 299 x\r\n").is_success());
        assert!(!parse_status(b"HTTP/1.1 300 x\r\n").is_success());
        assert!(!parse_status(b"HTTP/1.1 199 x\r\n").is_success());
        assert!(!parse_status(b"HTTP/1.1 200 OK").is_success());
    }

    #[test]
    fn incomplete_until_newline_or_cap() {
        for prefix in ["", "H", "HTTP/", "HTTP/1.1 200 O"] {
            assert_eq!(
                parse_status(prefix.as_bytes()),
                Parsed::Incomplete,
                "{prefix:?}"
            );
        }
        let long = [b"HTTP/1.1 200 ".as_slice(), &[b'x'; MAX_RESPONSE]].concat();
        assert!(matches!(parse_status(&long), Parsed::Invalid(_)));
        assert!(matches!(
            parse_status(b"SSH-2.0-OpenSSH"),
            Parsed::Invalid(_)
        ));
    }

    #[test]
    fn malformed_lines_are_invalid() {
        for bad in [
            &b"HTTP/2 200 OK\r\n"[..],
            b"HTTP/1.1 20 OK\r\n",
            b"HTTP/1.1 2000 OK\r\n",
            b"HTTP/1.1  200 OK\r\n",
            b"HTTP/1.1 2x0 OK\r\n",
            b"HTTP/1.1 200OK\r\n",
            b"HTTP/1.x 200 OK\r\n",
            b"http/1.1 200 OK\r\n",
            b"\r\n",
            b"\n",
            b"<html>\n",
        ] {
            assert!(
                matches!(parse_status(bad), Parsed::Invalid(_)),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn never_panics_on_any_prefix_or_byte() {
        let good = b"HTTP/1.1 503 Service Unavailable\r\n";
        for n in 0..=good.len() {
            let _ = parse_status(&good[..n]);
        }
        for b in 0..=255u8 {
            for at in 0..good.len() {
                let mut v = good.to_vec();
                v[at] = b;
                let _ = parse_status(&v);
            }
        }
        assert_eq!(printable(&[b'a'; 200]).len(), MAX_REASON + 3);
    }
}

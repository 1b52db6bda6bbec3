//! A minimal blocking HTTP/1.1 server: enough for the built-in apps (request line, headers,
//! a Content-Length or chunked body, keep-alive). One thread per connection keeps an idle
//! app at a few hundred kilobytes.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};

pub struct Request {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
}

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Bodies larger than this are refused (the apps store small texts).
const MAX_BODY: usize = 16 << 20;

pub fn serve(addr: &str, handler: fn(&Request) -> Response) -> io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        std::thread::spawn(move || {
            let _ = handle(conn, handler);
        });
    }
    Ok(())
}

fn handle(conn: TcpStream, handler: fn(&Request) -> Response) -> io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut writer = conn;
    loop {
        let Some((req, keep_alive)) = read_request(&mut reader)? else { return Ok(()) };
        let resp = handler(&req);
        let reason = match resp.status {
            200 => "OK",
            400 => "Bad Request",
            413 => "Payload Too Large",
            _ => "Internal Server Error",
        };
        let head = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
            resp.status,
            resp.body.len(),
            if keep_alive { "keep-alive" } else { "close" }
        );
        writer.write_all(head.as_bytes())?;
        writer.write_all(&resp.body)?;
        writer.flush()?;
        if !keep_alive {
            return Ok(());
        }
    }
}

/// One request, or None at a clean end of the connection.
fn read_request(r: &mut impl BufRead) -> io::Result<Option<(Request, bool)>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path), version) = (parts.next(), parts.next(), parts.next()) else {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "bad request line"));
    };
    let (method, path) = (method.to_string(), path.to_string());
    let mut keep_alive = version == Some("HTTP/1.1");
    let (mut length, mut chunked) = (0usize, false);
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 {
            return Ok(None);
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let Some((k, v)) = h.split_once(':') else { continue };
        let v = v.trim();
        match k.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = v.parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad length"))?,
            "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
            "connection" if v.eq_ignore_ascii_case("close") => keep_alive = false,
            "connection" if v.eq_ignore_ascii_case("keep-alive") => keep_alive = true,
            _ => {}
        }
    }
    let body = if chunked { read_chunked(r)? } else { read_exact(r, length)? };
    Ok(Some((Request { method, path, body }, keep_alive)))
}

fn read_exact(r: &mut impl BufRead, n: usize) -> io::Result<Vec<u8>> {
    if n > MAX_BODY {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "body too large"));
    }
    let mut body = vec![0; n];
    r.read_exact(&mut body)?;
    Ok(body)
}

fn read_chunked(r: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        r.read_line(&mut size)?;
        let hex = size.trim().split(';').next().unwrap_or_default();
        let n = usize::from_str_radix(hex, 16).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk"))?;
        if n == 0 {
            // Trailers up to the empty line.
            loop {
                let mut t = String::new();
                if r.read_line(&mut t)? == 0 || t.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        if body.len() + n > MAX_BODY {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "body too large"));
        }
        body.extend(read_exact(r, n)?);
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_and_chunked_bodies() {
        let raw = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /a HTTP/1.0\r\n\r\n";
        let mut r = BufReader::new(&raw[..]);
        let (req, ka) = read_request(&mut r).unwrap().unwrap();
        assert_eq!((req.method.as_str(), req.path.as_str(), &req.body[..], ka), ("POST", "/", &b"hello"[..], true));
        let (req, ka) = read_request(&mut r).unwrap().unwrap();
        assert_eq!((req.method.as_str(), req.path.as_str(), ka), ("GET", "/a", false));
        assert!(read_request(&mut r).unwrap().is_none());
        let raw = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let (req, _) = read_request(&mut BufReader::new(&raw[..])).unwrap().unwrap();
        assert_eq!(req.body, b"abcde");
    }
}

//! The UDP side of the server. Encoding a response with hickory costs more than finding its
//! records (name compression, allocation), and most questions repeat, so answers from the
//! cluster's zone are cached as encoded bytes per (name, type) until the index changes. A
//! plain question (one IN question, no other records than an OPT) is parsed here and answered
//! from the cache by patching the ID, flags and the question's spelling; everything else —
//! first asks, forwarding, malformed requests — goes through the hickory request handler
//! exactly as TCP does ([`crate::Handler`]), on its own task.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hickory_proto::serialize::binary::{BinDecodable, BinEncoder};
use hickory_proto::xfer::Protocol;
use hickory_server::authority::{MessageRequest, MessageResponse};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use tokio::net::UdpSocket;

use crate::Handler;

/// Cached responses kept before the cache is emptied (a bound, not an expectation).
const MAX_CACHED: usize = 20_000;

/// (lowercased question name in wire form, type) → encoded response, valid for `generation`.
#[derive(Default)]
pub struct Cache {
    generation: u32,
    entries: HashMap<(Vec<u8>, u16), Arc<Vec<u8>>>,
}

/// A question as the fast path understands it.
struct Plain {
    id: u16,
    rd: bool,
    /// Byte range of the question (name, type, class) in the request.
    question: std::ops::Range<usize>,
    key: (Vec<u8>, u16),
    max_payload: usize,
}

/// Parse a plain query: header with QR=0, opcode 0, one question of class IN with an
/// uncompressed name, no answer or authority records, at most one OPT additional.
fn plain(b: &[u8]) -> Option<Plain> {
    if b.len() < 12 || b[2] & 0xf8 != 0 {
        return None;
    }
    let count = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    if count(4) != 1 || count(6) != 0 || count(8) != 0 || count(10) > 1 {
        return None;
    }
    let mut i = 12;
    let mut name = Vec::with_capacity(64);
    loop {
        let len = *b.get(i)? as usize;
        if len & 0xc0 != 0 {
            return None;
        }
        name.push(len as u8);
        i += 1;
        if len == 0 {
            break;
        }
        name.extend(b.get(i..i + len)?.iter().map(u8::to_ascii_lowercase));
        i += len;
    }
    let qtype = u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]);
    let qclass = u16::from_be_bytes([*b.get(i + 2)?, *b.get(i + 3)?]);
    if qclass != 1 || name.len() > 255 {
        return None;
    }
    let end = i + 4;
    let mut max_payload = 512;
    if count(10) == 1 {
        // OPT: root name, type 41, class = UDP payload size; then TTL, RDLEN, RDATA.
        let opt = b.get(end..end + 11)?;
        if opt[0] != 0 || u16::from_be_bytes([opt[1], opt[2]]) != 41 {
            return None;
        }
        max_payload = usize::from(u16::from_be_bytes([opt[3], opt[4]])).max(512);
        let rdlen = usize::from(u16::from_be_bytes([opt[9], opt[10]]));
        if b.len() != end + 11 + rdlen {
            return None;
        }
    } else if b.len() != end {
        return None;
    }
    Some(Plain { id: count(0), rd: b[2] & 1 == 1, question: 12..end, key: (name, qtype), max_payload })
}

/// Fit `reply` into `max` bytes: past it, only the header and question with TC set, so the
/// client retries over TCP.
fn fit(mut reply: Vec<u8>, question_end: usize, max: usize) -> Vec<u8> {
    if reply.len() > max && reply.len() >= question_end && question_end >= 12 {
        reply.truncate(question_end);
        reply[2] |= 0x02;
        reply[6..12].fill(0);
    }
    reply
}

/// Where the question section of a message (as hickory writes it: names uncompressed) ends.
fn questions_end(b: &[u8]) -> Option<usize> {
    let count = u16::from_be_bytes([*b.get(4)?, *b.get(5)?]);
    let mut i = 12;
    for _ in 0..count {
        loop {
            let len = *b.get(i)? as usize;
            if len & 0xc0 == 0xc0 {
                i += 2;
                break;
            }
            i += 1 + len;
            if len == 0 {
                break;
            }
        }
        i += 4;
    }
    (i <= b.len()).then_some(i)
}

/// The response to `request` from the cache, if it holds one for the current index.
fn from_cache(cache: &Mutex<Cache>, generation: u32, p: &Plain, request: &[u8]) -> Option<Vec<u8>> {
    let hit = {
        let mut c = cache.lock().ok()?;
        if c.generation != generation {
            c.generation = generation;
            c.entries.clear();
            return None;
        }
        c.entries.get(&p.key)?.clone()
    };
    let mut reply = hit.to_vec();
    reply[0..2].copy_from_slice(&p.id.to_be_bytes());
    reply[2] = (reply[2] & !0x01) | u8::from(p.rd);
    // The cached question differs from this one in letter case at most.
    reply.get_mut(p.question.clone())?.copy_from_slice(&request[p.question.clone()]);
    Some(fit(reply, p.question.end, p.max_payload))
}

/// A response handler that keeps the encoded response (the UDP path and tests read it back).
#[derive(Clone, Default)]
pub(crate) struct Capture(pub(crate) Arc<Mutex<Option<Vec<u8>>>>);

#[async_trait::async_trait]
impl ResponseHandler for Capture {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a hickory_proto::rr::Record> + Send + 'a,
            impl Iterator<Item = &'a hickory_proto::rr::Record> + Send + 'a,
            impl Iterator<Item = &'a hickory_proto::rr::Record> + Send + 'a,
            impl Iterator<Item = &'a hickory_proto::rr::Record> + Send + 'a,
        >,
    ) -> std::io::Result<ResponseInfo> {
        let mut buf = Vec::with_capacity(512);
        let info = response.destructive_emit(&mut BinEncoder::new(&mut buf)).map_err(std::io::Error::other)?;
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(buf);
        }
        Ok(info)
    }
}

/// Answer one datagram through the hickory request handler: the whole response and the
/// asker's UDP payload limit; `None` when it deserves no reply (not a query, or too broken to
/// have a header).
pub async fn answer_slow(handler: &Handler, bytes: &[u8], src: SocketAddr) -> Option<(Vec<u8>, usize)> {
    let message = match MessageRequest::from_bytes(bytes) {
        Ok(m) => m,
        Err(_) => {
            // FORMERR with the request's ID when at least the header is there and it is a query.
            let header = bytes.get(..12)?;
            if header[2] & 0x80 != 0 {
                return None;
            }
            let mut r = vec![0u8; 12];
            r[0..2].copy_from_slice(&header[0..2]);
            r[2] = 0x80 | (header[2] & 0x79);
            r[3] = 1;
            return Some((r, 512));
        }
    };
    if message.message_type() == hickory_proto::op::MessageType::Response {
        return None;
    }
    let max = usize::from(message.max_payload());
    let request = Request::new(message, src, Protocol::Udp);
    let capture = Capture::default();
    handler.handle_request(&request, capture.clone()).await;
    let reply = capture.0.lock().ok()?.take()?;
    Some((reply, max))
}

/// Serve UDP on `socket` until it fails.
pub async fn run(socket: UdpSocket, handler: Handler) {
    let socket = Arc::new(socket);
    let cache = Arc::new(Mutex::new(Cache::default()));
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, src) = match socket.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(error = %e, "DNS: UDP receive failed");
                continue;
            }
        };
        if src.port() == 0 {
            continue;
        }
        let request = &buf[..n];
        let generation = handler.generation();
        let parsed = plain(request);
        if let Some(p) = &parsed {
            if let Some(reply) = from_cache(&cache, generation, p, request) {
                let _ = socket.send_to(&reply, src).await;
                continue;
            }
        }
        let (socket, handler, cache, request) = (socket.clone(), handler.clone(), cache.clone(), request.to_vec());
        tokio::spawn(async move {
            let Some((reply, max)) = answer_slow(&handler, &request, src).await else { return };
            // Cache authoritative (cluster) answers whole; each asker gets them fitted to its limit.
            if let Some(p) = parsed.filter(|_| reply.len() > 3 && reply[2] & 0x04 != 0 && reply[2] & 0x02 == 0) {
                if let Ok(mut c) = cache.lock() {
                    if c.generation == generation {
                        if c.entries.len() >= MAX_CACHED {
                            c.entries.clear();
                        }
                        c.entries.insert(p.key, Arc::new(reply.clone()));
                    }
                }
            }
            let question_end = questions_end(&reply).unwrap_or(reply.len());
            let _ = socket.send_to(&fit(reply, question_end, max), src).await;
        });
    }
}

#[cfg(test)]
#[path = "udp_tests.rs"]
mod tests;

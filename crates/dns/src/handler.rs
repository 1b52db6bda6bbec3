//! The hickory-server request handler: checks the request's shape, answers cluster names from
//! the index and forwards the rest. Every malformed or unsupported request gets an error code
//! (FORMERR, NOTIMP, REFUSED); nothing here panics on input.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_proto::op::{Header, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, Record};
use hickory_server::authority::MessageResponseBuilder;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};

use crate::answer::{resolve, Outcome};
use crate::index::Index;

#[derive(Clone)]
pub struct Handler {
    pub index: Arc<RwLock<Index>>,
    pub ttl: u32,
    pub upstreams: Arc<Vec<SocketAddr>>,
    pub forward_timeout: Duration,
}

fn error_info(request: &Request, code: ResponseCode) -> ResponseInfo {
    let mut h = Header::response_from_request(request.header());
    h.set_response_code(code);
    h.into()
}

impl Handler {
    /// The index's change counter (the UDP answer cache is valid for one value).
    pub fn generation(&self) -> u32 {
        match self.index.read() {
            Ok(i) => i.generation,
            Err(poisoned) => poisoned.into_inner().generation,
        }
    }

    async fn send<R: ResponseHandler>(
        &self,
        request: &Request,
        mut response: R,
        header: Header,
        answers: &[Record],
        soa: &[Record],
        additionals: &[Record],
    ) -> ResponseInfo {
        let builder = MessageResponseBuilder::from_message_request(request);
        let msg = builder.build(header, answers.iter(), std::iter::empty(), soa.iter(), additionals.iter());
        match response.send_response(msg).await {
            Ok(info) => info,
            Err(e) => {
                tracing::debug!(error = %e, "could not send a DNS response");
                error_info(request, ResponseCode::ServFail)
            }
        }
    }

    async fn fail<R: ResponseHandler>(&self, request: &Request, response: R, code: ResponseCode) -> ResponseInfo {
        let mut h = Header::response_from_request(request.header());
        h.set_response_code(code);
        self.send(request, response, h, &[], &[], &[]).await
    }
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler>(&self, request: &Request, response: R) -> ResponseInfo {
        if request.message_type() != MessageType::Query {
            return error_info(request, ResponseCode::FormErr);
        }
        if request.op_code() != OpCode::Query {
            return self.fail(request, response, ResponseCode::NotImp).await;
        }
        let Ok(info) = request.request_info() else {
            // Not exactly one question.
            return self.fail(request, response, ResponseCode::FormErr).await;
        };
        let query = info.query;
        if query.query_class() != DNSClass::IN {
            return self.fail(request, response, ResponseCode::Refused).await;
        }
        let qname = query.original().name().clone();
        let outcome = {
            let index = match self.index.read() {
                Ok(i) => i,
                Err(poisoned) => poisoned.into_inner(),
            };
            resolve(&index, &qname, query.query_type(), self.ttl)
        };
        let mut header = Header::response_from_request(request.header());
        match outcome {
            Outcome::Local(a) => {
                header.set_authoritative(true);
                header.set_recursion_available(true);
                header.set_response_code(a.rcode);
                let soa: Vec<Record> = a.soa.into_iter().collect();
                self.send(request, response, header, &a.answers, &soa, &a.additionals).await
            }
            Outcome::Forward => {
                let reply = crate::forward::forward(&self.upstreams, query.original(), request.recursion_desired(), self.forward_timeout).await;
                let Some(reply) = reply else {
                    return self.fail(request, response, ResponseCode::ServFail).await;
                };
                header.set_recursion_available(reply.recursion_available());
                header.set_truncated(reply.truncated());
                header.set_authentic_data(reply.authentic_data());
                header.set_response_code(reply.response_code());
                self.send(request, response, header, reply.answers(), reply.name_servers(), reply.additionals()).await
            }
        }
    }
}

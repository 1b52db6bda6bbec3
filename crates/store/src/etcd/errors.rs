//! Telling etcd's failures apart. etcd reports revision errors as gRPC statuses whose messages
//! are fixed strings (`mvcc: required revision has been compacted`, `… is a future revision`);
//! an unreachable or leaderless etcd shows up as a transport error or an `Unavailable` /
//! `DeadlineExceeded` status.

use etcd_client::Error;

pub(crate) enum Classified {
    Compacted,
    Future,
    Unavailable,
    Other,
}

// gRPC codes (tonic is not re-exported by etcd-client): Cancelled, Unknown, DeadlineExceeded,
// Unavailable.
const UNAVAILABLE_CODES: [i32; 4] = [1, 2, 4, 14];

pub(crate) fn classify(e: &Error) -> Classified {
    match e {
        Error::GRpcStatus(status) => {
            let message = status.message();
            if message.contains("required revision has been compacted") {
                Classified::Compacted
            } else if message.contains("required revision is a future revision") {
                Classified::Future
            } else if UNAVAILABLE_CODES.contains(&i32::from(status.code())) {
                Classified::Unavailable
            } else {
                Classified::Other
            }
        }
        Error::TransportError(_) | Error::IoError(_) | Error::WatchError(_) => {
            Classified::Unavailable
        }
        _ => Classified::Other,
    }
}

//! `luksa/kubia-pet`, the app of "Kubernetes in Action" §10 that the walkthrough deploys.
//! Like its `app.js`: on POST it stores the request body in `/var/data/kubia.txt` and answers
//! `Data stored on pod <hostname>`; on any other method it answers `You've hit <hostname>`
//! and the stored data, or `No data posted yet` while the file does not exist.

use std::path::Path;

use crate::http::{self, Request, Response};

pub const DATA_FILE: &str = "/var/data/kubia.txt";

pub fn hostname() -> String {
    uts_hostname().unwrap_or_else(|| "localhost".into())
}

/// The UTS hostname, as `os.hostname()` reads it.
fn uts_hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|s| s.trim_end().to_string())
}

/// The answer for one request, with the data kept in `data_file`.
pub fn respond(req: &Request, data_file: &Path, hostname: &str) -> Response {
    if req.method == "POST" {
        return match std::fs::write(data_file, &req.body) {
            Ok(()) => {
                println!("New data has been received and stored.");
                Response { status: 200, body: format!("Data stored on pod {hostname}\n").into_bytes() }
            }
            Err(e) => {
                eprintln!("storing data in {}: {e}", data_file.display());
                Response { status: 500, body: format!("{e}\n").into_bytes() }
            }
        };
    }
    let data = std::fs::read(data_file).map(|b| String::from_utf8_lossy(&b).into_owned());
    let data = data.unwrap_or_else(|_| "No data posted yet".into());
    Response { status: 200, body: format!("You've hit {hostname}\nData stored on this pod: {data}\n").into_bytes() }
}

fn handler(req: &Request) -> Response {
    respond(req, Path::new(DATA_FILE), &hostname())
}

/// Serve forever on `addr` (the image listens on `0.0.0.0:8080`).
pub fn serve(data_file: &str, addr: &str) -> std::io::Result<()> {
    assert_eq!(data_file, DATA_FILE, "the image's data file is fixed");
    println!("Kubia server starting...");
    http::serve(addr, handler)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, body: &str) -> Request {
        Request { method: method.into(), path: "/".into(), body: body.as_bytes().to_vec() }
    }

    #[test]
    fn get_before_and_after_post() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("kubia.txt");
        let r = respond(&req("GET", ""), &f, "statefulset-kubia-v1-0");
        assert_eq!(String::from_utf8(r.body).unwrap(), "You've hit statefulset-kubia-v1-0\nData stored on this pod: No data posted yet\n");
        let r = respond(&req("POST", "Hey There !"), &f, "statefulset-kubia-v1-0");
        assert_eq!(String::from_utf8(r.body).unwrap(), "Data stored on pod statefulset-kubia-v1-0\n");
        let r = respond(&req("GET", ""), &f, "statefulset-kubia-v1-0");
        assert_eq!(String::from_utf8(r.body).unwrap(), "You've hit statefulset-kubia-v1-0\nData stored on this pod: Hey There !\n");
    }

    #[test]
    fn a_failed_store_is_a_500() {
        let r = respond(&req("POST", "x"), Path::new("/nonexistent-dir/kubia.txt"), "h");
        assert_eq!(r.status, 500);
    }
}

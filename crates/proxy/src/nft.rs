//! The executor: hands a ruleset to `nft -f -` (one netlink transaction: all or nothing).

use std::io::Write;
use std::process::{Command, Stdio};

#[derive(Debug)]
pub enum Error {
    /// `nft` is missing or may not run (no CAP_NET_ADMIN).
    Unavailable(String),
    /// nft refused the ruleset.
    Rejected(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Unavailable(e) => write!(f, "nft unavailable: {e}"),
            Error::Rejected(e) => write!(f, "nft rejected the ruleset: {e}"),
        }
    }
}

fn run(args: &[&str], text: &str) -> Result<(), Error> {
    let mut child = Command::new("nft")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Unavailable(format!("running nft: {e} (apt-get install nftables)")))?;
    child.stdin.take().expect("piped").write_all(text.as_bytes()).map_err(|e| Error::Rejected(e.to_string()))?;
    let out = child.wait_with_output().map_err(|e| Error::Unavailable(e.to_string()))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if err.contains("Operation not permitted") {
        Err(Error::Unavailable(err))
    } else {
        Err(Error::Rejected(err))
    }
}

/// Is `nft` there and usable (root)?
pub fn available() -> Result<(), Error> {
    run(&["list", "tables"], "")
}

/// Validate without applying.
pub fn check(text: &str) -> Result<(), Error> {
    run(&["-c", "-f", "-"], text)
}

/// Apply a ruleset (blocking: call from `spawn_blocking` on async paths).
pub fn apply(text: &str) -> Result<(), Error> {
    run(&["-f", "-"], text)
}

//! Pod IP allocation from the node's pod CIDR, persisted as one file per address in
//! `<state>/ipam/` (holding the pod uid), so that a restarted agent knows what is taken.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::simulated::PodCidr;

pub struct Ipam {
    dir: PathBuf,
    cidr: PodCidr,
}

impl Ipam {
    pub fn new(state_dir: &Path, cidr: PodCidr) -> std::io::Result<Ipam> {
        let dir = state_dir.join("ipam");
        std::fs::create_dir_all(&dir)?;
        Ok(Ipam { dir, cidr })
    }

    /// The address held by `uid`, or a new free one (`None`: the range is full).
    pub fn allocate(&self, uid: &str) -> std::io::Result<Option<Ipv4Addr>> {
        if let Some(ip) = self.held_by(uid) {
            return Ok(Some(ip));
        }
        // Go round the range from after the last address handed out, so that a released
        // address is not reused at once (peers may still have it cached).
        let n = self.cidr.pod_address_count();
        let last = std::fs::read_to_string(self.dir.join(".last")).ok().and_then(|s| s.trim().parse::<u32>().ok());
        let start = last.map_or(0, |l| (l + 1) % n);
        for k in 0..n {
            let i = (start + k) % n;
            let ip = self.cidr.pod_address(i);
            // O_EXCL makes the file the lock: two workers never get one address.
            match OpenOptions::new().write(true).create_new(true).open(self.dir.join(ip.to_string())) {
                Ok(mut f) => {
                    f.write_all(uid.as_bytes())?;
                    let _ = std::fs::write(self.dir.join(".last"), i.to_string());
                    return Ok(Some(ip));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    pub fn held_by(&self, uid: &str) -> Option<Ipv4Addr> {
        self.entries().into_iter().find(|(_, u)| u == uid).map(|(ip, _)| ip)
    }

    pub fn release(&self, uid: &str) {
        for (ip, u) in self.entries() {
            if u == uid {
                let _ = std::fs::remove_file(self.dir.join(ip.to_string()));
            }
        }
    }

    /// (address, uid) of every allocation.
    pub fn entries(&self) -> Vec<(Ipv4Addr, String)> {
        let Ok(rd) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        rd.flatten()
            .filter_map(|e| {
                let ip = e.file_name().to_str()?.parse().ok()?;
                Some((ip, std::fs::read_to_string(e.path()).ok()?))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_distinct_addresses_and_reuses_released_ones() {
        let dir = tempfile::tempdir().unwrap();
        let ipam = Ipam::new(dir.path(), PodCidr::parse("10.9.0.0/29").unwrap()).unwrap();
        let a = ipam.allocate("a").unwrap().unwrap();
        let b = ipam.allocate("b").unwrap().unwrap();
        assert_eq!((a.to_string(), b.to_string()), ("10.9.0.2".into(), "10.9.0.3".into()));
        assert_eq!(ipam.allocate("a").unwrap(), Some(a), "idempotent per uid");
        for u in ["c", "d", "e"] {
            assert!(ipam.allocate(u).unwrap().is_some());
        }
        assert_eq!(ipam.allocate("f").unwrap(), None, "a /29 has 5 pod addresses");
        ipam.release("a");
        assert_eq!(ipam.allocate("f").unwrap(), Some(a), "the only free address");
        ipam.release("b");
        ipam.release("c");
        let g = ipam.allocate("g").unwrap().unwrap();
        assert_eq!(g.to_string(), "10.9.0.3", "round-robin: the address after f's (.2)");

        // A new Ipam over the same directory sees the same allocations (agent restart).
        let again = Ipam::new(dir.path(), PodCidr::parse("10.9.0.0/29").unwrap()).unwrap();
        assert_eq!(again.held_by("g"), Some(b));
    }
}

//! Bearer-token authentication with identities: the admin token (user `kubernetes-admin`, group
//! `system:masters`) and the tokens of `<data-dir>/pki/tokens.csv`, in upstream's
//! `--token-auth-file` format (`token,user,uid,"group1,group2"`). Node credentials live there
//! as user `system:node:<name>`, groups `system:nodes`.
//!
//! The file is re-read when it changes (checked at most every [`RECHECK`], and on a miss at
//! most every [`RECHECK_ON_MISS`]), so a token minted with `berth token node` while the server
//! runs is accepted within a second, and a removed one stops working as quickly.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// The token file, under the PKI directory.
pub const TOKEN_FILE: &str = "tokens.csv";
pub const NODES_GROUP: &str = "system:nodes";
pub const NODE_USER_PREFIX: &str = "system:node:";
pub const MASTERS_GROUP: &str = "system:masters";
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";
const RECHECK: Duration = Duration::from_secs(1);
const RECHECK_ON_MISS: Duration = Duration::from_millis(100);

/// Who made a request (upstream `user.Info`, without extra).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
}

impl User {
    /// The admin's identity: upstream kubeadm's `kubernetes-admin` in the unrestricted group.
    pub fn admin() -> User {
        User { name: "kubernetes-admin".into(), uid: String::new(), groups: vec![MASTERS_GROUP.into(), AUTHENTICATED_GROUP.into()] }
    }

    /// The node name if this is a node identity (upstream `NodeIdentity`: user
    /// `system:node:<name>` in group `system:nodes`); `Some("")` for a node of unknown name.
    pub fn node_name(&self) -> Option<&str> {
        let name = self.name.strip_prefix(NODE_USER_PREFIX)?;
        self.groups.iter().any(|g| g == NODES_GROUP).then_some(name)
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

tokio::task_local! {
    /// The user of the request being served, for admission steps deep in the handlers.
    /// Unset for the server's own internal calls.
    pub static REQUEST_USER: Arc<User>;
}

/// The current request's user, if any.
pub fn request_user() -> Option<Arc<User>> {
    REQUEST_USER.try_with(Arc::clone).ok()
}

/// Constant-time comparison so a token cannot be guessed byte by byte from timings.
pub fn token_matches(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Split one CSV record (double quotes group commas; `""` is a literal quote).
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                out.last_mut().expect("one field").push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            c => out.last_mut().expect("one field").push(c),
        }
    }
    out
}

/// Parse a token file as upstream's `tokenfile.NewCSV`: at least token, user, uid; an optional
/// fourth column of comma-separated groups. Empty lines and `#` comments are skipped.
pub fn parse_token_file(text: &str) -> Result<Vec<(String, User)>, String> {
    let mut out: Vec<(String, User)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f = csv_fields(line);
        if f.len() < 3 {
            return Err(format!("token file line {}: expected token,user,uid[,\"groups\"]", i + 1));
        }
        if f[0].is_empty() {
            return Err(format!("token file line {}: empty token", i + 1));
        }
        let mut groups: Vec<String> = f.get(3).map(|g| g.split(',').map(str::trim).filter(|g| !g.is_empty()).map(str::to_string).collect()).unwrap_or_default();
        // Upstream's authenticator chain adds system:authenticated to every authenticated user.
        if !groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
            groups.push(AUTHENTICATED_GROUP.into());
        }
        out.push((f[0].clone(), User { name: f[1].clone(), uid: f[2].clone(), groups }));
    }
    Ok(out)
}

fn quote_csv(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

pub(crate) fn format_line(token: &str, u: &User) -> String {
    let groups: Vec<&str> = u.groups.iter().map(String::as_str).filter(|g| *g != AUTHENTICATED_GROUP).collect();
    format!("{token},{},{},{}", u.name, u.uid, quote_csv(&groups.join(",")))
}

/// A node name usable in a token file line and as a Node name (a DNS-1123 subdomain).
fn valid_node_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// The bearer token of node `name`, minted into `<pki_dir>/tokens.csv` (mode 0600) on first
/// use and returned unchanged afterwards, so `berth up` restarts keep the agents' credentials.
pub fn node_token(pki_dir: &Path, name: &str) -> Result<String, String> {
    if !valid_node_name(name) {
        return Err(format!("invalid node name {name:?}: must be a lowercase RFC 1123 subdomain"));
    }
    let user = format!("{NODE_USER_PREFIX}{name}");
    edit_token_file(pki_dir, |entries| {
        if let Some((t, _)) = entries.iter().find(|(_, u)| u.name == user) {
            return (t.clone(), None);
        }
        let token = crate::pki::random_token();
        let mut out = entries.to_vec();
        out.push((token.clone(), User { name: user.clone(), uid: String::new(), groups: vec![NODES_GROUP.into()] }));
        (token, Some(out))
    })
}

/// Read-modify-write of `<pki_dir>/tokens.csv` under a lock file shared by every process that
/// mints tokens (`berth up`, `berth token`, `berth kubeconfig`). `change` sees the entries and
/// returns its result and, when the file must change, the new entries; the file is written as
/// a sibling and renamed, so the server never reads a half-written one.
pub(crate) fn edit_token_file<T>(pki_dir: &Path, change: impl FnOnce(&[(String, User)]) -> (T, Option<Vec<(String, User)>>)) -> Result<T, String> {
    let path = pki_dir.join(TOKEN_FILE);
    let lock_path = pki_dir.join(format!("{TOKEN_FILE}.lock"));
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("{}: {e}", lock_path.display()))?;
    lock.lock().map_err(|e| format!("locking {}: {e}", lock_path.display()))?;
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    let entries = parse_token_file(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let (result, new_entries) = change(&entries);
    if let Some(new_entries) = new_entries {
        let mut out = String::new();
        for (t, u) in &new_entries {
            out.push_str(&format_line(t, u));
            out.push('\n');
        }
        let tmp = pki_dir.join(format!(".{TOKEN_FILE}.{}", std::process::id()));
        crate::pki::write_private(&tmp, &out).map_err(|e| e.to_string())?;
        fs::rename(&tmp, &path).map_err(|e| format!("renaming {}: {e}", tmp.display()))?;
    }
    Ok(result)
}

struct Loaded {
    /// (modification time, length) of the file as read; `None` when absent.
    stamp: Option<(SystemTime, u64)>,
    checked: Instant,
    entries: Vec<(String, User)>,
}

/// Tokens → users: the admin token plus the token file.
pub struct TokenAuthenticator {
    admin_token: String,
    path: PathBuf,
    loaded: Mutex<Loaded>,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl TokenAuthenticator {
    pub fn new(admin_token: String, pki_dir: &Path) -> TokenAuthenticator {
        let path = pki_dir.join(TOKEN_FILE);
        let a = TokenAuthenticator {
            admin_token,
            path,
            loaded: Mutex::new(Loaded { stamp: None, checked: Instant::now(), entries: Vec::new() }),
        };
        a.reload(&mut a.loaded.lock().expect("token table lock"));
        a
    }

    fn reload(&self, l: &mut Loaded) {
        l.checked = Instant::now();
        let now = stamp(&self.path);
        if now.is_some() && now == l.stamp {
            return;
        }
        l.stamp = now;
        l.entries = match fs::read_to_string(&self.path) {
            Ok(text) => parse_token_file(&text).unwrap_or_else(|e| {
                tracing::warn!(path = %self.path.display(), error = %e, "ignoring malformed token file");
                Vec::new()
            }),
            Err(_) => Vec::new(),
        };
    }

    fn lookup(entries: &[(String, User)], token: &str) -> Option<User> {
        // Compare against every entry, so timing does not tell which one matched.
        let mut found = None;
        for (t, u) in entries {
            if token_matches(token, t) && found.is_none() {
                found = Some(u.clone());
            }
        }
        found
    }

    /// The user a bearer token belongs to, or `None` (401).
    pub fn authenticate(&self, token: &str) -> Option<User> {
        if token.is_empty() {
            return None;
        }
        if token_matches(token, &self.admin_token) {
            return Some(User::admin());
        }
        let mut l = self.loaded.lock().expect("token table lock");
        if l.checked.elapsed() >= RECHECK {
            self.reload(&mut l);
        }
        if let Some(u) = Self::lookup(&l.entries, token) {
            return Some(u);
        }
        if l.checked.elapsed() >= RECHECK_ON_MISS {
            self.reload(&mut l);
            return Self::lookup(&l.entries, token);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn parses_upstream_token_csv() {
        let t = "# comment\nabc,alice,1001,\"dev,ops\"\n\ndef,bob,1002\n";
        let e = parse_token_file(t).unwrap();
        assert_eq!(e[0].0, "abc");
        assert_eq!(e[0].1.groups, vec!["dev", "ops", AUTHENTICATED_GROUP]);
        assert_eq!(e[1].1, User { name: "bob".into(), uid: "1002".into(), groups: vec![AUTHENTICATED_GROUP.into()] });
        assert!(parse_token_file("abc,alice").is_err());
    }

    #[test]
    fn node_identity_needs_the_nodes_group() {
        let mut u = User { name: "system:node:n1".into(), uid: String::new(), groups: vec![NODES_GROUP.into()] };
        assert_eq!(u.node_name(), Some("n1"));
        u.groups.clear();
        assert_eq!(u.node_name(), None);
        assert_eq!(User::admin().node_name(), None);
    }

    #[test]
    fn minted_node_tokens_authenticate_while_running() {
        let dir = tempfile::tempdir().unwrap();
        let auth = TokenAuthenticator::new("admintoken".into(), dir.path());
        assert_eq!(auth.authenticate("admintoken"), Some(User::admin()));
        let t1 = node_token(dir.path(), "node-1").unwrap();
        assert_eq!(node_token(dir.path(), "node-1").unwrap(), t1, "minting is idempotent");
        let t2 = node_token(dir.path(), "node-2").unwrap();
        assert_ne!(t1, t2);
        std::thread::sleep(RECHECK_ON_MISS);
        let u = auth.authenticate(&t2).expect("a token minted after start is accepted");
        assert_eq!(u.node_name(), Some("node-2"));
        assert_eq!(auth.authenticate(&t1).unwrap().name, "system:node:node-1");
        assert_eq!(auth.authenticate("nope"), None);
        assert_eq!(auth.authenticate(""), None);
        let mode = fs::metadata(dir.path().join(TOKEN_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(node_token(dir.path(), "Bad,Name").is_err());
    }
}

//! What RBAC adds to a request: the same GET as the admin (allowed by `system:masters`
//! before RBAC is consulted) and as a user granted `view` by a RoleBinding, among many other
//! bindings, alternating on two keep-alive connections so drift hits both alike.

use std::path::Path;
use std::time::{Duration, Instant};

use hyper::Method;

use crate::child::{Berth, TempDir};
use crate::client::{Endpoint, Result};
use crate::report::Report;
use crate::stats::{fmt_dur, Samples};

const NOISE_BINDINGS: usize = 300;

fn binding(name: &str, user: &str, cluster: bool) -> String {
    let kind = if cluster { "ClusterRoleBinding" } else { "RoleBinding" };
    serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]})
    .to_string()
}

/// Mint `user`'s kubeconfig with `berth kubeconfig` and return its token.
fn mint(berth: &Path, data_dir: &Path, user: &str) -> Result<String> {
    let out = std::process::Command::new(berth)
        .args(["kubeconfig", "--user", user, "--data-dir"])
        .arg(data_dir)
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().find_map(|l| l.trim().strip_prefix("token: ").map(str::to_string)).ok_or_else(|| format!("no token in berth kubeconfig output: {text}"))
}

pub async fn run(berth: &Path, requests: usize, report: &mut Report) -> Result<()> {
    let dir = TempDir::new("rbac")?;
    let (b, _) = Berth::start(berth, dir.path()).await?;
    let outcome = measure(berth, &b, requests, report).await;
    if outcome.is_err() {
        eprintln!("berth stderr (tail):\n{}", b.stderr_tail());
    }
    b.stop().await;
    outcome
}

async fn measure(berth: &Path, b: &Berth, requests: usize, report: &mut Report) -> Result<()> {
    let admin_ep = b.endpoint()?;
    let mut admin = admin_ep.connect().await?;
    for i in 0..NOISE_BINDINGS {
        let (path, cluster) = if i % 3 == 0 {
            ("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", true)
        } else {
            ("/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings", false)
        };
        let (s, body) = admin.send(Method::POST, path, binding(&format!("noise-{i}"), &format!("other-{i}"), cluster)).await?;
        if s != 201 {
            return Err(format!("creating a binding: {s} {}", String::from_utf8_lossy(&body)));
        }
    }
    admin.send(Method::POST, "/api/v1/namespaces/default/configmaps", crate::client::configmap_body("probe")).await?;
    let token = mint(berth, &b.data_dir, "bench-user")?;
    admin
        .send(Method::POST, "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings", binding("zz-bench-view", "bench-user", false))
        .await?;
    let ca = std::fs::read_to_string(b.data_dir.join("pki/ca.crt")).map_err(|e| e.to_string())?;
    let mut user = Endpoint::new(b.addr, &ca, &token)?.connect().await?;
    let path = "/api/v1/namespaces/default/configmaps/probe";
    let deadline = Instant::now() + Duration::from_secs(10);
    while user.send(Method::GET, path, String::new()).await?.0 != 200 {
        if Instant::now() > deadline {
            return Err("the user's binding never took effect".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (mut a, mut u) = (Samples::new(), Samples::new());
    for _ in 0..requests {
        let t = Instant::now();
        admin.send(Method::GET, path, String::new()).await?;
        a.push(t.elapsed());
        let t = Instant::now();
        let (s, _) = user.send(Method::GET, path, String::new()).await?;
        u.push(t.elapsed());
        if s != 200 {
            return Err(format!("user GET answered {s}"));
        }
    }
    let label = format!("GET configmap, {requests} sequential, {NOISE_BINDINGS} other bindings");
    report.row(format!("{label}: admin (system:masters) p50 / p99"), format!("{} / {}", fmt_dur(a.median()), fmt_dur(a.pct(99.0))), "—");
    report.row(format!("{label}: RBAC-bound user p50 / p99"), format!("{} / {}", fmt_dur(u.median()), fmt_dur(u.pct(99.0))), "—");
    let added = u.median().as_micros() as i64 - a.median().as_micros() as i64;
    report.row("RBAC evaluation added to a request (p50 difference)", format!("{added} µs"), "≤ 100 µs");
    Ok(())
}

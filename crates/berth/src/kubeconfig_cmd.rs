//! `berth kubeconfig --user NAME [--group G …]`: mint a token for a user beyond the admin and
//! write a kubeconfig for it (server URL and CA taken from the admin kubeconfig `berth up`
//! wrote), for an operator to hand out. Access is then granted with RBAC bindings.

use std::path::{Path, PathBuf};

use clap::Args;

#[derive(Args)]
pub struct KubeconfigArgs {
    /// The user's name (as RBAC bindings name it: `--user NAME`).
    #[arg(long)]
    user: String,
    /// Groups the user belongs to (repeatable).
    #[arg(long = "group")]
    groups: Vec<String>,
    /// The cluster's data directory (as given to `berth up`).
    #[arg(long, default_value = "./.berth")]
    data_dir: PathBuf,
    /// Where to write the kubeconfig; standard output when absent.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// `server:` and `certificate-authority-data:` of the admin kubeconfig.
fn cluster_of(admin_kubeconfig: &Path) -> Result<(String, String), String> {
    let text = std::fs::read_to_string(admin_kubeconfig)
        .map_err(|e| format!("reading {} (run `berth up` first): {e}", admin_kubeconfig.display()))?;
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(key).map(|v| v.trim().to_string()))
            .ok_or_else(|| format!("{}: no {key}", admin_kubeconfig.display()))
    };
    Ok((field("server:")?, field("certificate-authority-data:")?))
}

pub fn kubeconfig(user: &str, token: &str, server: &str, ca_data: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: berth\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca_data}\nusers:\n- name: {user:?}\n  user:\n    token: {token}\ncontexts:\n- name: berth\n  context:\n    cluster: berth\n    user: {user:?}\n    namespace: default\ncurrent-context: berth\npreferences: {{}}\n"
    )
}

pub fn run(args: KubeconfigArgs) -> Result<(), String> {
    let data_dir = crate::absolute(&args.data_dir);
    let (server, ca) = cluster_of(&data_dir.join("kubeconfig.yaml"))?;
    let token = berth_apiserver::users::user_token(&data_dir.join("pki"), &args.user, &args.groups)?;
    let doc = kubeconfig(&args.user, &token, &server, &ca);
    match args.out {
        Some(path) => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            f.write_all(doc.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
            eprintln!("berth: wrote a kubeconfig for user {:?} to {}", args.user, path.display());
        }
        None => print!("{doc}"),
    }
    Ok(())
}

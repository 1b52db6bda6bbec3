//! Lifecycle hooks (preStop) with the exec and httpGet handlers.

use k8s_openapi::api::core::v1::{Container, LifecycleHandler};
use tokio::io::AsyncWriteExt;

pub async fn run(c: &Container, h: &LifecycleHandler, pod_ip: &str, pid: i32) -> Result<(), String> {
    if let Some(e) = &h.exec {
        let code = super::probes::exec_in_container(pid, &e.command.clone().unwrap_or_default()).await?;
        return if code == 0 { Ok(()) } else { Err(format!("exited with {code}")) };
    }
    if let Some(g) = &h.http_get {
        let port = match &g.port {
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(i) => *i as u16,
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(n) => {
                c.ports.iter().flatten().find(|p| p.name.as_deref() == Some(n)).map(|p| p.container_port as u16).ok_or("unknown port")?
            }
        };
        let host = g.host.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| pod_ip.to_string());
        let mut s = tokio::net::TcpStream::connect((host.as_str(), port)).await.map_err(|e| e.to_string())?;
        let req = format!("GET {} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n", g.path.clone().unwrap_or_else(|| "/".into()));
        s.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 64];
        let _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf).await;
        return Ok(());
    }
    Ok(())
}

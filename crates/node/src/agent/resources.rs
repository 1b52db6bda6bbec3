//! Resource quantities for the downward API's `resourceFieldRef` (env and volumes), as
//! upstream's `ExtractContainerResourceValue`: cpu is `ceil(milli / divisor milli)`, memory and
//! ephemeral-storage `ceil(value / divisor value)`; a limit the container does not set is the
//! node's allocatable amount.

use k8s_openapi::api::core::v1::{Container, ResourceFieldSelector};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// A quantity in thousandths of its unit, rounded up (as Go's `Quantity.MilliValue`).
pub fn milli(q: &str) -> Option<i128> {
    let q = q.trim();
    let (neg, q) = match q.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, q.strip_prefix('+').unwrap_or(q)),
    };
    let num_end = q.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(q.len());
    let (num, suffix) = q.split_at(num_end);
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let digits = format!("{int}{frac}");
    let mant: i128 = digits.parse().ok()?;
    // value = mant * 2^bin * 10^(dec - frac.len())
    let (bin, dec): (u32, i32) = match suffix {
        "" => (0, 0),
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        s => (0, s.strip_prefix(['e', 'E'])?.parse().ok()?),
    };
    let v = mant.checked_mul(1i128.checked_shl(bin)?)?;
    let exp = dec + 3 - frac.len() as i32;
    let m = if exp >= 0 {
        v.checked_mul(10i128.checked_pow(exp as u32)?)?
    } else {
        let d = 10i128.checked_pow((-exp) as u32)?;
        // Round away from zero, as Go's MilliValue does for the magnitude.
        (v + d - 1) / d
    };
    Some(if neg { -m } else { m })
}

fn ceil_div(a: i128, b: i128) -> i128 {
    if b == 0 {
        return 0;
    }
    let (q, r) = (a / b, a % b);
    if r != 0 && ((r > 0) == (b > 0)) {
        q + 1
    } else {
        q
    }
}

/// The node's allocatable cpu (cores) and memory (bytes), for limits a container leaves unset.
#[derive(Debug, Clone)]
pub struct Allocatable {
    pub cpu: String,
    pub memory: String,
    pub ephemeral_storage: String,
}

impl Allocatable {
    /// This machine's capacity (the agent reserves nothing).
    pub fn host() -> Allocatable {
        let cpu = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).to_string();
        let kb = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|s| s.lines().find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().trim_end_matches("kB").trim().to_string())));
        let memory = kb.map(|k| format!("{k}Ki")).unwrap_or_else(|| "0".into());
        let disk = nix::sys::statvfs::statvfs("/").map(|s| (s.blocks() as u128 * s.fragment_size() as u128).to_string()).unwrap_or_else(|_| "0".into());
        Allocatable { cpu, memory, ephemeral_storage: disk }
    }
}

/// The value of `resource` (e.g. `limits.memory`) of `c`, divided by `divisor`.
pub fn value(c: &Container, resource: &str, divisor: Option<&Quantity>, alloc: &Allocatable) -> Result<String, String> {
    let (kind, name) = resource.split_once('.').ok_or_else(|| format!("unsupported container resource : {resource}"))?;
    let res = c.resources.as_ref();
    let limit = res.and_then(|r| r.limits.as_ref()?.get(name)).map(|q| q.0.clone());
    let request = res.and_then(|r| r.requests.as_ref()?.get(name)).map(|q| q.0.clone());
    let node = match name {
        "cpu" => &alloc.cpu,
        "memory" => &alloc.memory,
        "ephemeral-storage" => &alloc.ephemeral_storage,
        _ => return Err(format!("unsupported container resource : {resource}")),
    };
    let amount = match kind {
        "limits" => limit.unwrap_or_else(|| node.clone()),
        // The API server defaults an unset request to the limit when one is set.
        "requests" => request.or(limit).unwrap_or_else(|| "0".into()),
        _ => return Err(format!("unsupported container resource : {resource}")),
    };
    let parse = |q: &str| milli(q).ok_or_else(|| format!("quantities must match the regular expression: {q:?}"));
    let amount = parse(&amount)?;
    let divisor = match divisor.map(|d| parse(&d.0)).transpose()? {
        Some(d) if d != 0 => d,
        _ => 1000,
    };
    Ok(if name == "cpu" {
        ceil_div(amount, divisor)
    } else {
        // Value() of each side (rounded up to whole units), then the rounded-up quotient.
        ceil_div(ceil_div(amount, 1000), ceil_div(divisor, 1000).max(1))
    }
    .to_string())
}

/// The cgroup holding `c`'s cpu and memory limits, where cgroup v2 can hold them and `c` has
/// a limit; None otherwise (the container then runs unlimited, as on cgroup v1 hosts).
pub fn cgroup(state_dir: &std::path::Path, pod_uid: &str, c: &Container) -> Option<String> {
    use crate::process::cgroup::{cpu_max, memory_max, node_key, Cgroups};
    let limit = |n: &str| c.resources.as_ref()?.limits.as_ref()?.get(n).and_then(|q| milli(&q.0));
    let (cpu, memory) = (limit("cpu"), limit("memory").map(|m| ceil_div(m, 1000)));
    if cpu.is_none() && memory.is_none() {
        return None;
    }
    let cg = Cgroups::host()?;
    match cg.container(&node_key(state_dir), pod_uid, &c.name, &cpu_max(cpu), &memory_max(memory)) {
        Ok(dir) => Some(dir.to_string_lossy().into_owned()),
        Err(e) => {
            tracing::warn!(container = %c.name, error = %e, "container limits not applied");
            None
        }
    }
}

/// A `resourceFieldRef` of `container` (the selector's containerName, when set, names it).
pub fn field(containers: &[Container], default: Option<&Container>, sel: &ResourceFieldSelector, alloc: &Allocatable) -> Result<String, String> {
    let c = match sel.container_name.as_deref().filter(|n| !n.is_empty()) {
        Some(n) => containers.iter().find(|c| c.name == n).ok_or_else(|| format!("container {n} not found"))?,
        None => default.ok_or("resourceFieldRef needs a containerName in a volume")?,
    };
    value(c, &sel.resource, sel.divisor.as_ref(), alloc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quantities_to_milli() {
        assert_eq!(milli("1"), Some(1000));
        assert_eq!(milli("250m"), Some(250));
        assert_eq!(milli("0.5"), Some(500));
        assert_eq!(milli("1.5Gi"), Some(1_610_612_736_000));
        assert_eq!(milli("64Mi"), Some(67_108_864_000));
        assert_eq!(milli("1k"), Some(1_000_000));
        assert_eq!(milli("1e3"), Some(1_000_000));
        assert_eq!(milli("1n"), Some(1));
        assert_eq!(milli("-2"), Some(-2000));
        assert_eq!(milli("x"), None);
        assert_eq!(milli("1Xi"), None);
    }

    fn container(res: serde_json::Value) -> Container {
        serde_json::from_value(serde_json::json!({"name": "c", "resources": res})).unwrap()
    }

    #[test]
    fn values_with_divisors_and_node_defaults() {
        let alloc = Allocatable { cpu: "2".into(), memory: "4Gi".into(), ephemeral_storage: "10Gi".into() };
        let c = container(serde_json::json!({"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "250m"}}));
        let v = |r: &str, d: Option<&str>| value(&c, r, d.map(|d| Quantity(d.into())).as_ref(), &alloc).unwrap();
        assert_eq!(v("limits.cpu", None), "1");
        assert_eq!(v("limits.cpu", Some("1m")), "500");
        assert_eq!(v("requests.cpu", Some("1m")), "250");
        assert_eq!(v("limits.memory", None), "67108864");
        assert_eq!(v("limits.memory", Some("1Mi")), "64");
        assert_eq!(v("limits.memory", Some("1G")), "1");
        // An unset request defaults to the limit; an unset limit is the node's allocatable.
        assert_eq!(v("requests.memory", Some("1Mi")), "64");
        let bare = container(serde_json::json!({}));
        assert_eq!(value(&bare, "limits.cpu", None, &alloc).unwrap(), "2");
        assert_eq!(value(&bare, "limits.memory", Some(&Quantity("1Gi".into())), &alloc).unwrap(), "4");
        assert_eq!(value(&bare, "requests.cpu", None, &alloc).unwrap(), "0");
        assert!(value(&bare, "limits.gpu", None, &alloc).unwrap_err().contains("unsupported container resource"));
    }
}

//! Built-in images. berth runs no OCI images yet; instead a few well-known images are
//! implemented here and resolved by name.
//!
//! * **App images** are Rust programs, started inside a container as
//!   `berth image run <NAME>` (see [`run`]). `luksa/kubia-pet` is the walkthrough's app,
//!   `luksa/kubia-pet-peers` its scale-out version that lists its peers' data.
//! * **Base images** (`busybox`, `alpine`) have no program of their own: their containers run
//!   their `command`/`args` from the host's filesystem, which the container sees read-only.
//!
//! Image references are matched the way a user writes them: any registry prefix
//! (`docker.io/`, `index.docker.io/`, `registry.k8s.io/`…), `library/`, any tag or digest.

mod http;
pub mod kubia;
pub mod peers;

/// What a resolved image runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Image {
    /// A program in this crate, run as `berth image run <name>`.
    App { name: &'static str },
    /// A base image: the container's command runs from the host's filesystem; without a
    /// command, `default_command` runs (busybox's and alpine's CMD is `sh`).
    Base { name: &'static str, default_command: &'static [&'static str] },
}

/// Every image berth knows, as listed in error messages.
pub const BUILT_IN: [&str; 4] = ["luksa/kubia-pet", "luksa/kubia-pet-peers", "busybox", "alpine"];

/// The image is not one of the built-in images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownImage(pub String);

impl std::fmt::Display for UnknownImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "image {:?} is not a built-in image; berth runs only its built-in images: {}",
            self.0,
            BUILT_IN.join(", ")
        )
    }
}

impl std::error::Error for UnknownImage {}

/// The repository path of a reference without registry, `library/`, tag or digest:
/// `docker.io/luksa/kubia-pet:latest` → `luksa/kubia-pet`.
pub fn repository(reference: &str) -> String {
    let no_digest = reference.split('@').next().unwrap_or_default();
    // A tag is a `:` after the last `/` (a `:` before it belongs to a registry port).
    let no_tag = match no_digest.rfind(':') {
        Some(i) if i > no_digest.rfind('/').map_or(0, |s| s + 1) || !no_digest.contains('/') => &no_digest[..i],
        _ => no_digest,
    };
    let mut parts: Vec<&str> = no_tag.split('/').collect();
    // The first part is a registry when it looks like a host: has a dot or port, or is localhost.
    if parts.len() > 1 && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost") {
        parts.remove(0);
    }
    if parts.len() > 1 && parts[0] == "library" {
        parts.remove(0);
    }
    parts.join("/")
}

/// Resolve an image reference to a built-in image.
pub fn resolve(reference: &str) -> Result<Image, UnknownImage> {
    match repository(reference).as_str() {
        "luksa/kubia-pet" => Ok(Image::App { name: "luksa/kubia-pet" }),
        "luksa/kubia-pet-peers" => Ok(Image::App { name: "luksa/kubia-pet-peers" }),
        "busybox" => Ok(Image::Base { name: "busybox", default_command: &["sh"] }),
        "alpine" => Ok(Image::Base { name: "alpine", default_command: &["/bin/sh"] }),
        _ => Err(UnknownImage(reference.to_string())),
    }
}

/// Run an app image's program in the current process (`berth image run NAME`); returns only
/// on failure.
pub fn run(reference: &str) -> Result<(), String> {
    match resolve(reference).map_err(|e| e.to_string())? {
        Image::App { name: "luksa/kubia-pet" } => kubia::serve(kubia::DATA_FILE, "0.0.0.0:8080").map_err(|e| e.to_string()),
        Image::App { name: "luksa/kubia-pet-peers" } => peers::serve().map_err(|e| e.to_string()),
        Image::App { name } => Err(format!("image {name} has no program")),
        Image::Base { name, .. } => Err(format!("{name} is a base image: its containers run their own command")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve_with_any_registry_and_tag() {
        for r in [
            "luksa/kubia-pet",
            "luksa/kubia-pet:latest",
            "docker.io/luksa/kubia-pet",
            "docker.io/luksa/kubia-pet:v1",
            "index.docker.io/luksa/kubia-pet@sha256:4263bc375d3ae2f73fe7486818cab64c07f9cd4a645a7c71a07c1365a6e1a4d2",
            "localhost:5000/luksa/kubia-pet:1",
        ] {
            assert_eq!(resolve(r), Ok(Image::App { name: "luksa/kubia-pet" }), "{r}");
        }
        for r in ["busybox", "busybox:1.36", "docker.io/library/busybox:latest", "library/busybox"] {
            assert!(matches!(resolve(r), Ok(Image::Base { name: "busybox", .. })), "{r}");
        }
        for r in ["luksa/kubia-pet-peers", "docker.io/luksa/kubia-pet-peers:latest"] {
            assert_eq!(resolve(r), Ok(Image::App { name: "luksa/kubia-pet-peers" }), "{r}");
        }
        assert!(matches!(resolve("alpine:3.20"), Ok(Image::Base { name: "alpine", .. })));
    }

    #[test]
    fn unknown_images_list_the_built_in_ones() {
        for r in ["nginx", "luksa/kubia-pet-peer", "luksa/kubia", "quay.io/busybox/other"] {
            let e = resolve(r).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(r) && msg.contains("luksa/kubia-pet, luksa/kubia-pet-peers, busybox, alpine"), "{msg}");
        }
    }

    #[test]
    fn repository_strips_registry_library_tag_and_digest() {
        assert_eq!(repository("registry.k8s.io/pause:3.9"), "pause");
        assert_eq!(repository("docker.io/library/busybox:1"), "busybox");
        assert_eq!(repository("localhost:5000/a/b"), "a/b");
        assert_eq!(repository("a/b@sha256:00"), "a/b");
    }
}

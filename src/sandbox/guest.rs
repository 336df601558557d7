//! Locating, building and verifying the guest component (CPython compiled to a
//! WebAssembly component by componentize-py, wrapping `sandbox-wasm/harness`).
//!
//! Lookup order: an explicit path, then `$AZR_GUEST`, then the on-disk cache (the sandbox's
//! `cache_dir`, else `$AZR_CACHE_DIR`, else `$XDG_CACHE_HOME/azr`, else `~/.cache/azr`), else the
//! guest is built once with the `componentize-py` executable from the package registry
//! (`$AZR_COMPONENTIZE_PY`, else found on `$PATH`) and cached there.
//!
//! The guest's string-hash secret is drawn when it is built and then fixed in its
//! memory snapshot: componentize-py pre-initialises CPython with an environment of
//! its own (no `PYTHONHASHSEED`), so CPython takes the secret from WASI randomness.
//! The secret cannot be chosen, only redrawn by another build: a hash seed numbers
//! independently built guests, each cached under its own key, so two seeds have two
//! secrets and one seed keeps its secret as long as its cached guest lives (another
//! machine or an emptied cache draws a new one). An explicit path or `$AZR_GUEST`
//! names a prebuilt guest: it is used for hash seed 0 only (explicit with another
//! seed is a config error; `$AZR_GUEST` is then skipped).

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::error::{CoreError, Result};

/// The WIT interface between host and guest.
pub const GUEST_WIT: &str = include_str!("../../sandbox-wasm/wit/guest.wit");
/// The Python harness that runs inside the guest.
pub const GUEST_HARNESS: &str = include_str!("../../sandbox-wasm/harness/azr_guest.py");
/// The componentize-py release the guest is built and tested with.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// Hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Directory for built guests and compiled artifacts.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("AZR_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("azr");
    }
    if let Some(home) = std::env::var_os("HOME") {
        return PathBuf::from(home).join(".cache").join("azr");
    }
    std::env::temp_dir().join("azr-cache")
}

/// The key of the guest built from this crate's harness and WIT with `tool_version`,
/// as build number `hash_seed` (each number is its own build, so its own secret).
pub fn guest_key(tool_version: &str, hash_seed: u32) -> String {
    let mut text = String::new();
    text.push_str(tool_version);
    text.push('\0');
    text.push_str(&format!("hash-secret-build={hash_seed}"));
    text.push('\0');
    text.push_str(GUEST_WIT);
    text.push('\0');
    text.push_str(GUEST_HARNESS);
    sha256_hex(text.as_bytes())[..16].to_string()
}

/// Path of the guest cached in `cache` for the pinned componentize-py version and `hash_seed`.
pub fn cached_guest_path(cache: &Path, hash_seed: u32) -> PathBuf {
    cache.join(format!("guest-{}.wasm", guest_key(COMPONENTIZE_PY_VERSION, hash_seed)))
}

/// Finds guest build `hash_seed` (its own string-hash secret) in `cache`, building it there when
/// nothing is found.
pub fn locate(explicit: Option<&Path>, hash_seed: u32, cache: &Path) -> Result<PathBuf> {
    if let Some(path) = explicit {
        if hash_seed != 0 {
            return Err(CoreError::Config(format!(
                "a prebuilt `guest` has the hash secret it was built with; it is used with hash_seed=0 only, \
                 got hash_seed={hash_seed} (drop `guest` to build or reuse the cached guest for this seed)"
            )));
        }
        return existing(path, "the `guest` argument");
    }
    if hash_seed == 0 {
        if let Some(path) = std::env::var_os("AZR_GUEST") {
            return existing(Path::new(&path), "$AZR_GUEST");
        }
    }
    let cached = cached_guest_path(cache, hash_seed);
    if cached.is_file() {
        return Ok(cached);
    }
    build(&cached, hash_seed)
}

fn existing(path: &Path, origin: &str) -> Result<PathBuf> {
    if path.is_file() {
        Ok(path.to_path_buf())
    } else {
        Err(CoreError::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("guest component named by {origin} does not exist"),
            ),
        ))
    }
}

/// The componentize-py executable to build with.
pub fn componentize_py() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("AZR_COMPONENTIZE_PY") {
        // The build runs in a temporary directory, so a relative path must be resolved now.
        let path = PathBuf::from(path);
        return Ok(std::path::absolute(&path).unwrap_or(path));
    }
    let name = "componentize-py";
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(CoreError::GuestNotFound(format!(
        "no cached guest at {} and no `componentize-py` to build one; \
         run `pip install componentize-py=={COMPONENTIZE_PY_VERSION}` (a dependency of azr), \
         or set AZR_GUEST to a prebuilt guest component",
        cache_dir().join("guest-<key>.wasm").display()
    )))
}

/// Builds guest number `hash_seed` (a fresh string-hash secret) into `dest` (atomically: a temp
/// file, then a rename) and writes `dest.sha256` beside it.
pub fn build(dest: &Path, hash_seed: u32) -> Result<PathBuf> {
    let tool = componentize_py()?;
    let version = tool_version(&tool)?;
    if version != COMPONENTIZE_PY_VERSION {
        log::warn!("componentize-py {version} found; azr is tested with {COMPONENTIZE_PY_VERSION}");
    }
    let parent = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| CoreError::io(parent, e))?;
    let work = tempdir_in(parent)?;
    log::info!(
        "building sandbox guest {hash_seed} (its own string-hash secret) with {} (one time, ~20 s)",
        tool.display()
    );
    let result = build_in(&tool, &work, dest);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn build_in(tool: &Path, work: &Path, dest: &Path) -> Result<PathBuf> {
    let wit = work.join("guest.wit");
    std::fs::write(&wit, GUEST_WIT).map_err(|e| CoreError::io(&wit, e))?;
    let harness = work.join("azr_guest.py");
    std::fs::write(&harness, GUEST_HARNESS).map_err(|e| CoreError::io(&harness, e))?;
    let out = work.join("guest.wasm");
    let output = Command::new(tool)
        .current_dir(work)
        .env_remove("VIRTUAL_ENV")
        .args([
            "-q",
            "-d",
            "guest.wit",
            "-w",
            "guest",
            "componentize",
            "-p",
            ".",
            "azr_guest",
            "-o",
            "guest.wasm",
        ])
        .output()
        .map_err(|e| CoreError::GuestBuild(format!("could not run {}: {e}", tool.display())))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let head: String = stderr.lines().take(30).collect::<Vec<_>>().join("\n");
        return Err(CoreError::GuestBuild(format!(
            "componentize-py exited with {}:\n{head}",
            output.status
        )));
    }
    let bytes = std::fs::read(&out).map_err(|e| CoreError::io(&out, e))?;
    let sidecar = checksum_path(dest);
    let tmp_sidecar = work.join("guest.wasm.sha256");
    std::fs::write(&tmp_sidecar, format!("{}  {}\n", sha256_hex(&bytes), file_name(dest)))
        .map_err(|e| CoreError::io(&tmp_sidecar, e))?;
    std::fs::rename(&out, dest).map_err(|e| CoreError::io(dest, e))?;
    std::fs::rename(&tmp_sidecar, &sidecar).map_err(|e| CoreError::io(&sidecar, e))?;
    Ok(dest.to_path_buf())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Where the recorded checksum of a built guest lives.
pub fn checksum_path(guest: &Path) -> PathBuf {
    let mut name = guest.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// Checks a guest against the checksum recorded when it was built. Returns its
/// SHA-256; a guest without a recorded checksum (e.g. from `$AZR_GUEST`) passes.
pub fn verify(guest: &Path) -> Result<String> {
    let bytes = std::fs::read(guest).map_err(|e| CoreError::io(guest, e))?;
    let actual = sha256_hex(&bytes);
    let sidecar = checksum_path(guest);
    if let Ok(text) = std::fs::read_to_string(&sidecar) {
        let expected = text.split_whitespace().next().unwrap_or("");
        if expected != actual {
            return Err(CoreError::GuestInvalid(format!(
                "{} has sha256 {actual} but {} records {expected}; delete both and rebuild",
                guest.display(),
                sidecar.display()
            )));
        }
    }
    Ok(actual)
}

fn tool_version(tool: &Path) -> Result<String> {
    let output = Command::new(tool)
        .arg("--version")
        .output()
        .map_err(|e| CoreError::GuestBuild(format!("could not run {}: {e}", tool.display())))?;
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text.split_whitespace().last().unwrap_or("").to_string())
}

fn tempdir_in(parent: &Path) -> Result<PathBuf> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = parent.join(format!(".build-{}-{stamp}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| CoreError::io(&dir, e))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_depends_on_tool_version_and_hash_seed() {
        assert_ne!(guest_key("0.25.1", 0), guest_key("0.26.0", 0));
        assert_ne!(guest_key("0.25.1", 0), guest_key("0.25.1", 1));
        assert_eq!(guest_key("0.25.1", 0).len(), 16);
    }

    #[test]
    fn verify_detects_corruption() {
        let dir = std::env::temp_dir().join(format!("azr-verify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let guest = dir.join("g.wasm");
        std::fs::write(&guest, b"abc").unwrap();
        std::fs::write(checksum_path(&guest), format!("{}  g.wasm\n", sha256_hex(b"abc"))).unwrap();
        assert!(verify(&guest).is_ok());
        std::fs::write(&guest, b"abd").unwrap();
        assert!(matches!(verify(&guest), Err(CoreError::GuestInvalid(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

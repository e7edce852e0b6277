//! A fast path for repositories on the local filesystem: read `packed-refs` and the loose refs
//! directly, the way `git ls-remote /path` would report them, instead of going through
//! libgit2's local transport (which opens every ref several times and every tagged object).
//!
//! It answers `None` whenever it cannot be sure to match libgit2 — not a plain git directory,
//! a tag whose object is packed, anything unusual — and the caller falls back to libgit2.
//! A test compares both on the same repositories.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::RemoteRef;
use crate::fsutil::read_small;

/// The git directory `url` names, if it is a local path (`/x`, `./x`, `file:///x`) whose
/// layout this reader understands.
pub fn local_git_dir(url: &str) -> Option<PathBuf> {
    let path = if let Some(p) = url.strip_prefix("file://") {
        PathBuf::from(p)
    } else if url.contains("://")
        || (!url.starts_with('/') && !url.starts_with('.') && url.contains(':'))
    {
        return None;
    } else {
        PathBuf::from(url)
    };
    let dot_git = path.join(".git");
    let dir = if dot_git.is_dir() { dot_git } else { path };
    // A plain (non-worktree) git dir: HEAD, refs/, objects/, and no commondir indirection.
    let plain =
        dir.join("HEAD").is_file() && dir.join("refs").is_dir() && !dir.join("commondir").exists();
    plain.then_some(dir)
}

/// Lists refs like libgit2's local transport: `HEAD` (resolved), every ref, and `<tag>^{}` for
/// annotated tags. `None`: use libgit2 instead.
pub fn list_refs(git_dir: &Path) -> Option<Vec<RemoteRef>> {
    let mut refs: BTreeMap<String, RefValue> = BTreeMap::new();
    let mut peeled: HashMap<String, String> = HashMap::new();
    if let Ok(text) = read_small(&git_dir.join("packed-refs")) {
        parse_packed(&text, &mut refs, &mut peeled)?;
    }
    read_loose(&git_dir.join("refs"), "refs", &mut refs, &mut peeled)?;
    let head = read_ref_file(&git_dir.join("HEAD"))?;
    let mut reader = ObjectTypes {
        dir: git_dir.join("objects"),
        cache: HashMap::new(),
        inflate: None,
    };
    let mut out = Vec::with_capacity(refs.len() * 2 + 1);
    if let Some(sha) = resolve(&head, &refs, 0) {
        out.push(("HEAD".to_string(), sha));
    }
    for (name, value) in &refs {
        let Some(sha) = resolve(value, &refs, 0) else {
            continue;
        };
        if name.starts_with("refs/tags/") {
            let target = match peeled.get(name) {
                Some(p) => Some(p.clone()),
                None => reader.peel(&sha)?,
            };
            out.push((name.clone(), sha));
            if let Some(t) = target {
                out.push((format!("{name}^{{}}"), t));
            }
        } else {
            out.push((name.clone(), sha));
        }
    }
    Some(out)
}

#[derive(Debug, Clone)]
enum RefValue {
    Direct(String),
    Symbolic(String),
}

fn resolve(value: &RefValue, refs: &BTreeMap<String, RefValue>, depth: u8) -> Option<String> {
    match value {
        RefValue::Direct(sha) => Some(sha.clone()),
        RefValue::Symbolic(target) if depth < 5 => resolve(refs.get(target)?, refs, depth + 1),
        RefValue::Symbolic(_) => None,
    }
}

fn is_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn parse_packed(
    text: &str,
    refs: &mut BTreeMap<String, RefValue>,
    peeled: &mut HashMap<String, String>,
) -> Option<()> {
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(p) = line.strip_prefix('^') {
            let name = last.clone()?;
            is_sha(p).then_some(())?;
            peeled.insert(name, p.to_string());
            continue;
        }
        let (sha, name) = line.split_once(' ')?;
        is_sha(sha).then_some(())?;
        refs.insert(name.to_string(), RefValue::Direct(sha.to_string()));
        last = Some(name.to_string());
    }
    Some(())
}

/// Loose refs override packed ones (and their packed peel lines).
fn read_loose(
    dir: &Path,
    prefix: &str,
    refs: &mut BTreeMap<String, RefValue>,
    peeled: &mut HashMap<String, String>,
) -> Option<()> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Some(());
    };
    for entry in entries {
        let entry = entry.ok()?;
        let name = entry.file_name().into_string().ok()?;
        if name.ends_with(".lock") {
            continue;
        }
        let full = format!("{prefix}/{name}");
        let file_type = entry.file_type().ok()?;
        if file_type.is_dir() {
            read_loose(&entry.path(), &full, refs, peeled)?;
        } else if file_type.is_file() {
            let value = read_ref_file(&entry.path())?;
            peeled.remove(&full);
            refs.insert(full, value);
        } else {
            return None; // symlinked refs: leave them to libgit2
        }
    }
    Some(())
}

fn read_ref_file(path: &Path) -> Option<RefValue> {
    let text = read_small(path).ok()?;
    let text = text.trim_end();
    if let Some(target) = text.strip_prefix("ref: ") {
        return Some(RefValue::Symbolic(target.trim().to_string()));
    }
    is_sha(text).then(|| RefValue::Direct(text.to_ascii_lowercase()))
}

/// Object types read from loose objects, cached per sha.
struct ObjectTypes {
    dir: PathBuf,
    cache: HashMap<String, Option<String>>,
    /// One inflater reused for every object (its state is tens of KiB to set up).
    inflate: Option<flate2::Decompress>,
}

impl ObjectTypes {
    /// `Some(Some(commit))` if `sha` is an annotated tag (fully peeled), `Some(None)` if it is
    /// not a tag, `None` if the object is not loose (packed) — then libgit2 must decide.
    fn peel(&mut self, sha: &str) -> Option<Option<String>> {
        if let Some(hit) = self.cache.get(sha) {
            return Some(hit.clone());
        }
        let mut current = sha.to_string();
        let mut result = None;
        for _ in 0..8 {
            let inflate = self
                .inflate
                .get_or_insert_with(|| flate2::Decompress::new(true));
            let (kind, body) = read_loose_object(&self.dir, &current, inflate)?;
            if kind != "tag" {
                break;
            }
            let target = body.lines().next()?.strip_prefix("object ")?.to_string();
            is_sha(&target).then_some(())?;
            result = Some(target.clone());
            current = target;
        }
        self.cache.insert(sha.to_string(), result.clone());
        Some(result)
    }
}

/// Type and (the first KiB of) body of a loose object.
fn read_loose_object(
    objects: &Path,
    sha: &str,
    inflate: &mut flate2::Decompress,
) -> Option<(String, String)> {
    let mut file = fs::File::open(objects.join(&sha[..2]).join(&sha[2..])).ok()?;
    let mut compressed = [0u8; 1024];
    let n = file.read(&mut compressed).ok()?;
    let mut buf = Vec::with_capacity(1024);
    inflate.reset(true);
    // A partial read or partial inflate is fine: only the header and first line are needed.
    let _ = inflate.decompress_vec(&compressed[..n], &mut buf, flate2::FlushDecompress::None);
    let nul = buf.iter().position(|&b| b == 0)?;
    let header = std::str::from_utf8(&buf[..nul]).ok()?;
    let kind = header.split(' ').next()?.to_string();
    let body = String::from_utf8_lossy(&buf[nul + 1..]).into_owned();
    Some((kind, body))
}

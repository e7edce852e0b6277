//! Rendered app definitions held compactly: each is encoded as copies from one shared base
//! text (the first definition this process rendered) and literal bytes.
//!
//! Two of a cluster's definitions share most of their text (keys, container and health-check
//! boilerplate, constraints, env names); what differs is names, the image and sizes. At 50,000
//! instances the plain JSON texts (about 600 bytes each) were the largest single thing the
//! coordinator held; encoded against a base they take a tenth of that. Only the create call and
//! `render-app` read a definition back, so decoding is rare.
//!
//! Safety: an encoding is decoded and compared with its text before it is used; any mismatch
//! (or an encoding no shorter than the text) keeps the plain text. Decoding checks every bound,
//! and the encoder is deterministic against the one base, so equal texts have equal encodings.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

/// Bytes a copy must match at least (and the width of the base's index).
const WINDOW: usize = 8;

/// Marks a plain text.
const PLAIN: u8 = 0;
/// Marks copies and literals against [`base`].
const DELTA: u8 = 1;

/// The text definitions are encoded against, with the first position of each of its windows.
struct Base {
    text: Box<[u8]>,
    index: HashMap<u64, u32, BuildHasherDefault<WindowHasher>>,
}

static BASE: OnceLock<Base> = OnceLock::new();

/// The base: the first text ever encoded in this process.
fn base(first: &[u8]) -> &'static Base {
    BASE.get_or_init(|| Base::new(first))
}

impl Base {
    fn new(text: &[u8]) -> Self {
        let mut index = HashMap::default();
        for (at, w) in text.windows(WINDOW).enumerate() {
            index.entry(window_key(w)).or_insert(at as u32);
        }
        Base {
            text: text.into(),
            index,
        }
    }
}

fn window_key(w: &[u8]) -> u64 {
    u64::from_le_bytes(w.try_into().expect("a window is 8 bytes"))
}

/// A multiplicative hash of a window key (the key is the window's 8 bytes, so the map's own
/// key comparison makes every hit exact).
#[derive(Default)]
struct WindowHasher(u64);

impl Hasher for WindowHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// `text`, encoded: a marker byte, then the plain text or the copies and literals.
pub(super) fn encode(text: &str) -> Box<[u8]> {
    let base = base(text.as_bytes());
    let delta = delta(text.as_bytes(), base);
    if delta.len() + 1 < text.len() && decode_delta(&delta, base).as_deref() == Some(text) {
        let mut out = Vec::with_capacity(delta.len() + 1);
        out.push(DELTA);
        out.extend_from_slice(&delta);
        return out.into();
    }
    let mut out = Vec::with_capacity(text.len() + 1);
    out.push(PLAIN);
    out.extend_from_slice(text.as_bytes());
    out.into()
}

/// The text of an [`encode`]d value (`None` only for bytes `encode` did not write).
pub(super) fn decode(encoded: &[u8]) -> Option<String> {
    match encoded.split_first()? {
        (&PLAIN, text) => String::from_utf8(text.to_vec()).ok(),
        (&DELTA, ops) => decode_delta(ops, BASE.get()?),
        _ => None,
    }
}

/// Ops: `varint(len << 1)` then `len` literal bytes, or `varint(len << 1 | 1)` then
/// `varint(at)`: copy `len` bytes of the base from `at`.
fn delta(text: &[u8], base: &Base) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() / 4);
    let (mut i, mut literal) = (0, 0);
    while i + WINDOW <= text.len() {
        // The key is the window's 8 bytes themselves: a hit is a match.
        let Some(&at) = base.index.get(&window_key(&text[i..i + WINDOW])) else {
            i += 1;
            continue;
        };
        let at = at as usize;
        let mut len = WINDOW;
        while i + len < text.len()
            && at + len < base.text.len()
            && text[i + len] == base.text[at + len]
        {
            len += 1;
        }
        push_literal(&mut out, &text[literal..i]);
        varint(&mut out, (len as u64) << 1 | 1);
        varint(&mut out, at as u64);
        i += len;
        literal = i;
    }
    push_literal(&mut out, &text[literal..]);
    out
}

fn push_literal(out: &mut Vec<u8>, bytes: &[u8]) {
    if !bytes.is_empty() {
        varint(out, (bytes.len() as u64) << 1);
        out.extend_from_slice(bytes);
    }
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn read_varint(ops: &[u8], at: &mut usize) -> Option<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *ops.get(*at)?;
        *at += 1;
        n |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(n);
        }
    }
    None
}

fn decode_delta(ops: &[u8], base: &Base) -> Option<String> {
    let mut out = Vec::with_capacity(ops.len() * 8);
    let mut at = 0;
    while at < ops.len() {
        let head = read_varint(ops, &mut at)?;
        let len = usize::try_from(head >> 1).ok()?;
        if head & 1 == 0 {
            out.extend_from_slice(ops.get(at..at.checked_add(len)?)?);
            at += len;
        } else {
            let from = usize::try_from(read_varint(ops, &mut at)?).ok()?;
            out.extend_from_slice(base.text.get(from..from.checked_add(len)?)?);
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn app(service: &str, instance: &str, cpus: f64) -> String {
        format!(
            r#"{{"container":{{"docker":{{"image":"registry:443/services-{service}:paasta-0123456789abcdef","network":"BRIDGE"}},"type":"DOCKER"}},"cpus":{cpus},"env":{{"PAASTA_SERVICE":"{service}","PAASTA_INSTANCE":"{instance}"}},"id":"{service}.{instance}.git01234567.config3d28192f","instances":1}}"#
        )
    }

    #[test]
    fn similar_definitions_take_a_fraction_of_their_text_and_read_back() {
        let base = Base::new(app("svc00001", "i0", 0.1).as_bytes());
        let other = app("another_service", "canary", 2.5);
        let ops = delta(other.as_bytes(), &base);
        assert_eq!(decode_delta(&ops, &base).as_deref(), Some(other.as_str()));
        assert!(
            ops.len() * 2 < other.len(),
            "{} bytes for {} of text",
            ops.len(),
            other.len()
        );
        assert_eq!(delta(other.as_bytes(), &base), ops, "deterministic");
        // Whatever base this process has, encode reads back and is deterministic.
        assert_eq!(decode(&encode(&other)).as_deref(), Some(other.as_str()));
        assert_eq!(encode(&other), encode(&other));
    }

    #[test]
    fn bytes_encode_did_not_write_decode_to_none() {
        let _ = encode(&app("svc", "main", 1.0));
        for bad in [
            &[][..],
            &[7, 1, 2],
            &[DELTA, 0x03, 0xff, 0xff, 0xff, 0x7f],
            &[DELTA, 0x80],
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
        /// Any text reads back exactly, whatever it shares with the base.
        #[test]
        fn any_text_reads_back(
            service in "[a-z_]{1,12}",
            instance in "[a-z0-9]{1,8}",
            noise in "\\PC{0,40}",
            cpus in 0.0f64..64.0,
        ) {
            let text = format!("{}{noise}", app(&service, &instance, cpus));
            prop_assert_eq!(decode(&encode(&text)), Some(text));
        }
    }
}

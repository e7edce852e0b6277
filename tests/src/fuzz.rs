//! The fuzz harness the crates' fuzz targets share (`common/tests/fuzz/`,
//! `coordinator/tests/integration/fuzz/`, `agent/tests/integration/fuzz/`): a proptest runner
//! per target that counts and times its executions, and the input generators (bytes, token
//! soups, nasty strings and values; [`mutate`]: edits of a text and of a JSON tree). Plain
//! proptest and serde_json: it links no Galley crate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use serde_json::{Map, Number, Value};

/// `PROPTEST_CASES` if set, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `test` on inputs of `strategy` (`cases(default_cases)` of them), printing the number
/// of executions and the time taken; panics with the minimal failing input.
pub fn fuzz<S: Strategy>(
    target: &str,
    default_cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let persist: &'static str =
        Box::leak(format!("tests/proptest-regressions/fuzz/{target}.txt").into_boxed_str());
    let config = Config {
        cases: cases(default_cases),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(persist))),
        max_shrink_time: 120_000,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let executions = AtomicU64::new(0);
    let start = Instant::now();
    let result = runner.run(&strategy, |input| {
        executions.fetch_add(1, Ordering::Relaxed);
        test(input)
    });
    let secs = start.elapsed().as_secs_f64();
    let n = executions.load(Ordering::Relaxed);
    eprintln!(
        "fuzz {target}: {n} executions in {secs:.1} s ({:.0}/s)",
        n as f64 / secs
    );
    if let Err(e) = result {
        panic!("fuzz {target}: {e}");
    }
}

/// Up to `max` arbitrary bytes.
pub fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

/// Text made of `tokens` (up to `max` of them), the fragments a parser's grammar is made of.
pub fn soup(tokens: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(tokens), 0..max).prop_map(|t| t.concat())
}

/// YAML's syntax, PyYAML 1.1 scalars and the loader's limits in fragments.
pub const YAML_TOKENS: &[&str] = &[
    "- ",
    "[",
    "]",
    "{",
    "}",
    ", ",
    ": ",
    ":",
    "\n",
    "  ",
    "    ",
    "\t",
    "? ",
    "&a ",
    "&b ",
    "*a",
    "*b",
    "<<: ",
    "<<",
    "'",
    "\"",
    "\\",
    "|\n",
    ">-\n",
    "#",
    "---\n",
    "...\n",
    "!!int ",
    "!!str ",
    "!!float ",
    "!!bool ",
    "!!null ",
    "!!map ",
    "!!seq ",
    "!!python/object ",
    "! ",
    "%YAML 1.1\n",
    "%TAG ! tag:x,2000:\n",
    "k",
    "key",
    "x",
    "0",
    "0755",
    "0x1F",
    "0b101",
    "1:30",
    "190:20:30.15",
    "1_000",
    "1.0e+300",
    "1.0e+400",
    ".inf",
    "-.inf",
    ".nan",
    "1e3",
    "yes",
    "off",
    "~",
    "null",
    "é",
    "☃",
    "\u{feff}",
    "\u{0}",
    "\r",
    "\r\n",
    "99999999999999999999999",
];

/// Nasty strings for values and names.
pub fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(vec![
            "",
            " ",
            "\0",
            "a\0b",
            "../../../etc/passwd",
            "..",
            "/",
            "a/b",
            "é☃𝄞",
            "\u{202e}",
            "{service}",
            "{",
            "}",
            "{0}",
            "%s",
            "\n",
            "\r\n",
            "yes",
            "0x10",
            "1:30",
            "~",
            "-",
            "\u{feff}",
            "NaN",
            "99999999999999999999999",
            "null",
            "main",
            "web",
        ])
        .prop_map(String::from),
        ".{0,40}",
        (1usize..20_000).prop_map(|n| "A".repeat(n)),
    ]
}

/// Any JSON value, small, with edge-case leaves.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        proptest::sample::select(vec![0.0, -0.0, 0.5, 1e-300, 1e300, -1e300, f64::MAX])
            .prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        nasty_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((nasty_string(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Numbers at the edges: zero, signs, huge and tiny floats, the integer limits, around a day.
pub fn edge_number() -> impl Strategy<Value = Value> {
    let floats = [
        0.0,
        -0.0,
        -1.0,
        0.5,
        1e-300,
        1e300,
        -1e300,
        f64::MAX,
        86_400.0,
        86_400.5,
        3.6e6,
    ];
    let ints = [
        Value::from(0),
        Value::from(-1),
        Value::from(i64::MIN),
        Value::from(u64::MAX),
    ];
    let mut values: Vec<Value> = floats
        .iter()
        .filter_map(|f| Number::from_f64(*f))
        .map(Value::Number)
        .collect();
    values.extend(ints);
    proptest::sample::select(values)
}

/// The files kept under `fuzz/regressions/<target>` at the workspace root, sorted, with
/// their bytes; there must be some (each crate's replay tests run them through the target).
pub fn regression_inputs(target: &str) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let mut out: Vec<(std::path::PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read");
            (p, bytes)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no regression inputs in {}", dir.display());
    out
}

pub mod mutate;

//! PyYAML (YAML 1.1) compatibility cases.

use serde_json::json;

use super::{MAX_DEPTH, YamlError, load};

fn v(text: &str) -> serde_json::Value {
    load(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

#[test]
fn yaml_1_1_booleans_match_pyyaml() {
    assert_eq!(
        v("[yes, Yes, YES, on, On, true, no, off, OFF, False]"),
        json!([
            true, true, true, true, true, true, false, false, false, false
        ])
    );
    // PyYAML does not treat y/n as booleans.
    assert_eq!(v("[y, n, Y]"), json!(["y", "n", "Y"]));
    // Quoted scalars are always strings.
    assert_eq!(v("['yes', \"on\"]"), json!(["yes", "on"]));
}

#[test]
fn yaml_1_1_integers_match_pyyaml() {
    assert_eq!(
        v("[0755, 0x1F, 0b101, 1_000, 1:30, -12, +3, 0, 09, 0_]"),
        json!([493, 31, 5, 1000, 90, -12, 3, 0, "09", 0])
    );
}

#[test]
fn yaml_1_1_floats_need_a_dot_and_signed_exponent() {
    assert_eq!(
        v("[1.5, 1024.0, 1., .5, 1e3, 1.0e3, 1.0e+3, -.5, 1:30.5]"),
        json!([1.5, 1024.0, 1.0, 0.5, "1e3", "1.0e3", 1000.0, "-.5", 90.5])
    );
    let ints_stay_ints = v("mem: 1024");
    assert!(ints_stay_ints["mem"].is_i64());
    assert!(v("mem: 1024.0")["mem"].is_f64());
}

#[test]
fn nulls_and_empty_documents() {
    assert_eq!(v(""), json!(null));
    assert_eq!(v("# only a comment\n"), json!(null));
    assert_eq!(
        v("a: ~\nb: null\nc:\n"),
        json!({"a": null, "b": null, "c": null})
    );
}

#[test]
fn anchors_aliases_and_merge_keys() {
    let text = "
_base: &base
  cpus: 1
  env: {A: '1'}
_other: &other
  cpus: 2
  mem: 512
main:
  <<: *base
  mem: 2048
canary:
  <<: [*base, *other]
  instances: 1
copy: *base
";
    let doc = v(text);
    assert_eq!(
        doc["main"],
        json!({"cpus": 1, "env": {"A": "1"}, "mem": 2048})
    );
    // Earlier mappings in a merge list win.
    assert_eq!(
        doc["canary"],
        json!({"cpus": 1, "mem": 512, "env": {"A": "1"}, "instances": 1})
    );
    assert_eq!(doc["copy"], doc["_base"]);
}

#[test]
fn explicit_keys_override_merged_ones_even_before_the_merge() {
    let doc = v("a: &a {x: 1, y: 1}\nb:\n  x: 2\n  <<: *a\n");
    assert_eq!(doc["b"], json!({"x": 2, "y": 1}));
}

#[test]
fn duplicate_keys_last_wins_and_non_string_keys_become_json_keys() {
    assert_eq!(v("a: 1\na: 2\n"), json!({"a": 2}));
    assert_eq!(
        v("1: a\ntrue: b\n~: c\n"),
        json!({"1": "a", "true": "b", "null": "c"})
    );
}

#[test]
fn core_tags_are_honoured() {
    assert_eq!(
        v("[!!str 0755, !!int '12', !!float '1', !!bool 'yes']"),
        json!(["0755", 12, 1.0, true])
    );
}

#[test]
fn errors_name_the_line() {
    match load("a: 1\nb: [1, 2\nc: 3\n") {
        Err(YamlError::Syntax { line, .. }) => assert!(line >= 2, "line {line}"),
        other => panic!("expected a syntax error, got {other:?}"),
    }
    assert!(load("a: *nope\n").is_err());
    assert!(matches!(
        load("---\na: 1\n---\nb: 2\n"),
        Err(YamlError::Unsupported { .. })
    ));
    assert!(matches!(
        load("a: !!python/object:foo {}\n"),
        Err(YamlError::Unsupported { .. })
    ));
}

/// A "billion laughs" alias bomb (issue 15: 515 bytes grew `serve` past 2 GB) is refused
/// after a bounded amount of work, naming the limit.
#[test]
fn an_alias_bomb_is_refused() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let prev = format!("*a{}", i - 1);
        text.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            [prev.as_str(); 10].join(", ")
        ));
    }
    let err = load(&text).unwrap_err();
    assert!(err.to_string().contains("more than 500000 nodes"), "{err}");
}

/// Nesting is bounded in block and flow style alike: 10,000 levels get an error, not a stack
/// overflow (issue 15: `- - - … x` aborted the coordinator).
#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let block = format!("{}x\n", "- ".repeat(10_000));
    let err = load(&block).unwrap_err();
    assert!(
        err.to_string().contains("nested more than 64 deep"),
        "{err}"
    );
    let mut mapping = String::new();
    for i in 0..10_000 {
        mapping.push_str(&format!("{}k{i}:\n", "  ".repeat(i)));
    }
    assert!(load(&mapping).is_err());
    let flow = format!("{}x{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(load(&flow).is_err());
}

/// What real configs do stays well inside the limits: 64 levels, aliases repeated a lot.
#[test]
fn real_configs_fit_the_limits() {
    let deep = format!("{}x\n", "- ".repeat(MAX_DEPTH));
    assert!(load(&deep).is_ok());
    let mut text = String::from("common: &common {cpus: 0.5, mem: 1024, env: {A: b}}\n");
    for i in 0..5_000 {
        text.push_str(&format!("i{i}:\n  <<: *common\n  instances: {i}\n"));
    }
    let v = load(&text).expect("5,000 instances sharing an anchor");
    assert_eq!(v["i4999"]["mem"], 1024);
}

/// Bad-input fuzzing (`fuzz/regressions/yaml/string-alias-bomb.yaml`): a long string repeated
/// by aliases stayed under the node limit while 100 KB of YAML grew to 2 GB of strings. The
/// scalar text an alias repeats now counts too, and is counted before it is copied.
#[test]
fn a_long_string_repeated_by_aliases_is_refused() {
    let text = format!(
        "s: &s {}\nl: &l [{}]\nm: [{}]\n",
        "x".repeat(100_000),
        ["*s"; 100].join(", "),
        ["*l"; 200].join(", ")
    );
    let err = load(&text).unwrap_err();
    assert!(
        err.to_string()
            .contains("more than 67108864 bytes of scalars"),
        "{err}"
    );
}

/// Bad-input fuzzing (`fuzz/regressions/yaml/sexagesimal-overflow.yaml`, the fuzzer's minimal
/// input): a sexagesimal int past i128 overflowed (a panic in debug builds, wrapped in
/// release). Like a decimal too long for JSON, it now reads as a string.
#[test]
fn a_sexagesimal_int_past_i128_is_a_string() {
    let found = "100000000000000000000000000000000000:0:0:0";
    let long = format!("1{}", ":00".repeat(22));
    assert_eq!(v(&format!("[{found}, {long}]")), json!([found, long]));
    assert_eq!(v("[1:30, -1:00:00]"), json!([90, -3600]));
}

//! `galley_common::yaml::load`: arbitrary bytes, token soups, deep nesting, alias bombs (with
//! the loader's limits as the oracle), merge keys, and long scalars and numbers.

use galley_common::yaml::{MAX_DEPTH, MAX_NODES, MAX_SCALAR_BYTES, load};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::Value;

use crate::support::{YAML_TOKENS, bytes, fuzz, soup};

/// Loads `text`: an error must name a line; a value must stay within the limits.
pub fn check_load(text: &str) -> Result<Option<Value>, TestCaseError> {
    match load(text) {
        Ok(v) => {
            let (depth, nodes) = shape(&v);
            prop_assert!(depth <= MAX_DEPTH + 1, "{depth} levels loaded");
            prop_assert!(nodes <= MAX_NODES, "{nodes} nodes loaded");
            Ok(Some(v))
        }
        Err(e) => {
            let msg = e.to_string();
            prop_assert!(msg.contains("line"), "an error that names no line: {msg:?}");
            Ok(None)
        }
    }
}

/// Depth (a scalar is 1) and node count of a loaded value.
fn shape(v: &Value) -> (usize, u64) {
    match v {
        Value::Array(a) => a
            .iter()
            .map(shape)
            .fold((1, 1), |(d, n), (cd, cn)| (d.max(cd + 1), n + cn)),
        Value::Object(m) => m
            .values()
            .map(shape)
            .fold((1, 1), |(d, n), (cd, cn)| (d.max(cd + 1), n + cn + 1)),
        _ => (1, 1),
    }
}

#[test]
fn arbitrary_bytes_load_or_name_the_line() {
    fuzz("yaml-bytes", 2000, bytes(1024), |b| {
        check_load(&String::from_utf8_lossy(&b)).map(drop)
    });
}

#[test]
fn token_soups_load_or_name_the_line() {
    fuzz("yaml-soup", 2000, soup(YAML_TOKENS, 300), |text| {
        check_load(&text).map(drop)
    });
}

/// How one level of nesting is written.
#[derive(Debug, Clone, Copy)]
enum Nest {
    FlowSeq,
    FlowMap,
    BlockSeq,
    BlockMap,
}

fn nested(style: Nest, depth: usize) -> String {
    match style {
        Nest::FlowSeq => format!("{}x{}", "[".repeat(depth), "]".repeat(depth)),
        Nest::FlowMap => format!("{}x{}", "{a: ".repeat(depth), "}".repeat(depth)),
        Nest::BlockSeq => format!("{}x\n", "- ".repeat(depth)),
        Nest::BlockMap => {
            let mut s: String = (0..depth)
                .map(|i| format!("{}k:\n", "  ".repeat(i)))
                .collect();
            s.push_str(&format!("{}x\n", "  ".repeat(depth)));
            s
        }
    }
}

/// Nesting up to the limit loads; one level more is refused by name, in every style.
#[test]
fn nesting_is_bounded_at_the_limit() {
    let style = prop_oneof![
        Just(Nest::FlowSeq),
        Just(Nest::FlowMap),
        Just(Nest::BlockSeq),
        Just(Nest::BlockMap)
    ];
    fuzz(
        "yaml-nesting",
        300,
        (style, 0usize..400),
        |(style, depth)| {
            let loaded = check_load(&nested(style, depth))?;
            prop_assert_eq!(
                loaded.is_some(),
                depth <= MAX_DEPTH,
                "{:?} at depth {}",
                style,
                depth
            );
            Ok(())
        },
    );
}

/// `a0: &a0 [x × fanout]`, then each level an anchored list of `fanout` aliases of the one
/// before: refused exactly when its expansion passes the node limit.
#[test]
fn alias_bombs_are_refused_exactly_past_the_node_limit() {
    fuzz(
        "yaml-alias-bomb",
        100,
        (1usize..10, 1usize..14, any::<bool>()),
        |(levels, fanout, block)| {
            let mut text = String::new();
            let (mut total, mut size) = (1u64, 0u64);
            for i in 0..levels {
                let item = if i == 0 {
                    "x".to_string()
                } else {
                    format!("*a{}", i - 1)
                };
                let items = vec![item; fanout];
                if block {
                    text.push_str(&format!("a{i}: &a{i}\n"));
                    items
                        .iter()
                        .for_each(|it| text.push_str(&format!("  - {it}\n")));
                } else {
                    text.push_str(&format!("a{i}: &a{i} [{}]\n", items.join(", ")));
                }
                size = 1 + fanout as u64 * if i == 0 { 1 } else { size };
                total = total.saturating_add(1 + size);
            }
            let loaded = check_load(&text)?;
            prop_assert_eq!(loaded.is_some(), total <= MAX_NODES, "{} nodes", total);
            Ok(())
        },
    );
}

/// A long scalar repeated by aliases: refused exactly when the text it expands to passes
/// the scalar-bytes limit, without building it first.
#[test]
fn string_alias_bombs_are_refused_past_the_bytes_limit() {
    let shape = (1usize..200_000, 1usize..2_000, 1usize..40);
    fuzz("yaml-string-bomb", 100, shape, |(len, fanout, repeats)| {
        let text = format!(
            "s: &s {}\nl: &l [{}]\nm: [{}]\n",
            "x".repeat(len),
            vec!["*s"; fanout].join(", "),
            vec!["*l"; repeats].join(", ")
        );
        let scalars = 3 + len as u64 * (1 + fanout as u64 * (1 + repeats as u64));
        let nodes = 3 + 2 + fanout as u64 + 2 + repeats as u64 * (1 + fanout as u64);
        let loaded = check_load(&text)?;
        let fits = scalars <= MAX_SCALAR_BYTES && nodes <= MAX_NODES;
        prop_assert_eq!(loaded.is_some(), fits, "{} bytes, {} nodes", scalars, nodes);
        Ok(())
    });
}

const MERGE_TOKENS: &[&str] = &[
    "b: &b {x: 1, y: [1, 2]}\n",
    "c: &c {x: 2, z: 3}\n",
    "d: &d [1, 2]\n",
    "e: &e 5\n",
    "m:\n",
    "  <<: *b\n",
    "  <<: *c\n",
    "  <<: [*b, *c]\n",
    "  <<: [*c, *b, *b]\n",
    "  <<: *d\n",
    "  <<: *e\n",
    "  <<: [*d]\n",
    "  <<: {q: 1}\n",
    "  <<: []\n",
    "  <<: ~\n",
    "  x: 9\n",
    "  <<:\n    <<: *b\n",
    "n: {<<: *b, x: 7}\n",
    "o: &o {<<: [*b, *c]}\n",
    "p: {<<: *o}\n",
    "  <<: *o\n",
    "  ? [1]\n  : 2\n",
    "  \"<<\": *b\n",
    "  !!merge <<: *b\n",
    "  <<: *nope\n",
];

#[test]
fn merge_keys_load_or_name_the_line() {
    fuzz("yaml-merge", 1000, soup(MERGE_TOKENS, 30), |text| {
        check_load(&text).map(drop)
    });
}

/// Numbers as PyYAML 1.1 resolves them, of any length: ints of every radix, sexagesimal,
/// floats; plain, as keys and as long block scalars.
#[test]
fn long_scalars_and_numbers_load_or_name_the_line() {
    let number = (
        proptest::sample::select(vec!["", "-", "+"]),
        proptest::sample::select(vec!["", "0x", "0b", "0", "0o"]),
        "[1-9][0-9_]{0,60}",
        proptest::collection::vec("[0-5]?[0-9]", 0..4),
        proptest::option::of("\\.[0-9_]{0,20}"),
        proptest::option::of("[eE][-+]?[0-9]{1,4}"),
    )
        .prop_map(|(sign, radix, head, groups, frac, exp)| {
            let mut s = format!("{sign}{radix}{head}");
            groups.iter().for_each(|g| s.push_str(&format!(":{g}")));
            s.push_str(&frac.unwrap_or_default());
            s.push_str(&exp.unwrap_or_default());
            s
        });
    let doc = (number, 0usize..3, 0usize..100_000).prop_map(|(n, form, len)| match form {
        0 => format!("k: {n}\n"),
        1 => format!("{n}: v\n[{n}, !!int {n}, !!float {n}]: 1\n"),
        _ => format!("k: |\n  {}\nn: {n}\n", "y".repeat(len)),
    });
    fuzz("yaml-scalars", 2000, doc, |text| {
        check_load(&text).map(drop)
    });
}

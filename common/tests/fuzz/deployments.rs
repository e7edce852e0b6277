//! `Deployments::parse`: arbitrary bytes, and every shape PaaSTA wrote (v1+v2, v1 only, the
//! flat pre-2014 form) with types flipped, keys dropped or added, huge numbers and unicode.
//! An error names deployments.json; a parsed file writes back to text that parses the same.

use galley_common::deployments::Deployments;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

use crate::mutate::{apply_edits, apply_tree_edits, text_edits, tree_edits};
use crate::support::{bytes, fuzz};

/// Parses `text`: an error names the file; a result round-trips through its own text.
pub fn check_parse(text: &str) -> Result<(), TestCaseError> {
    match Deployments::parse(text) {
        Ok(d) => {
            let again = Deployments::parse(&d.to_json_text());
            prop_assert!(
                matches!(&again, Ok(a) if *a == d),
                "no round trip: {again:?}"
            );
        }
        Err(e) => {
            let msg = e.to_string();
            prop_assert!(msg.contains("deployments.json"), "{msg:?}");
        }
    }
    Ok(())
}

/// The three shapes PaaSTA wrote.
pub fn valid_files() -> Vec<Value> {
    let image = "services-web:paasta-0123456789abcdef0123456789abcdef01234567";
    let v1 = json!({
        "web:paasta-norcal-prod.main": {"docker_image": image, "desired_state": "start",
            "force_bounce": null},
        "web:paasta-norcal-prod.canary": {"docker_image": image, "desired_state": "stop",
            "force_bounce": "20240101T000000"},
    });
    vec![
        json!({"v1": v1, "v2": {
            "deployments": {"norcal-prod.main": {"docker_image": image,
                "git_sha": "0123456789abcdef0123456789abcdef01234567"}},
            "controls": {"web:norcal-prod.main": {"desired_state": "start", "force_bounce": null}},
        }}),
        json!({ "v1": v1 }),
        json!({"web:paasta-norcal-prod.main": image}),
    ]
}

const JSON_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\",
    "\\u0000",
    "\\ud800",
    "null",
    "true",
    "1e400",
    "-1e400",
    "18446744073709551616",
    "-9223372036854775809",
    "0.1",
    "\"v1\"",
    "\"v2\"",
    "\"start\"",
    "\"stop\"",
    "\"desired_state\"",
    "\"docker_image\"",
    "\"force_bounce\"",
    "é",
    "\u{feff}",
    "\u{0}",
    " ",
    "\n",
];

#[test]
fn arbitrary_bytes_parse_or_name_the_file() {
    fuzz("deployments-bytes", 3000, bytes(512), |b| {
        check_parse(&String::from_utf8_lossy(&b))
    });
}

#[test]
fn mutated_files_parse_or_name_the_file() {
    let input = (
        0usize..3,
        tree_edits(6),
        proptest::option::of(text_edits(JSON_TOKENS, 6)),
    );
    fuzz("deployments-mutated", 1500, input, |(which, tree, text)| {
        let value = apply_tree_edits(valid_files()[which].clone(), &tree);
        let mut doc = serde_json::to_string_pretty(&value).expect("serialise");
        if let Some(edits) = text {
            doc = apply_edits(&doc, &edits);
        }
        check_parse(&doc)
    });
}

/// Nesting far past serde_json's recursion limit is an error, not a stack overflow.
#[test]
fn deep_nesting_is_an_error() {
    fuzz(
        "deployments-nesting",
        50,
        (1usize..100_000, any::<bool>()),
        |(depth, arrays)| {
            let (open, close) = if arrays {
                ("[", "]")
            } else {
                ("{\"v1\": ", "}")
            };
            check_parse(&format!("{}{}", open.repeat(depth), close.repeat(depth)))
        },
    );
}

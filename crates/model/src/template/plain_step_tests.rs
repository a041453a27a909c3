//! The differential test of `parse::plain_step`, the fast decoder of common steps, against
//! serde's `decode`: every step it accepts must come out exactly as serde decodes it, and
//! every step it declines must be handed back untouched (so serde then gives the same value
//! or error it always gave).
//!
//! Owns only that comparison; it must not test parsing or validation rules (tests.rs and
//! tests/ do), and it must not be the only place the fast path is exercised.

use super::parse::{decode, plain_step};
use super::StepTemplate;
use proptest::prelude::*;
use serde_yaml_ng::Value as Yaml;

/// Compares the two decoders on one step; true when the fast path took it.
fn agree(step: &Yaml) -> bool {
    match plain_step(step.clone()) {
        Ok(fast) => {
            let slow: StepTemplate = decode(step.clone())
                .unwrap_or_else(|e| panic!("fast path took a step serde refuses ({e}): {step:?}"));
            assert_eq!(fast, slow, "{step:?}");
            true
        }
        Err(back) => {
            assert_eq!(&back, step, "a declined step must come back untouched");
            false
        }
    }
}

/// Every step under `step_templates` in a template's text.
fn steps_of(text: &str) -> Vec<Yaml> {
    let doc: Yaml = serde_yaml_ng::from_str(text).expect("fixture parses");
    match doc.get("step_templates") {
        Some(Yaml::Sequence(items)) => items.clone(),
        _ => Vec::new(),
    }
}

#[test]
fn every_fixture_step_decodes_as_serde_does() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    // Every template the repository keeps, found rather than listed, so a new one is checked.
    let mut files = Vec::new();
    for dir in ["fixtures", "gem/spec/rails_app/config/tasker"] {
        yaml_files(&root.join(dir), &mut files);
    }
    assert!(files.len() >= 10, "found {files:?}");
    let (mut fast, mut all) = (0, 0);
    for file in files {
        let text = std::fs::read_to_string(&file).expect("fixture reads");
        if !text.contains("step_templates") {
            continue;
        }
        for step in steps_of(&text) {
            all += 1;
            fast += usize::from(agree(&step));
        }
    }
    assert!(
        all > 30 && fast > 10,
        "fast path took {fast} of {all} fixture steps"
    );
}

/// The `.yaml` files under `dir`, recursively.
fn yaml_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("fixture directory reads") {
        let path = entry.expect("fixture directory entry").path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

/// Steps written to sit on the fast path's edges: each must decode as serde decodes it.
const EDGES: &str = r#"
step_templates:
  - { name: a, handler_class: A }
  - { name: "a", handler_class: 'A', description: "two\nlines", dependent_system: db }
  - { name: a, handler_class: A, depends_on_step: b, depends_on_steps: [c, "d", 'e'] }
  - { name: a, handler_class: A, depends_on_steps: [] }
  - { name: a, handler_class: A, depends_on_steps: b }
  - { name: a, handler_class: A, depends_on_steps: [b, 1] }
  - { name: a, handler_class: A, depends_on_steps: [b, null] }
  - { name: a, handler_class: A, depends_on_steps: [[b]] }
  - { name: a, handler_class: A, description: ~ }
  - { name: a, handler_class: A, description: 12 }
  - { name: 12, handler_class: A }
  - { name: true, handler_class: A }
  - { name: a, handler_class: !!str 12 }
  - { name: a, handler_class: !Custom A }
  - { name: !!str a, handler_class: A }
  - { name: a }
  - { handler_class: A }
  - { name: a, handler_class: A, extra: 1 }
  - { name: a, handler_class: A, skippable: true, default_retry_limit: 7 }
  - { name: a, handler_class: A, default_retryable: false }
  - { name: a, handler_class: A, handler_config: { timeout_seconds: 3 } }
  - { name: a, handler_class: A, execution: ractor }
  - { name: a, handler_class: A, custom_events: [x] }
  - { name: a, handler_class: A, timeout_seconds: 2 }
  - { name: &n a, handler_class: *n }
  - { ? [name] : a, name: a, handler_class: A }
  - { 1: a, name: a, handler_class: A }
  - { name: "", handler_class: "" }
  - { name: "ünï", handler_class: "A::B" }
  - name: a
  - [name, a]
  - ~
  - !Tagged { name: a, handler_class: A }
"#;

#[test]
fn edge_steps_decode_as_serde_does() {
    let steps = steps_of(EDGES);
    assert_eq!(steps.len(), 33);
    let fast = steps.iter().filter(|s| agree(s)).count();
    // The ones the fast path takes: strings (quoted, `!!str`, through an alias too) under
    // its six keys only; the empty names are taken too and refused later by validation.
    assert_eq!(fast, 9, "steps on the fast path");
}

/// A value for a step key, as YAML text: strings plain and quoted, and every other kind.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_:]{0,8}",
        "[a-z0-9]{1,4}".prop_map(|s| format!("\"{s}\"")),
        Just("~".to_string()),
        Just("null".to_string()),
        Just("yes".to_string()),
        Just("false".to_string()),
        Just("0x1F".to_string()),
        Just("1.5".to_string()),
        Just("12".to_string()),
        Just("!!str 12".to_string()),
        Just("!x y".to_string()),
        Just("{a: b}".to_string()),
        prop::collection::vec("[a-z][a-z0-9]{0,4}|12|~|\"q\"", 0..4)
            .prop_map(|v| format!("[{}]", v.join(", "))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random mappings over the step keys (and one unknown): both decoders agree.
    #[test]
    fn random_steps_decode_as_serde_does(
        fields in prop::collection::vec(
            (prop::sample::select(vec![
                "name", "handler_class", "description", "dependent_system",
                "depends_on_step", "depends_on_steps", "skippable", "other",
            ]), value()),
            0..8,
        )
    ) {
        let mut seen = std::collections::HashSet::new();
        let body: Vec<String> = fields
            .iter()
            .filter(|(k, _)| seen.insert(*k))
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let text = format!("step_templates:\n  - {{ {} }}\n", body.join(", "));
        if let Ok(doc) = serde_yaml_ng::from_str::<Yaml>(&text) {
            if let Some(Yaml::Sequence(items)) = doc.get("step_templates") {
                for step in items {
                    agree(step);
                }
            }
        }
    }
}

/// A YAML scalar that reads as a string: a plain word that is not null or a boolean, or a
/// single- or double-quoted text.
fn string_form() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_]{0,8}".prop_filter("read as a string", |s| {
            !matches!(s.as_str(), "null" | "true" | "false")
        }),
        "[^\\p{Cc}]{0,8}".prop_map(|s| format!("'{}'", s.replace('\'', "''"))),
        "[a-zA-Z0-9 .:~#-]{0,8}".prop_map(|s| format!("\"{s}\"")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// Steps of the common shape with random text (the test above mostly draws steps the
    /// fast path declines): the fast path takes every one, and serde decodes it the same.
    #[test]
    fn random_common_steps_take_the_fast_path_and_decode_as_serde_does(
        name in string_form(),
        handler in string_form(),
        optional in prop::collection::vec(
            (prop::sample::select(vec!["description", "dependent_system", "depends_on_step"]), string_form()),
            0..3,
        ),
        parents in prop::option::of(prop::collection::vec(string_form(), 0..4)),
    ) {
        let mut body = vec![format!("name: {name}"), format!("handler_class: {handler}")];
        let mut seen = std::collections::HashSet::new();
        body.extend(optional.iter().filter(|(k, _)| seen.insert(*k)).map(|(k, v)| format!("{k}: {v}")));
        if let Some(parents) = parents {
            body.push(format!("depends_on_steps: [{}]", parents.join(", ")));
        }
        let text = format!("step_templates:\n  - {{ {} }}\n", body.join(", "));
        let doc: Yaml = serde_yaml_ng::from_str(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
        let Some(Yaml::Sequence(items)) = doc.get("step_templates") else {
            return Err(TestCaseError::fail(format!("no steps: {text}")));
        };
        prop_assert!(agree(&items[0]), "the fast path declined a common step: {text}");
    }
}

//! Property tests of the template parser and validator (issue 23), through the public API
//! only: hostile text never panics, the validator agrees with a plain reference checker,
//! and a template written out and read back is the same template.
//!
//! Case counts are kept small (the whole set runs in a few seconds in CI on two cores);
//! `PROPTEST_CASES=20000 cargo test -p tasker-model --test template_properties -- --skip deep_nesting`
//! runs more (about two minutes; the variable overrides every count here, the deep-nesting one too).

use proptest::prelude::*;
use serde_json::{json, Value as Json};
use std::collections::HashSet;
use tasker_model::template::utf8_text;
use tasker_model::{StepTemplate, TaskTemplate};

/// The real templates the fuzz starts from (fixtures/templates and the Tasker ones).
const FIXTURES: &[(&str, &str)] = &[
    (
        "diamond.yaml",
        include_str!("../../../fixtures/templates/patterns/diamond.yaml"),
    ),
    (
        "linear.yaml",
        include_str!("../../../fixtures/templates/patterns/linear.yaml"),
    ),
    (
        "mixed.yaml",
        include_str!("../../../fixtures/templates/patterns/mixed.yaml"),
    ),
    (
        "tree.yaml",
        include_str!("../../../fixtures/templates/patterns/tree.yaml"),
    ),
    (
        "wide.yaml",
        include_str!("../../../fixtures/templates/patterns/wide.yaml"),
    ),
    (
        "fulfil_order.yaml",
        include_str!("../../../fixtures/templates/shop/fulfil_order.yaml"),
    ),
    (
        "checkout.yaml",
        include_str!("../../../fixtures/tasker_compat/templates/checkout.yaml"),
    ),
    (
        "user_registration.yaml",
        include_str!("../../../fixtures/tasker_compat/templates/user_registration.yaml"),
    ),
];

/// Text that means something to YAML, to splice into real templates.
const YAML_SPECIAL: &[&str] = &[
    ":",
    ": ",
    "- ",
    "#",
    "&a ",
    "*a",
    "!!str ",
    "!!binary ",
    "!ruby/object ",
    "<<: *a\n",
    "? ",
    "|",
    ">",
    "'",
    "\"",
    "{",
    "}",
    "[",
    "]",
    ",",
    "%YAML 1.2\n",
    "---\n",
    "...\n",
    "\t",
    "\n",
    "\n  ",
    "~",
    "null",
    "-1",
    "1e400",
    "0x",
    "\u{feff}",
    "\\u0000",
    "\0",
    "é",
    "🦀",
];

fn cfg(cases: u32) -> ProptestConfig {
    // PROPTEST_CASES, when set, overrides `cases` for a longer local run.
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// One way of damaging a template's bytes.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit { at: usize, bit: u8 },
    SetByte { at: usize, byte: u8 },
    Truncate { at: usize },
    Insert { at: usize, text: &'static str },
    Delete { at: usize, len: usize },
    DuplicateLine { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        (at, 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        (at, any::<u8>()).prop_map(|(at, byte)| Mutation::SetByte { at, byte }),
        at.prop_map(|at| Mutation::Truncate { at }),
        (at, prop::sample::select(YAML_SPECIAL))
            .prop_map(|(at, text)| Mutation::Insert { at, text }),
        (at, 1usize..40).prop_map(|(at, len)| Mutation::Delete { at, len }),
        at.prop_map(|at| Mutation::DuplicateLine { at }),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let n = bytes.len().max(1);
    match *m {
        Mutation::FlipBit { at, bit } if !bytes.is_empty() => bytes[at % n] ^= 1 << bit,
        Mutation::SetByte { at, byte } if !bytes.is_empty() => bytes[at % n] = byte,
        Mutation::Truncate { at } => bytes.truncate(at % n),
        Mutation::Insert { at, text } => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, text.bytes());
        }
        Mutation::Delete { at, len } if !bytes.is_empty() => {
            let at = at % n;
            let end = (at + len).min(bytes.len());
            bytes.drain(at..end);
        }
        Mutation::DuplicateLine { at } => {
            let starts: Vec<usize> = std::iter::once(0)
                .chain(
                    bytes
                        .iter()
                        .enumerate()
                        .filter(|(_, &b)| b == b'\n')
                        .map(|(i, _)| i + 1),
                )
                .filter(|&i| i < bytes.len())
                .collect();
            if let Some(&start) = starts.get(at % starts.len().max(1)) {
                let end = bytes[start..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |i| start + i + 1);
                let line = bytes[start..end].to_vec();
                bytes.splice(start..start, line);
            }
        }
        _ => {}
    }
}

/// Reads bytes the way a template file is read: UTF-8 first, then YAML and the checks.
fn parse_bytes(bytes: &[u8], source: &str) -> Result<TaskTemplate, String> {
    utf8_text(bytes, source)
        .and_then(|text| TaskTemplate::from_yaml(text, source))
        .map_err(|e| e.to_string())
}

/// What every accepted template must hold, whatever text it came from.
fn assert_accepted_is_valid(t: &TaskTemplate) {
    assert!(!t.name.trim().is_empty());
    assert!(!t.step_templates.is_empty());
    for name in [&t.name, &t.namespace_name, &t.version] {
        assert!(!name.contains('\0'), "a stored name holds U+0000: {name:?}");
    }
    let names: HashSet<&str> = t.step_templates.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.len(), t.step_templates.len(), "unique step names");
    for s in &t.step_templates {
        assert!(!s.handler_class.trim().is_empty());
        assert!(!s.name.contains('\0') && !s.handler_class.contains('\0'));
        for p in s.parents() {
            assert!(p != s.name && names.contains(p), "parent {p} of {}", s.name);
        }
    }
}

proptest! {
    #![proptest_config(cfg(256))]

    /// Any bytes at all: an answer, never a panic; a refusal names the source.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        match parse_bytes(&bytes, "fuzz.yaml") {
            Ok(t) => assert_accepted_is_valid(&t),
            Err(m) => prop_assert!(m.starts_with("fuzz.yaml"), "{}", m),
        }
    }

    /// Any Unicode text: the same.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        match TaskTemplate::from_yaml(&text, "fuzz.yaml") {
            Ok(t) => assert_accepted_is_valid(&t),
            Err(e) => prop_assert!(e.to_string().starts_with("fuzz.yaml"), "{}", e),
        }
    }

    /// Real templates, damaged 1 to 8 times: an answer, never a panic; text that is not
    /// UTF-8 is refused naming the first bad byte's offset.
    #[test]
    fn mutated_fixtures_never_panic(
        fixture in prop::sample::select(FIXTURES),
        mutations in prop::collection::vec(mutation(), 1..8),
    ) {
        let (name, text) = fixture;
        let mut bytes = text.as_bytes().to_vec();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        match parse_bytes(&bytes, name) {
            Ok(t) => assert_accepted_is_valid(&t),
            Err(m) => {
                prop_assert!(m.starts_with(name), "{}", m);
                if let Err(e) = std::str::from_utf8(&bytes) {
                    let offset = format!("at byte offset {} ", e.valid_up_to());
                    prop_assert!(m.contains(&offset), "{} lacks {}", m, offset);
                }
            }
        }
    }
}

proptest! {
    // Each case parses thousands of levels (slow in a debug build), so few cases.
    #![proptest_config(cfg(16))]

    /// Nesting far deeper than any template: refused, never a stack overflow.
    #[test]
    fn deep_nesting_is_refused_not_a_crash(depth in 100usize..3000, open in prop::sample::select(&["[", "{a: ", "- "][..])) {
        let text = format!("name: x\nstep_templates: {}", open.repeat(depth));
        prop_assert!(TaskTemplate::from_yaml(&text, "deep.yaml").is_err());
    }
}

/// A step list as a hostile or careless author might write it: names from a small pool (so
/// duplicates happen), dependencies on any name (unknown and self ones happen), blank
/// handler classes now and then.
#[derive(Debug, Clone)]
struct RawStep {
    name: String,
    handler_class: String,
    depends_on_step: Option<String>,
    depends_on_steps: Vec<String>,
}

fn raw_steps() -> impl Strategy<Value = Vec<RawStep>> {
    let name = prop::sample::select(vec!["a", "b", "c", "d", "e", " ", ""]).prop_map(String::from);
    let handler = prop::sample::select(vec!["H", "Shop::Charge", "", "  "]).prop_map(String::from);
    let step = (
        name.clone(),
        handler,
        prop::option::of(name.clone()),
        prop::collection::vec(name, 0..3),
    )
        .prop_map(
            |(name, handler_class, depends_on_step, depends_on_steps)| RawStep {
                name,
                handler_class,
                depends_on_step,
                depends_on_steps,
            },
        );
    prop::collection::vec(step, 0..6)
}

/// The graph-free rules as TASKER.md states them, written out plainly.
fn reference_accepts(steps: &[RawStep]) -> bool {
    if steps.is_empty() {
        return false;
    }
    let mut names = HashSet::new();
    for s in steps {
        if s.name.trim().is_empty() || !names.insert(s.name.as_str()) {
            return false;
        }
        if s.handler_class.trim().is_empty() {
            return false;
        }
    }
    steps.iter().all(|s| {
        s.depends_on_step
            .iter()
            .chain(&s.depends_on_steps)
            .all(|p| p != &s.name && names.contains(p.as_str()))
    })
}

fn raw_yaml(steps: &[RawStep]) -> String {
    let steps: Vec<Json> = steps
        .iter()
        .map(|s| {
            let mut m = json!({"name": s.name, "handler_class": s.handler_class, "depends_on_steps": s.depends_on_steps});
            if let Some(p) = &s.depends_on_step {
                m["depends_on_step"] = json!(p);
            }
            m
        })
        .collect();
    serde_yaml_ng::to_string(&json!({"name": "t", "step_templates": steps})).unwrap()
}

/// A valid template with a random DAG: step i depends only on earlier steps.
fn valid_template() -> impl Strategy<Value = Json> {
    // Names and free text from all of Unicode (YAML's special words and characters
    // included), so the writer's quoting and the reader must agree.
    let text = "\\PC{1,12}".prop_filter("not blank", |s: &String| !s.trim().is_empty());
    let step = (
        text.clone(),
        text.clone(),
        prop::option::of(text.clone()),
        any::<bool>(),
        0u32..20,
        any::<bool>(),
        prop::option::of(prop::collection::btree_map(
            text.clone(),
            any::<i32>(),
            0..3,
        )),
        prop::collection::vec(any::<prop::sample::Index>(), 0..3),
        prop::option::of(prop::sample::select(vec!["thread", "ractor"])),
    );
    (
        text.clone(),
        text,
        prop::sample::select(vec!["0.1.0", "1.0.0", "2.3.4-beta"]),
        prop::collection::vec(step, 1..8),
    )
        .prop_map(|(name, namespace, version, steps)| {
            let mut used = HashSet::new();
            let mut names = Vec::new();
            let steps: Vec<Json> = steps
                .into_iter()
                .enumerate()
                .map(|(i, (n, handler, description, retryable, limit, skippable, config, deps, execution))| {
                    // Unique names: a clash gets the index appended.
                    let name = if used.insert(n.clone()) { n } else { format!("{n}#{i}") };
                    used.insert(name.clone());
                    let mut parents: Vec<String> = Vec::new();
                    if !names.is_empty() {
                        for d in &deps {
                            let p: &String = d.get(&names);
                            if !parents.contains(p) {
                                parents.push(p.clone());
                            }
                        }
                    }
                    names.push(name.clone());
                    let mut step = json!({
                        "name": name,
                        "handler_class": handler,
                        "default_retryable": retryable,
                        "default_retry_limit": limit,
                        "skippable": skippable,
                        "depends_on_steps": parents,
                    });
                    if let Some(d) = description {
                        step["description"] = json!(d);
                    }
                    if let Some(c) = config {
                        step["handler_config"] = json!(c);
                    }
                    if let Some(e) = execution {
                        step["execution"] = json!(e);
                    }
                    step
                })
                .collect();
            json!({"name": name, "namespace_name": namespace, "version": version, "step_templates": steps})
        })
}

/// Writes a parsed template's fields back out as a template document.
fn written(t: &TaskTemplate) -> String {
    let doc = json!({
        "name": t.name,
        "namespace_name": t.namespace_name,
        "version": t.version,
        "step_templates": t.step_templates,
    });
    serde_yaml_ng::to_string(&doc).unwrap()
}

proptest! {
    #![proptest_config(cfg(256))]

    /// The validator accepts exactly what the reference checker accepts.
    #[test]
    fn validator_agrees_with_the_reference(steps in raw_steps()) {
        let result = TaskTemplate::from_yaml(&raw_yaml(&steps), "t.yaml");
        prop_assert_eq!(result.is_ok(), reference_accepts(&steps), "{:?}", result.err());
    }

    /// A generated template parses to the fields it was written with, and writing the
    /// parsed template out and reading it again gives the same template.
    #[test]
    fn generated_templates_round_trip(doc in valid_template()) {
        let yaml = serde_yaml_ng::to_string(&doc).unwrap();
        let t = TaskTemplate::from_yaml(&yaml, "gen.yaml").map_err(|e| TestCaseError::fail(format!("{e}\n{yaml}")))?;
        prop_assert_eq!(&t.name, doc["name"].as_str().unwrap());
        prop_assert_eq!(&t.namespace_name, doc["namespace_name"].as_str().unwrap());
        prop_assert_eq!(&t.version, doc["version"].as_str().unwrap());
        let steps = doc["step_templates"].as_array().unwrap();
        prop_assert_eq!(t.step_templates.len(), steps.len());
        for (parsed, written) in t.step_templates.iter().zip(steps) {
            prop_assert_eq!(&parsed.name, written["name"].as_str().unwrap());
            prop_assert_eq!(&parsed.handler_class, written["handler_class"].as_str().unwrap());
            prop_assert_eq!(parsed.description.as_deref(), written["description"].as_str());
            prop_assert_eq!(parsed.default_retry_limit as u64, written["default_retry_limit"].as_u64().unwrap());
            prop_assert_eq!(parsed.default_retryable, written["default_retryable"].as_bool().unwrap());
            prop_assert_eq!(parsed.skippable, written["skippable"].as_bool().unwrap());
            prop_assert_eq!(parsed.handler_config.as_ref(), written.get("handler_config"));
            let parents: Vec<&str> = written["depends_on_steps"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
            prop_assert_eq!(parsed.parents(), parents);
        }

        let again = TaskTemplate::from_yaml(&written(&t), "again.yaml").unwrap();
        prop_assert_eq!(again.key(), t.key());
        prop_assert_eq!(&again.step_templates, &t.step_templates);
        let reserialized: Vec<StepTemplate> = again.step_templates.clone();
        prop_assert_eq!(reserialized, t.step_templates.clone());
    }

    /// Environment overrides of any shape: an answer, never a panic; an accepted override
    /// still passes the checks.
    #[test]
    fn environment_overrides_never_panic(override_fields in prop::collection::btree_map(
        prop::sample::select(vec!["name", "handler_class", "handler_config", "default_retry_limit", "depends_on_steps", "skippable", "x"]),
        json_value(),
        0..4,
    ), step_name in prop::sample::select(vec!["a", "b", "zz"])) {
        let mut ov = json!(override_fields);
        ov["name"] = json!(step_name);
        let doc = json!({
            "name": "t",
            "step_templates": [
                {"name": "a", "handler_class": "A", "handler_config": {"k": 1}},
                {"name": "b", "handler_class": "B", "depends_on_step": "a"},
            ],
            "environments": {"test": {"step_templates": [ov]}},
        });
        let t = TaskTemplate::from_yaml(&serde_yaml_ng::to_string(&doc).unwrap(), "env.yaml").unwrap();
        if let Ok(overridden) = t.for_environment("test") {
            assert_accepted_is_valid(&overridden);
        }
    }
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::from),
        any::<i64>().prop_map(Json::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)),
        "\\PC{0,8}".prop_map(Json::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::from),
            prop::collection::btree_map("[a-z]{1,3}", inner, 0..4)
                .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(cfg(128))]

    /// A template's `schema:` of any shape, then any context checked against it: an answer,
    /// never a panic (the pure-Rust JSON path a submission takes).
    #[test]
    fn schemas_and_contexts_of_any_shape_never_panic(schema in json_value(), context in json_value()) {
        let doc = json!({"name": "t", "schema": schema, "step_templates": [{"name": "a", "handler_class": "A"}]});
        if let Ok(t) = TaskTemplate::from_yaml(&serde_yaml_ng::to_string(&doc).unwrap(), "schema.yaml") {
            if let Some(s) = &t.schema {
                let _ = s.check(&context);
            }
        }
    }
}

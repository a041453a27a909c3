//! Unit tests of template parsing, validation and environment overrides, through the
//! public entry points only; they must not reach into private decoding steps.

use super::*;

const ORDER: &str = r#"
name: fulfil_order
namespace_name: shop
version: 1.0.0
task_handler_class: Shop::FulfilOrder
schema:
  type: object
  required: [order_id]
  properties: { order_id: { type: integer } }
step_templates:
  - name: reserve_stock
    handler_class: Shop::ReserveStock
  - name: charge_card
    handler_class: Shop::ChargeCard
    default_retry_limit: 5
    handler_config: { timeout_seconds: 10 }
  - name: ship
    handler_class: Shop::Ship
    depends_on_steps: [reserve_stock, charge_card]
  - name: notify
    handler_class: Shop::Notify
    depends_on_step: ship
"#;

/// Parses `text`, expects a refusal whose message holds every one of `needles`, and returns
/// the message for any further check.
fn assert_rejected(text: &str, needles: &[&str]) -> String {
    let message = TaskTemplate::from_yaml(text, "t.yaml")
        .unwrap_err()
        .to_string();
    for needle in needles {
        assert!(message.contains(needle), "{needle:?} not in {message}");
    }
    message
}

#[test]
fn parses_the_contract_example_with_defaults() {
    let t = TaskTemplate::from_yaml(ORDER, "order.yaml").unwrap();
    assert_eq!(t.key().to_string(), "shop/fulfil_order@1.0.0");
    assert_eq!(t.step_templates.len(), 4);
    let charge = &t.step_templates[1];
    assert_eq!(charge.default_retry_limit, 5);
    assert!(charge.default_retryable);
    assert!(!charge.skippable);
    assert_eq!(t.step_templates[0].default_retry_limit, 3);
    assert_eq!(
        t.step_templates[2].parents(),
        vec!["reserve_stock", "charge_card"]
    );
    assert_eq!(t.step_templates[3].parents(), vec!["ship"]);
    assert!(t.schema.is_some());
}

#[test]
fn namespace_and_version_default() {
    let t = TaskTemplate::from_yaml(
        "name: x\nstep_templates: [{name: a, handler_class: A}]",
        "x.yaml",
    )
    .unwrap();
    assert_eq!(t.key().to_string(), "default/x@0.1.0");
}

#[test]
fn rejects_unparseable_yaml_naming_the_file() {
    let m = assert_rejected("name: [unclosed", &[]);
    assert!(m.starts_with("t.yaml: unparseable YAML"), "{m}");
}

#[test]
fn rejects_no_steps() {
    assert_rejected("name: x\nstep_templates: []", &["at least one step"]);
    assert_rejected("name: x", &["at least one step"]);
}

#[test]
fn rejects_duplicate_step_names_naming_the_step() {
    assert_rejected(
        "name: x\nstep_templates:\n - {name: a, handler_class: A}\n - {name: a, handler_class: B}",
        &["step 'a'", "duplicate step name"],
    );
}

#[test]
fn rejects_missing_handler_class_naming_the_step() {
    assert_rejected(
        "name: x\nstep_templates:\n - {name: a}",
        &["step 'a'", "handler_class"],
    );
}

#[test]
fn rejects_unknown_dependency() {
    assert_rejected(
        "name: x\nstep_templates:\n - {name: a, handler_class: A, depends_on_step: zz}",
        &["step 'a'", "unknown dependency 'zz'"],
    );
}

#[test]
fn rejects_wrong_field_type_naming_step_and_field() {
    assert_rejected(
        "name: x\nstep_templates:\n - {name: a, handler_class: A, default_retry_limit: lots}",
        &["t.yaml (task x), step 'a'", "default_retry_limit"],
    );
    assert_rejected(
        "name: x\nstep_templates:\n - {name: a, handler_class: A, depends_on_steps: b}",
        &["depends_on_steps"],
    );
    let m = assert_rejected("name: [1]\nstep_templates: []", &[]);
    assert!(m.starts_with("t.yaml: "), "{m}");
}

#[test]
fn rejects_a_bad_schema() {
    assert_rejected(
        "name: x\nschema: {type: 12}\nstep_templates: [{name: a, handler_class: A}]",
        &["schema"],
    );
}

#[test]
fn environment_overrides_merge_handler_config() {
    let t = TaskTemplate::from_yaml(
        r#"
name: x
step_templates:
  - {name: a, handler_class: A, handler_config: {url: "http://prod", timeout_seconds: 5}}
environments:
  development:
    step_templates:
      - {name: a, handler_config: {url: "http://localhost"}}
"#,
        "x.yaml",
    )
    .unwrap();
    let dev = t.for_environment("development").unwrap();
    let cfg = dev.step_templates[0].handler_config.as_ref().unwrap();
    assert_eq!(cfg["url"], "http://localhost");
    assert_eq!(cfg["timeout_seconds"], 5);
    let prod = t.for_environment("production").unwrap();
    assert_eq!(
        prod.step_templates[0].handler_config.as_ref().unwrap()["url"],
        "http://prod"
    );
}

#[test]
fn utf8_text_names_the_source_and_the_first_bad_byte() {
    let text = b"name: x\nstep_templates: [{name: \xC3\xA9t\xFFe, handler_class: A}]";
    let m = utf8_text(text, "bad.yaml").unwrap_err().to_string();
    assert_eq!(
        m,
        "bad.yaml: template text is not valid UTF-8: byte 0xFF at byte offset 35 (line 2, byte column 28)"
    );
    let m = utf8_text(b"name: \xE2\x82", "cut.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        m.contains("an incomplete character at the end at byte offset 6 (line 1, byte column 7)"),
        "{m}"
    );
    assert_eq!(utf8_text("name: é".as_bytes(), "ok").unwrap(), "name: é");
}

#[test]
fn a_file_that_is_not_utf8_is_refused_with_its_path_and_offset() {
    let path =
        std::env::temp_dir().join(format!("tasker-model-latin1-{}.yaml", std::process::id()));
    std::fs::write(
        &path,
        b"name: caf\xE9\nstep_templates: [{name: a, handler_class: A}]",
    )
    .unwrap();
    let m = TaskTemplate::from_file(&path).unwrap_err().to_string();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        m,
        format!(
            "{}: template text is not valid UTF-8: byte 0xE9 at byte offset 9 (line 1, byte column 10)",
            path.display()
        )
    );
}

#[test]
fn a_name_holding_nul_is_refused() {
    assert_rejected(
        "name: \"a\\u0000b\"\nstep_templates: [{name: a, handler_class: A}]",
        &["name: contains a NUL character"],
    );
    assert_rejected(
        "name: x\nstep_templates: [{name: a, handler_class: \"A\\0\"}]",
        &["step 'a': handler_class: contains a NUL character"],
    );
}

#[test]
fn step_timeouts_come_from_the_step_its_handler_config_or_the_template() {
    let t = TaskTemplate::from_yaml(ORDER, "t.yaml").unwrap();
    assert_eq!(t.step_timeout(0), None);
    assert_eq!(t.step_timeout(1), Some(10.0));
    let t = TaskTemplate::from_yaml(
        "name: x\ndefault_timeout_seconds: 30\nstep_templates:\n - {name: a, handler_class: A}\n - {name: b, handler_class: B, timeout_seconds: 0.5, handler_config: {timeout_seconds: 9}}\n - {name: c, handler_class: C, handler_config: {timeout_seconds: 2}}",
        "t.yaml",
    )
    .unwrap();
    assert_eq!(t.step_timeout(0), Some(30.0));
    assert_eq!(t.step_timeout(1), Some(0.5));
    assert_eq!(t.step_timeout(2), Some(2.0));
}

#[test]
fn bad_timeouts_are_refused_naming_template_and_step() {
    let step =
        |s: &str| format!("name: x\nstep_templates:\n - {{name: slow, handler_class: A, {s}}}");
    assert_rejected(
        &step("timeout_seconds: -1"),
        &[
            "t.yaml (task x), step 'slow'",
            "timeout_seconds",
            "positive",
        ],
    );
    assert_rejected(
        &step("timeout_seconds: soon"),
        &["step 'slow'", "timeout_seconds"],
    );
    assert_rejected(&step("timeout_seconds: 0"), &["step 'slow'", "positive"]);
    assert_rejected(
        &step("handler_config: {timeout_seconds: ten}"),
        &["step 'slow'", "handler_config.timeout_seconds", "\"ten\""],
    );
    assert_rejected(
        "name: x\ndefault_timeout_seconds: -5\nstep_templates: [{name: a, handler_class: A}]",
        &["task x", "default_timeout_seconds"],
    );
}

//! Templates written in the Tasker Rails engine's format (fixtures/tasker_compat) load
//! unchanged, with every key Tasker accepts either used with Tasker's meaning or accepted
//! and kept out of the way (docs/tasker-compat.md).

use std::path::PathBuf;
use tasker_model::template::load_templates;
use tasker_model::{Execution, TaskTemplate};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/tasker_compat/templates")
}

fn load(name: &str) -> TaskTemplate {
    TaskTemplate::from_file(&fixtures().join(name)).unwrap()
}

fn err(yaml: &str) -> String {
    TaskTemplate::from_yaml(yaml, "t.yaml")
        .unwrap_err()
        .to_string()
}

#[test]
fn every_compat_template_loads() {
    let all = load_templates(&fixtures()).unwrap();
    let mut keys: Vec<String> = all.iter().map(|t| t.key().to_string()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "default/user_registration@0.1.0",
            "ecommerce/process_checkout@1.2.0"
        ]
    );
}

#[test]
fn the_checkout_keeps_tasker_meanings() {
    let t = load("checkout.yaml");
    assert_eq!(t.module_namespace.as_deref(), Some("TaskerCompat"));
    assert_eq!(t.task_handler_class.as_deref(), Some("CheckoutHandler"));
    assert_eq!(
        t.default_dependent_system.as_deref(),
        Some("ecommerce_system")
    );
    assert_eq!(t.named_steps.as_ref().unwrap().len(), 5);
    assert!(t.schema.is_some());
    // Top-level and step-level custom events, maps or names, in one list.
    assert_eq!(
        t.custom_events.as_deref().unwrap(),
        [
            "checkout.cart_validated",
            "checkout.order_created",
            "payment.gateway_error"
        ]
    );
    assert_eq!(
        t.custom_event_details[0].description.as_deref(),
        Some("Fired once the cart's totals are known")
    );
    let payment = &t.step_templates[1];
    assert_eq!(payment.dependent_system.as_deref(), Some("payment_gateway"));
    assert_eq!(payment.handler_config.as_ref().unwrap()["type"], "api");
    assert_eq!(payment.execution, None);
    let confirm = &t.step_templates[4];
    assert!(confirm.skippable);
    assert_eq!(confirm.default_retry_limit, 5);
    assert_eq!(t.execution, Execution::Thread);
}

#[test]
fn environment_overrides_apply_as_tasker_applies_them() {
    let t = load("checkout.yaml");
    let test = t.for_environment("test").unwrap();
    let payment = &test.step_templates[1];
    assert_eq!(payment.default_retry_limit, 1);
    let cfg = payment.handler_config.as_ref().unwrap();
    assert_eq!(cfg["url"], "http://payments.test/charges");
    assert_eq!(cfg["type"], "api", "handler_config merges key by key");
    assert_eq!(cfg["timeout_seconds"], 30);
    let prod = t.for_environment("production").unwrap();
    assert_eq!(prod.step_templates[4].default_retry_limit, 10);
    assert_eq!(
        prod.step_templates[4].handler_config.as_ref().unwrap()["provider"],
        "mailer"
    );
    let unknown = t.for_environment("staging").unwrap();
    assert_eq!(unknown.step_templates, t.step_templates);
}

#[test]
fn custom_events_as_maps_or_names() {
    let t = load("user_registration.yaml");
    assert_eq!(
        t.custom_events.as_deref().unwrap(),
        [
            "service_call_started",
            "service_call_completed",
            "service_call_failed"
        ]
    );
    assert_eq!(t.key().to_string(), "default/user_registration@0.1.0");
}

#[test]
fn tasker_checks_still_refuse_bad_templates() {
    let e = err("name: x\nnamed_steps: [a]\nstep_templates:\n  - { name: a, handler_class: A }\n  - { name: b, handler_class: B, depends_on_step: a }\n");
    assert!(e.contains("'b' is not listed in named_steps (a)"), "{e}");
    let e = err("name: x\ncustom_events:\n  - { description: no name }\nstep_templates:\n  - { name: a, handler_class: A }\n");
    assert!(e.contains("custom_events[0]"), "{e}");
    let e =
        err("name: x\nconcurrent: sometimes\nstep_templates:\n  - { name: a, handler_class: A }\n");
    assert!(e.contains("concurrent"), "{e}");
    // Overrides are checked when an environment is applied, naming the field.
    let t = TaskTemplate::from_yaml("name: x\nenvironments:\n  test:\n    step_templates:\n      - { name: a, default_retry_limit: lots }\nstep_templates:\n  - { name: a, handler_class: A }\n", "t.yaml").unwrap();
    let e = t.for_environment("test").unwrap_err().to_string();
    assert!(
        e.contains("environments.test, step 'a'") && e.contains("default_retry_limit"),
        "{e}"
    );
}

#[test]
fn steps_share_keys_through_merge_keys_as_in_tasker_apps() {
    let yaml = "
name: merged
defaults: &defaults
  handler_class: Shop::Step
  default_retry_limit: 5
step_templates:
  - <<: *defaults
    name: a
  - <<: *defaults
    name: b
    depends_on_step: a
    default_retry_limit: 1
";
    let t = TaskTemplate::from_yaml(yaml, "t.yaml").unwrap();
    let steps: Vec<_> = t
        .step_templates
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.handler_class.as_str(),
                s.default_retry_limit,
            )
        })
        .collect();
    assert_eq!(steps, [("a", "Shop::Step", 5), ("b", "Shop::Step", 1)]);
}

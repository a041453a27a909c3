//! Unfinished tasks that recovery found before their template was registered.
//!
//! Starting an engine and then registering its templates is a legitimate order (many
//! scripts and Rails initializers use it), so recovery must not depend on it: a task whose
//! template is unknown when `recover` runs is claimed, parked here under its template's
//! key, and resumed by the registration that brings that template. This module only keeps
//! the list; [`crate::Engine`] decides when to resume. It must not read the store or talk
//! to the actors.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use tasker_model::TaskId;

/// Claimed tasks waiting for a template, by the template's key (`namespace/name@version`).
#[derive(Default)]
pub struct AwaitingTemplates {
    by_key: Mutex<BTreeMap<String, Vec<TaskId>>>,
}

impl AwaitingTemplates {
    /// Parks `task_id` until `key` is registered. Parking a task twice keeps one entry.
    pub fn park(&self, key: &str, task_id: TaskId) {
        let mut map = self.by_key.lock();
        let ids = map.entry(key.to_string()).or_default();
        if !ids.contains(&task_id) {
            ids.push(task_id);
        }
    }

    /// Removes and returns the tasks waiting for any of `keys`.
    pub fn take(&self, keys: &[String]) -> Vec<TaskId> {
        let mut map = self.by_key.lock();
        keys.iter()
            .filter_map(|k| map.remove(k))
            .flatten()
            .collect()
    }

    /// What waits for which template now, keys in order.
    pub fn snapshot(&self) -> Vec<(String, Vec<TaskId>)> {
        self.by_key
            .lock()
            .iter()
            .map(|(k, ids)| (k.clone(), ids.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parked_tasks_come_back_once_for_their_key() {
        let a = AwaitingTemplates::default();
        a.park("shop/order@1.0.0", TaskId(1));
        a.park("shop/order@1.0.0", TaskId(1));
        a.park("shop/order@1.0.0", TaskId(2));
        a.park("mail/send@0.1.0", TaskId(3));
        assert_eq!(a.take(&["x/y@1".into()]), vec![]);
        assert_eq!(
            a.take(&["shop/order@1.0.0".into()]),
            vec![TaskId(1), TaskId(2)]
        );
        assert_eq!(a.take(&["shop/order@1.0.0".into()]), vec![]);
        assert_eq!(
            a.snapshot(),
            vec![("mail/send@0.1.0".to_string(), vec![TaskId(3)])]
        );
    }
}

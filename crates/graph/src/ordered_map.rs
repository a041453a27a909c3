//! [`OrderedMap`]: the insertion-ordered map results use where order means something.

use serde::ser::{Serialize, SerializeMap, Serializer};
use std::borrow::Borrow;

/// A map that keeps insertion order, for results a caller shows in step order (a Ruby Hash
/// keeps it too). Serialises as a map. Lookups are linear: it is for handing over, not for
/// querying in a loop.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OrderedMap<K, V>(Vec<(K, V)>);

impl<K, V> OrderedMap<K, V> {
    /// The value for `key`, if any.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: PartialEq + ?Sized,
    {
        self.0
            .iter()
            .find(|(k, _)| k.borrow() == key)
            .map(|(_, v)| v)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries in insertion order.
    pub fn entries(&self) -> &[(K, V)] {
        &self.0
    }

    /// The keys in insertion order.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.0.iter().map(|(k, _)| k)
    }
}

impl<K, V> FromIterator<(K, V)> for OrderedMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        OrderedMap(iter.into_iter().collect())
    }
}

impl<K: Serialize, V: Serialize> Serialize for OrderedMap<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_map_serialises_in_insertion_order() {
        let m: OrderedMap<&str, u32> = [("z", 1), ("a", 2)].into_iter().collect();
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"z":1,"a":2}"#);
        assert_eq!(m.get("a"), Some(&2));
    }
}

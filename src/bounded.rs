//! A map that starts over when full: the memo shape the hot paths share
//! (loaded tables, analyzed statements, planned tickets). Their entries are
//! cheap to rebuild and the working set of a server is far below the bound,
//! so forgetting everything at once costs one rebuild each, and needs no
//! recency bookkeeping on every hit. Imports nothing.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

pub struct BoundedMap<K, V> {
    entries: Mutex<HashMap<K, V>>,
    max: usize,
}

impl<K: Hash + Eq, V> BoundedMap<K, V> {
    pub fn new(max: usize) -> Self {
        Self { entries: Mutex::default(), max }
    }

    /// What `pick` takes from the entry under `key`, when there is one.
    pub fn find<Q, T>(&self, key: &Q, pick: impl FnOnce(&V) -> Option<T>) -> Option<T>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.lock().expect("bounded map lock").get(key).and_then(pick)
    }

    /// Keeps `value` under `key`; a new key in a full map empties it first.
    pub fn put(&self, key: K, value: V) {
        let mut entries = self.entries.lock().expect("bounded map lock");
        if entries.len() >= self.max && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(key, value);
    }
}

impl<K: Hash + Eq, V: Clone> BoundedMap<K, V> {
    pub fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.find(key, |value| Some(value.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::BoundedMap;

    #[test]
    fn a_new_key_in_a_full_map_starts_it_over_and_a_known_one_replaces_its_value() {
        let map = BoundedMap::new(2);
        map.put(1, "one");
        map.put(2, "two");
        map.put(2, "deux");
        assert_eq!((map.get(&1), map.get(&2)), (Some("one"), Some("deux")));
        map.put(3, "three");
        assert_eq!((map.get(&1), map.get(&2), map.get(&3)), (None, None, Some("three")));
        assert_eq!(map.find(&3, |value| (value.len() > 9).then_some(())), None);
    }
}

//! A bounded, shared "get or load" cache: the readers of images and
//! filesystems keep decoded blocks, tables and inodes in one, so that the
//! same structure is read and checked once while it stays cached.

use lru::LruCache;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

/// At most `entries` values, least recently used evicted first.
pub(crate) struct Lru<K: Hash + Eq, V>(Mutex<LruCache<K, Arc<V>>>);

impl<K: Hash + Eq, V> std::fmt::Debug for Lru<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.0.lock().map_or(0, |c| c.len());
        f.debug_struct("Lru").field("kept", &kept).finish()
    }
}

impl<K: Hash + Eq, V> Lru<K, V> {
    pub fn new(entries: usize) -> Self {
        Lru(Mutex::new(LruCache::new(
            NonZeroUsize::new(entries).unwrap_or(NonZeroUsize::MIN),
        )))
    }

    /// The value for `key`, loaded by `load` when absent (a failed load
    /// is not kept). A poisoned lock only costs the cache, never the read.
    pub fn get<E>(&self, key: K, load: impl FnOnce() -> Result<V, E>) -> Result<Arc<V>, E> {
        if let Some(v) = self.0.lock().ok().and_then(|mut c| c.get(&key).cloned()) {
            return Ok(v);
        }
        let v = Arc::new(load()?);
        if let Ok(mut c) = self.0.lock() {
            c.put(key, v.clone());
        }
        Ok(v)
    }

    /// How many values are kept.
    #[cfg(test)]
    pub fn kept(&self) -> usize {
        self.0.lock().map_or(0, |c| c.len())
    }
}

//! A bounded, shared "get or load" cache: the readers of images and
//! filesystems keep decoded blocks, tables and inodes in one, so that the
//! same structure is read and checked once while it stays cached.
//!
//! A value being loaded is loaded once: other callers asking for the same
//! key wait for that load instead of repeating it (a block decompressed
//! ahead of the reader, in the background, is waited for, not decompressed
//! twice). A loader may ask the cache for other keys (a parent directory),
//! never for its own.

use lru::LruCache;
use std::collections::HashSet;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::{Arc, Condvar, Mutex};

/// At most `entries` values, least recently used evicted first.
pub(crate) struct Lru<K: Hash + Eq + Clone, V> {
    state: Mutex<State<K, V>>,
    /// Signalled when a load ends (kept or failed).
    landed: Condvar,
}

struct State<K: Hash + Eq, V> {
    kept: LruCache<K, Arc<V>>,
    loading: HashSet<K>,
}

impl<K: Hash + Eq + Clone, V> std::fmt::Debug for Lru<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.state.lock().map_or(0, |s| s.kept.len());
        f.debug_struct("Lru").field("kept", &kept).finish()
    }
}

impl<K: Hash + Eq + Clone, V> Lru<K, V> {
    pub fn new(entries: usize) -> Self {
        Lru {
            state: Mutex::new(State {
                kept: LruCache::new(NonZeroUsize::new(entries).unwrap_or(NonZeroUsize::MIN)),
                loading: HashSet::new(),
            }),
            landed: Condvar::new(),
        }
    }

    /// The value for `key`, loaded by `load` when absent, or by the caller
    /// already loading it (waited for). A failed load is not kept: the
    /// next caller loads again and gets its own error. A poisoned lock
    /// only costs the cache, never the read.
    pub fn get<E>(&self, key: K, load: impl FnOnce() -> Result<V, E>) -> Result<Arc<V>, E> {
        let Ok(mut s) = self.state.lock() else {
            return load().map(Arc::new);
        };
        loop {
            if let Some(v) = s.kept.get(&key) {
                return Ok(v.clone());
            }
            if s.loading.insert(key.clone()) {
                break;
            }
            match self.landed.wait(s) {
                Ok(g) => s = g,
                Err(_) => return load().map(Arc::new),
            }
        }
        drop(s);
        // Whatever happens in `load` (an error, a panic), the key stops
        // being loaded and the waiters wake.
        let mut loading = Loading {
            lru: self,
            key: Some(key),
            value: None,
        };
        let v = Arc::new(load()?);
        loading.value = Some(v.clone());
        drop(loading);
        Ok(v)
    }

    /// How many values are kept.
    #[cfg(test)]
    pub fn kept(&self) -> usize {
        self.state.lock().map_or(0, |s| s.kept.len())
    }
}

/// A key being loaded; when dropped, its value (if loaded) is kept, the
/// key stops being loaded and the waiters wake.
struct Loading<'a, K: Hash + Eq + Clone, V> {
    lru: &'a Lru<K, V>,
    key: Option<K>,
    value: Option<Arc<V>>,
}

impl<K: Hash + Eq + Clone, V> Drop for Loading<'_, K, V> {
    fn drop(&mut self) {
        if let (Some(key), Ok(mut s)) = (self.key.take(), self.lru.state.lock()) {
            s.loading.remove(&key);
            if let Some(v) = self.value.take() {
                s.kept.put(key, v);
            }
        }
        self.lru.landed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn bounded_and_failed_loads_are_not_kept() {
        let c: Lru<u64, u64> = Lru::new(2);
        for k in 0..5 {
            assert_eq!(*c.get(k, || Ok::<_, ()>(k * 10)).unwrap(), k * 10);
        }
        assert_eq!(c.kept(), 2);
        assert!(c.get(9, || Err("bad")).is_err());
        assert_eq!(*c.get(9, || Ok::<_, ()>(90)).unwrap(), 90);
    }

    #[test]
    fn a_key_being_loaded_is_waited_for_not_loaded_twice() {
        let c: Arc<Lru<u64, u64>> = Arc::new(Lru::new(4));
        let loads = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (c, loads) = (c.clone(), loads.clone());
                std::thread::spawn(move || {
                    *c.get(7, || {
                        loads.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(50));
                        Ok::<_, ()>(70)
                    })
                    .unwrap()
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), 70);
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_load_that_panics_releases_its_waiters() {
        let c: Arc<Lru<u64, u64>> = Arc::new(Lru::new(4));
        let c2 = c.clone();
        let t = std::thread::spawn(move || {
            let _ = c2.get(1, || -> Result<u64, ()> {
                std::thread::sleep(Duration::from_millis(30));
                panic!("loader fails")
            });
        });
        std::thread::sleep(Duration::from_millis(5));
        // Waits for the panicking load, then loads itself.
        assert_eq!(*c.get(1, || Ok::<_, ()>(10)).unwrap(), 10);
        assert!(t.join().is_err());
    }
}

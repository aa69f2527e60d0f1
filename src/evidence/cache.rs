//! A bounded, shared "get or load" cache: the readers of images and
//! filesystems keep decoded blocks, tables and inodes in one, so that the
//! same structure is read and checked once while it stays cached.
//!
//! A value being loaded is loaded once: other callers asking for the same
//! key wait for that load instead of repeating it (a block decompressed
//! ahead of the reader, in the background, is waited for, not decompressed
//! twice). A loader may ask the cache for other keys (a parent directory),
//! never for its own.
//!
//! Several keys can also be claimed at once ([`Lru::claim`]) and loaded
//! together, in parallel or in the background (the EWF reader inflates a
//! batch of chunks at a time), with the same guarantee: whatever becomes
//! of the load, the claimed keys stop being loaded and their waiters wake.

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
        loop {
            if let Some(v) = self.kept_or_awaited(&key) {
                return Ok(v);
            }
            // Claimed by another caller since: wait for that load instead.
            let claim = self.claim([key.clone()], None);
            if claim.keys().is_empty() {
                continue;
            }
            // Whatever happens in `load` (an error, a panic), the claim is
            // dropped: the key stops being loaded and the waiters wake.
            let v = Arc::new(load()?);
            claim.land([(key, v.clone())]);
            return Ok(v);
        }
    }

    /// The value for `key` if kept; if it is being loaded, after waiting
    /// for that load. `None`: not kept even then (the load failed, or the
    /// value was evicted); the caller loads it.
    pub fn kept_or_awaited(&self, key: &K) -> Option<Arc<V>> {
        let mut s = self.state.lock().ok()?;
        loop {
            if let Some(v) = s.kept.get(key) {
                return Some(v.clone());
            }
            if !s.loading.contains(key) {
                return None;
            }
            s = self.landed.wait(s).ok()?;
        }
    }

    /// True when `key` is kept (its place in the order is left alone).
    pub fn contains(&self, key: &K) -> bool {
        self.state.lock().is_ok_and(|s| s.kept.contains(key))
    }

    /// Claims, of `keys`, those neither kept nor being loaded, and `own`
    /// always (the caller found it missing and loads it whatever others
    /// do): they count as being loaded until the claim is landed or
    /// dropped.
    pub fn claim(&self, keys: impl IntoIterator<Item = K>, own: Option<&K>) -> Claim<'_, K, V> {
        let mut claimed = Vec::new();
        match self.state.lock() {
            Ok(mut s) => {
                for k in keys {
                    if own == Some(&k) || (!s.kept.contains(&k) && !s.loading.contains(&k)) {
                        s.loading.insert(k.clone());
                        claimed.push(k);
                    }
                }
            }
            // A poisoned lock only costs the cache: every key is loaded
            // by whoever asks, and none is kept.
            Err(_) => claimed.extend(keys),
        }
        Claim {
            lru: self,
            keys: claimed,
        }
    }

    /// Takes back keys a claim [`Claim::detach`]ed (to load them on a
    /// thread that holds the cache by an `Arc` of its owner).
    pub fn reclaim(&self, keys: Vec<K>) -> Claim<'_, K, V> {
        Claim { lru: self, keys }
    }

    /// How many values are kept.
    #[cfg(test)]
    pub fn kept(&self) -> usize {
        self.state.lock().map_or(0, |s| s.kept.len())
    }
}

/// Keys claimed to be loaded together; when dropped (landed or not) they
/// stop being loaded and their waiters wake.
pub(crate) struct Claim<'a, K: Hash + Eq + Clone, V> {
    lru: &'a Lru<K, V>,
    keys: Vec<K>,
}

impl<K: Hash + Eq + Clone, V> Claim<'_, K, V> {
    /// The keys claimed, in the order asked.
    pub fn keys(&self) -> &[K] {
        &self.keys
    }

    /// Keeps the values loaded (a key whose load failed is left out: the
    /// next reader loads it again and gets its own error).
    pub fn land(self, values: impl IntoIterator<Item = (K, Arc<V>)>) {
        if let Ok(mut s) = self.lru.state.lock() {
            for (k, v) in values {
                s.kept.put(k, v);
            }
        }
    }

    /// The keys, still counted as being loaded, for [`Lru::reclaim`].
    pub fn detach(mut self) -> Vec<K> {
        std::mem::take(&mut self.keys)
    }
}

impl<K: Hash + Eq + Clone, V> Drop for Claim<'_, K, V> {
    fn drop(&mut self) {
        if self.keys.is_empty() {
            return;
        }
        if let Ok(mut s) = self.lru.state.lock() {
            for k in &self.keys {
                s.loading.remove(k);
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
    fn a_claim_takes_only_what_nobody_has_and_its_waiters_get_the_values() {
        let c: Arc<Lru<u64, u64>> = Arc::new(Lru::new(8));
        c.get(1, || Ok::<_, ()>(10)).unwrap();
        let first = c.claim(0..4, None);
        assert_eq!(first.keys(), [0, 2, 3], "1 is kept");
        assert_eq!(c.claim(0..4, None).keys(), [] as [u64; 0], "all taken");
        // The own key is claimed even when another load has it.
        assert_eq!(c.claim(2..3, Some(&2)).detach(), [2]);
        let waiter = {
            let c = c.clone();
            std::thread::spawn(move || c.kept_or_awaited(&3).map(|v| *v))
        };
        std::thread::sleep(Duration::from_millis(30));
        // Landed in a background thread, as the EWF reader does.
        let keys = first.detach();
        let c2 = c.clone();
        std::thread::spawn(move || {
            let claim = c2.reclaim(keys);
            let values: Vec<_> = claim
                .keys()
                .iter()
                .map(|k| (*k, Arc::new(k * 10)))
                .collect();
            claim.land(values);
        })
        .join()
        .unwrap();
        assert_eq!(waiter.join().unwrap(), Some(30));
        assert!(c.contains(&0) && c.contains(&2));
        assert_eq!(c.kept_or_awaited(&5), None, "never loaded");
    }

    #[test]
    fn a_claim_dropped_unlanded_releases_its_waiters() {
        let c: Arc<Lru<u64, u64>> = Arc::new(Lru::new(8));
        let claim = c.claim([7], None);
        let waiter = {
            let c = c.clone();
            std::thread::spawn(move || c.kept_or_awaited(&7))
        };
        std::thread::sleep(Duration::from_millis(30));
        drop(claim);
        assert!(waiter.join().unwrap().is_none(), "the load failed");
        assert_eq!(c.claim([7], None).keys(), [7], "claimable again");
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

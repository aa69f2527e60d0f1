//! Decompressing ahead of a reader that goes forward, on the other cores.
//!
//! Compressed images (EWF chunks, compressed QCOW2 clusters, the grains of
//! a stream-optimized VMDK) are mostly read in order: layer replay follows
//! a file's extents, `--verify-image` reads the medium end to end. A reader
//! on one core that both inflates and hashes leaves the other cores idle;
//! inflating the next blocks in the background, into the image's cache
//! (whose loads are waited for, never repeated: `evidence::cache`), lets
//! the two overlap. libewf and QEMU inflate one block at a time on the
//! reader's thread.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::{Arc, Mutex};

/// The threads that decompress ahead of readers, one per core, made once.
///
/// A pool of its own: its threads only decompress, so a reader that is
/// itself a worker of another pool (or waited on by one) never waits on
/// work queued behind its own caller.
pub(crate) fn inflaters() -> Option<&'static rayon::ThreadPool> {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("inflate-{i}"))
            .build()
            .ok()
    })
    .as_ref()
}

/// Runs `job` on the [`inflaters`] (nothing if the pool cannot be made:
/// the reader then decompresses each block itself, as before).
fn in_background(job: impl FnOnce() + Send + 'static) {
    if let Some(pool) = inflaters() {
        pool.spawn(job);
    }
}

/// Blocks remembered to tell a forward reader from random reads.
const RECENT: usize = 16;
/// Bytes decompressed ahead of a forward reader, per step.
const SPAN_BYTES: u64 = 512 << 10;
/// Most blocks per step, whatever the block size.
const MAX_SPAN: u64 = 16;

/// Which blocks to decompress ahead: watches the blocks read and, when a
/// reader goes forward, names the next ones, about two steps ahead of it
/// (each step is [`SPAN_BYTES`]; the caches of the formats hold twice
/// that, so blocks read ahead are still there when the reader arrives).
#[derive(Debug)]
pub(crate) struct ReadAhead {
    recent: Mutex<VecDeque<u64>>,
    span: u64,
    blocks: u64,
}

impl ReadAhead {
    /// For a medium of `blocks` blocks of `block_size` bytes.
    pub fn new(block_size: u64, blocks: u64) -> Self {
        ReadAhead {
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
            span: (SPAN_BYTES / block_size.max(1)).clamp(1, MAX_SPAN),
            blocks,
        }
    }

    /// Block `g` of `blocks` is being read: when the reader goes forward,
    /// `warm` the blocks ahead of it, in the background.
    pub fn follow<T: Send + Sync + 'static>(&self, g: u64, blocks: &Arc<T>, warm: fn(&T, u64)) {
        if let Some(next) = self.saw(g) {
            let blocks = Arc::clone(blocks);
            in_background(move || next.for_each(|i| warm(&blocks, i)));
        }
    }

    /// Block `g` is being read: the blocks to decompress ahead now, if any.
    /// A forward run starting at `g` gets the rest of its step and the next
    /// one; each step boundary it crosses, the step after.
    pub fn saw(&self, g: u64) -> Option<Range<u64>> {
        let mut recent = self.recent.lock().ok()?;
        if recent.contains(&g) {
            return None;
        }
        let forward = g.checked_sub(1).is_some_and(|p| recent.contains(&p));
        let starts = forward && !g.checked_sub(2).is_some_and(|p| recent.contains(&p));
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(g);
        drop(recent);
        let span = self.span;
        let wanted = if starts {
            g + 1..(g / span + 2).saturating_mul(span)
        } else if forward && g.is_multiple_of(span) {
            g.saturating_add(span)..g.saturating_add(2 * span)
        } else {
            return None;
        };
        let wanted = wanted.start.min(self.blocks)..wanted.end.min(self.blocks);
        (!wanted.is_empty()).then_some(wanted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_runs_are_read_ahead_random_reads_are_not() {
        // 64 KiB blocks: steps of 8.
        let a = ReadAhead::new(64 << 10, 100);
        assert_eq!(a.saw(5), None, "one block is not a run");
        assert_eq!(
            a.saw(6),
            Some(7..16),
            "a run starts: rest of its step and the next"
        );
        assert_eq!(a.saw(6), None, "the same block again");
        assert_eq!(a.saw(7), None);
        assert_eq!(
            a.saw(8),
            Some(16..24),
            "a step boundary: the step after next"
        );
        assert_eq!(a.saw(50), None, "a jump");
        assert_eq!(a.saw(30), None);
        assert_eq!(a.saw(9), None, "inside a step");
        // near the end of the medium
        assert_eq!(a.saw(96), None);
        assert_eq!(a.saw(97), Some(98..100));
        // large blocks: one per step
        let b = ReadAhead::new(2 << 20, 10);
        b.saw(0);
        assert_eq!(b.saw(1), Some(2..3));
        assert_eq!(b.saw(2), Some(3..4));
    }
}

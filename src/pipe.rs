//! Streaming plumbing that keeps both cores busy and memory flat: a
//! producer fills fixed 1 MiB buffers from a small pool and hands each
//! full buffer, shared, to one or more sink threads; each sink hashes what
//! it receives (sha256) and writes it on. At most `POOL` buffers exist per
//! fan-out, so memory does not grow with the layer size, and a slow sink
//! simply makes the producer wait.
//!
//! Output files are written with `O_DIRECT` where the filesystem allows
//! ([`DirectFile`]): the data goes from our aligned buffers to the device
//! without being copied into (and later written back from) the page cache,
//! which on ext4 costs more CPU than hashing the same bytes.

use sha2::{Digest as _, Sha256};
use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Size of one buffer.
pub const CHUNK: usize = 1 << 20;
/// Buffers per fan-out.
const POOL: usize = 8;
/// Alignment `O_DIRECT` needs for memory, offsets and lengths.
const ALIGN: usize = 4096;

/// A heap buffer aligned for direct I/O.
pub struct AlignedBuf {
    ptr: std::ptr::NonNull<u8>,
    cap: usize,
}

// SAFETY: the buffer is a plain owned allocation; no aliasing is shared.
unsafe impl Send for AlignedBuf {}
// SAFETY: shared access is read-only (`as_slice`).
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    pub fn new(cap: usize) -> Self {
        let layout = Layout::from_size_align(cap.max(ALIGN), ALIGN).expect("valid layout");
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc_zeroed(layout) };
        let ptr =
            std::ptr::NonNull::new(raw).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        AlignedBuf {
            ptr,
            cap: layout.size(),
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` is valid for `cap` initialised (zeroed) bytes.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.cap) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and `&mut self` guarantees exclusivity.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.cap) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        let layout = Layout::from_size_align(self.cap, ALIGN).expect("valid layout");
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ptr.as_ptr(), layout) };
    }
}

/// A buffer that goes back to its pool when the last sink is done with it.
pub struct Pooled {
    buf: Option<AlignedBuf>,
    len: usize,
    home: SyncSender<AlignedBuf>,
}

impl Pooled {
    pub fn data(&self) -> &[u8] {
        self.buf
            .as_ref()
            .map_or(&[][..], |b| &b.as_slice()[..self.len])
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(b) = self.buf.take() {
            // The pool may be gone already; then the buffer is freed.
            let _ = self.home.try_send(b);
        }
    }
}

/// One filled buffer, shared by the sinks it is sent to.
pub type Chunk = Arc<Pooled>;

/// The producer's end: a `Write` that fills pooled buffers and sends each
/// full one to every sink.
pub struct FanOut {
    sinks: Vec<SyncSender<Chunk>>,
    pool_rx: Receiver<AlignedBuf>,
    pool_tx: SyncSender<AlignedBuf>,
    cur: Option<AlignedBuf>,
    len: usize,
    made: usize,
}

impl FanOut {
    pub fn new(sinks: Vec<SyncSender<Chunk>>) -> Self {
        let (pool_tx, pool_rx) = sync_channel(POOL);
        FanOut {
            sinks,
            pool_rx,
            pool_tx,
            cur: None,
            len: 0,
            made: 0,
        }
    }

    fn buffer(&mut self) -> io::Result<&mut AlignedBuf> {
        if self.cur.is_none() {
            let b = match self.pool_rx.try_recv() {
                Ok(b) => b,
                Err(_) if self.made < POOL => {
                    self.made += 1;
                    AlignedBuf::new(CHUNK)
                }
                Err(_) => self
                    .pool_rx
                    .recv()
                    .map_err(|_| io::Error::other("buffer pool closed"))?,
            };
            self.cur = Some(b);
            self.len = 0;
        }
        self.cur
            .as_mut()
            .ok_or_else(|| io::Error::other("no buffer"))
    }

    fn send(&mut self) -> io::Result<()> {
        let Some(buf) = self.cur.take() else {
            return Ok(());
        };
        if self.len == 0 {
            let _ = self.pool_tx.try_send(buf);
            return Ok(());
        }
        let chunk = Arc::new(Pooled {
            buf: Some(buf),
            len: self.len,
            home: self.pool_tx.clone(),
        });
        self.len = 0;
        for s in &self.sinks {
            s.send(chunk.clone())
                .map_err(|_| io::Error::other("an output stopped early (see its error)"))?;
        }
        Ok(())
    }

    /// Sends what is buffered and disconnects from the sinks.
    pub fn finish(mut self) -> io::Result<()> {
        self.send()
    }
}

impl Write for FanOut {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let len = self.len;
        let buf = self.buffer()?;
        let n = data.len().min(CHUNK - len);
        buf.as_mut_slice()[len..len + n].copy_from_slice(&data[..n]);
        self.len += n;
        if self.len == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// What a sink did.
#[derive(Debug, Clone, Default)]
pub struct SinkResult {
    pub written: u64,
    /// Hex sha256 of everything received, when asked for.
    pub sha256: Option<String>,
}

/// A sink's channel end, to pass to [`FanOut::new`], and its receiver.
pub fn channel() -> (SyncSender<Chunk>, Receiver<Chunk>) {
    sync_channel(POOL)
}

/// The body of a sink thread: receives chunks until every sender is gone,
/// hashing them (if `hash`) and writing them to `out`.
pub fn run_sink<W: Write>(
    rx: Receiver<Chunk>,
    mut out: W,
    hash: bool,
) -> io::Result<(SinkResult, W)> {
    let mut hasher = hash.then(Sha256::new);
    let mut written = 0u64;
    for chunk in rx {
        let data = chunk.data();
        if let Some(h) = hasher.as_mut() {
            h.update(data);
        }
        out.write_all(data)?;
        written += data.len() as u64;
    }
    out.flush()?;
    Ok((
        SinkResult {
            written,
            sha256: hasher.map(|h| hex::encode(h.finalize())),
        },
        out,
    ))
}

/// Runs `produce` with a writer whose bytes are hashed and written to
/// `out` on a thread of their own (and also sent to `tee`, if given).
/// An error of the output comes first: it is why the producer stopped.
pub fn hash_through<W, R, E>(
    out: W,
    tee: Option<&SyncSender<Chunk>>,
    produce: impl FnOnce(&mut FanOut) -> Result<R, E>,
) -> Result<(R, SinkResult, W), E>
where
    W: Write + Send,
    E: From<io::Error>,
{
    std::thread::scope(|s| {
        let (tx, rx) = channel();
        let sink = s.spawn(move || run_sink(rx, out, true));
        let mut senders = vec![tx];
        senders.extend(tee.cloned());
        let mut fan = FanOut::new(senders);
        let r = produce(&mut fan);
        // Dropping the fan-out closes the sink's channel: it ends.
        let fin = if r.is_ok() {
            fan.finish()
        } else {
            drop(fan);
            Ok(())
        };
        let (result, w) = sink
            .join()
            .map_err(|_| io::Error::other("output thread failed"))??;
        let r = r?;
        fin?;
        Ok((r, result, w))
    })
}

/// A file written with `O_DIRECT` where possible (Linux), else normally.
/// Writes are staged in an aligned buffer; [`DirectFile::finish`] writes
/// the padded tail and trims the file to its real length.
pub struct DirectFile {
    file: File,
    direct: bool,
    buf: AlignedBuf,
    len: usize,
    total: u64,
}

impl DirectFile {
    pub fn create(path: &Path) -> io::Result<Self> {
        let plain = || File::create(path);
        #[cfg(target_os = "linux")]
        let (file, direct) = {
            use std::os::unix::fs::OpenOptionsExt;
            match std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .custom_flags(libc::O_DIRECT)
                .open(path)
            {
                Ok(f) => (f, true),
                Err(_) => (plain()?, false),
            }
        };
        #[cfg(not(target_os = "linux"))]
        let (file, direct) = (plain()?, false);
        Ok(DirectFile {
            file,
            direct,
            buf: AlignedBuf::new(4 * CHUNK),
            len: 0,
            total: 0,
        })
    }

    fn drain(&mut self, all: bool) -> io::Result<()> {
        let n = if all {
            self.len
        } else {
            self.len - self.len % ALIGN
        };
        if n == 0 {
            return Ok(());
        }
        let padded = if self.direct {
            n.div_ceil(ALIGN) * ALIGN
        } else {
            n
        };
        if padded > n {
            self.buf.as_mut_slice()[n..padded].fill(0);
        }
        let r = self.file.write_all(&self.buf.as_slice()[..padded]);
        if let Err(e) = r {
            if !self.direct || e.raw_os_error() != Some(libc::EINVAL) {
                return Err(e);
            }
            // The filesystem refused direct I/O after all: go on buffered.
            self.direct = false;
            use std::io::Seek;
            self.file.seek(io::SeekFrom::Start(self.total))?;
            self.file.write_all(&self.buf.as_slice()[..n])?;
        }
        self.total += n as u64;
        self.buf.as_mut_slice().copy_within(n..self.len, 0);
        self.len -= n;
        Ok(())
    }

    /// Writes the rest and sets the file's exact length.
    pub fn finish(mut self) -> io::Result<File> {
        self.drain(true)?;
        self.file.set_len(self.total)?;
        Ok(self.file)
    }
}

impl Write for DirectFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = self.buf.cap - self.len;
        if room == 0 {
            self.drain(false)?;
            return self.write(data);
        }
        let n = data.len().min(room);
        let len = self.len;
        self.buf.as_mut_slice()[len..len + n].copy_from_slice(&data[..n]);
        self.len += n;
        if self.len == self.buf.cap {
            self.drain(false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Only whole aligned blocks can go out before `finish`.
        self.drain(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fan_out_delivers_everything_to_every_sink_in_order() {
        let data: Vec<u8> = (0..(3 * CHUNK + 12345)).map(|i| (i % 251) as u8).collect();
        let (tx1, rx1) = channel();
        let (tx2, rx2) = channel();
        let (a, b) = std::thread::scope(|s| {
            let h1 = s.spawn(|| run_sink(rx1, Vec::new(), true).unwrap());
            let h2 = s.spawn(|| run_sink(rx2, Vec::new(), false).unwrap());
            let mut f = FanOut::new(vec![tx1, tx2]);
            for piece in data.chunks(777) {
                f.write_all(piece).unwrap();
            }
            f.finish().unwrap();
            (h1.join().unwrap(), h2.join().unwrap())
        });
        assert_eq!(a.1.as_slice(), data.as_slice());
        assert_eq!(b.1.as_slice(), data.as_slice());
        assert_eq!(a.0.sha256.unwrap(), crate::digest::sha256_hex(&data));
        assert_eq!(b.0.written, data.len() as u64);
    }

    #[test]
    fn direct_file_has_exact_length_and_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        let data: Vec<u8> = (0..(5 * CHUNK + 777)).map(|i| (i % 253) as u8).collect();
        let mut f = DirectFile::create(&p).unwrap();
        for piece in data.chunks(100_001) {
            f.write_all(piece).unwrap();
        }
        f.finish().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), data);
    }
}

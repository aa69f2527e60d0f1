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
use std::alloc::Layout;
use std::fs::File;
use std::io::{self, Read, Write};
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
        let layout = Layout::from_size_align(cap.max(ALIGN).div_ceil(ALIGN) * ALIGN, ALIGN)
            .expect("valid layout");
        AlignedBuf {
            ptr: zeroed_pages(layout),
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
        free_pages(self.ptr, layout);
    }
}

/// Zeroed memory for a buffer: anonymous pages on Unix, which are
/// page-aligned and zeroed by the kernel only when first touched. (The
/// allocator zeroes an over-aligned allocation byte by byte: 16 MiB of
/// memset for every output file, however small, in `extract --all` of
/// many small images.)
#[cfg(unix)]
fn zeroed_pages(layout: Layout) -> std::ptr::NonNull<u8> {
    // SAFETY: a private anonymous mapping of a non-zero size; no file,
    // no fixed address.
    let raw = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            layout.size(),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANON,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        std::alloc::handle_alloc_error(layout);
    }
    std::ptr::NonNull::new(raw.cast::<u8>())
        .unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
}

#[cfg(unix)]
fn free_pages(ptr: std::ptr::NonNull<u8>, layout: Layout) {
    // SAFETY: mapped in `zeroed_pages` with this size, unmapped once.
    unsafe { libc::munmap(ptr.as_ptr().cast(), layout.size()) };
}

#[cfg(not(unix))]
fn zeroed_pages(layout: Layout) -> std::ptr::NonNull<u8> {
    // SAFETY: the layout has a non-zero size.
    let raw = unsafe { std::alloc::alloc_zeroed(layout) };
    std::ptr::NonNull::new(raw).unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
}

#[cfg(not(unix))]
fn free_pages(ptr: std::ptr::NonNull<u8>, layout: Layout) {
    // SAFETY: allocated in `zeroed_pages` with this layout.
    unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) };
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

    /// The free part of the buffer being filled, for a reader to fill
    /// directly (no copy through a buffer of the caller's); then
    /// [`FanOut::commit`] the bytes it gave.
    pub fn spare(&mut self) -> io::Result<&mut [u8]> {
        let len = self.len;
        Ok(&mut self.buffer()?.as_mut_slice()[len..CHUNK])
    }

    /// Takes the first `n` bytes of [`FanOut::spare`] as written.
    pub fn commit(&mut self, n: usize) -> io::Result<()> {
        self.len = (self.len + n).min(CHUNK);
        if self.len == CHUNK {
            self.send()?;
        }
        Ok(())
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

/// A writer a reader can fill in place: [`FanOut`] lets the reader read
/// straight into its buffer, any other writer goes through `scratch`.
pub trait FillFrom: Write {
    /// One read of `r` into the writer; 0 at its end.
    fn fill_from(&mut self, r: &mut dyn Read, scratch: &mut [u8]) -> io::Result<usize> {
        let n = r.read(scratch)?;
        self.write_all(&scratch[..n])?;
        Ok(n)
    }
}

impl FillFrom for Vec<u8> {}
impl FillFrom for io::Sink {}

impl<W: FillFrom + ?Sized> FillFrom for &mut W {
    fn fill_from(&mut self, r: &mut dyn Read, scratch: &mut [u8]) -> io::Result<usize> {
        (**self).fill_from(r, scratch)
    }
}

impl FillFrom for FanOut {
    fn fill_from(&mut self, r: &mut dyn Read, _scratch: &mut [u8]) -> io::Result<usize> {
        let n = loop {
            match r.read(self.spare()?) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        self.commit(n)?;
        Ok(n)
    }
}

/// What a sink thread writes to. Any writer takes each chunk as bytes;
/// a [`DirectFile`] takes an aligned chunk as it is, without copying it.
pub trait Output: Write {
    fn write_chunk(&mut self, chunk: &Chunk) -> io::Result<()> {
        self.write_all(chunk.data())
    }
}

impl Output for Vec<u8> {}
impl Output for io::Sink {}
impl Output for File {}
impl<W: Write> Output for io::BufWriter<W> {}

/// A sink's channel end, to pass to [`FanOut::new`], and its receiver.
pub fn channel() -> (SyncSender<Chunk>, Receiver<Chunk>) {
    sync_channel(POOL)
}

/// The body of a sink thread: receives chunks until every sender is gone,
/// hashing them (if `hash`) and writing them to `out`.
pub fn run_sink<W: Output>(
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
        out.write_chunk(&chunk)?;
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
    W: Output + Send,
    E: From<io::Error>,
{
    hash_through_all(out, tee.into_iter().cloned().collect(), produce)
}

/// [`hash_through`], sending every byte also to each of `tees`.
pub fn hash_through_all<W, R, E>(
    out: W,
    tees: Vec<SyncSender<Chunk>>,
    produce: impl FnOnce(&mut FanOut) -> Result<R, E>,
) -> Result<(R, SinkResult, W), E>
where
    W: Output + Send,
    E: From<io::Error>,
{
    std::thread::scope(|s| {
        let (tx, rx) = channel();
        let sink = s.spawn(move || run_sink(rx, out, true));
        let mut senders = vec![tx];
        senders.extend(tees);
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

/// A file written with `O_DIRECT` where possible (Linux), else normally,
/// by a writer thread of its own, so that the device works while the
/// caller hashes the next buffer. Writes are staged in aligned buffers
/// (at most `WRITE_BUFFERS` exist); [`DirectFile::finish`] writes the
/// padded tail and trims the file to its real length.
pub struct DirectFile {
    staging: Option<AlignedBuf>,
    len: usize,
    /// Bytes handed to the writer so far.
    handed: u64,
    /// Direct I/O's alignment of offsets and lengths on this file; 0 when
    /// the file is written through the page cache.
    align: usize,
    to_writer: Option<SyncSender<Job>>,
    spare: Receiver<AlignedBuf>,
    writer: Option<std::thread::JoinHandle<io::Result<File>>>,
}

/// One write for the writer thread: a staging buffer's first bytes, or a
/// producer's chunk written as it is.
enum Job {
    Staged(AlignedBuf, usize),
    Shared(Chunk),
}

impl Job {
    fn len(&self) -> usize {
        match self {
            Job::Staged(_, n) => *n,
            Job::Shared(c) => c.data().len(),
        }
    }
}

/// Buffers of one [`DirectFile`]: one being filled, the others queued or
/// being written.
const WRITE_BUFFERS: usize = 3;
/// Size of one write.
const WRITE_SIZE: usize = 4 * CHUNK;

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
        let align = if direct { dio_align(&file) } else { 0 };
        let (to_writer, jobs) = sync_channel::<Job>(WRITE_BUFFERS);
        let (back, spare) = sync_channel::<AlignedBuf>(WRITE_BUFFERS);
        for _ in 1..WRITE_BUFFERS {
            let _ = back.send(AlignedBuf::new(WRITE_SIZE));
        }
        let writer = std::thread::Builder::new()
            .name("output-writer".into())
            .spawn(move || write_jobs(file, align, jobs, back))?;
        Ok(DirectFile {
            staging: Some(AlignedBuf::new(WRITE_SIZE)),
            len: 0,
            handed: 0,
            align,
            to_writer: Some(to_writer),
            spare,
            writer: Some(writer),
        })
    }

    /// The writer's own error, once it has stopped.
    fn writer_error(&mut self) -> io::Error {
        self.to_writer = None;
        match self.writer.take().map(|w| w.join()) {
            Some(Ok(Err(e))) => e,
            _ => io::Error::other("output writer stopped"),
        }
    }

    /// Hands the staging buffer (its first `len` bytes) to the writer.
    fn hand_over(&mut self) -> io::Result<()> {
        let Some(buf) = self.staging.take() else {
            return Ok(());
        };
        let len = self.len;
        self.send(Job::Staged(buf, len))?;
        self.len = 0;
        Ok(())
    }

    fn send(&mut self, job: Job) -> io::Result<()> {
        let n = job.len();
        let sent = match &self.to_writer {
            Some(tx) => tx.send(job).is_ok(),
            None => false,
        };
        if !sent {
            return Err(self.writer_error());
        }
        self.handed += n as u64;
        Ok(())
    }

    /// Writes the rest and sets the file's exact length.
    pub fn finish(mut self) -> io::Result<File> {
        if self.len > 0 {
            self.hand_over()?;
        }
        self.to_writer = None;
        match self.writer.take().map(|w| w.join()) {
            Some(Ok(r)) => r,
            _ => Err(io::Error::other("output writer failed")),
        }
    }
}

/// The writer thread: each job is written at the end of what was written
/// before; only the last may be shorter than a whole aligned block (it is
/// padded for `O_DIRECT`, and the file is trimmed after it).
fn write_jobs(
    mut file: File,
    align: usize,
    jobs: Receiver<Job>,
    back: SyncSender<AlignedBuf>,
) -> io::Result<File> {
    let mut direct = align > 0;
    let mut offset = 0u64;
    for mut job in jobs {
        let n = job.len();
        // Only the last job may end off the alignment (the sender hands
        // over early only on aligned offsets, and a shared chunk is
        // aligned): it is padded, then trimmed.
        let padded = if direct { n.div_ceil(align) * align } else { n };
        let bytes = match &mut job {
            Job::Staged(buf, _) => {
                buf.as_mut_slice()[n..padded].fill(0);
                &buf.as_slice()[..padded]
            }
            Job::Shared(c) => c.data(),
        };
        if let Err(e) = file.write_all(bytes) {
            if !direct || e.raw_os_error() != Some(libc::EINVAL) {
                return Err(e);
            }
            // The filesystem refused direct I/O after all: go on buffered.
            direct = false;
            #[cfg(target_os = "linux")]
            {
                use std::os::fd::AsRawFd;
                // SAFETY: plain fcntl calls on a descriptor we own.
                unsafe {
                    let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
                    libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags & !libc::O_DIRECT);
                }
            }
            use std::io::Seek;
            file.seek(io::SeekFrom::Start(offset))?;
            file.write_all(&bytes[..n])?;
        }
        offset += n as u64;
        if let Job::Staged(buf, _) = job {
            let _ = back.send(buf);
        }
    }
    file.set_len(offset)?;
    Ok(file)
}

impl Output for DirectFile {
    /// Writes a producer's chunk: handed to the writer as it is when
    /// direct I/O can take it where it falls in the file (no copy), else
    /// copied into the staging buffer. A tar stream is made of 512-byte
    /// records, so on a device of 512-byte sectors every whole chunk of
    /// it can go as it is.
    fn write_chunk(&mut self, chunk: &Chunk) -> io::Result<()> {
        let data = chunk.data();
        let a = self.align;
        let at = self.handed + self.len as u64;
        let as_is = a > 0
            && data.len() >= a
            && data.len().is_multiple_of(a)
            && at.is_multiple_of(a as u64)
            && (data.as_ptr() as usize).is_multiple_of(a);
        if !as_is {
            return self.write_all(data);
        }
        // What is staged ends on an aligned offset too: it goes first.
        if self.len > 0 {
            self.hand_over()?;
        }
        self.send(Job::Shared(chunk.clone()))
    }
}

/// The alignment direct I/O needs on `file` (`statx` `STATX_DIOALIGN`,
/// Linux 6.1+: the device's logical block size on ext4 and XFS), else
/// the page size, which every filesystem that takes direct I/O accepts.
#[cfg(target_os = "linux")]
fn dio_align(file: &File) -> usize {
    use rustix::fs::{AtFlags, StatxFlags, statx};
    let fallback = ALIGN;
    match statx(file, "", AtFlags::EMPTY_PATH, StatxFlags::DIOALIGN) {
        Ok(st) if st.stx_mask & StatxFlags::DIOALIGN.bits() != 0 => {
            let a = st.stx_dio_offset_align.max(st.stx_dio_mem_align) as usize;
            // Our buffers are page-aligned: a larger need is not met.
            if a.is_power_of_two() && a <= ALIGN {
                a
            } else {
                fallback
            }
        }
        _ => fallback,
    }
}

/// Elsewhere files are written through the cache (no alignment needed).
#[cfg(not(target_os = "linux"))]
fn dio_align(_file: &File) -> usize {
    ALIGN
}

impl Write for DirectFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.staging.is_none() {
            match self.spare.recv() {
                Ok(b) => self.staging = Some(b),
                Err(_) => return Err(self.writer_error()),
            }
        }
        let len = self.len;
        let Some(buf) = self.staging.as_mut() else {
            return Err(io::Error::other("no output buffer"));
        };
        let n = data.len().min(WRITE_SIZE - len);
        buf.as_mut_slice()[len..len + n].copy_from_slice(&data[..n]);
        self.len += n;
        if self.len == WRITE_SIZE {
            self.hand_over()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Only whole buffers go out before `finish` (direct I/O needs
        // aligned lengths); everything is on disk when `finish` returns.
        Ok(())
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

    /// A chunk of `data`, as a fan-out would hand it to a sink.
    fn chunk_of(data: &[u8]) -> Chunk {
        let mut buf = AlignedBuf::new(CHUNK);
        buf.as_mut_slice()[..data.len()].copy_from_slice(data);
        let (home, _) = sync_channel(1);
        Arc::new(Pooled {
            buf: Some(buf),
            len: data.len(),
            home,
        })
    }

    #[test]
    fn direct_file_takes_aligned_chunks_as_they_are_and_copies_the_rest() {
        // On the disk the project builds on (the page-cache-less path
        // needs a filesystem with direct I/O, which /tmp may not be).
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let p = dir.path().join("x");
        let data: Vec<u8> = (0..(4 * CHUNK + 2048)).map(|i| (i % 241) as u8).collect();
        let mut f = DirectFile::create(&p).unwrap();
        let mut at = 0;
        let mut piece = |f: &mut DirectFile, n: usize, as_chunk: bool| {
            let bytes = &data[at..at + n];
            if as_chunk {
                f.write_chunk(&chunk_of(bytes)).unwrap();
            } else {
                f.write_all(bytes).unwrap();
            }
            at += n;
        };
        piece(&mut f, 512, false); // a tar header: staged
        piece(&mut f, CHUNK, true); // aligned where the sector size is 512
        piece(&mut f, 100, false); // off any alignment
        piece(&mut f, CHUNK, true); // so this one is copied
        piece(&mut f, 412, false); // back on a 512-byte boundary
        piece(&mut f, CHUNK, true);
        piece(&mut f, CHUNK, true);
        piece(&mut f, 1024, true); // a short last chunk
        let align = f.align;
        f.finish().unwrap();
        assert_eq!(at, data.len());
        assert_eq!(
            std::fs::read(&p).unwrap(),
            data,
            "direct I/O alignment {align}"
        );
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

//! Progress reporting, kept abstract so the library has no terminal code;
//! the command line draws bars with indicatif.

/// Receives progress of layer work.
pub trait ProgressSink: Send + Sync {
    /// A layer starts; `expected` is its unpacked size when known.
    fn start_layer(&self, label: &str, expected: Option<u64>) -> Box<dyn LayerProgress>;
}

/// Progress of one layer.
pub trait LayerProgress: Send + Sync {
    /// `n` more bytes of file content were processed.
    fn advance(&self, n: u64);
    fn finish(&self);
}

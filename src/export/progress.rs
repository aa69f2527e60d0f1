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
    /// The layer is done; no more `advance` calls follow.
    fn finish(&self);
}

/// The progress of one layer, or nothing when no sink was given.
pub(crate) struct Bar(Option<Box<dyn LayerProgress>>);

impl Bar {
    pub fn start(
        sink: Option<&std::sync::Arc<dyn ProgressSink>>,
        label: &str,
        expected: Option<u64>,
    ) -> Self {
        Bar(sink.map(|p| p.start_layer(label, expected)))
    }

    pub fn advance(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.advance(n);
        }
    }

    pub fn finish(self) {
        if let Some(b) = self.0 {
            b.finish();
        }
    }
}

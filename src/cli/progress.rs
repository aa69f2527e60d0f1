//! Progress bars on stderr (indicatif), shown only on a terminal.

use docker_forensics::export::{LayerProgress, ProgressSink};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

pub struct Bars {
    multi: MultiProgress,
    total: ProgressBar,
}

impl Bars {
    pub fn new() -> Self {
        let multi = MultiProgress::new();
        let total = multi.add(ProgressBar::new(0));
        total.set_style(
            ProgressStyle::with_template(
                "{prefix:>24} {bytes:>10} {binary_bytes_per_sec:>12} {elapsed}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        total.set_prefix("total");
        Bars { multi, total }
    }

    pub fn clear(&self) {
        self.total.finish_and_clear();
        let _ = self.multi.clear();
    }
}

struct LayerBar {
    bar: ProgressBar,
    total: ProgressBar,
}

impl ProgressSink for Bars {
    fn start_layer(&self, label: &str, expected: Option<u64>) -> Box<dyn LayerProgress> {
        let bar = self
            .multi
            .insert_before(&self.total, ProgressBar::new(expected.unwrap_or(0)));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>24} [{bar:30}] {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        self.total.inc_length(expected.unwrap_or(0));
        Box::new(LayerBar {
            bar,
            total: self.total.clone(),
        })
    }
}

impl LayerProgress for LayerBar {
    fn advance(&self, n: u64) {
        self.bar.inc(n);
        self.total.inc(n);
    }
    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The bar `--verify-image` shows while it hashes the whole medium: on a
/// terminal only, and not with `--quiet`.
pub fn media_bar(quiet: bool) -> Option<ProgressBar> {
    use std::io::IsTerminal;
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>24} [{bar:30}] {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix("hashing the medium");
    Some(bar)
}

//! A bounded-memory external sort of text lines by a 128-bit key: lines
//! are buffered up to a budget, sorted and spilled to temporary files (on
//! the examiner's machine, never the evidence), then merged.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};

/// Memory used for buffered lines before a run is spilled.
const BUDGET: usize = 32 << 20;

pub struct ExternalSort {
    buf: Vec<(u128, String)>,
    bytes: usize,
    runs: Vec<File>,
}

impl ExternalSort {
    pub fn new() -> io::Result<Self> {
        Ok(ExternalSort {
            buf: Vec::new(),
            bytes: 0,
            runs: Vec::new(),
        })
    }

    pub fn push(&mut self, key: u128, line: String) -> io::Result<()> {
        self.bytes += line.len() + 48;
        self.buf.push((key, line));
        if self.bytes >= BUDGET {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> io::Result<()> {
        self.buf.sort();
        let mut f = BufWriter::new(tempfile::tempfile()?);
        for (k, line) in self.buf.drain(..) {
            writeln!(f, "{k:032x}\t{line}")?;
        }
        let mut f = f.into_inner().map_err(|e| e.into_error())?;
        io::Seek::rewind(&mut f)?;
        self.runs.push(f);
        self.bytes = 0;
        Ok(())
    }

    /// Writes every line, in key order, to `out`.
    pub fn finish(mut self, out: &mut impl Write) -> io::Result<()> {
        if self.runs.is_empty() {
            self.buf.sort();
            for (_, line) in &self.buf {
                writeln!(out, "{line}")?;
            }
            return Ok(());
        }
        if !self.buf.is_empty() {
            self.spill()?;
        }
        let mut readers: Vec<_> = self
            .runs
            .into_iter()
            .map(|f| BufReader::new(f).lines())
            .collect();
        let mut heap = BinaryHeap::new();
        for (i, r) in readers.iter_mut().enumerate() {
            if let Some(l) = r.next() {
                heap.push(Reverse((l?, i)));
            }
        }
        while let Some(Reverse((line, i))) = heap.pop() {
            // Keys are fixed-width hex, so lines compare in key order.
            writeln!(
                out,
                "{}",
                line.split_once('\t').map_or(line.as_str(), |(_, l)| l)
            )?;
            if let Some(l) = readers[i].next() {
                heap.push(Reverse((l?, i)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_spilled_runs_in_order() {
        let mut s = ExternalSort::new().unwrap();
        for i in (0..1000u128).rev() {
            s.push(i * 7 % 1000, format!("line {}", i * 7 % 1000))
                .unwrap();
            if i % 300 == 0 {
                s.spill().unwrap();
            }
        }
        let mut out = Vec::new();
        s.finish(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let nums: Vec<u32> = text.lines().map(|l| l[5..].parse().unwrap()).collect();
        assert_eq!(nums.len(), 1000);
        assert!(nums.windows(2).all(|w| w[0] <= w[1]));
    }
}

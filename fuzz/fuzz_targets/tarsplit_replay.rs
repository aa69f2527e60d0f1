//! tar-split JSON lines replayed over a small layer held in memory: the
//! path an export takes (`layer::prepare`, then `PreparedLayer::produce`),
//! with a recorded layer size of 1 MiB so that claims past it are refused
//! rather than written. A replay must write exactly the length `prepare`
//! announced.
#![no_main]

use docker_forensics::evidence::fs::{EvPath, FileKind, MemFs, MemNode};
use docker_forensics::layer::{LayerInput, prepare};
use flate2::Compression;
use flate2::write::GzEncoder;
use libfuzzer_sys::fuzz_target;
use std::io::{self, Write};
use std::sync::OnceLock;

/// The layer the seeds describe (see fuzz/README.md).
fn layer() -> &'static MemFs {
    static FS: OnceLock<MemFs> = OnceLock::new();
    FS.get_or_init(|| {
        let mut fs = MemFs::new();
        fs.add("layer/a", MemNode::file(b"hello\n"))
            .add("layer/dir/b", MemNode::file(&[7u8; 1000]))
            .add("layer/dir/short", MemNode::file(b"abc").claimed_size(10))
            .add("layer/empty", MemNode::file(b""))
            .add("layer/link", MemNode::symlink(b"a"))
            .add("layer/dev", MemNode::special(FileKind::CharDevice, 1, 3))
            .hard_link("layer/a", "layer/dir/hard");
        fs
    })
}

fuzz_target!(|data: &[u8]| {
    let mut fs = layer().clone();
    let mut gz = GzEncoder::new(Vec::new(), Compression::none());
    if gz.write_all(data).is_err() {
        return;
    }
    let Ok(gz) = gz.finish() else { return };
    fs.add("tar-split.json.gz", MemNode::file(&gz));
    let (Some(dir), Some(ts)) = (EvPath::parse("layer"), EvPath::parse("tar-split.json.gz")) else {
        return;
    };
    let input = LayerInput {
        fs: &fs,
        dir: &dir,
        tar_split: Some(&ts),
        diff_id: "sha256:00",
        force_rebuild: false,
    };
    let Ok(prepared) = prepare(input, Some(1 << 20)) else {
        return;
    };
    let announced = prepared.tar_len();
    if let Ok((_, produced)) = prepared.produce(|| Ok(io::sink()), None, &|_| {}) {
        if let Some(len) = announced {
            assert_eq!(produced.written.size, len, "replay wrote another length");
        }
        assert!(produced.findings.len() <= docker_forensics::layer::MAX_LAYER_FINDINGS + 4);
    }
});

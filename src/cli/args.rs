//! Command-line syntax.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Rebuild the images of a seized Docker host, byte for byte, into
/// archives `docker load` accepts, with a report of what was verified.
#[derive(Debug, Parser)]
#[command(name = "docker-forensics", version, about, long_about = None)]
#[command(
    after_help = "Short form: docker-forensics <IMAGE> <EVIDENCE> <OUTPUT_DIR> (same as extract).\n\
Exit status: 0 done and verified; 1 could not do it; 2 usage error; 3 done, with integrity findings; 130 interrupted."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Docker data root, relative to the evidence root (overrides detection)
    #[arg(long, global = true, value_name = "PATH")]
    pub docker_root: Option<String>,
    /// Only this store: docker, containerd, containerd/<namespace>, podman
    #[arg(long, global = true, value_name = "STORE")]
    pub store: Option<String>,
    /// Use only this partition of a disk image: 2 (as fdisk, sgdisk and /dev/sda2 number it), 001 or 000:001 (mmls Slot column), @2048 (start sector, as mmls Start and fls -o)
    #[arg(long, global = true, value_name = "PART")]
    pub partition: Option<docker_forensics::evidence::volume::PartitionChoice>,
    /// Backing (parent) file of a VM disk image, instead of the name it records (repeat for each level of the chain, top first)
    #[arg(long, global = true, value_name = "PATH")]
    pub backing: Vec<PathBuf>,
    /// Read this internal snapshot of a QCOW2 image (name or id) instead of its current state
    #[arg(long, global = true, value_name = "NAME")]
    pub snapshot: Option<String>,
    /// Hash the whole disk image and compare with the hashes stored in it
    #[arg(long, global = true)]
    pub verify_image: bool,
    /// Write the results (what goes to stdout) to this new file instead, as UTF-8
    #[arg(long, global = true, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// No progress and no summary on stderr
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More detail on stderr (every finding, data-root choice)
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Rebuild images into OUTPUT_DIR/image_<id>/ (archive, layers, Dockerfile, report)
    #[command(
        override_usage = "docker-forensics extract [OPTIONS] <IMAGE>... <EVIDENCE> <OUTPUT_DIR>\n       docker-forensics extract --all [--tagged] [OPTIONS] <EVIDENCE> <OUTPUT_DIR>",
        after_help = "Examples:\n  docker-forensics extract nginx:latest /mnt/seized out/\n  docker-forensics extract --all --report --partition 1 host.E01 out/\n\nExit status: 0 done and verified; 1 could not do it; 2 usage error; 3 done, with integrity findings; 130 interrupted."
    )]
    Extract(ExtractArgs),
    /// List every image in the data root(s), tagged or not
    #[command(
        after_help = "Examples:\n  docker-forensics images /mnt/seized\n  docker-forensics images host.E01 --store containerd --json\n\nExit status: 0 done and verified; 1 could not do it; 2 usage error; 3 done, with integrity findings; 130 interrupted."
    )]
    Images(ListArgs),
    /// Check every layer of every image against its diff_id, writing nothing
    #[command(
        after_help = "Examples:\n  docker-forensics verify /mnt/seized\n  docker-forensics verify host.E01 --verify-image --json\n\nExit status: 0 done and verified; 1 could not do it; 2 usage error; 3 done, with integrity findings; 130 interrupted."
    )]
    Verify(VerifyArgs),
    /// List every container: how it was started, its state and times
    #[command(
        after_help = "Examples:\n  docker-forensics containers /mnt/seized\n  docker-forensics containers host.E01 --store podman --json\n\nExit status: 0 done and verified; 1 could not do it; 2 usage error; 3 done, with integrity findings; 130 interrupted."
    )]
    Containers(ListArgs),
    /// What a container changed in its filesystem (as `docker diff`)
    #[command(
        after_help = "Examples:\n  docker-forensics diff evil-web /mnt/seized\n  docker-forensics diff 3549030 host.E01 --json\n\nExit status: 0 done and verified; 1 could not do it; 2 usage error; 3 done, with integrity findings; 130 interrupted."
    )]
    Diff(DiffArgs),
    /// Write a container's changes, a committed image, its configs, logs and volumes
    #[command(
        after_help = "Examples:\n  docker-forensics export-container evil-web /mnt/seized out/\n  docker-forensics export-container web-0 host.E01 out/ --store containerd/k8s.io\n\nExit status: 0 done and verified; 1 could not do it; 2 usage error; 3 done, with integrity findings; 130 interrupted."
    )]
    ExportContainer(ExportContainerArgs),
    /// Every file of every layer with its times, plus dated Docker events
    #[command(
        after_help = "Examples:\n  docker-forensics timeline /mnt/seized > body.txt && mactime -b body.txt\n  docker-forensics timeline host.E01 --format jsonl --container evil-web > t.jsonl\n\nExit status: 0 done and verified; 1 could not do it; 2 usage error; 3 done, with integrity findings; 130 interrupted."
    )]
    Timeline(TimelineArgs),
    /// Show an image's or container's filesystem read-only at MOUNTPOINT (FUSE), from the evidence
    #[command(
        after_help = "Examples:\n  docker-forensics mount evil-web /mnt/seized /mnt/view\n  docker-forensics mount nginx:latest host.E01 /mnt/view --layer 0\n\nRuns in the foreground until unmounted: Ctrl-C, SIGTERM, `fusermount3 -u MOUNTPOINT` or `umount MOUNTPOINT`.\nExit status: 0 unmounted cleanly; 1 could not mount or serve it; 2 usage error (also: the name is both an image and a container)."
    )]
    Mount(MountArgs),
    /// Write OUTPUT_DIR/report.html (one offline page) and case.jsonld (CASE/UCO)
    #[command(
        after_help = "Examples:\n  docker-forensics report /mnt/seized case-42/\n  docker-forensics report host.E01 case-42/ --verify-image\n\nExit status: 0 done and verified; 1 could not do it; 2 usage error; 3 done, with integrity findings; 130 interrupted."
    )]
    Report(ReportArgs),
}

#[derive(Debug, Args)]
pub struct MountArgs {
    /// Image (name, id or id prefix) or container (id, name or id prefix)
    pub target: String,
    /// The evidence: a mounted host root, a data root, or a disk image
    pub evidence: PathBuf,
    /// An empty directory to show the filesystem in
    pub mountpoint: PathBuf,
    /// TARGET names an image
    #[arg(long, conflicts_with = "container")]
    pub image: bool,
    /// TARGET names a container
    #[arg(long)]
    pub container: bool,
    /// Only the image's layers 0 (the lowest) to N: the tree as of that build step
    #[arg(long, value_name = "N", conflicts_with = "layers")]
    pub layer: Option<usize>,
    /// Every layer side by side, unmerged (layer_0/ is the lowest), whiteouts shown as stored
    #[arg(long)]
    pub layers: bool,
    /// Add a read-only .docker-forensics-provenance.json at the root (what is shown, from where)
    #[arg(long)]
    pub with_provenance: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The evidence: a mounted host root, a data root, or a disk image
    pub evidence: PathBuf,
    /// Where report.html, case.jsonld and SHA256SUMS are written
    pub output_dir: PathBuf,
    /// Ignore tar-split metadata (checks what a rebuild would give)
    #[arg(long)]
    pub rebuild: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Container id, unique id prefix or name
    pub container: String,
    /// The evidence: a mounted host root, a data root, or a disk image
    pub evidence: PathBuf,
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExportContainerArgs {
    /// Container id, unique id prefix or name
    pub container: String,
    /// The evidence: a mounted host root, a data root, or a disk image
    pub evidence: PathBuf,
    /// Where container_<id>/ is written
    pub output_dir: PathBuf,
    /// Replace an existing container_<id> directory
    #[arg(long)]
    pub force: bool,
    /// Also write export.tar: the container's whole filesystem as `docker export` writes it
    #[arg(long)]
    pub flat: bool,
    /// The host's dockerd logged "Not using native diff for overlay2": write changes.tar as
    /// that naive diff does
    #[arg(long)]
    pub naive_diff: bool,
    /// The Docker version that ran the host (e.g. 20.10.24), where the evidence's package
    /// database does not say: user names and mode bits in changes.tar follow it
    #[arg(long, value_name = "VERSION", value_parser = docker_version)]
    pub docker_version: Option<String>,
}

/// Output formats of `timeline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TimelineFormat {
    /// The Sleuth Kit body file (mactime -b reads it)
    Bodyfile,
    /// Comma-separated, one row per timestamp, sorted by time
    Csv,
    /// JSON lines Timesketch imports, one per timestamp, sorted by time
    Jsonl,
}

#[derive(Debug, Args)]
pub struct TimelineArgs {
    /// The evidence: a mounted host root, a data root, or a disk image
    pub evidence: PathBuf,
    #[arg(long, value_enum, default_value = "bodyfile")]
    pub format: TimelineFormat,
    /// Only this image's layers
    #[arg(long, conflicts_with = "container")]
    pub image: Option<String>,
    /// Only this container's layers
    #[arg(long)]
    pub container: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// Every image, tagged or not
    #[arg(long)]
    pub all: bool,
    /// With --all: only tagged images and images containers were made from
    #[arg(long, requires = "all")]
    pub tagged: bool,
    /// Replace existing image_<id> directories
    #[arg(long)]
    pub force: bool,
    /// Ignore tar-split metadata and rebuild every layer from its files
    #[arg(long)]
    pub rebuild: bool,
    /// Write each layer only inside image.tar, not also as layer_<i>/layer.tar (half the
    /// bytes written)
    #[arg(long)]
    pub archive_only: bool,
    /// With --all: also write OUTPUT_DIR/report.html and case.jsonld (as `report`), linked to
    /// what was written
    #[arg(long, requires = "all")]
    pub report: bool,
    /// IMAGE... EVIDENCE OUTPUT_DIR (without IMAGE when --all is given)
    #[arg(required = true, num_args = 2.., value_name = "ARGS", hide = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// The evidence: a mounted host root, a data root, or a disk image
    pub evidence: PathBuf,
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The evidence: a mounted host root, a data root, or a disk image
    pub evidence: PathBuf,
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
    /// Ignore tar-split metadata (checks what a rebuild would give)
    #[arg(long)]
    pub rebuild: bool,
}

const SUBCOMMANDS: &[&str] = &[
    "extract",
    "images",
    "verify",
    "containers",
    "diff",
    "export-container",
    "timeline",
    "mount",
    "report",
    "help",
];

/// Turns the short form `IMAGE EVIDENCE OUT` into `extract IMAGE EVIDENCE
/// OUT`: only when the first word is no subcommand and exactly three
/// words that are not options are given, so that a mistyped subcommand
/// gets clap's "did you mean" instead of an extract.
pub fn with_default_command(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let takes_value = |a: &str| {
        matches!(
            a,
            "--docker-root" | "--partition" | "--store" | "--backing" | "--snapshot"
        )
    };
    let mut first = None;
    let mut positionals = 0;
    let mut i = 1;
    while i < args.len() {
        let a = args[i].to_string_lossy();
        if takes_value(&a) {
            i += 2;
            continue;
        }
        if !a.starts_with('-') {
            first.get_or_insert(i);
            positionals += 1;
        }
        i += 1;
    }
    if let Some(f) = first {
        let word = args[f].to_string_lossy();
        if !SUBCOMMANDS.contains(&word.as_ref()) && positionals == 3 {
            args.insert(1, "extract".into());
        }
    }
    args
}

/// A Docker version as `--docker-version` takes it (`20.10.24`, `24.0`).
fn docker_version(v: &str) -> Result<String, String> {
    docker_forensics::export::docker_version::numbers(v)
        .map(|_| v.to_string())
        .ok_or_else(|| format!("{v:?} is not a Docker version such as 20.10.24"))
}

impl Command {
    /// The evidence the command reads (for checks made before it runs).
    pub fn evidence(&self) -> PathBuf {
        match self {
            Command::Extract(a) => {
                // IMAGE... EVIDENCE OUTPUT_DIR, or EVIDENCE OUTPUT_DIR with --all
                let n = a.args.len();
                PathBuf::from(a.args.get(n.saturating_sub(2)).cloned().unwrap_or_default())
            }
            Command::Images(a) | Command::Containers(a) => a.evidence.clone(),
            Command::Verify(a) => a.evidence.clone(),
            Command::Diff(a) => a.evidence.clone(),
            Command::ExportContainer(a) => a.evidence.clone(),
            Command::Timeline(a) => a.evidence.clone(),
            Command::Mount(a) => a.evidence.clone(),
            Command::Report(a) => a.evidence.clone(),
        }
    }
}

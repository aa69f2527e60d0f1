//! Typed provenance: where in the evidence a filesystem was found, layer by
//! layer, outermost first (after dfVFS's "path specifications", where each
//! layer of a stack — image, partition, volume, filesystem — names its
//! parent).
//!
//! A [`PathSpec`] is built by [`super::Evidence::open`] for every
//! [`super::Volume`]; [`PathSpec::at`] pins a path inside that filesystem
//! as a [`Location`]. Both serialise with serde (each layer tagged by its
//! `type`) for JSON reports, and display as a short chain for people:
//! `basic.disk.E01 (ewf) → GPT partition 1 (mmls slot 000) @ 1048576 → ext4`.

use super::path::EvPath;
use serde::Serialize;
use std::fmt;

/// One layer of a [`PathSpec`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SpecLayer {
    /// A directory of the examiner's machine (a mounted or extracted
    /// filesystem of the seized host).
    Directory {
        /// The directory as the examiner named it.
        path: String,
    },
    /// A disk image file (with every file it is made of).
    DiskImage {
        /// The path given for it (the first segment).
        path: String,
        /// `ewf`, `ewf2`, `split_raw`, `raw`, `qcow2`, `vmdk`, `ova`, `vhd`, `vhdx`
        /// or `vdi` (as [`super::image::ImageFormat`] serialises).
        format: String,
        /// Every file of the image, in order (one for a plain raw image;
        /// for a VM disk its extents, then its backing chain's files).
        segments: Vec<String>,
        /// A VM disk's backing (parent) images, nearest first, each as
        /// "path (format)"; empty otherwise.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        backing: Vec<String>,
    },
    /// A partition of a GPT or MBR partition table.
    Partition {
        /// `gpt` or `mbr`.
        scheme: String,
        /// 1-based, as `--partition`, `fdisk` and `sgdisk` number it.
        number: u32,
        /// The slot as The Sleuth Kit's `mmls` shows it: `000` for the
        /// first GPT entry, `000:001` for the second primary MBR entry,
        /// `001:000` for the first logical partition.
        mmls_slot: Option<String>,
        /// Byte offset on the medium below.
        offset: u64,
        /// Size in bytes.
        size: u64,
        /// The partition type, by name when known ("Linux filesystem"),
        /// else its GUID (GPT) or type byte (MBR).
        type_name: Option<String>,
        /// The GPT partition name, when set.
        name: Option<String>,
    },
    /// An LVM2 logical volume.
    LogicalVolume {
        /// The volume group's name, from the LVM2 metadata.
        vg: String,
        /// The logical volume's name in that group.
        lv: String,
    },
    /// The filesystem itself: always the last layer.
    FileSystem {
        /// `ext4`, `xfs` or `host` (a directory of the examiner's machine).
        kind: String,
        /// The filesystem UUID from its superblock, when it has one.
        uuid: Option<String>,
        /// The volume label from its superblock, when set.
        label: Option<String>,
    },
}

impl SpecLayer {
    /// A [`SpecLayer::FileSystem`] layer.
    pub fn file_system(kind: &str, uuid: Option<String>, label: Option<String>) -> Self {
        SpecLayer::FileSystem {
            kind: kind.to_string(),
            uuid,
            label: label.filter(|l| !l.is_empty()),
        }
    }
}

impl fmt::Display for SpecLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecLayer::Directory { path } => write!(f, "{path} (directory)"),
            SpecLayer::DiskImage {
                path,
                format,
                segments,
                backing,
            } => {
                let name = std::path::Path::new(path)
                    .file_name()
                    .map_or_else(|| path.clone(), |n| n.to_string_lossy().into_owned());
                write!(f, "{name} ({format}")?;
                if segments.len() > 1 {
                    write!(f, ", {} files", segments.len())?;
                }
                for b in backing {
                    let (p, rest) = b.rsplit_once(" (").unwrap_or((b, ""));
                    let short = std::path::Path::new(p)
                        .file_name()
                        .map_or_else(|| p.to_string(), |n| n.to_string_lossy().into_owned());
                    write!(f, ", backed by {short} ({rest}")?;
                }
                f.write_str(")")
            }
            SpecLayer::Partition {
                scheme,
                number,
                mmls_slot,
                offset,
                ..
            } => {
                write!(f, "{} partition {number}", scheme.to_uppercase())?;
                if let Some(slot) = mmls_slot {
                    write!(f, " (mmls slot {slot})")?;
                }
                write!(f, " @ {offset}")
            }
            SpecLayer::LogicalVolume { vg, lv } => write!(f, "LVM {vg}/{lv}"),
            SpecLayer::FileSystem { kind, label, .. } => match label {
                Some(l) => write!(f, "{kind} \"{l}\""),
                None => f.write_str(kind),
            },
        }
    }
}

/// Where a filesystem came from: its layers, outermost (the directory or
/// image file) first, the [`SpecLayer::FileSystem`] last.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct PathSpec(pub Vec<SpecLayer>);

impl PathSpec {
    /// The layers, outermost first.
    pub fn layers(&self) -> &[SpecLayer] {
        &self.0
    }

    /// This spec with `layer` added innermost.
    pub fn with(&self, layer: SpecLayer) -> PathSpec {
        let mut out = self.clone();
        out.0.push(layer);
        out
    }

    /// True when the filesystem is a directory of the examiner's machine.
    pub fn is_directory(&self) -> bool {
        matches!(self.0.first(), Some(SpecLayer::Directory { .. }))
    }

    /// The innermost layer's filesystem, if the spec is complete.
    pub fn file_system(&self) -> Option<&SpecLayer> {
        self.0
            .last()
            .filter(|l| matches!(l, SpecLayer::FileSystem { .. }))
    }

    /// A path inside this filesystem.
    pub fn at(&self, path: &EvPath) -> Location {
        Location {
            spec: self.clone(),
            path: path.display(),
        }
    }
}

impl fmt::Display for PathSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, layer) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" → ")?;
            }
            write!(f, "{layer}")?;
        }
        Ok(())
    }
}

/// A path inside a filesystem of the evidence, with where that filesystem
/// came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// Where the filesystem came from, outermost layer first.
    pub spec: PathSpec,
    /// The path inside the filesystem, with a leading `/` (lossy UTF-8,
    /// as [`EvPath::display`]).
    pub path: String,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} → {}", self.spec, self.path)
    }
}

/// A 16-byte UUID as stored big-endian (ext4 `s_uuid`, XFS `sb_uuid`, LVM
/// is text already), in the usual 8-4-4-4-12 form; `None` when all zero.
pub fn uuid_text(b: &[u8; 16]) -> Option<String> {
    if b.iter().all(|x| *x == 0) {
        return None;
    }
    let h = hex::encode(b);
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> PathSpec {
        PathSpec(vec![
            SpecLayer::DiskImage {
                path: "/cases/basic.disk.E01".into(),
                format: "ewf".into(),
                segments: vec!["/cases/basic.disk.E01".into()],
                backing: Vec::new(),
            },
            SpecLayer::Partition {
                scheme: "gpt".into(),
                number: 1,
                mmls_slot: Some("000".into()),
                offset: 1_048_576,
                size: 8 << 20,
                type_name: Some("Linux filesystem".into()),
                name: None,
            },
            SpecLayer::LogicalVolume {
                vg: "vg0".into(),
                lv: "docker".into(),
            },
            SpecLayer::file_system("ext4", None, Some(String::new())),
        ])
    }

    #[test]
    fn displays_as_a_chain() {
        let s = spec();
        assert_eq!(
            s.to_string(),
            "basic.disk.E01 (ewf) → GPT partition 1 (mmls slot 000) @ 1048576 → LVM vg0/docker → ext4"
        );
        let at = s.at(&EvPath::parse("var/lib/docker").unwrap());
        assert!(at.to_string().ends_with("→ ext4 → /var/lib/docker"), "{at}");
        assert!(!s.is_directory());
        assert!(s.file_system().is_some());
    }

    #[test]
    fn serialises_tagged_layers() {
        let v = serde_json::to_value(spec().at(&EvPath::root())).unwrap();
        assert_eq!(v["path"], "/");
        assert_eq!(v["spec"][0]["type"], "disk_image");
        assert_eq!(v["spec"][1]["type"], "partition");
        assert_eq!(v["spec"][1]["mmls_slot"], "000");
        assert_eq!(v["spec"][2]["type"], "logical_volume");
        assert_eq!(v["spec"][3]["type"], "file_system");
        assert_eq!(v["spec"][3]["label"], serde_json::Value::Null);
    }

    #[test]
    fn uuid_is_formatted_or_absent() {
        let mut b = [0u8; 16];
        assert_eq!(uuid_text(&b), None);
        b[0] = 0xab;
        b[15] = 1;
        assert_eq!(
            uuid_text(&b).as_deref(),
            Some("ab000000-0000-0000-0000-000000000001")
        );
    }
}

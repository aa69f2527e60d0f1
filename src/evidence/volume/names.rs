//! Names of common partition types, for provenance and reports.
//!
//! GPT type GUIDs after the UEFI Specification 2.10 §5.3.3 (EFI System)
//! and the Discoverable Partitions Specification (uapi-group.org) for the
//! Linux ones; MBR type bytes after the list `sfdisk --list-types` prints.
//! Anything else is named by its GUID or byte.

/// (GUID as text, name) of common GPT partition types.
const GPT_TYPES: [(&str, &str); 8] = [
    ("0fc63daf-8483-4772-8e79-3d69d8477de4", "Linux filesystem"),
    ("e6d6d379-f507-44c2-a23c-238f2a3df928", "Linux LVM"),
    ("0657fd6d-a4ab-43c4-84e5-0933c84b4f4f", "Linux swap"),
    ("a19d880f-05fc-4d3b-a006-743f0f84911e", "Linux RAID"),
    (
        "4f68bce3-e8cd-4db1-96e7-fbcaf984b709",
        "Linux root (x86-64)",
    ),
    ("c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "EFI System"),
    ("21686148-6449-6e6f-744e-656564454649", "BIOS boot"),
    (
        "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7",
        "Microsoft basic data",
    ),
];

/// A GPT type GUID as stored (the first three fields little-endian) in
/// its usual text form.
pub fn guid_text(g: &[u8; 16]) -> String {
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{}-{}",
        g[3],
        g[2],
        g[1],
        g[0],
        g[5],
        g[4],
        g[7],
        g[6],
        hex::encode(&g[8..10]),
        hex::encode(&g[10..16])
    )
}

/// The name of a GPT partition type, or its GUID.
pub fn gpt_type(g: &[u8; 16]) -> String {
    let text = guid_text(g);
    GPT_TYPES
        .iter()
        .find(|(guid, _)| *guid == text)
        .map_or(text, |(_, name)| (*name).to_string())
}

/// The name of an MBR partition type byte, with the byte.
pub fn mbr_type(sys: u8) -> String {
    let name = match sys {
        0x01 | 0x04 | 0x06 | 0x0e => "FAT",
        0x07 => "HPFS/NTFS/exFAT",
        0x0b | 0x0c => "W95 FAT32",
        0x82 => "Linux swap",
        0x83 => "Linux",
        0x8e => "Linux LVM",
        0xef => "EFI System",
        0xfd => "Linux raid autodetect",
        _ => return format!("{sys:#04x}"),
    };
    format!("{name} ({sys:#04x})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_known_types_and_shows_others() {
        // 0FC63DAF-8483-4772-8E79-3D69D8477DE4 as stored on disk
        let linux = [
            0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47, 0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47,
            0x7d, 0xe4,
        ];
        assert_eq!(gpt_type(&linux), "Linux filesystem");
        assert_eq!(gpt_type(&[1; 16]), "01010101-0101-0101-0101-010101010101");
        assert_eq!(mbr_type(0x83), "Linux (0x83)");
        assert_eq!(mbr_type(0x42), "0x42");
    }
}

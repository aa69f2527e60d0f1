//! Which partition the examiner asked for (`--partition`), in the three
//! ways the field names one:
//!
//! - `2`: the number `fdisk`, `sgdisk`, `parted` and Linux device names
//!   (`/dev/sda2`) use: GPT entries by their index in the entry array,
//!   MBR primaries 1–4 by slot, logical partitions from 5 in chain order;
//! - `001` or `000:001`: the *Slot* column of The Sleuth Kit's `mmls`
//!   (GPT entry index from 000; MBR `table:entry`, table 000 being the
//!   MBR and 001… each EBR);
//! - `@2048`: the start sector, as `mmls` prints it in *Start* and as
//!   `fls -o`/`icat -o` take it.

use std::fmt;
use std::str::FromStr;

/// A partition as the examiner named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionChoice {
    /// `fdisk`/`sgdisk` number (1-based).
    Number(u32),
    /// `mmls` Slot column (`000`, `000:001`).
    MmlsSlot(String),
    /// Start sector (`@2048`), in the table's sector size.
    StartSector(u64),
}

impl PartitionChoice {
    /// Whether a partition with this number, `mmls` slot and start sector
    /// is the one asked for.
    pub fn matches(&self, number: u32, mmls_slot: Option<&str>, start_sector: u64) -> bool {
        match self {
            PartitionChoice::Number(n) => *n == number,
            PartitionChoice::MmlsSlot(s) => mmls_slot == Some(s.as_str()),
            PartitionChoice::StartSector(s) => *s == start_sector,
        }
    }
}

impl FromStr for PartitionChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{s:?}: name a partition as fdisk does (2), by its mmls slot (001, 000:001) or by its start sector (@2048)"
            )
        };
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if let Some(sector) = s.strip_prefix('@') {
            return sector
                .parse()
                .map(PartitionChoice::StartSector)
                .map_err(|_| bad());
        }
        // mmls pads slots to three digits; fdisk numbers are not padded.
        let is_slot = match s.split_once(':') {
            Some((t, e)) => t.len() == 3 && e.len() == 3 && digits(t) && digits(e),
            None => s.len() == 3 && digits(s) && s.starts_with('0'),
        };
        if is_slot {
            return Ok(PartitionChoice::MmlsSlot(s.to_string()));
        }
        match s.parse::<u32>() {
            Ok(n) if n >= 1 => Ok(PartitionChoice::Number(n)),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for PartitionChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartitionChoice::Number(n) => write!(f, "{n}"),
            PartitionChoice::MmlsSlot(s) => write!(f, "with mmls slot {s}"),
            PartitionChoice::StartSector(s) => write!(f, "starting at sector {s}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_parse() {
        assert_eq!("2".parse(), Ok(PartitionChoice::Number(2)));
        assert_eq!("12".parse(), Ok(PartitionChoice::Number(12)));
        assert_eq!("001".parse(), Ok(PartitionChoice::MmlsSlot("001".into())));
        assert_eq!(
            "000:004".parse(),
            Ok(PartitionChoice::MmlsSlot("000:004".into()))
        );
        assert_eq!("@2048".parse(), Ok(PartitionChoice::StartSector(2048)));
        for bad in ["0", "", "-1", "x", "@", "@x", "00:1", "1:2"] {
            assert!(bad.parse::<PartitionChoice>().is_err(), "{bad}");
        }
    }
}

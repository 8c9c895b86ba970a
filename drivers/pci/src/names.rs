//! Class names, `lspci`-style lines and SKB facts.

use alloc::format;
use alloc::string::String;

use crate::Function;

/// Name returned by [`class_name`] for classes it does not know.
const UNKNOWN: &str = "Unknown class";

/// Human-readable name of a class/subclass pair, as `lspci` spells it (from pci.ids); the
/// class's generic name for unlisted subclasses, `"Unknown class"` for unlisted classes.
pub fn class_name(class: u8, subclass: u8) -> &'static str {
    match (class, subclass) {
        (0x00, 0x01) => "VGA compatible unclassified device",
        (0x00, _) => "Non-VGA unclassified device",

        (0x01, 0x00) => "SCSI storage controller",
        (0x01, 0x01) => "IDE interface",
        (0x01, 0x02) => "Floppy disk controller",
        (0x01, 0x03) => "IPI bus controller",
        (0x01, 0x04) => "RAID bus controller",
        (0x01, 0x05) => "ATA controller",
        (0x01, 0x06) => "SATA controller",
        (0x01, 0x07) => "Serial Attached SCSI controller",
        (0x01, 0x08) => "Non-Volatile memory controller",
        (0x01, _) => "Mass storage controller",

        (0x02, 0x00) => "Ethernet controller",
        (0x02, 0x01) => "Token ring network controller",
        (0x02, 0x02) => "FDDI network controller",
        (0x02, 0x03) => "ATM network controller",
        (0x02, 0x04) => "ISDN controller",
        (0x02, 0x07) => "Infiniband controller",
        (0x02, 0x08) => "Fabric controller",
        (0x02, _) => "Network controller",

        (0x03, 0x00) => "VGA compatible controller",
        (0x03, 0x01) => "XGA compatible controller",
        (0x03, 0x02) => "3D controller",
        (0x03, _) => "Display controller",

        (0x04, 0x00) => "Multimedia video controller",
        (0x04, 0x01) => "Multimedia audio controller",
        (0x04, 0x02) => "Computer telephony device",
        (0x04, 0x03) => "Audio device",
        (0x04, _) => "Multimedia controller",

        (0x05, 0x00) => "RAM memory",
        (0x05, 0x01) => "FLASH memory",
        (0x05, _) => "Memory controller",

        (0x06, 0x00) => "Host bridge",
        (0x06, 0x01) => "ISA bridge",
        (0x06, 0x02) => "EISA bridge",
        (0x06, 0x03) => "MicroChannel bridge",
        (0x06, 0x04) => "PCI bridge",
        (0x06, 0x05) => "PCMCIA bridge",
        (0x06, 0x06) => "NuBus bridge",
        (0x06, 0x07) => "CardBus bridge",
        (0x06, 0x08) => "RACEway bridge",
        (0x06, 0x09) => "Semi-transparent PCI-to-PCI bridge",
        (0x06, 0x0a) => "InfiniBand to PCI host bridge",
        (0x06, _) => "Bridge",

        (0x07, 0x00) => "Serial controller",
        (0x07, 0x01) => "Parallel controller",
        (0x07, 0x02) => "Multiport serial controller",
        (0x07, 0x03) => "Modem",
        (0x07, _) => "Communication controller",

        (0x08, 0x00) => "PIC",
        (0x08, 0x01) => "DMA controller",
        (0x08, 0x02) => "Timer",
        (0x08, 0x03) => "RTC",
        (0x08, 0x05) => "SD Host controller",
        (0x08, 0x06) => "IOMMU",
        (0x08, 0x80) => "System peripheral",
        (0x08, _) => "Generic system peripheral",

        (0x09, 0x00) => "Keyboard controller",
        (0x09, 0x02) => "Mouse controller",
        (0x09, _) => "Input device controller",

        (0x0a, _) => "Docking station",
        (0x0b, _) => "Processor",

        (0x0c, 0x00) => "FireWire (IEEE 1394)",
        (0x0c, 0x03) => "USB controller",
        (0x0c, 0x04) => "Fibre Channel",
        (0x0c, 0x05) => "SMBus",
        (0x0c, 0x06) => "InfiniBand",
        (0x0c, _) => "Serial bus controller",

        (0x0d, _) => "Wireless controller",
        (0x0e, _) => "Intelligent controller",
        (0x0f, _) => "Satellite communications controller",
        (0x10, _) => "Encryption controller",
        (0x11, _) => "Signal processing controller",
        (0x12, _) => "Processing accelerators",
        (0x13, _) => "Non-Essential Instrumentation",
        (0x40, _) => "Coprocessor",
        (0xff, _) => "Unassigned class",
        _ => UNKNOWN,
    }
}

/// One line in the style of `lspci -n` with names: `00:1f.2 SATA controller [0106]:
/// 8086:2922 (rev 02)`.
///
/// The address is `bb:dd.f` (hex), with a `ssss:` segment prefix only when the segment is
/// not 0; as in `lspci`, the revision is left out when it is 0.
pub fn lspci_line(f: &Function) -> String {
    let mut line = format!(
        "{} {} [{:02x}{:02x}]: {:04x}:{:04x}",
        f.bdf,
        class_name(f.class, f.subclass),
        f.class,
        f.subclass,
        f.vendor_id,
        f.device_id
    );
    if f.revision != 0 {
        line.push_str(&format!(" (rev {:02x})", f.revision));
    }
    line
}

/// The SKB fact for a function on NUMA node `node`:
/// `pci_device(Bus, Dev, Fn, Vendor, DeviceId, Class, Node).` with decimal integers and
/// `Class` the 24-bit class code (`class << 16 | subclass << 8 | prog_if`), the schema of
/// `skb/rules/topology.pl`. The schema has no segment: facts from segments other than 0 are
/// indistinguishable from segment 0's.
pub fn skb_fact(f: &Function, node: u32) -> String {
    format!(
        "pci_device({}, {}, {}, {}, {}, {}, {}).",
        f.bdf.bus,
        f.bdf.device,
        f.bdf.function,
        f.vendor_id,
        f.device_id,
        f.class_code(),
        node
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Bdf;
    use alloc::vec::Vec;

    fn function(bdf: Bdf, ids: (u16, u16), class: (u8, u8, u8), revision: u8) -> Function {
        Function {
            bdf,
            vendor_id: ids.0,
            device_id: ids.1,
            class: class.0,
            subclass: class.1,
            prog_if: class.2,
            revision,
            header_type: 0,
            interrupt_line: 0,
            interrupt_pin: 0,
            bars: Vec::new(),
            bridge: None,
        }
    }

    #[test]
    fn class_names() {
        assert_eq!(class_name(0x01, 0x06), "SATA controller");
        assert_eq!(class_name(0x01, 0x08), "Non-Volatile memory controller");
        assert_eq!(class_name(0x01, 0x42), "Mass storage controller");
        assert_eq!(class_name(0x02, 0x00), "Ethernet controller");
        assert_eq!(class_name(0x03, 0x00), "VGA compatible controller");
        assert_eq!(class_name(0x06, 0x00), "Host bridge");
        assert_eq!(class_name(0x06, 0x01), "ISA bridge");
        assert_eq!(class_name(0x06, 0x04), "PCI bridge");
        assert_eq!(class_name(0x06, 0x80), "Bridge");
        assert_eq!(class_name(0x0c, 0x03), "USB controller");
        assert_eq!(class_name(0x0c, 0x05), "SMBus");
        assert_eq!(class_name(0x14, 0x00), "Unknown class");
    }

    #[test]
    fn lspci_lines() {
        let sata = function(Bdf::new(0, 0, 0x1f, 2), (0x8086, 0x2922), (1, 6, 1), 2);
        assert_eq!(
            lspci_line(&sata),
            "00:1f.2 SATA controller [0106]: 8086:2922 (rev 02)"
        );
        let host = function(Bdf::new(0, 0, 0, 0), (0x8086, 0x29c0), (6, 0, 0), 0);
        assert_eq!(lspci_line(&host), "00:00.0 Host bridge [0600]: 8086:29c0");
        let nic = function(
            Bdf::new(0x12, 0xab, 3, 7),
            (0x15b3, 0x1017),
            (2, 0, 0),
            0x10,
        );
        assert_eq!(
            lspci_line(&nic),
            "0012:ab:03.7 Ethernet controller [0200]: 15b3:1017 (rev 10)"
        );
    }

    #[test]
    fn skb_facts() {
        // The example fact of skb/tests/rules.rs: 8086:100e (e1000), class 02/00/00.
        let nic = function(Bdf::new(0, 0, 3, 0), (0x8086, 0x100e), (2, 0, 0), 3);
        assert_eq!(
            skb_fact(&nic, 1),
            "pci_device(0, 3, 0, 32902, 4110, 131072, 1)."
        );
        let sata = function(Bdf::new(0, 0, 0x1f, 2), (0x8086, 0x2922), (1, 6, 1), 2);
        assert_eq!(
            skb_fact(&sata, 0),
            "pci_device(0, 31, 2, 32902, 10530, 67073, 0)."
        );
    }
}

//! Time: the time-stamp counter's frequency (from CPUID when the CPU reports it, else
//! measured against the legacy PIT) and delays built on it.

use raw_cpuid::CpuId;
use x86_64::instructions::port::Port;

use crate::arch::cpu::rdtsc;

/// PIT input clock in Hz.
const PIT_HZ: u64 = 1_193_182;

/// Where the TSC frequency came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TscSource {
    /// CPUID leaf 0x15 (crystal clock and ratio).
    Cpuid15,
    /// CPUID leaf 0x16 (processor base frequency).
    Cpuid16,
    /// Measured against PIT channel 2.
    Pit,
}

/// What CPUID says about the TSC.
#[derive(Clone, Copy, Debug)]
pub struct TscInfo {
    /// Frequency in Hz.
    pub hz: u64,
    /// How the frequency was found.
    pub source: TscSource,
    /// The TSC runs at a constant rate in all power states (CPUID 0x8000_0007 EDX bit 8).
    pub invariant: bool,
}

fn cpuid_hz() -> Option<(u64, TscSource)> {
    let cpuid = CpuId::new();
    if let Some(info) = cpuid.get_tsc_info() {
        if let Some(hz) = info.tsc_frequency() {
            if hz > 0 {
                return Some((hz, TscSource::Cpuid15));
            }
        }
    }
    if let Some(f) = cpuid.get_processor_frequency_info() {
        let mhz = f.processor_base_frequency() as u64;
        if mhz > 0 {
            return Some((mhz * 1_000_000, TscSource::Cpuid16));
        }
    }
    None
}

/// Measure the TSC against `ms` milliseconds of PIT channel 2. Returns `None` when the PIT
/// does not count (no PIT on this machine).
fn pit_measure(ms: u64) -> Option<u64> {
    let count = (PIT_HZ * ms / 1000) as u16;
    let mut gate: Port<u8> = Port::new(0x61);
    let mut cmd: Port<u8> = Port::new(0x43);
    let mut ch2: Port<u8> = Port::new(0x42);
    // SAFETY: standard PIT and system control port programming; channel 2 only drives the
    // PC speaker, which stays disconnected (bit 1 clear).
    unsafe {
        let g = gate.read();
        gate.write((g & !0x02) & !0x01); // gate low
        cmd.write(0xb0); // channel 2, lobyte/hibyte, mode 0, binary
        ch2.write(count as u8);
        ch2.write((count >> 8) as u8);
        gate.write((g & !0x02) | 0x01); // gate high: start counting
        let start = rdtsc();
        // OUT2 (bit 5) goes high when the count reaches zero.
        let limit = start + 10_000_000_000;
        while gate.read() & 0x20 == 0 {
            if rdtsc() > limit {
                return None;
            }
        }
        let end = rdtsc();
        Some((end - start) * 1000 / ms)
    }
}

/// Find the TSC frequency: CPUID if it says, else the median of three PIT measurements.
pub fn calibrate() -> Option<TscInfo> {
    let invariant = CpuId::new()
        .get_advanced_power_mgmt_info()
        .is_some_and(|a| a.has_invariant_tsc());
    if let Some((hz, source)) = cpuid_hz() {
        return Some(TscInfo {
            hz,
            source,
            invariant,
        });
    }
    let mut m = [pit_measure(10)?, pit_measure(10)?, pit_measure(10)?];
    m.sort_unstable();
    Some(TscInfo {
        hz: m[1],
        source: TscSource::Pit,
        invariant,
    })
}

/// Busy-wait for `us` microseconds at `tsc_hz`.
pub fn delay_us(tsc_hz: u64, us: u64) {
    let start = rdtsc();
    let cycles = tsc_hz / 1_000_000 * us;
    while rdtsc() - start < cycles {
        core::hint::spin_loop();
    }
}

/// Cycles of `tsc_hz` in `ms` milliseconds.
pub fn ms_to_cycles(tsc_hz: u64, ms: u64) -> u64 {
    tsc_hz / 1000 * ms
}

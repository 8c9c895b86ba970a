//! A small JSON writer for [`Topology::to_json`](crate::Topology::to_json): objects one field
//! per line, arrays of numbers on one line.

use crate::{AcpiRegister, PackageSource, Topology};
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write;

enum Value {
    Null,
    Bool(bool),
    Num(u64),
    Str(String),
    Arr(Vec<Value>),
    Obj(Vec<(&'static str, Value)>),
}

impl Value {
    fn opt(v: Option<u32>) -> Value {
        v.map_or(Value::Null, |n| Value::Num(n.into()))
    }

    /// Numbers and the like, which arrays keep on one line.
    fn is_inline(&self) -> bool {
        matches!(self, Value::Null | Value::Bool(_) | Value::Num(_))
    }
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn newline(out: &mut String, indent: usize) {
    out.push('\n');
    for _ in 0..indent {
        out.push_str("  ");
    }
}

fn write_value(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Num(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Str(s) => write_str(out, s),
        Value::Arr(items) if items.iter().all(Value::is_inline) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item, indent);
            }
            out.push(']');
        }
        Value::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent + 1);
                write_value(out, item, indent + 1);
            }
            newline(out, indent);
            out.push(']');
        }
        Value::Obj(fields) if fields.is_empty() => out.push_str("{}"),
        Value::Obj(fields) => {
            out.push('{');
            for (i, (key, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent + 1);
                write_str(out, key);
                out.push_str(": ");
                write_value(out, item, indent + 1);
            }
            newline(out, indent);
            out.push('}');
        }
    }
}

fn register(r: &AcpiRegister) -> Value {
    Value::Obj(vec![
        ("space", Value::Num(r.space.into())),
        ("bit_width", Value::Num(r.bit_width.into())),
        ("bit_offset", Value::Num(r.bit_offset.into())),
        ("access_size", Value::Num(r.access_size.into())),
        ("address", Value::Num(r.address)),
    ])
}

fn matrix(rows: Vec<Vec<u8>>) -> Value {
    Value::Arr(
        rows.into_iter()
            .map(|r| Value::Arr(r.into_iter().map(|d| Value::Num(d.into())).collect()))
            .collect(),
    )
}

pub(crate) fn topology(t: &Topology, source: Option<&str>) -> String {
    let mut fields = Vec::new();
    if let Some(source) = source {
        fields.push(("source", Value::Str(source.to_string())));
    }
    fields.push(("enabled_cpus", Value::Num(t.enabled_cpu_count() as u64)));
    fields.push((
        "nodes",
        Value::Arr(t.nodes.iter().map(|&n| Value::Num(n.into())).collect()),
    ));
    let cpus = t
        .cpus
        .iter()
        .map(|c| {
            Value::Obj(vec![
                ("apic_id", Value::Num(c.apic_id.into())),
                ("uid", Value::Num(c.uid.into())),
                ("enabled", Value::Bool(c.enabled)),
                ("online_capable", Value::Bool(c.online_capable)),
                ("x2apic", Value::Bool(c.x2apic)),
                ("node", Value::opt(c.node)),
                ("package", Value::opt(c.package)),
            ])
        })
        .collect();
    fields.push(("cpus", Value::Arr(cpus)));
    let package_source = match t.package_source {
        PackageSource::Cpuid { shift } => Value::Obj(vec![
            ("kind", Value::Str("cpuid".to_string())),
            ("shift", Value::Num(shift.into())),
        ]),
        PackageSource::ProximityDomain => Value::Obj(vec![(
            "kind",
            Value::Str("proximity_domain_estimate".to_string()),
        )]),
    };
    fields.push(("package_source", package_source));
    let memory = t
        .memory
        .iter()
        .map(|m| {
            Value::Obj(vec![
                ("node", Value::Num(m.node.into())),
                ("base", Value::Num(m.base)),
                ("length", Value::Num(m.length)),
                ("hotpluggable", Value::Bool(m.hotpluggable)),
                ("non_volatile", Value::Bool(m.non_volatile)),
            ])
        })
        .collect();
    fields.push(("memory", Value::Arr(memory)));
    let slit_rows = t.slit.as_ref().map_or_else(Vec::new, |s| {
        s.entries.chunks(s.localities).map(<[u8]>::to_vec).collect()
    });
    fields.push(("distances", matrix(slit_rows)));
    fields.push(("node_distances", matrix(t.node_distances())));
    fields.push(("has_srat", Value::Bool(t.has_srat)));
    fields.push(("local_apic_address", Value::Num(t.local_apic_address)));
    let io_apics = t
        .io_apics
        .iter()
        .map(|a| {
            Value::Obj(vec![
                ("id", Value::Num(a.id.into())),
                ("address", Value::Num(a.address.into())),
                ("gsi_base", Value::Num(a.gsi_base.into())),
            ])
        })
        .collect();
    fields.push(("io_apics", Value::Arr(io_apics)));
    let hpet = t.hpet.map_or(Value::Null, |h| {
        Value::Obj(vec![
            ("base_address", Value::Num(h.base_address)),
            ("address_space", Value::Num(h.address_space.into())),
            ("hpet_number", Value::Num(h.hpet_number.into())),
            ("comparators", Value::Num(h.comparators.into())),
            ("counter_64bit", Value::Bool(h.counter_64bit)),
            ("legacy_replacement", Value::Bool(h.legacy_replacement)),
            ("pci_vendor_id", Value::Num(h.pci_vendor_id.into())),
            ("min_tick", Value::Num(h.min_tick.into())),
        ])
    });
    fields.push(("hpet", hpet));
    let mcfg = t
        .mcfg
        .iter()
        .map(|s| {
            Value::Obj(vec![
                ("base_address", Value::Num(s.base_address)),
                ("segment_group", Value::Num(s.segment_group.into())),
                ("bus_start", Value::Num(s.bus_start.into())),
                ("bus_end", Value::Num(s.bus_end.into())),
            ])
        })
        .collect();
    fields.push(("mcfg", Value::Arr(mcfg)));
    let power_off = t.power_off.map_or(Value::Null, |p| {
        Value::Obj(vec![
            ("pm1a_control", register(&p.pm1a_control)),
            (
                "pm1b_control",
                p.pm1b_control.as_ref().map_or(Value::Null, register),
            ),
            ("slp_typ_a", Value::Num(p.slp_typ_a.into())),
            ("slp_typ_b", Value::Num(p.slp_typ_b.into())),
        ])
    });
    fields.push(("power_off", power_off));
    let acpi_enable = t.acpi_enable.map_or(Value::Null, |a| {
        Value::Obj(vec![
            ("smi_command", Value::Num(a.smi_command.into())),
            ("enable_value", Value::Num(a.enable_value.into())),
            ("disable_value", Value::Num(a.disable_value.into())),
        ])
    });
    fields.push(("acpi_enable", acpi_enable));
    let reset = t.reset.map_or(Value::Null, |r| {
        Value::Obj(vec![
            ("register", register(&r.register)),
            ("value", Value::Num(r.value.into())),
            ("supported", Value::Bool(r.supported)),
        ])
    });
    fields.push(("reset", reset));
    let pci_roots = t
        .pci_roots
        .iter()
        .map(|r| {
            Value::Obj(vec![
                ("path", Value::Str(r.path.clone())),
                ("pcie", Value::Bool(r.pcie)),
                ("segment", Value::opt(r.segment.map(u32::from))),
                ("bus", Value::opt(r.bus.map(u32::from))),
                ("proximity_domain", Value::opt(r.proximity_domain)),
                ("uid", r.uid.map_or(Value::Null, Value::Num)),
                (
                    "not_constant",
                    Value::Arr(
                        r.not_constant
                            .iter()
                            .map(|o| Value::Str(o.to_string()))
                            .collect(),
                    ),
                ),
            ])
        })
        .collect();
    fields.push(("pci_roots", Value::Arr(pci_roots)));
    let warnings = t
        .warnings
        .iter()
        .map(|w| Value::Str(w.to_string()))
        .collect();
    fields.push(("warnings", Value::Arr(warnings)));

    let mut out = String::new();
    write_value(&mut out, &Value::Obj(fields), 0);
    out
}

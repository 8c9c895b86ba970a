//! Every real server dump in `shared/acpi/` (beside the repository) against its
//! `*.expected.json`, decoded independently with ACPICA's iasl.

use serde_json::Value;
use std::fs;
use std::path::PathBuf;
use topology::{from_acpidump_text, CpuHint, PackageSource, Topology};

/// `shared/acpi/` beside the repository root (`kernel/topology` is two levels down).
fn dumps_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/acpi");
    assert!(
        dir.is_dir(),
        "ACPI dumps not found at {} (expected `shared/acpi/` beside the repository root)",
        dir.display()
    );
    dir
}

/// (dump name, dump text, expected JSON) for every `*.acpidump` with its expected file.
fn cases() -> Vec<(String, String, Value)> {
    let dir = dumps_dir();
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".acpidump"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no *.acpidump in {}", dir.display());
    names
        .into_iter()
        .map(|name| {
            let stem = name.trim_end_matches(".acpidump");
            let text = fs::read_to_string(dir.join(&name))
                .unwrap_or_else(|e| panic!("cannot read {name}: {e}"));
            let expected_path = dir.join(format!("{stem}.expected.json"));
            let expected = fs::read_to_string(&expected_path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", expected_path.display()));
            let expected: Value = serde_json::from_str(&expected)
                .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
            (name, text, expected)
        })
        .collect()
}

fn topology_of(name: &str, text: &str, hint: CpuHint) -> Topology {
    from_acpidump_text(text, hint).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn u64s(v: &Value, what: &str) -> Vec<u64> {
    v.as_array()
        .unwrap_or_else(|| panic!("{what} is not an array"))
        .iter()
        .map(|x| {
            x.as_u64()
                .unwrap_or_else(|| panic!("{what}: {x} is not a number"))
        })
        .collect()
}

/// Compares the computed topology with the expected JSON field by field.
fn compare(name: &str, t: &Topology, expected: &Value) {
    assert_eq!(
        t.enabled_cpu_count() as u64,
        expected["enabled_cpus"].as_u64().unwrap(),
        "{name}: enabled_cpus"
    );
    let nodes: Vec<u64> = t.nodes.iter().map(|&n| u64::from(n)).collect();
    assert_eq!(nodes, u64s(&expected["nodes"], "nodes"), "{name}: nodes");

    let cpus = expected["cpus"].as_array().expect("cpus");
    assert_eq!(t.cpus.len(), cpus.len(), "{name}: number of CPUs listed");
    for (i, (got, want)) in t.cpus.iter().zip(cpus).enumerate() {
        assert_eq!(
            u64::from(got.apic_id),
            want["apic_id"].as_u64().unwrap(),
            "{name}: cpus[{i}].apic_id"
        );
        assert_eq!(
            got.enabled,
            want["enabled"].as_bool().unwrap(),
            "{name}: cpus[{i}] (APIC id {}) enabled",
            got.apic_id
        );
        assert_eq!(
            got.node.map(u64::from),
            want["node"].as_u64(),
            "{name}: cpus[{i}] (APIC id {}) node",
            got.apic_id
        );
    }

    let memory = expected["memory"].as_array().expect("memory");
    assert_eq!(
        t.memory.len(),
        memory.len(),
        "{name}: number of memory ranges"
    );
    for (i, (got, want)) in t.memory.iter().zip(memory).enumerate() {
        assert_eq!(
            u64::from(got.node),
            want["node"].as_u64().unwrap(),
            "{name}: memory[{i}].node"
        );
        assert_eq!(
            got.base,
            want["base"].as_u64().unwrap(),
            "{name}: memory[{i}].base"
        );
        assert_eq!(
            got.length,
            want["length"].as_u64().unwrap(),
            "{name}: memory[{i}].length"
        );
    }

    let want_dist: Vec<Vec<u64>> = expected["distances"]
        .as_array()
        .expect("distances")
        .iter()
        .map(|row| u64s(row, "distances row"))
        .collect();
    let got_dist: Vec<Vec<u64>> = t.slit.as_ref().map_or_else(Vec::new, |s| {
        s.entries
            .chunks(s.localities)
            .map(|r| r.iter().map(|&d| u64::from(d)).collect())
            .collect()
    });
    assert_eq!(got_dist, want_dist, "{name}: distances");
}

#[test]
fn every_dump_matches_expected() {
    for (name, text, expected) in cases() {
        let t = topology_of(&name, &text, CpuHint::NONE);
        compare(&name, &t, &expected);
        assert!(
            t.warnings.is_empty(),
            "{name}: unexpected warnings {:?}",
            t.warnings
        );
    }
}

#[test]
fn json_output_carries_the_expected_fields() {
    for (name, text, expected) in cases() {
        let t = topology_of(&name, &text, CpuHint::NONE);
        let ours: Value = serde_json::from_str(&t.to_json_with_source(&name))
            .unwrap_or_else(|e| panic!("{name}: to_json is not JSON: {e}"));
        assert_eq!(ours["source"], expected["source"], "{name}: source");
        for key in ["enabled_cpus", "nodes", "memory", "distances"] {
            let want = &expected[key];
            let got = match key {
                // Our memory entries carry extra flags; compare the expected keys only.
                "memory" => Value::Array(
                    ours[key]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|m| {
                            serde_json::json!({
                                "node": m["node"], "base": m["base"], "length": m["length"]
                            })
                        })
                        .collect(),
                ),
                _ => ours[key].clone(),
            };
            assert_eq!(&got, want, "{name}: JSON {key}");
        }
        let cpus = ours["cpus"].as_array().unwrap();
        let want_cpus = expected["cpus"].as_array().unwrap();
        assert_eq!(cpus.len(), want_cpus.len(), "{name}: JSON cpus");
        for (got, want) in cpus.iter().zip(want_cpus) {
            for key in ["apic_id", "enabled", "node"] {
                assert_eq!(got[key], want[key], "{name}: JSON cpu {key} of {want}");
            }
        }
        assert!(ours["warnings"].as_array().unwrap().is_empty(), "{name}");
    }
}

#[test]
fn helpers_agree_with_the_lists() {
    for (name, text, _) in cases() {
        let t = topology_of(&name, &text, CpuHint::NONE);
        assert_eq!(t.package_source, PackageSource::ProximityDomain, "{name}");
        for cpu in t.enabled_cpus() {
            assert!(cpu.enabled);
            assert_eq!(t.node_of_apic(cpu.apic_id), cpu.node, "{name}");
            // Without CPUID the package is the proximity domain, marked as an estimate.
            assert_eq!(cpu.package, cpu.node, "{name}");
        }
        let total: usize = t.nodes.iter().map(|&n| t.cpus_of_node(n).count()).sum();
        assert_eq!(
            total,
            t.enabled_cpu_count(),
            "{name}: every enabled CPU in a node"
        );
        let ranges: usize = t.nodes.iter().map(|&n| t.memory_of_node(n).count()).sum();
        assert_eq!(ranges, t.memory.len(), "{name}: every range in a node");
        for &a in &t.nodes {
            assert_eq!(t.distance(a, a), 10, "{name}");
            for &b in &t.nodes {
                assert_eq!(t.distance(a, b), t.distance(b, a), "{name}: symmetric");
                if a != b {
                    assert!(t.distance(a, b) > 10, "{name}");
                }
            }
        }
        assert_eq!(t.node_distances().len(), t.nodes.len(), "{name}");
        assert!(t.hpet.is_some(), "{name}: every dump has an HPET table");
        assert!(!t.mcfg.is_empty(), "{name}: every dump has an MCFG");
    }
}

#[test]
fn cpuid_shift_gives_packages() {
    for (name, text, _) in cases() {
        let t = topology_of(&name, &text, CpuHint::with_package_shift(5));
        assert_eq!(
            t.package_source,
            PackageSource::Cpuid { shift: 5 },
            "{name}"
        );
        for cpu in &t.cpus {
            assert_eq!(cpu.package, Some(cpu.apic_id >> 5), "{name}");
        }
    }
}

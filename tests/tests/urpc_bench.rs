//! The in-kernel URPC benchmark runs end to end and reports every measurement (its numbers
//! are not judged here: benchmarks report, tests assert behaviour).

use integration_tests::{boot, machine};
use std::time::Duration;

#[test]
fn urpc_benchmark_reports_every_measurement() {
    let run = boot(
        "bench-urpc-smoke",
        &machine(3),
        &[("bench", "urpc"), ("fbcon", "0")],
        Duration::from_secs(300),
    );
    run.assert_success();
    for kind in [
        "\"kind\":\"machine\"",
        "\"kind\":\"rdtsc\"",
        "\"kind\":\"pingpong_rtt\",\"a\":0,\"b\":1",
        "\"kind\":\"urpc_rtt\",\"a\":0,\"b\":1",
        "\"kind\":\"throughput_batch\",\"a\":0,\"b\":1",
        "\"kind\":\"done\"",
    ] {
        run.assert_contains(kind);
    }
    // Three cores: every ordered pair of the matrix, including those the boot core answers.
    for (a, b) in [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)] {
        run.assert_contains(&format!("\"kind\":\"matrix_rtt\",\"a\":{a},\"b\":{b},"));
    }
    run.assert_lacks("failed");
}

//! Host tests: the wire format, the tables' sequential semantics, and the agreement protocol
//! in a deterministic network simulator.

mod agree_tests;
mod rng;
mod route_tests;
mod sim;
mod tables_tests;
mod wire_tests;

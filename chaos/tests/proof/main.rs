//! Proof tests: the detectors against the real `outfit-server` binary (a child
//! process, healthy and with fault hooks), and the proxy against real sockets.
//! Each one can fail: the healthy twin of every leak test must pass, and every
//! toxic is measured against the same link without it.

mod api;
mod connections;
mod helpers;
mod memory;
mod process;
mod tasks;
mod toxics;

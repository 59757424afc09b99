//! `mjpeg-rtp demo`: send the test pattern to ourselves over loopback and
//! receive it. Placeholder until the runtime-std Client lands (written by
//! the runtime-std side).

use anyhow::{bail, Result};

use crate::args::DemoArgs;
use crate::summary::Summary;

/// Run the demo; the summary is printed by the caller.
pub fn run(args: &DemoArgs) -> Result<Summary> {
    let _ = args;
    bail!("demo is not yet available")
}

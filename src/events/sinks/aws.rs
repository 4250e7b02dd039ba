//! AWS sinks (built with the `aws-sinks` feature). Filled in below.

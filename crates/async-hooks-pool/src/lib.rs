//! async-hooks pool integration: under construction.

//! async-hooks tracing integration: under construction.

//! [`OtlpError`]: why an OTLP pipeline could not be set up.

use std::fmt;
use std::io;

/// Why [`OtlpConfig::install`](super::OtlpConfig::install) or
/// [`OtlpConfig::layer`](super::OtlpConfig::layer) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum OtlpError {
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` (or its `_TRACES_` variant) names a
    /// protocol this crate does not speak (`grpc` and `http/protobuf` are
    /// supported).
    UnsupportedProtocol(String),
    /// A header name or value is not valid in HTTP/gRPC metadata.
    InvalidHeader(String),
    /// The filter directives do not parse.
    InvalidFilter(String),
    /// The OTLP exporter could not be built (for example, a malformed
    /// endpoint).
    Exporter(opentelemetry_otlp::ExporterBuildError),
    /// The background export thread or runtime could not be started.
    Runtime(io::Error),
    /// A global `tracing` subscriber is already set.
    AlreadyInstalled(tracing_subscriber::util::TryInitError),
}

impl fmt::Display for OtlpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OtlpError::UnsupportedProtocol(protocol) => {
                write!(f, "unsupported OTLP protocol {protocol:?} (expected \"grpc\" or \"http/protobuf\")")
            }
            OtlpError::InvalidHeader(header) => write!(f, "invalid OTLP header {header:?}"),
            OtlpError::InvalidFilter(message) => write!(f, "invalid span filter: {message}"),
            OtlpError::Exporter(error) => write!(f, "cannot build the OTLP exporter: {error}"),
            OtlpError::Runtime(error) => write!(f, "cannot start the OTLP export thread: {error}"),
            OtlpError::AlreadyInstalled(error) => write!(f, "cannot install the tracing subscriber: {error}"),
        }
    }
}

impl std::error::Error for OtlpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OtlpError::Exporter(error) => Some(error),
            OtlpError::Runtime(error) => Some(error),
            OtlpError::AlreadyInstalled(error) => Some(error),
            _ => None,
        }
    }
}

//! [`OtlpConfig`]: the options of an OTLP pipeline, read from code and the
//! standard `OTEL_*` environment variables.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SdkTracerProvider};
use tracing_core::Subscriber;
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::filter::{EnvFilter, Filtered};
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use super::OtlpError;
use super::guard::OtlpGuard;
use super::runtime::ExportRuntime;
use super::stats::{CountingExporter, CountingProcessor, ExportCounters, ExportPlace};
use crate::{TracingHooks, TracingHooksBuilder};

/// The OTLP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OtlpProtocol {
    /// gRPC (tonic), Jaeger's port 4317. The default.
    Grpc,
    /// HTTP with protobuf bodies (reqwest, blocking client), Jaeger's port
    /// 4318, path `/v1/traces`.
    HttpProtobuf,
}

impl OtlpProtocol {
    /// The protocol named by an `OTEL_EXPORTER_OTLP_PROTOCOL` value.
    ///
    /// # Errors
    ///
    /// [`OtlpError::UnsupportedProtocol`] for anything but `grpc` and
    /// `http/protobuf` (`http/json` is not supported).
    pub fn from_env_value(value: &str) -> Result<OtlpProtocol, OtlpError> {
        match value.trim() {
            "grpc" => Ok(OtlpProtocol::Grpc),
            "http/protobuf" => Ok(OtlpProtocol::HttpProtobuf),
            other => Err(OtlpError::UnsupportedProtocol(other.to_owned())),
        }
    }
}

/// The layer [`OtlpConfig::layer`] returns: tracing-opentelemetry's layer
/// with the span filter.
pub type OtlpLayer<S> = Filtered<OpenTelemetryLayer<S, SdkTracer>, EnvFilter, S>;

/// Targets of the exporter's own dependencies: never exported, so exporting
/// cannot trace itself.
const EXPORTER_TARGETS: [&str; 10] = [
    "h2",
    "hyper",
    "hyper_util",
    "tonic",
    "tower",
    "reqwest",
    "opentelemetry",
    "opentelemetry_sdk",
    "opentelemetry_otlp",
    "opentelemetry_http",
];

/// The options of an OTLP pipeline: tracing-subscriber + tracing-opentelemetry
/// + opentelemetry-otlp, with a [`TracingHooks`] set enabled.
///
/// Each option left unset comes from the standard environment variables,
/// else from the default:
///
/// | option | environment | default |
/// |---|---|---|
/// | [`protocol`](Self::protocol) | `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, `OTEL_EXPORTER_OTLP_PROTOCOL` | `grpc` |
/// | [`endpoint`](Self::endpoint) | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is), `OTEL_EXPORTER_OTLP_ENDPOINT` (HTTP: `/v1/traces` appended) | `http://localhost:4317` (gRPC), `http://localhost:4318/v1/traces` (HTTP) |
/// | [`header`](Self::header) | `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, `OTEL_EXPORTER_OTLP_HEADERS` (`k=v,k2=v2`) | none |
/// | [`timeout`](Self::timeout) | `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, `OTEL_EXPORTER_OTLP_TIMEOUT` (ms) | 10 s |
/// | service name | `OTEL_SERVICE_NAME` (wins over the name given to [`new`](Self::new)), `OTEL_RESOURCE_ATTRIBUTES` | the name given to [`new`](Self::new) |
/// | [`max_queue_size`](Self::max_queue_size), [`scheduled_delay`](Self::scheduled_delay) | `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_SCHEDULE_DELAY` | 2048 spans, 5 s |
/// | [`filter`](Self::filter) | `RUST_LOG` | `info` |
///
/// # Examples
///
/// ```no_run
/// # fn main() -> Result<(), async_hooks_tracing::otlp::OtlpError> {
/// use async_hooks_tracing::otlp::{OtlpConfig, OtlpProtocol};
///
/// let guard = OtlpConfig::new("checkout")
///     .protocol(OtlpProtocol::HttpProtobuf)
///     .endpoint("http://localhost:4318")
///     .install()?;
/// // ... run the application ...
/// drop(guard); // flushes
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "an OtlpConfig does nothing until `install` or `layer`"]
pub struct OtlpConfig {
    service_name: String,
    protocol: Option<OtlpProtocol>,
    endpoint: Option<String>,
    headers: Vec<(String, String)>,
    timeout: Option<Duration>,
    max_queue_size: Option<usize>,
    scheduled_delay: Option<Duration>,
    filter: Option<String>,
    hooks: Option<TracingHooksBuilder>,
    report_losses: bool,
}

impl OtlpConfig {
    /// A pipeline for the service `service_name` (unless `OTEL_SERVICE_NAME`
    /// names another), everything else from the environment or defaults.
    pub fn new(service_name: impl Into<String>) -> OtlpConfig {
        OtlpConfig {
            service_name: service_name.into(),
            protocol: None,
            endpoint: None,
            headers: Vec::new(),
            timeout: None,
            max_queue_size: None,
            scheduled_delay: None,
            filter: None,
            hooks: Some(TracingHooks::builder()),
            report_losses: true,
        }
    }

    /// The transport.
    pub fn protocol(mut self, protocol: OtlpProtocol) -> OtlpConfig {
        self.protocol = Some(protocol);
        self
    }

    /// The collector's URL, such as `http://localhost:4317`. For HTTP,
    /// `/v1/traces` is appended unless the URL already has a path.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> OtlpConfig {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// A header (gRPC metadata) sent with every export, such as an API key.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> OtlpConfig {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// How long one export may take before it fails.
    pub fn timeout(mut self, timeout: Duration) -> OtlpConfig {
        self.timeout = Some(timeout);
        self
    }

    /// The most spans waiting for export; more are dropped (and counted),
    /// so memory stays bounded when the collector is slow or down.
    pub fn max_queue_size(mut self, max_queue_size: usize) -> OtlpConfig {
        self.max_queue_size = Some(max_queue_size.max(1));
        self
    }

    /// How long the batch processor waits before exporting a partial batch.
    pub fn scheduled_delay(mut self, delay: Duration) -> OtlpConfig {
        self.scheduled_delay = Some(delay);
        self
    }

    /// Which spans are exported, as `EnvFilter` directives (such as
    /// `info,async_hooks=debug`); the default is `RUST_LOG`, else `info`.
    /// The exporter's own dependencies (tonic, hyper, h2, reqwest,
    /// opentelemetry) are always off.
    pub fn filter(mut self, directives: impl Into<String>) -> OtlpConfig {
        self.filter = Some(directives.into());
        self
    }

    /// The options of the resource hook set the guard keeps enabled.
    pub fn hooks(mut self, hooks: TracingHooksBuilder) -> OtlpConfig {
        self.hooks = Some(hooks);
        self
    }

    /// Enables no resource hook set (enable a [`TracingHooks`] yourself).
    pub fn without_hooks(mut self) -> OtlpConfig {
        self.hooks = None;
        self
    }

    /// Whether dropping the guard reports lost spans on stderr (default
    /// true).
    pub fn report_losses(mut self, report: bool) -> OtlpConfig {
        self.report_losses = report;
        self
    }

    /// Sets up the pipeline and installs it as the global `tracing`
    /// subscriber: a `Registry` with the OpenTelemetry layer.
    ///
    /// # Errors
    ///
    /// See [`OtlpError`]; nothing is installed then.
    pub fn install(self) -> Result<OtlpGuard, OtlpError> {
        let (layer, pending) = self.layer_without_hooks()?;
        tracing_subscriber::registry().with(layer).try_init().map_err(OtlpError::AlreadyInstalled)?;
        Ok(pending.enable())
    }

    /// Sets up the pipeline and returns its layer, to compose with your own
    /// subscriber (add a `fmt` layer, say), and the guard (which keeps the
    /// resource hook set enabled).
    ///
    /// # Errors
    ///
    /// See [`OtlpError`].
    pub fn layer<S>(self) -> Result<(OtlpLayer<S>, OtlpGuard), OtlpError>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
    {
        let (layer, pending) = self.layer_without_hooks()?;
        Ok((layer, pending.enable()))
    }

    /// The layer and a guard whose `hook` is not enabled yet (`install`
    /// enables it after the subscriber is set).
    fn layer_without_hooks<S>(self) -> Result<(OtlpLayer<S>, PendingGuard), OtlpError>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
    {
        let filter = self.span_filter()?;
        let protocol = self.resolved_protocol(|name| std::env::var(name).ok())?;
        let counters = Arc::new(ExportCounters::default());
        let (processor, runtime) = match protocol {
            OtlpProtocol::Grpc => {
                let runtime = ExportRuntime::start().map_err(OtlpError::Runtime)?;
                let exporter = {
                    // tonic's channel is built on, and runs on, our runtime.
                    let _entered = runtime.handle().enter();
                    let mut builder = opentelemetry_otlp::SpanExporter::builder().with_tonic();
                    if let Some(endpoint) = &self.endpoint {
                        builder = builder.with_endpoint(endpoint.clone());
                    }
                    if let Some(timeout) = self.timeout {
                        builder = builder.with_timeout(timeout);
                    }
                    if !self.headers.is_empty() {
                        builder = builder.with_metadata(self.metadata()?);
                    }
                    builder.build().map_err(OtlpError::Exporter)?
                };
                let place = ExportPlace::Runtime(runtime.handle().clone());
                (self.processor(CountingExporter::new(exporter, counters.clone(), place)), Some(runtime))
            }
            OtlpProtocol::HttpProtobuf => {
                let mut builder = opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_protocol(opentelemetry_otlp::Protocol::HttpBinary);
                if let Some(endpoint) = &self.endpoint {
                    builder = builder.with_endpoint(http_traces_url(endpoint));
                }
                if let Some(timeout) = self.timeout {
                    builder = builder.with_timeout(timeout);
                }
                if !self.headers.is_empty() {
                    builder = builder.with_headers(self.headers.iter().cloned().collect::<HashMap<_, _>>());
                }
                let exporter = builder.build().map_err(OtlpError::Exporter)?;
                (self.processor(CountingExporter::new(exporter, counters.clone(), ExportPlace::BatchThread)), None)
            }
        };
        let provider = SdkTracerProvider::builder()
            .with_span_processor(CountingProcessor::new(processor, counters.clone()))
            .with_resource(self.resource())
            .build();
        let tracer = provider.tracer("async-hooks-tracing");
        let layer = tracing_opentelemetry::layer().with_tracer(tracer).with_filter(filter);
        let guard =
            OtlpGuard { hook: None, provider: Some(provider), counters, runtime, report_losses: self.report_losses };
        Ok((layer, PendingGuard { guard, hook: self.hooks }))
    }

    fn processor<E>(&self, exporter: E) -> BatchSpanProcessor
    where
        E: opentelemetry_sdk::trace::SpanExporter + 'static,
    {
        // `default()` reads the OTEL_BSP_* variables; code overrides them.
        let mut config = BatchConfigBuilder::default();
        if let Some(max_queue_size) = self.max_queue_size {
            config = config.with_max_queue_size(max_queue_size);
        }
        if let Some(delay) = self.scheduled_delay {
            config = config.with_scheduled_delay(delay);
        }
        BatchSpanProcessor::builder(exporter).with_batch_config(config.build()).build()
    }

    fn resource(&self) -> Resource {
        // `Resource::builder()` reads OTEL_SERVICE_NAME and
        // OTEL_RESOURCE_ATTRIBUTES; our name is only the fallback.
        let builder = Resource::builder();
        let named_by_env = std::env::var_os("OTEL_SERVICE_NAME").is_some_and(|name| !name.is_empty());
        if named_by_env { builder.build() } else { builder.with_service_name(self.service_name.clone()).build() }
    }

    fn span_filter(&self) -> Result<EnvFilter, OtlpError> {
        let directives = match &self.filter {
            Some(directives) => directives.clone(),
            None => {
                std::env::var("RUST_LOG").ok().filter(|value| !value.trim().is_empty()).unwrap_or_else(|| "info".into())
            }
        };
        let mut filter =
            EnvFilter::builder().parse(&directives).map_err(|error| OtlpError::InvalidFilter(error.to_string()))?;
        for target in EXPORTER_TARGETS {
            let directive = format!("{target}=off").parse().map_err(|_| OtlpError::InvalidFilter(target.into()))?;
            filter = filter.add_directive(directive);
        }
        Ok(filter)
    }

    fn metadata(&self) -> Result<opentelemetry_otlp::tonic_types::metadata::MetadataMap, OtlpError> {
        let mut headers = http::HeaderMap::new();
        for (name, value) in &self.headers {
            let invalid = || OtlpError::InvalidHeader(name.clone());
            let header_name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
            let header_value = http::HeaderValue::from_str(value).map_err(|_| invalid())?;
            headers.append(header_name, header_value);
        }
        Ok(opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(headers))
    }

    /// The protocol: set in code, else from the environment, else gRPC.
    pub(crate) fn resolved_protocol(&self, env: impl Fn(&str) -> Option<String>) -> Result<OtlpProtocol, OtlpError> {
        if let Some(protocol) = self.protocol {
            return Ok(protocol);
        }
        let from_env = env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .filter(|value| !value.trim().is_empty())
            .or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL").filter(|value| !value.trim().is_empty()));
        match from_env {
            Some(value) => OtlpProtocol::from_env_value(&value),
            None => Ok(OtlpProtocol::Grpc),
        }
    }
}

/// A guard with the hook set not enabled yet.
pub(crate) struct PendingGuard {
    guard: OtlpGuard,
    hook: Option<TracingHooksBuilder>,
}

impl PendingGuard {
    fn enable(mut self) -> OtlpGuard {
        self.guard.hook = self.hook.map(TracingHooksBuilder::enable);
        self.guard
    }
}

/// `endpoint` with `/v1/traces` appended if it has no path.
pub(crate) fn http_traces_url(endpoint: &str) -> String {
    let after_scheme = endpoint.split_once("://").map_or(endpoint, |(_, rest)| rest);
    match after_scheme.find('/') {
        Some(slash) if !after_scheme[slash..].trim_end_matches('/').is_empty() => endpoint.to_owned(),
        _ => format!("{}/v1/traces", endpoint.trim_end_matches('/')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| vars.iter().find(|(key, _)| *key == name).map(|(_, value)| (*value).to_owned())
    }

    #[test]
    fn the_protocol_comes_from_code_then_the_traces_variable_then_the_generic_one_then_grpc() {
        let config = OtlpConfig::new("test");
        assert_eq!(config.resolved_protocol(env(&[])).unwrap(), OtlpProtocol::Grpc);
        let generic = env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]);
        assert_eq!(config.resolved_protocol(generic).unwrap(), OtlpProtocol::HttpProtobuf);
        let both =
            env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"), ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")]);
        assert_eq!(config.resolved_protocol(both).unwrap(), OtlpProtocol::Grpc);
        let code = config.clone().protocol(OtlpProtocol::HttpProtobuf);
        assert_eq!(
            code.resolved_protocol(env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")])).unwrap(),
            OtlpProtocol::HttpProtobuf
        );
        let json = env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]);
        assert!(
            matches!(config.resolved_protocol(json), Err(OtlpError::UnsupportedProtocol(protocol)) if protocol == "http/json")
        );
    }

    #[test]
    fn http_endpoints_without_a_path_get_the_traces_path() {
        assert_eq!(http_traces_url("http://localhost:4318"), "http://localhost:4318/v1/traces");
        assert_eq!(http_traces_url("http://localhost:4318/"), "http://localhost:4318/v1/traces");
        assert_eq!(http_traces_url("http://collector/otlp/v1/traces"), "http://collector/otlp/v1/traces");
    }

    #[test]
    fn exporter_dependencies_are_filtered_out() {
        let filter = OtlpConfig::new("test").filter("trace").span_filter().unwrap().to_string();
        assert!(filter.contains("h2=off") && filter.contains("tonic=off"), "{filter}");
    }
}

//! The HTTP routes of `nexus serve`. Everything under `/v1` needs a
//! tenant's token (`Authorization: Bearer ...`); `/healthz`, `/readyz`,
//! `/metrics` and `/openapi.json` need none and say nothing a tenant sent.
//! Errors are JSON: `{"error": "...", "quota"?: "..."}`. Every response
//! carries an `x-request-id` (the caller's, or a new one), and the log
//! lines of a request name it, with the tenant.

use super::Service;
use super::agents::AgentRecord;
use super::projects::{ProjectInfo, Stamped, SubmitError};
use super::quotas::Refusal;
use super::tenants::Tenant;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Extension, Json, Router};
use nexus::bindings::Error;
use nexus::workspace::{FileStore, Workspace, check_path};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::Instrument;
use utoipa::{IntoParams, OpenApi, ToSchema};

/// Largest request body taken (413 beyond it).
pub const MAX_BODY: usize = 64 << 10;
/// Largest file served from a project.
pub const MAX_FILE: u64 = 16 << 20;
/// Most entries a file listing returns.
const MAX_ENTRIES: usize = 10_000;

type Shared = Arc<Service>;

/// An error as the API answers it.
pub struct ApiError {
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
    /// The quota a 429 names.
    quota: Option<&'static str>,
    /// How a task failed (422 of a task).
    kind: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
            quota: None,
            kind: None,
        }
    }

    fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "no such project")
    }

    /// 429: a quota, named, and when to try again.
    fn refused(r: Refusal) -> ApiError {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: r.message,
            retry_after: Some(r.retry_after.as_secs_f64().ceil().max(1.0) as u64),
            quota: Some(r.quota),
            kind: None,
        }
    }

    fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "a request failed inside the service");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the service failed; see its log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message });
        if let Some(q) = self.quota {
            body["quota"] = json!(q);
        }
        if let Some(k) = &self.kind {
            body["kind"] = json!(k);
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Runs database or file work off the async threads.
async fn off<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    nexus::sync::off_thread(work, ApiError::internal).await
}

/// How long a request that only reads or records may take; streams,
/// uploads, tasks and cancels (which wait for the work to stop) may take
/// longer.
const QUICK: std::time::Duration = std::time::Duration::from_secs(30);

fn quick(route: MethodRouter<Shared>) -> MethodRouter<Shared> {
    route.layer(TimeoutLayer::with_status_code(
        StatusCode::SERVICE_UNAVAILABLE,
        QUICK,
    ))
}

/// The routes; `origins` are the web origins (besides the service's own)
/// whose pages may call the API (CORS).
pub fn router(service: Shared, origins: Vec<HeaderValue>) -> Router {
    let v1 = Router::new()
        .route("/projects", quick(post(submit).get(list)))
        .route("/projects/{id}", quick(get(show)).delete(remove))
        .route("/projects/{id}/cancel", post(cancel))
        .route("/projects/{id}/events", get(events))
        .route("/projects/{id}/files", quick(get(files)))
        .route("/projects/{id}/files/{*path}", quick(get(file)))
        .route("/projects/{id}/archive", get(archive))
        .route("/projects/{id}/tasks", post(run_task))
        .route("/usage", quick(get(usage)))
        .route(
            "/agents",
            quick(get(agents)).post(upload).layer(DefaultBodyLimit::max(
                super::agents::MAX_COMPONENT + super::agents::MAX_POLICY + (64 << 10),
            )),
        )
        .route("/agents/{id}", quick(get(agent)).delete(remove_agent))
        .layer(middleware::from_fn_with_state(
            service.clone(),
            authenticate,
        ));
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", DASHBOARD_HTML) }),
        )
        .route(
            "/dashboard/app.css",
            get(|| async { asset("text/css; charset=utf-8", DASHBOARD_CSS) }),
        )
        .route(
            "/dashboard/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", DASHBOARD_JS) }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
        .nest("/v1", v1)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        // The last layer added is the outermost: the id is set first, then
        // the request's span names it, and the response carries it.
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|r: &Request| {
            let id = r
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!(
                "http",
                request = %nexus::text::clip(id, 64),
                method = %r.method(),
                path = %nexus::text::clip(r.uri().path(), 200)
            )
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::GET, Method::POST, Method::DELETE])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    HeaderName::from_static("last-event-id"),
                ])
                .expose_headers([header::RETRY_AFTER, HeaderName::from_static("x-request-id")]),
        )
        .with_state(service)
}

/// The dashboard: static files built into the binary. It signs in with a
/// token and talks to `/v1` like any client.
const DASHBOARD_HTML: &str = include_str!("dashboard/index.html");
const DASHBOARD_CSS: &str = include_str!("dashboard/app.css");
const DASHBOARD_JS: &str = include_str!("dashboard/app.js");

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data: blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            ),
        ],
        body,
    )
        .into_response()
}

/// The API, described as OpenAPI 3.1.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "nexus",
        description = "Project generation for tenants: each request is a project, generated by sandboxed agents."
    ),
    paths(
        submit, list, show, remove, cancel, events, files, file, archive, usage, agents, upload,
        agent, remove_agent, run_task
    ),
    components(schemas(Submission, ProjectInfo, ErrorBody, AgentRecord, TaskRequest)),
    modifiers(&BearerToken),
    security(("token" = []))
)]
pub struct ApiDoc;

struct BearerToken;

impl utoipa::Modify for BearerToken {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        api.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "token",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
    }
}

/// An error: what went wrong, and for a 429 the quota.
#[derive(Serialize, ToSchema)]
struct ErrorBody {
    error: String,
    /// `max_projects`, `tokens_per_day`, `disk_bytes` or `rate`.
    quota: Option<String>,
    /// How a task failed: `agent`, `trap`, `limit:<which>`, `refused`.
    kind: Option<String>,
}

/// Prometheus text: projects by tenant and state, refusals by tenant and
/// quota, tasks by agent, model calls by model, and the bus's depth.
async fn metrics(State(s): State<Shared>) -> Result<Response, ApiError> {
    let text = off(move || {
        let mut registry = Registry::default();
        s.rt.services().telemetry.register(&mut registry);
        let projects = Family::<Vec<(&'static str, String)>, Gauge>::default();
        for (tenant, state, n) in s.projects.all_counts().map_err(ApiError::internal)? {
            projects
                .get_or_create(&vec![("tenant", tenant), ("state", state)])
                .set(n as i64);
        }
        registry.register("nexus_projects", "Projects by tenant and state", projects);
        let refusals = Family::<Vec<(&'static str, String)>, Counter>::default();
        for (tenant, quota, n) in s.quotas.refusals() {
            refusals
                .get_or_create(&vec![("tenant", tenant), ("quota", quota.to_string())])
                .inc_by(n);
        }
        registry.register(
            "nexus_quota_refusals",
            "Requests refused by quota, since the service started",
            refusals,
        );
        let (pending, dead) =
            s.rt.services()
                .db
                .with(nexus::bus::journal::depth)
                .map_err(ApiError::internal)?;
        let (p, d) = (Gauge::<i64>::default(), Gauge::<i64>::default());
        p.set(pending as i64);
        d.set(dead as i64);
        registry.register("nexus_bus_pending_messages", "Messages not yet handled", p);
        registry.register("nexus_bus_dead_letters", "Messages given up on", d);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry)
            .map_err(ApiError::internal)?;
        Ok(text)
    })
    .await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

async fn ready(State(s): State<Shared>) -> Response {
    let db = s.rt.services().db.clone();
    match off(move || {
        db.with(|c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)))
            .map_err(ApiError::internal)
    })
    .await
    {
        Ok(_) => "ready".into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the database does not answer",
        )
            .into_response(),
    }
}

/// Lets a request in with a tenant's token, and hands the tenant on.
async fn authenticate(State(s): State<Shared>, mut request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    let Some(token) = token else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "send a tenant's token: Authorization: Bearer <token>",
        )
        .into_response();
    };
    let tenants = s.tenants.clone();
    match off(move || tenants.authenticate(&token).map_err(ApiError::internal)).await {
        Ok(Some(tenant)) => {
            if let Err(refusal) = s.quotas.take(&tenant.name, tenant.limits.rate) {
                return ApiError::refused(refusal).into_response();
            }
            let span = tracing::info_span!("tenant", tenant = %tenant.name);
            request.extensions_mut().insert(tenant);
            next.run(request).instrument(span).await
        }
        Ok(None) => {
            ApiError::new(StatusCode::UNAUTHORIZED, "the token is not valid").into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// A project to generate.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Submission {
    /// What to build, in a sentence (at most 4 KiB).
    description: String,
    /// The project's name (default: what the request was understood as).
    name: Option<String>,
}

fn urls(p: &ProjectInfo) -> Value {
    let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
    v["status_url"] = json!(format!("/v1/projects/{}", p.id));
    v["events_url"] = json!(format!("/v1/projects/{}/events", p.id));
    v["files_url"] = json!(format!("/v1/projects/{}/files", p.id));
    v
}

#[utoipa::path(post, path = "/v1/projects", tag = "projects", request_body = Submission,
    responses(
        (status = 202, description = "Started, or queued behind the tenant's running projects", body = ProjectInfo),
        (status = 400, description = "Not a request that can be generated", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB"),
        (status = 429, description = "Beyond a quota; see Retry-After", body = ErrorBody),
    ))]
async fn submit(
    State(s): State<Shared>,
    Extension(tenant): Extension<Tenant>,
    Json(body): Json<Submission>,
) -> Result<Response, ApiError> {
    match super::projects::submit(&s, &tenant, body.description, body.name).await {
        Ok(p) => Ok((StatusCode::ACCEPTED, Json(urls(&p))).into_response()),
        Err(SubmitError::Invalid(m)) => Err(ApiError::new(StatusCode::BAD_REQUEST, m)),
        Err(SubmitError::Quota(r)) => Err(ApiError::refused(r)),
        Err(e) => Err(ApiError::internal(e)),
    }
}

#[derive(Deserialize, IntoParams)]
struct Page {
    limit: Option<u32>,
    offset: Option<u32>,
}

#[utoipa::path(get, path = "/v1/projects", tag = "projects", params(Page),
    responses((status = 200, description = "`projects`, newest first, and `next_offset`", body = serde_json::Value)))]
async fn list(
    State(s): State<Shared>,
    Extension(tenant): Extension<Tenant>,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    let limit = page.limit.unwrap_or(50).clamp(1, 200);
    let offset = page.offset.unwrap_or(0);
    let found = off(move || {
        s.projects
            .list(&tenant.name, limit, offset)
            .map_err(ApiError::internal)
    })
    .await?;
    let next = (found.len() as u32 == limit).then(|| offset + limit);
    Ok(Json(json!({
        "projects": found.iter().map(urls).collect::<Vec<_>>(),
        "next_offset": next,
    })))
}

/// The caller's project `id`, or 404.
async fn project_of(s: &Shared, tenant: &Tenant, id: &str) -> Result<ProjectInfo, ApiError> {
    let (s, tenant, id) = (s.clone(), tenant.name.clone(), id.to_string());
    off(move || {
        s.projects
            .get(&tenant, &id)
            .map_err(ApiError::internal)?
            .ok_or_else(ApiError::not_found)
    })
    .await
}

#[utoipa::path(get, path = "/v1/projects/{id}", tag = "projects", params(("id" = String, Path)),
    responses(
        (status = 200, description = "The project, with its record's plan, phases and gates", body = ProjectInfo),
        (status = 404, description = "No such project of yours", body = ErrorBody),
    ))]
async fn show(
    State(s): State<Shared>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let p = project_of(&s, &tenant, &id).await?;
    let mut v = urls(&p);
    // What the orchestrator recorded: plan, phases, gates, timings.
    let root = s.projects.root(&tenant.name, &p.id);
    let record = off(move || {
        Ok(std::fs::read(root.join("nexus-project.json"))
            .ok()
            .filter(|b| b.len() as u64 <= MAX_FILE)
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok()))
    })
    .await?;
    if let Some(record) = record {
        for key in ["plan", "phases", "gates", "passed", "spec_source"] {
            v[key] = record[key].clone();
        }
    }
    Ok(Json(v))
}

#[utoipa::path(get, path = "/v1/usage", tag = "tenant",
    responses((status = 200, description = "Projects by status, tokens over 24 hours, disk, limits, refusals", body = serde_json::Value)))]
async fn usage(
    State(s): State<Shared>,
    Extension(tenant): Extension<Tenant>,
) -> Result<Json<Value>, ApiError> {
    let (st, name) = (s.clone(), tenant.name.clone());
    // In a cluster, the tenant's tokens are every worker's.
    let shared = match &s.cluster {
        Some(c) => Some(c.tokens(&name).await.map_err(ApiError::internal)?.0),
        None => None,
    };
    let (counts, tokens, disk) = off(move || {
        let counts = st.projects.counts(&name).map_err(ApiError::internal)?;
        let since = nexus::db::now() - super::quotas::DAY;
        let tokens = match shared {
            Some(tokens) => tokens,
            None => {
                st.rt
                    .services()
                    .db
                    .with(|c| nexus::llm::tenant_tokens(c, &name, since))
                    .map_err(ApiError::internal)?
                    .0
            }
        };
        let disk = super::quotas::disk_usage(&st.projects.tenant_dir(&name));
        Ok((counts, tokens, disk))
    })
    .await?;
    let l = &tenant.limits;
    Ok(Json(json!({
        "tenant": tenant.name,
        "projects": counts,
        "tokens": { "last_24h": tokens, "limit": l.tokens_per_day },
        "disk": { "bytes": disk, "limit": l.disk_bytes },
        "limits": l,
        "refusals": s.quotas.refusals_of(&tenant.name),
    })))
}

/// The agents: the built-in ones projects run (name, build, policy), then
/// the tenant's own.
#[utoipa::path(get, path = "/v1/agents", tag = "agents",
    responses((status = 200, description = "`agents`: name, source, sha256, size and policy of each", body = serde_json::Value)))]
async fn agents(
    State(s): State<Shared>,
    Extension(tenant): Extension<Tenant>,
) -> Result<Json<Value>, ApiError> {
    static BUILT_IN: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    let built_in = match BUILT_IN.get() {
        Some(v) => v.clone(),
        None => {
            let list = off(|| {
                Ok(nexus::builtin::roster()
                    .iter()
                    .map(|agent| {
                        let (name, bytes) = (agent.name, agent.bytes());
                        json!({
                            "name": name,
                            "source": "built-in",
                            "sha256": nexus::runtime::sha256_hex(bytes),
                            "size": bytes.len(),
                            "policy": nexus::builtin::policy(name),
                        })
                    })
                    .collect::<Vec<_>>())
            })
            .await?;
            BUILT_IN.get_or_init(|| list).clone()
        }
    };
    let name = tenant.name.clone();
    let own = off(move || s.agents.list(&name).map_err(ApiError::internal)).await?;
    let mut all = built_in;
    all.extend(own.into_iter().map(|a| {
        let mut v = serde_json::to_value(&a).unwrap_or(Value::Null);
        v["source"] = json!("uploaded");
        v
    }));
    Ok(Json(json!({ "agents": all })))
}

/// Uploads an agent: multipart with a `wasm` part (the component) and a
/// `policy` part (its TOML).
#[utoipa::path(post, path = "/v1/agents", tag = "agents",
    request_body(content_type = "multipart/form-data", description = "`wasm`: the component; `policy`: its policy TOML"),
    responses(
        (status = 201, description = "Kept, with its build pinned", body = AgentRecord),
        (status = 400, description = "Not a nexus:agent component, or the policy does not parse", body = ErrorBody),
        (status = 409, description = "You have an agent of that name", body = ErrorBody),
        (status = 413, description = "Over 32 MiB"),
        (status = 422, description = "The policy goes beyond the operator's ceiling", body = ErrorBody),
    ))]
async fn upload(
    State(s): State<Shared>,
    Extension(tenant): Extension<Tenant>,
    mut form: axum::extract::Multipart,
) -> Result<Response, ApiError> {
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, m);
    let (mut wasm, mut policy) = (None, None);
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::new(e.status(), e.body_text()))?
    {
        let name = field.name().unwrap_or("").to_string();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| ApiError::new(e.status(), e.body_text()))?;
        match name.as_str() {
            "wasm" if bytes.len() <= super::agents::MAX_COMPONENT => wasm = Some(bytes.to_vec()),
            "policy" if bytes.len() <= super::agents::MAX_POLICY => {
                policy = Some(
                    String::from_utf8(bytes.to_vec())
                        .map_err(|_| bad("the policy is not UTF-8".into()))?,
                )
            }
            "wasm" | "policy" => {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the {name} part is too large"),
                ));
            }
            other => {
                return Err(bad(format!(
                    "unexpected part `{}`; send `wasm` and `policy`",
                    nexus::text::clip(other, 64)
                )));
            }
        }
    }
    let (Some(wasm), Some(policy)) = (wasm, policy) else {
        return Err(bad(
            "send two parts: `wasm` (the component) and `policy` (its TOML)".into(),
        ));
    };
    use super::agents::UploadError as U;
    match s.agents.upload(&s.rt, &tenant.name, wasm, policy).await {
        Ok(record) => Ok((StatusCode::CREATED, Json(record)).into_response()),
        Err(e @ (U::NotAnAgent(_) | U::BadPolicy(_) | U::Mismatch(_))) => Err(bad(e.to_string())),
        Err(e @ U::OverCeiling(_)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            e.to_string(),
        )),
        Err(e @ U::Exists(_)) => Err(ApiError::new(StatusCode::CONFLICT, e.to_string())),
        Err(e @ U::Store(_)) => Err(ApiError::internal(e)),
    }
}

/// The tenant's agent, by id or name; 404 for anyone else's.
async fn agent_of(s: &Shared, tenant: &Tenant, id: &str) -> Result<AgentRecord, ApiError> {
    let (s, t, id) = (s.clone(), tenant.name.clone(), id.to_string());
    off(move || {
        s.agents
            .get(&t, &id)
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such agent"))
    })
    .await
}

#[utoipa::path(get, path = "/v1/agents/{id}", tag = "agents", params(("id" = String, Path, description = "Its id or name")),
    responses(
        (status = 200, description = "What it says it is, its build and its policy", body = AgentRecord),
        (status = 404, description = "No such agent of yours", body = ErrorBody),
    ))]
async fn agent(
    State(s): State<Shared>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<Json<AgentRecord>, ApiError> {
    agent_of(&s, &tenant, &id).await.map(Json)
}

#[utoipa::path(delete, path = "/v1/agents/{id}", tag = "agents", params(("id" = String, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such agent of yours", body = ErrorBody),
    ))]
async fn remove_agent(
    State(s): State<Shared>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let a = agent_of(&s, &tenant, &id).await?;
    let t = tenant.name.clone();
    off(move || s.agents.delete(&t, &a.id).map_err(ApiError::internal)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A task for one of the tenant's agents.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TaskRequest {
    /// The agent's id or name.
    agent: String,
    kind: String,
    #[serde(default)]
    payload: Value,
}

/// Runs a task of one of the tenant's agents in an ended project, under
/// the agent's policy, exactly as confined as a built-in agent.
#[utoipa::path(post, path = "/v1/projects/{id}/tasks", tag = "agents", params(("id" = String, Path)),
    request_body = TaskRequest,
    responses(
        (status = 200, description = "The agent's outcome: `summary` and `payload`", body = serde_json::Value),
        (status = 404, description = "No such project or agent of yours", body = ErrorBody),
        (status = 409, description = "The project has not ended", body = ErrorBody),
        (status = 422, description = "The task failed: `error` and its `kind` (agent, trap, limit:<which>, refused)", body = ErrorBody),
    ))]
async fn run_task(
    State(s): State<Shared>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
    Json(task): Json<TaskRequest>,
) -> Result<Json<Value>, ApiError> {
    if task.kind.is_empty() || task.kind.len() > 64 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "kind must be 1 to 64 bytes",
        ));
    }
    let record = agent_of(&s, &tenant, &task.agent).await?;
    let (p, _) = ended_workspace(&s, &tenant, &id).await?;
    let agent = s
        .agents
        .load(&s.rt, &tenant.name, &record)
        .await
        .map_err(ApiError::internal)?;
    let root = s.projects.root(&tenant.name, &p.id);
    let project = nexus::project::Project::open(s.rt.clone(), &p.id, &tenant.name, &root)
        .map_err(ApiError::internal)?;
    project.add_agent(agent);
    let outcome = project
        .run(&record.name, &task.kind, &task.payload.to_string())
        .await;
    project.halt();
    match outcome {
        Ok(o) => Ok(Json(json!({
            "summary": nexus::text::clip(&o.summary, 2000),
            "payload": serde_json::from_str::<Value>(&o.payload).unwrap_or(Value::Null),
        }))),
        Err(f) => Err(ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: nexus::text::clip(&f.to_string(), 2000),
            retry_after: None,
            quota: None,
            kind: Some(f.kind()),
        }),
    }
}

/// Stops a queued or running project; it ends `cancelled`.
#[utoipa::path(post, path = "/v1/projects/{id}/cancel", tag = "projects", params(("id" = String, Path)),
    responses(
        (status = 200, description = "Stopped; it ends `cancelled`", body = ProjectInfo),
        (status = 404, description = "No such project of yours", body = ErrorBody),
        (status = 409, description = "It has ended already", body = ErrorBody),
    ))]
async fn cancel(
    State(s): State<Shared>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let p = project_of(&s, &tenant, &id).await?;
    if !p.active() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "the project has ended ({}); there is nothing to cancel",
                p.status
            ),
        ));
    }
    super::projects::cancel(&s, &p.id).await;
    let p = project_of(&s, &tenant, &id).await?;
    Ok(Json(urls(&p)))
}

/// Removes a project, its events and its files (cancelling it first).
#[utoipa::path(delete, path = "/v1/projects/{id}", tag = "projects", params(("id" = String, Path)),
    responses(
        (status = 204, description = "Cancelled if need be, then removed with its events and files"),
        (status = 404, description = "No such project of yours", body = ErrorBody),
    ))]
async fn remove(
    State(s): State<Shared>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let p = project_of(&s, &tenant, &id).await?;
    super::projects::delete(&s, &tenant.name, &p.id)
        .await
        .map_err(ApiError::internal)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The project's files as a `.tar.gz`, streamed.
#[utoipa::path(get, path = "/v1/projects/{id}/archive", tag = "files", params(("id" = String, Path)),
    responses(
        (status = 200, description = "The project's files as a .tar.gz", content_type = "application/gzip", body = Vec<u8>),
        (status = 404, description = "No such project of yours", body = ErrorBody),
        (status = 409, description = "It has not ended yet", body = ErrorBody),
    ))]
async fn archive(
    State(s): State<Shared>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (p, ws) = ended_workspace(&s, &tenant, &id).await?;
    let name = p
        .name
        .as_deref()
        .map(nexus_spec::slug)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| p.id.clone());
    let stream = super::archive::stream(ws, name.clone());
    Ok((
        [
            (header::CONTENT_TYPE, "application/gzip".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.tar.gz\""),
            ),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

fn sse(e: &Stamped) -> Result<SseEvent, Infallible> {
    Ok(SseEvent::default()
        .id(e.seq.to_string())
        .event(e.name.clone())
        .data(e.data.to_string()))
}

/// The project's events as Server-Sent Events: what happened so far (after
/// `Last-Event-ID`, when the client reconnects), then each as it comes,
/// ending with `done` or `failed`.
#[utoipa::path(get, path = "/v1/projects/{id}/events", tag = "projects",
    params(("id" = String, Path), ("Last-Event-ID" = Option<u64>, Header, description = "The last event seen: only later ones are sent")),
    responses(
        (status = 200, description = "Server-Sent Events: queued, started, agent, ..., then done or failed", content_type = "text/event-stream", body = String),
        (status = 404, description = "No such project of yours", body = ErrorBody),
    ))]
async fn events(
    State(s): State<Shared>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let p = project_of(&s, &tenant, &id).await?;
    let after: u64 = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if let Some(run) = s.projects.run(&p.id) {
        let rx = run.live.watch();
        let stream = futures_util::stream::unfold(
            (run, rx, after, Vec::<Stamped>::new(), false),
            |(run, mut rx, mut after, mut queue, mut ended)| async move {
                loop {
                    if !queue.is_empty() {
                        let e = queue.remove(0);
                        after = e.seq;
                        return Some((sse(&e), (run, rx, after, queue, ended)));
                    }
                    if ended {
                        return None;
                    }
                    rx.mark_unchanged();
                    let (new, done) = run.live.since(after);
                    queue = new;
                    ended = done;
                    if queue.is_empty() && !ended && rx.changed().await.is_err() {
                        // The generation is gone without an end; what it
                        // left is read below, once more.
                        let (new, _) = run.live.since(after);
                        queue = new;
                        ended = true;
                    }
                }
            },
        );
        return Ok(Sse::new(stream)
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    let status = p.status.clone();
    let mut kept = off(move || s.projects.events(&p.id, after).map_err(ApiError::internal)).await?;
    // A project the host stopped during kept no events: it still ends.
    if status == "interrupted" && kept.is_empty() && after == 0 {
        kept.push(Stamped {
            seq: 1,
            name: "failed".into(),
            data: json!({ "reason": "interrupted: the host stopped while the project ran" }),
        });
    }
    let stream = futures_util::stream::iter(kept.into_iter().map(|e| sse(&e)));
    Ok(Sse::new(stream).into_response())
}

/// A project's files may be read once it has ended: while it runs, its
/// agents are writing them.
async fn ended_workspace(
    s: &Shared,
    tenant: &Tenant,
    id: &str,
) -> Result<(ProjectInfo, Arc<dyn FileStore>), ApiError> {
    let p = project_of(s, tenant, id).await?;
    if p.active() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "the project is {}; its files can be read once it ends",
                p.status
            ),
        ));
    }
    let root = s.projects.root(&tenant.name, &p.id);
    let ws = off(move || {
        if !root.is_dir() {
            return Err(ApiError::not_found());
        }
        Workspace::open(&root)
            .map(|w| Arc::new(w) as Arc<dyn FileStore>)
            .map_err(ApiError::internal)
    })
    .await?;
    Ok((p, ws))
}

fn file_error(e: Error) -> ApiError {
    match e {
        Error::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, m),
        Error::Denied(m) | Error::Invalid(m) => ApiError::new(StatusCode::BAD_REQUEST, m),
        Error::QuotaExceeded(m) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, m),
        e => ApiError::internal(e),
    }
}

#[utoipa::path(get, path = "/v1/projects/{id}/files", tag = "files", params(("id" = String, Path)),
    responses(
        (status = 200, description = "`files`: each file's path and size", body = serde_json::Value),
        (status = 404, description = "No such project of yours", body = ErrorBody),
        (status = 409, description = "It has not ended yet", body = ErrorBody),
    ))]
async fn files(
    State(s): State<Shared>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (_, ws) = ended_workspace(&s, &tenant, &id).await?;
    let entries = off(move || {
        ws.list("", true, nexus::workspace::MAX_DEPTH, MAX_ENTRIES)
            .map_err(file_error)
    })
    .await?;
    let files: Vec<Value> = entries
        .iter()
        .filter(|e| e.kind == nexus::bindings::nexus::agent::workspace::EntryKind::File)
        .map(|e| json!({ "path": e.path, "size": e.size }))
        .collect();
    Ok(Json(json!({ "files": files })))
}

#[utoipa::path(get, path = "/v1/projects/{id}/files/{path}", tag = "files",
    params(("id" = String, Path), ("path" = String, Path, description = "A path inside the project")),
    responses(
        (status = 200, description = "The file", content_type = "text/plain", body = String),
        (status = 400, description = "Not a path inside the project", body = ErrorBody),
        (status = 404, description = "No such project or file", body = ErrorBody),
    ))]
async fn file(
    State(s): State<Shared>,
    Extension(tenant): Extension<Tenant>,
    Path((id, path)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let path = check_path(&path, false).map_err(file_error)?;
    let (_, ws) = ended_workspace(&s, &tenant, &id).await?;
    let bytes = off(move || ws.read(&path, MAX_FILE).map_err(file_error)).await?;
    let kind = if std::str::from_utf8(&bytes).is_ok() {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    };
    Ok((
        [
            (header::CONTENT_TYPE, kind),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        bytes,
    )
        .into_response())
}

//! The HTTP routes of `nexus serve`. Everything under `/v1` needs a
//! tenant's token (`Authorization: Bearer ...`); `/healthz` and `/readyz`
//! need none and say nothing about any tenant. Errors are JSON:
//! `{"error": "..."}`.

use super::Service;
use super::projects::{ProjectInfo, Stamped, SubmitError};
use super::quotas::Refusal;
use super::tenants::Tenant;
use crate::bindings::Error;
use crate::workspace::{FileStore, Workspace, check_path};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use tracing::Instrument;

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
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
            quota: None,
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
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(ApiError::internal(e)))
}

pub fn router(service: Shared) -> Router {
    let v1 = Router::new()
        .route("/projects", post(submit).get(list))
        .route("/projects/{id}", get(show).delete(remove))
        .route("/projects/{id}/cancel", post(cancel))
        .route("/projects/{id}/events", get(events))
        .route("/projects/{id}/files", get(files))
        .route("/projects/{id}/files/{*path}", get(file))
        .route("/projects/{id}/archive", get(archive))
        .route("/usage", get(usage))
        .layer(middleware::from_fn_with_state(
            service.clone(),
            authenticate,
        ));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .nest("/v1", v1)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(service)
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
            let span = tracing::info_span!("request", tenant = %tenant.name);
            request.extensions_mut().insert(tenant);
            next.run(request).instrument(span).await
        }
        Ok(None) => {
            ApiError::new(StatusCode::UNAUTHORIZED, "the token is not valid").into_response()
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Submission {
    description: String,
    name: Option<String>,
}

fn urls(p: &ProjectInfo) -> Value {
    let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
    v["status_url"] = json!(format!("/v1/projects/{}", p.id));
    v["events_url"] = json!(format!("/v1/projects/{}/events", p.id));
    v["files_url"] = json!(format!("/v1/projects/{}/files", p.id));
    v
}

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

#[derive(Deserialize)]
struct Page {
    limit: Option<u32>,
    offset: Option<u32>,
}

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

async fn usage(
    State(s): State<Shared>,
    Extension(tenant): Extension<Tenant>,
) -> Result<Json<Value>, ApiError> {
    let (st, name) = (s.clone(), tenant.name.clone());
    let (counts, tokens, disk) = off(move || {
        let counts = st.projects.counts(&name).map_err(ApiError::internal)?;
        let since = crate::db::now() - super::quotas::DAY;
        let (tokens, _) = st
            .rt
            .services()
            .db
            .with(|c| crate::llm::tenant_tokens(c, &name, since))
            .map_err(ApiError::internal)?;
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

/// Stops a queued or running project; it ends `cancelled`.
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

async fn files(
    State(s): State<Shared>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (_, ws) = ended_workspace(&s, &tenant, &id).await?;
    let entries = off(move || {
        ws.list("", true, crate::workspace::MAX_DEPTH, MAX_ENTRIES)
            .map_err(file_error)
    })
    .await?;
    let files: Vec<Value> = entries
        .iter()
        .filter(|e| e.kind == crate::bindings::nexus::agent::workspace::EntryKind::File)
        .map(|e| json!({ "path": e.path, "size": e.size }))
        .collect();
    Ok(Json(json!({ "files": files })))
}

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

//! An API node's copy of the cluster's projects: every project event, read
//! in order from the events stream, goes into the node's own database (the
//! point reached is kept with it, so a restarted node reads on from there),
//! then to whoever follows the project. A finished project's files are
//! fetched from the object store as it ends, so any API node serves them.

use super::{Cluster, ClusterError, Published};
use crate::Service;
use crate::projects::{Mirrored, Stamped};
use async_nats::jetstream::consumer::{self, DeliverPolicy};
use futures_util::StreamExt as _;
use nexus::sync::Stop;
use std::sync::Arc;
use std::time::Duration;

/// Copies the cluster's events into `service` until `stop`.
pub async fn mirror(service: Arc<Service>, cluster: Arc<Cluster>, stop: Stop) {
    loop {
        let run = async {
            let s = service.clone();
            let cursor = nexus::sync::off_thread(
                move || s.projects.cursor().map_err(|e| e.to_string()),
                |e| e.to_string(),
            )
            .await
            .map_err(ClusterError)?;
            let ordered = cluster
                .events
                .create_consumer(consumer::pull::OrderedConfig {
                    deliver_policy: DeliverPolicy::ByStartSequence {
                        start_sequence: cursor + 1,
                    },
                    filter_subject: format!("{}.events.>", cluster.namespace),
                    ..Default::default()
                })
                .await
                .map_err(|e| ClusterError(format!("NATS JetStream, following the events: {e}")))?;
            let mut messages = ordered
                .messages()
                .await
                .map_err(|e| ClusterError(format!("NATS JetStream, following the events: {e}")))?;
            let failed = |e: &dyn std::fmt::Display| {
                ClusterError(format!("NATS JetStream, the events: {e}"))
            };
            while let Some(m) = messages.next().await {
                // What has arrived meanwhile is kept in the same transaction.
                let mut batch = vec![m.map_err(|e| failed(&e))?];
                while batch.len() < BATCH {
                    match futures_util::FutureExt::now_or_never(messages.next()) {
                        Some(Some(m)) => batch.push(m.map_err(|e| failed(&e))?),
                        _ => break,
                    }
                }
                apply(&service, &cluster, &batch).await?;
            }
            Ok::<_, ClusterError>(())
        };
        tokio::select! {
            r = run => if let Err(e) = r {
                tracing::warn!(error = %e, "the cluster's events stopped; reading on shortly");
            },
            () = stop.stopped() => return,
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
            () = stop.stopped() => return,
        }
    }
}

/// Most events kept in one transaction.
const BATCH: usize = 256;

/// Applies a batch of events, in order, in one transaction.
async fn apply(
    service: &Arc<Service>,
    cluster: &Cluster,
    batch: &[async_nats::jetstream::Message],
) -> Result<(), ClusterError> {
    let mut kept = Vec::new();
    let mut last = 0;
    for m in batch {
        last = m
            .info()
            .map_err(|e| ClusterError(e.to_string()))?
            .stream_sequence;
        if let Some(event) = prepare(service, cluster, &m.subject, &m.payload).await? {
            kept.push(event);
        }
    }
    let shown: Vec<(String, Stamped)> = kept
        .iter()
        .map(|m| (m.id.clone(), m.event.clone()))
        .collect();
    let s = service.clone();
    let ends = off(move || s.projects.mirror(&kept, last)).await?;
    for ((id, e), ended) in shown.into_iter().zip(ends) {
        if let Some(ended) = ended {
            crate::projects::shown_to_followers(service, &id, e, ended).await;
        }
    }
    Ok(())
}

/// An event made ready to keep, or `None` when it is passed over: one
/// that does not read, or of a project removed or ended. A finished
/// project's files are unpacked here, before it is shown as done.
async fn prepare(
    service: &Arc<Service>,
    cluster: &Cluster,
    subject: &str,
    payload: &[u8],
) -> Result<Option<Mirrored>, ClusterError> {
    let parts: Vec<&str> = subject.split('.').collect();
    let parsed = serde_json::from_slice::<Published>(payload);
    let (Some(tenant), Some(id), Ok(e)) =
        (parts.get(parts.len().wrapping_sub(2)), parts.last(), parsed)
    else {
        tracing::warn!(subject, "an event that does not read was passed over");
        return Ok(None);
    };
    let (tenant, id) = (tenant.to_string(), id.to_string());
    let s = service.clone();
    let (t, i) = (tenant.clone(), id.clone());
    let known = off(move || s.projects.get(&t, &i)).await?;
    let record = match &known {
        Some(p) if !p.active() => return Ok(None),
        Some(_) => None,
        // Submitted through another API node.
        None => match cluster.record(&id).await? {
            Some(r) => Some(r),
            // Removed since.
            None => return Ok(None),
        },
    };
    if e.name == "done" {
        // The files first: a project shown as done can be downloaded.
        match cluster.archive(&id).await? {
            Some(bytes) => {
                let root = service.projects.root(&tenant, &id);
                let unpacked = tokio::task::spawn_blocking(move || {
                    let _ = std::fs::remove_dir_all(&root);
                    crate::project_dir(&root)?;
                    crate::archive::unpack(&bytes, &root)
                })
                .await
                .map_err(|e| ClusterError(e.to_string()))?;
                if let Err(err) = unpacked {
                    tracing::error!(project = %id, error = %err, "a finished project's files could not be unpacked");
                }
            }
            None => tracing::error!(project = %id, "a finished project has no archive"),
        }
    }
    Ok(Some(Mirrored {
        tenant,
        id,
        event: Stamped {
            seq: e.seq,
            name: e.name,
            data: e.data,
        },
        record,
    }))
}

async fn off<T: Send + 'static>(
    work: impl FnOnce() -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, ClusterError> {
    nexus::sync::off_thread(move || work().map_err(|e| e.to_string()), |e| e.to_string())
        .await
        .map_err(|e| ClusterError(format!("the projects' database: {e}")))
}

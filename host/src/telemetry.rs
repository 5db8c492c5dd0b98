//! What the host counts for its operator: each agent's tasks (how long
//! they took, how they failed) and each model's calls (latency, tokens).
//! `nexus serve` shows them, with its own, as Prometheus text at
//! `/metrics`. Nothing here names a tenant: agents and models are the
//! operator's.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AgentLabel {
    agent: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    agent: String,
    /// See [`crate::task::TaskFailure::kind`].
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabel {
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    model: String,
    /// `prompt` or `completion`.
    kind: &'static str,
}

fn task_buckets() -> Histogram {
    // 100 µs to about 7 minutes.
    Histogram::new(exponential_buckets(0.0001, 3.0, 14))
}

fn llm_buckets() -> Histogram {
    // 10 ms to about 3 minutes.
    Histogram::new(exponential_buckets(0.01, 2.0, 15))
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// The host's counters. Cheap to clone; clones count together.
#[derive(Clone)]
pub struct Telemetry {
    task_seconds: Histograms<AgentLabel>,
    task_failures: Family<FailureLabels, Counter>,
    llm_seconds: Histograms<ModelLabel>,
    llm_tokens: Family<TokenLabels, Counter>,
}

impl Default for Telemetry {
    fn default() -> Telemetry {
        Telemetry {
            task_seconds: Family::new_with_constructor(task_buckets),
            task_failures: Family::default(),
            llm_seconds: Family::new_with_constructor(llm_buckets),
            llm_tokens: Family::default(),
        }
    }
}

impl Telemetry {
    /// The histogram of `agent`'s task durations: an agent keeps it, so a
    /// task's end is counted without a lookup.
    pub fn task_timer(&self, agent: &str) -> Histogram {
        self.task_seconds
            .get_or_create(&AgentLabel {
                agent: agent.to_string(),
            })
            .clone()
    }

    /// A task of `agent` failed; `kind` says how.
    pub fn task_failed(&self, agent: &str, kind: String) {
        self.task_failures
            .get_or_create(&FailureLabels {
                agent: agent.to_string(),
                kind,
            })
            .inc();
    }

    /// A model answered (a cached answer is not counted).
    pub fn llm_call(&self, model: &str, took: Duration, prompt: u64, completion: u64) {
        let model = crate::text::clip(model, 100);
        self.llm_seconds
            .get_or_create(&ModelLabel {
                model: model.clone(),
            })
            .observe(took.as_secs_f64());
        for (kind, n) in [("prompt", prompt), ("completion", completion)] {
            self.llm_tokens
                .get_or_create(&TokenLabels {
                    model: model.clone(),
                    kind,
                })
                .inc_by(n);
        }
    }

    /// Adds the counters to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "nexus_task_duration_seconds",
            "Tasks by agent, start to reply",
            self.task_seconds.clone(),
        );
        registry.register(
            "nexus_task_failures",
            "Failed task attempts by agent and kind (trap, limit:<which>, agent, refused)",
            self.task_failures.clone(),
        );
        registry.register(
            "nexus_llm_call_duration_seconds",
            "Model calls by model",
            self.llm_seconds.clone(),
        );
        registry.register(
            "nexus_llm_tokens",
            "Tokens by model and kind (prompt, completion)",
            self.llm_tokens.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_as_prometheus_text() {
        let t = Telemetry::default();
        t.task_timer("backend").observe(0.5);
        t.clone().task_failed("qa", "limit:wall_time".into());
        t.llm_call("codellama:7b", Duration::from_millis(300), 10, 5);
        let mut registry = Registry::default();
        t.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("nexus_task_duration_seconds_count{agent=\"backend\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("nexus_task_failures_total{agent=\"qa\",kind=\"limit:wall_time\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("nexus_llm_tokens_total{model=\"codellama:7b\",kind=\"prompt\"} 10"),
            "{text}"
        );
    }
}

//! The memory host impl: checks the grant; the tenant comes from the
//! caller stamp, never from the guest.

use super::backend::MemoryStore;
use crate::bindings::Error;
use crate::bindings::nexus::agent::memory::{Hit, Host};
use crate::policy::{MemoryGrant, Size};
use crate::task::Caller;
use std::sync::Arc;

/// What the memory host impl sees of a task: who it is, its grant and the
/// knowledge base.
pub struct MemoryView<'a> {
    pub caller: &'a Caller,
    /// `None` when the policy has no `[memory]` section.
    pub grant: Option<&'a MemoryGrant>,
    /// False while the agent describes itself.
    pub in_task: bool,
    pub store: &'a Arc<dyn MemoryStore>,
}

/// Links the memory host impl to a store's [`MemoryView`].
pub struct HasMemory;

impl wasmtime::component::HasData for HasMemory {
    type Data<'a> = MemoryView<'a>;
}

impl MemoryView<'_> {
    fn grant(&self) -> Result<&MemoryGrant, Error> {
        if !self.in_task {
            return Err(Error::Denied("describe() may not use memory".into()));
        }
        self.grant
            .ok_or_else(|| Error::Denied("the policy has no [memory] section".into()))
    }

    /// Runs `f` on the knowledge base, off the async threads.
    async fn off_the_reactor<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn MemoryStore) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let store = self.store.clone();
        crate::sync::blocking("knowledge base", move || f(store.as_ref())).await
    }
}

impl Host for MemoryView<'_> {
    async fn remember(
        &mut self,
        key: String,
        text: String,
        tags: Vec<String>,
    ) -> Result<(), Error> {
        let grant = self.grant()?;
        if !grant.remember {
            return Err(Error::Denied("memory.remember is not granted".into()));
        }
        if key.is_empty() || key.len() > 256 {
            return Err(Error::Invalid("key must be 1 to 256 bytes".into()));
        }
        let size = (text.len() + tags.iter().map(String::len).sum::<usize>()) as u64;
        if size > grant.max_entry {
            return Err(Error::QuotaExceeded(format!(
                "the entry is {}; memory.max_entry is {}",
                Size(size),
                Size(grant.max_entry)
            )));
        }
        if tags.len() > 32
            || tags
                .iter()
                .any(|t| t.is_empty() || t.contains(char::is_whitespace))
        {
            return Err(Error::Invalid(
                "tags must be at most 32 words without spaces".into(),
            ));
        }
        let (tenant, agent) = (self.caller.tenant.clone(), self.caller.agent.clone());
        self.off_the_reactor(move |m| m.remember(&tenant, &agent, &key, &text, &tags))
            .await
    }

    async fn recall(&mut self, query: String, limit: u32) -> Result<Vec<Hit>, Error> {
        let grant = self.grant()?;
        if !grant.recall {
            return Err(Error::Denied("memory.recall is not granted".into()));
        }
        if query.len() > 4096 {
            return Err(Error::Invalid("query is longer than 4096 bytes".into()));
        }
        let tenant = self.caller.tenant.clone();
        self.off_the_reactor(move |m| m.recall(&tenant, &query, limit))
            .await
    }

    async fn forget(&mut self, key: String) -> Result<(), Error> {
        let grant = self.grant()?;
        if !grant.remember {
            return Err(Error::Denied("memory.remember is not granted".into()));
        }
        let tenant = self.caller.tenant.clone();
        self.off_the_reactor(move |m| m.forget(&tenant, &key)).await
    }
}

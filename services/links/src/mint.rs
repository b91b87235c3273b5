//! Minting: unique ids leased from Postgres in blocks, turned into codes by the keyed
//! permutation.
//!
//! One `nextval('link_ids')` hands this instance a whole block of ids (the sequence's
//! increment, 1000 by default), so creating a link costs no extra round trip for its id.
//! When a block runs low (under a fifth left) the next one is leased in the background,
//! so a create rarely waits for a lease. Ids of a block that an instance never uses (it
//! restarts) are simply skipped: gaps cost nothing, and codes never repeat.

use crate::codes::CodePermutation;
use crate::error::LinksError;
use crate::store::Store;
use prometheus::{IntCounter, Registry};
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};

/// Hands out ids and codes. Cheap to clone; clones share the leased blocks.
#[derive(Clone)]
pub struct Minter {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    permutation: CodePermutation,
    blocks: Mutex<Blocks>,
    /// Serializes leases so concurrent creates never lease two blocks at once.
    leasing: tokio::sync::Mutex<()>,
    codes_minted: IntCounter,
    blocks_leased: IntCounter,
}

#[derive(Default)]
struct Blocks {
    current: Range<i64>,
    next: Option<Range<i64>>,
    /// Size of the last block leased.
    size: i64,
    prefetching: bool,
}

impl Blocks {
    fn install(&mut self, block: Range<i64>) {
        self.size = block.end - block.start;
        if self.current.is_empty() {
            self.current = block;
        } else {
            self.next = Some(block);
        }
    }
}

impl Minter {
    pub fn new(store: Store, permutation: CodePermutation, registry: &Registry) -> Self {
        let codes_minted =
            IntCounter::new("hop_codes_minted_total", "Codes minted from sequence ids")
                .expect("valid metric");
        let blocks_leased = IntCounter::new(
            "hop_id_blocks_leased_total",
            "Blocks of ids leased from the link_ids sequence",
        )
        .expect("valid metric");
        hop_kit::metrics::register(registry, &codes_minted);
        hop_kit::metrics::register(registry, &blocks_leased);
        Self {
            inner: Arc::new(Inner {
                store,
                permutation,
                blocks: Mutex::new(Blocks::default()),
                leasing: tokio::sync::Mutex::new(()),
                codes_minted,
                blocks_leased,
            }),
        }
    }

    /// A fresh id and its code.
    pub async fn next_code(&self) -> Result<(i64, String), LinksError> {
        let id = self.next_id().await?;
        let code = u64::try_from(id)
            .ok()
            .and_then(|id| self.inner.permutation.code(id))
            .ok_or_else(|| {
                LinksError::Internal(format!("id {id} is outside the code space").into())
            })?;
        self.inner.codes_minted.inc();
        Ok((id, code))
    }

    /// A fresh id (also used for aliased links, which need an id but no code).
    pub async fn next_id(&self) -> Result<i64, LinksError> {
        loop {
            if let Some(id) = self.take() {
                return Ok(id);
            }
            let _leasing = self.inner.leasing.lock().await;
            // Another task may have leased while we waited.
            if self.has_ids() {
                continue;
            }
            let block = self.lease().await?;
            self.blocks().install(block);
        }
    }

    fn take(&self) -> Option<i64> {
        let mut blocks = self.blocks();
        if blocks.current.is_empty() {
            blocks.current = blocks.next.take()?;
        }
        let id = blocks.current.next()?;
        // Prefetch once fewer than a fifth of the block remains.
        let low = (blocks.current.end - blocks.current.start) * 5 <= blocks.size;
        if low && blocks.next.is_none() && !blocks.prefetching {
            blocks.prefetching = true;
            let minter = self.clone();
            tokio::spawn(async move { minter.prefetch().await });
        }
        Some(id)
    }

    fn has_ids(&self) -> bool {
        let blocks = self.blocks();
        !blocks.current.is_empty() || blocks.next.is_some()
    }

    async fn prefetch(&self) {
        let _leasing = self.inner.leasing.lock().await;
        let wanted = self.blocks().next.is_none();
        let leased = if wanted {
            Some(self.lease().await)
        } else {
            None
        };
        let mut blocks = self.blocks();
        blocks.prefetching = false;
        match leased {
            Some(Ok(block)) => blocks.install(block),
            Some(Err(e)) => tracing::warn!(error = %e, "id_block_prefetch_failed"),
            None => {}
        }
    }

    /// One round trip: the block's first id, and its size (the sequence's increment).
    async fn lease(&self) -> Result<Range<i64>, LinksError> {
        let (start, size) = self.inner.store.lease_ids().await?;
        self.inner.blocks_leased.inc();
        tracing::debug!(start, size, "id_block_leased");
        Ok(start..start + size.max(1))
    }

    fn blocks(&self) -> MutexGuard<'_, Blocks> {
        self.inner.blocks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

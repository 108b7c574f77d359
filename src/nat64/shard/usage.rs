//! What a shard holds, by protocol and by pool4 address: kept up to date where bindings
//! and sessions come and go (a few integer additions), so that the metrics endpoint
//! reads it without walking the tables.

use super::bib::NO_POOL;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// Sessions by protocol (`Proto as usize`).
    pub sessions: [usize; 3],
    /// Bindings by protocol.
    pub bibs: [usize; 3],
    /// Ports held on each pool4 address (index as in the pool), all protocols: one per
    /// binding, static ones on a pool4 address included.
    pub ports: Vec<u32>,
}

impl Usage {
    pub(super) fn new(addrs: usize) -> Usage {
        Usage {
            sessions: [0; 3],
            bibs: [0; 3],
            ports: vec![0; addrs],
        }
    }

    /// Room for `addrs` pool4 addresses (a reload added some).
    pub(super) fn grow(&mut self, addrs: usize) {
        if addrs > self.ports.len() {
            self.ports.resize(addrs, 0);
        }
    }

    /// A binding of `proto` on pool4 address `pool` came (`delta` 1) or went (-1).
    pub(super) fn add_bib(&mut self, proto: u8, pool: u16, delta: i8) {
        let add = |v: &mut usize| *v = v.wrapping_add_signed(isize::from(delta));
        if let Some(n) = self.bibs.get_mut(usize::from(proto)) {
            add(n);
        }
        if pool != NO_POOL
            && let Some(n) = self.ports.get_mut(usize::from(pool))
        {
            *n = n.wrapping_add_signed(i32::from(delta));
        }
    }
}

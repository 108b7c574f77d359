//! AF_XDP sockets and the UMEM they share, over libc.
//!
//! One [`Umem`] per worker: one anonymous mapping of [`FRAMES`] frames of
//! [`FRAME_SIZE`] bytes, shared by the worker's socket on each interface (the second
//! binds with XDP_SHARED_UMEM and its own fill and completion rings, Linux 5.10+), so a
//! frame received on one interface can be translated where it lies and sent on the
//! other. A frame is at any time either free (in [`Umem`]'s pool), the kernel's (on a
//! fill ring or being received into, or on a TX ring until the completion ring gives it
//! back), or the worker's (received, until sent in place or returned to the pool). The
//! rings are single-producer/single-consumer between this thread and the kernel: we read
//! the other side's index with Acquire and publish ours with Release, as
//! `tools/lib/bpf/xsk.h` does.
//!
//! Each worker owns its sockets and UMEM; nothing here is shared between threads.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

/// Bytes per UMEM frame: one page, as the kernel's copy mode on any driver allows.
pub const FRAME_SIZE: usize = 4096;
/// Frames per worker (both sockets): up to [`RX_FRAMES`] with each socket's receive
/// side, the rest for frames in flight on the TX rings and copies.
pub const FRAMES: usize = 4096;
/// Frames each socket keeps on its fill ring for the kernel to receive into.
const RX_FRAMES: u32 = 1024;
/// Entries per ring (a power of two).
const RING: u32 = 2048;
/// What the kernel keeps in front of every received frame (XDP_PACKET_HEADROOM).
pub const KERNEL_HEADROOM: usize = 256;
/// The largest frame a UMEM frame holds once the kernel's headroom is taken.
pub const MAX_FRAME: usize = FRAME_SIZE - KERNEL_HEADROOM;

/// One mmap'd region, unmapped on drop.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn anonymous(len: usize) -> io::Result<Mapping> {
        // SAFETY: a fresh private anonymous mapping; no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        Self::from_result(p, len)
    }

    fn ring(fd: RawFd, len: usize, offset: u64) -> io::Result<Mapping> {
        // SAFETY: maps the ring the kernel allocated for this socket at `offset`
        // (one of the XDP_*PGOFF* constants) with the length it reported; shared, so
        // both sides see each other's index updates.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                offset as libc::off_t,
            )
        };
        Self::from_result(p, len)
    }

    fn from_result(p: *mut libc::c_void, len: usize) -> io::Result<Mapping> {
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap gave NULL"))?;
        Ok(Mapping { ptr, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `mmap` returned; no reference into it outlives the
        // owner (rings and UMEM are only reached through the `Xsk` that owns them).
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// One ring: producer and consumer indexes shared with the kernel, and the entries.
struct Ring<T> {
    /// Held for its Drop: the pointers below point into it.
    _map: Mapping,
    producer: NonNull<AtomicU32>,
    consumer: NonNull<AtomicU32>,
    desc: NonNull<T>,
    mask: u32,
}

impl<T: Copy> Ring<T> {
    fn new(fd: RawFd, off: &libc::xdp_ring_offset, pgoff: u64) -> io::Result<Ring<T>> {
        let len = off.desc as usize + RING as usize * std::mem::size_of::<T>();
        let map = Mapping::ring(fd, len, pgoff)?;
        let at = |o: u64| {
            // SAFETY: the kernel's offsets lie inside the mapping it sized (len above).
            unsafe { NonNull::new_unchecked(map.ptr.as_ptr().add(o as usize)) }
        };
        Ok(Ring {
            producer: at(off.producer).cast(),
            consumer: at(off.consumer).cast(),
            desc: at(off.desc).cast(),
            mask: RING - 1,
            _map: map,
        })
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: points into our live mapping, u32-aligned by the kernel; the kernel
        // only ever accesses it atomically (smp_load_acquire / smp_store_release).
        unsafe { self.producer.as_ref() }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { self.consumer.as_ref() }
    }

    fn read(&self, idx: u32) -> T {
        // SAFETY: `idx & mask` < RING entries, all inside the mapping; the entry was
        // published by the producer (we read it after an Acquire of its index).
        unsafe {
            self.desc
                .as_ptr()
                .add((idx & self.mask) as usize)
                .read_volatile()
        }
    }

    fn write(&self, idx: u32, v: T) {
        // SAFETY: as for `read`; the entry is ours until we publish the producer index.
        unsafe {
            self.desc
                .as_ptr()
                .add((idx & self.mask) as usize)
                .write_volatile(v)
        }
    }
}

/// The frames both of a worker's sockets use, and the free ones among them.
pub struct Umem {
    map: Mapping,
    /// Frame addresses (offsets of a frame's first byte) nobody holds.
    free: Vec<u64>,
}

impl Umem {
    pub fn new() -> io::Result<Umem> {
        Ok(Umem {
            map: Mapping::anonymous(FRAMES * FRAME_SIZE)?,
            free: (0..FRAMES).rev().map(|i| (i * FRAME_SIZE) as u64).collect(),
        })
    }

    /// The first byte of the mapping: frame addresses are offsets from here.
    pub fn base(&self) -> NonNull<u8> {
        self.map.ptr
    }

    /// Gives a frame back to the pool (`addr` anywhere inside it).
    #[inline]
    pub fn release(&mut self, addr: u64) {
        self.free.push(addr & !(FRAME_SIZE as u64 - 1));
    }

    /// The frame containing `addr`, whole, if it lies inside the UMEM.
    pub fn frame_of(&self, addr: u64) -> Option<(u64, NonNull<u8>)> {
        let base = addr & !(FRAME_SIZE as u64 - 1);
        let at = usize::try_from(base).ok()?;
        if at.checked_add(FRAME_SIZE)? > self.map.len {
            return None;
        }
        // SAFETY: `at + FRAME_SIZE` <= the mapping's length (checked above).
        Some((base, unsafe {
            NonNull::new_unchecked(self.map.ptr.as_ptr().add(at))
        }))
    }
}

/// An AF_XDP socket bound to one queue of one interface; its frames are a [`Umem`]'s.
pub struct Xsk {
    // Field order is drop order: rings are unmapped before the socket closes.
    rx: Ring<libc::xdp_desc>,
    tx: Ring<libc::xdp_desc>,
    fill: Ring<u64>,
    comp: Ring<u64>,
    /// Frames on the fill ring or being received into.
    rx_held: u32,
    /// TX descriptors written but not yet published.
    tx_pending: u32,
    fd: OwnedFd,
}

// SAFETY: the raw pointers all point into mappings this value owns; moving the value to
// the worker thread moves that ownership with it, and no other thread keeps a pointer.
unsafe impl Send for Xsk {}

// SAFETY: as for `Xsk`: the mapping moves with its owner.
unsafe impl Send for Umem {}

fn setsockopt<T>(fd: RawFd, opt: libc::c_int, v: &T) -> io::Result<()> {
    // SAFETY: `v` is a live value of the type the option expects, passed with its size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_XDP,
            opt,
            (v as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn mmap_offsets(raw: RawFd) -> io::Result<libc::xdp_mmap_offsets> {
    // SAFETY: all-zero is a valid xdp_mmap_offsets (plain integers).
    let mut off: libc::xdp_mmap_offsets = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::xdp_mmap_offsets>() as libc::socklen_t;
    // SAFETY: `off` is writable for `len` bytes; the kernel writes at most that.
    let r = unsafe {
        libc::getsockopt(
            raw,
            libc::SOL_XDP,
            libc::XDP_MMAP_OFFSETS,
            (&mut off as *mut libc::xdp_mmap_offsets).cast(),
            &mut len,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(off)
}

impl Xsk {
    /// Creates a socket on `umem` and binds it to `queue` of `ifindex` (copy mode when
    /// `copy`, else whatever the driver offers). The first socket of a UMEM registers
    /// it (`share` None); the second shares it with that one (`share` its descriptor).
    pub fn open(
        ifindex: u32,
        queue: u32,
        copy: bool,
        umem: &mut Umem,
        share: Option<RawFd>,
    ) -> io::Result<Xsk> {
        // SAFETY: plain socket(2); the descriptor is checked and owned right after.
        let raw = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        if share.is_none() {
            let reg = libc::xdp_umem_reg {
                addr: umem.map.ptr.as_ptr() as u64,
                len: umem.map.len as u64,
                chunk_size: FRAME_SIZE as u32,
                headroom: 0,
                flags: 0,
                tx_metadata_len: 0,
            };
            setsockopt(raw, libc::XDP_UMEM_REG, &reg)?;
        }
        for opt in [
            libc::XDP_UMEM_FILL_RING,
            libc::XDP_UMEM_COMPLETION_RING,
            libc::XDP_RX_RING,
            libc::XDP_TX_RING,
        ] {
            setsockopt(raw, opt, &RING)?;
        }
        let off = mmap_offsets(raw)?;
        let mut xsk = Xsk {
            rx: Ring::new(raw, &off.rx, libc::XDP_PGOFF_RX_RING as u64)?,
            tx: Ring::new(raw, &off.tx, libc::XDP_PGOFF_TX_RING as u32 as u64)?,
            fill: Ring::new(raw, &off.fr, libc::XDP_UMEM_PGOFF_FILL_RING)?,
            comp: Ring::new(raw, &off.cr, libc::XDP_UMEM_PGOFF_COMPLETION_RING)?,
            rx_held: 0,
            tx_pending: 0,
            fd,
        };
        xsk.refill(umem);
        let mut flags = if copy { libc::XDP_COPY } else { 0 };
        if share.is_some() {
            flags |= libc::XDP_SHARED_UMEM;
        }
        let sa = libc::sockaddr_xdp {
            sxdp_family: libc::AF_XDP as u16,
            sxdp_flags: flags,
            sxdp_ifindex: ifindex,
            sxdp_queue_id: queue,
            sxdp_shared_umem_fd: share.map_or(0, |fd| fd as u32),
        };
        // SAFETY: `sa` is a valid sockaddr_xdp passed with its size.
        let r = unsafe {
            libc::bind(
                raw,
                (&sa as *const libc::sockaddr_xdp).cast(),
                std::mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(xsk)
    }

    /// Tops the fill ring up to [`RX_FRAMES`] frames from the pool.
    #[inline]
    pub fn refill(&mut self, umem: &mut Umem) {
        let want = RX_FRAMES.saturating_sub(self.rx_held);
        if want == 0 {
            return;
        }
        let prod = self.fill.producer().load(Ordering::Relaxed);
        let mut n = 0;
        while n < want {
            let Some(addr) = umem.free.pop() else { break };
            self.fill.write(prod.wrapping_add(n), addr);
            n += 1;
        }
        self.fill
            .producer()
            .store(prod.wrapping_add(n), Ordering::Release);
        self.rx_held += n;
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Calls `f` with the address and length of each received frame (at most `max`);
    /// the frames are the caller's from then on (to send, or to give back to the
    /// pool). Returns how many were seen.
    #[inline]
    pub fn recv(&mut self, max: usize, mut f: impl FnMut(u64, usize)) -> usize {
        let cons = self.rx.consumer().load(Ordering::Relaxed);
        let prod = self.rx.producer().load(Ordering::Acquire);
        let n = prod.wrapping_sub(cons).min(max as u32);
        for i in 0..n {
            let d = self.rx.read(cons.wrapping_add(i));
            f(d.addr, d.len as usize);
        }
        self.rx
            .consumer()
            .store(cons.wrapping_add(n), Ordering::Release);
        self.rx_held = self.rx_held.saturating_sub(n);
        n as usize
    }

    /// Takes back the transmit frames the kernel has finished with.
    fn reap(&mut self, umem: &mut Umem) {
        let cons = self.comp.consumer().load(Ordering::Relaxed);
        let prod = self.comp.producer().load(Ordering::Acquire);
        let n = prod.wrapping_sub(cons);
        for i in 0..n {
            umem.release(self.comp.read(cons.wrapping_add(i)));
        }
        self.comp.consumer().store(prod, Ordering::Release);
    }

    /// Queues `len` bytes at `addr` of the UMEM, a frame the caller holds (sent at
    /// [`flush`](Self::flush); the frame comes back to the pool on completion).
    /// ENOBUFS when the TX ring is full.
    #[inline]
    pub fn send_at(&mut self, addr: u64, len: usize) -> io::Result<()> {
        let cons = self.tx.consumer().load(Ordering::Acquire);
        let prod = self.tx.producer().load(Ordering::Relaxed);
        if prod.wrapping_add(self.tx_pending).wrapping_sub(cons) >= RING {
            return Err(io::Error::from_raw_os_error(libc::ENOBUFS));
        }
        self.tx.write(
            prod.wrapping_add(self.tx_pending),
            libc::xdp_desc {
                addr,
                len: len as u32,
                options: 0,
            },
        );
        self.tx_pending += 1;
        Ok(())
    }

    /// Builds one frame of `len` bytes with `fill` in a free frame and queues it (sent at
    /// [`flush`](Self::flush)). ENOBUFS when no frame is free.
    #[inline]
    pub fn send(
        &mut self,
        umem: &mut Umem,
        len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> io::Result<()> {
        if len > MAX_FRAME {
            return Err(io::Error::from_raw_os_error(libc::EMSGSIZE));
        }
        if umem.free.is_empty() {
            self.flush(umem);
        }
        let Some(addr) = umem.free.pop() else {
            return Err(io::Error::from_raw_os_error(libc::ENOBUFS));
        };
        // SAFETY: `addr` is the start of a free frame (FRAME_SIZE bytes inside the
        // UMEM): nobody else holds it; `len` <= MAX_FRAME < FRAME_SIZE.
        let buf = unsafe {
            std::slice::from_raw_parts_mut(umem.map.ptr.as_ptr().add(addr as usize), len)
        };
        fill(buf);
        self.send_at(addr, len).inspect_err(|_| umem.release(addr))
    }

    /// Publishes the queued frames, asks the kernel to send them, and takes back the
    /// frames it finished with.
    #[inline]
    pub fn flush(&mut self, umem: &mut Umem) {
        if self.tx_pending > 0 {
            let prod = self.tx.producer().load(Ordering::Relaxed);
            self.tx
                .producer()
                .store(prod.wrapping_add(self.tx_pending), Ordering::Release);
            self.tx_pending = 0;
            // SAFETY: a zero-length sendto on our socket: the AF_XDP "kick" that makes
            // the kernel walk the TX ring (copy mode needs it for every batch).
            unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    std::ptr::null(),
                    0,
                    libc::MSG_DONTWAIT,
                    std::ptr::null(),
                    0,
                );
            }
        }
        self.reap(umem);
    }
}

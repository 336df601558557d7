//! Reusing one live instance per worker by putting its linear memory back to the
//! state it had right after instantiation (Linux only).
//!
//! Instantiating the guest costs more than running a typical program: wasmtime
//! resets the pooled memory slot (~1.5 ms) and the guest's dynamic-linking start
//! code fills its function tables (~0.6 ms). Instead, the engine allocates guest
//! memories through [`HostMemoryCreator`], and after instantiation
//! [`MemorySnapshot::capture`] copies each memory into a `memfd` and maps that file
//! privately over the memory. A page the guest writes becomes an anonymous
//! copy-on-write page; every other page stays backed by the file. After a run,
//! [`MemorySnapshot::restore`] asks the kernel for the anonymous pages
//! (`PAGEMAP_SCAN`, Linux 6.7+) and copies the snapshot's bytes back over them,
//! so the memory is byte-identical to the snapshot again.
//!
//! The rest of the instance state is unchanged by a run that returns normally:
//! the stack pointer is restored by the call, function tables and the other
//! globals are written only by start code, and the caller checks that no host
//! resource is still alive. The caller discards the instance instead of
//! restoring it whenever that argument does not hold: after a trap, when a
//! memory grew (the guest's allocator would then lay out objects differently),
//! or when a host resource outlived the run.

use std::cell::RefCell;
use std::ffi::c_void;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use wasmtime::{LinearMemory, MemoryCreator, MemoryType};

/// Host page size assumed by the page arithmetic below (checked at runtime).
const PAGE: usize = 4096;
/// `PAGEMAP_SCAN` = `_IOWR('f', 16, struct pm_scan_arg)` (96 bytes).
const PAGEMAP_SCAN: libc::c_ulong = 0xC060_6610;
const PAGE_IS_FILE: u64 = 1 << 2;
const PAGE_IS_PRESENT: u64 = 1 << 3;
const PAGE_IS_SWAPPED: u64 = 1 << 4;
/// Dirty regions fetched per `PAGEMAP_SCAN` call; the scan resumes if there are more.
const REGIONS_PER_SCAN: usize = 512;

/// `struct pm_scan_arg` from `linux/fs.h`.
#[repr(C)]
struct PmScanArg {
    size: u64,
    flags: u64,
    start: u64,
    end: u64,
    walk_end: u64,
    vec: u64,
    vec_len: u64,
    max_pages: u64,
    category_inverted: u64,
    category_mask: u64,
    category_anyof_mask: u64,
    return_mask: u64,
}

/// `struct page_region` from `linux/fs.h`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct PageRegion {
    start: u64,
    end: u64,
    categories: u64,
}

/// Where one guest memory lives and how large it is now. Shared between the
/// memory (which updates the length on growth) and its snapshot.
#[derive(Debug)]
pub struct MemoryView {
    base: usize,
    len: AtomicUsize,
}

impl MemoryView {
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

thread_local! {
    /// Memories created on this thread since the last [`take_created`].
    static CREATED: RefCell<Vec<Arc<MemoryView>>> = const { RefCell::new(Vec::new()) };
}

/// The memories created on this thread since the last call: instantiation runs
/// on the calling thread, so these are the new instance's memories.
pub fn take_created() -> Vec<Arc<MemoryView>> {
    CREATED.with(|created| std::mem::take(&mut *created.borrow_mut()))
}

/// Allocates guest memories as plain anonymous mappings the host can remap.
pub struct HostMemoryCreator;

// SAFETY: every memory reserves `reserved + guard` bytes of address space, so the
// base never moves and the guard region stays unmapped, as wasmtime's compiled
// bounds checks require.
unsafe impl MemoryCreator for HostMemoryCreator {
    fn new_memory(
        &self,
        _ty: MemoryType,
        minimum: usize,
        maximum: Option<usize>,
        reserved_size_in_bytes: Option<usize>,
        guard_size_in_bytes: usize,
    ) -> Result<Box<dyn LinearMemory>, String> {
        let capacity = reserved_size_in_bytes.or(maximum).unwrap_or(1 << 32);
        if minimum > capacity {
            return Err(format!("memory minimum {minimum} exceeds its reservation {capacity}"));
        }
        let reservation = capacity
            .checked_add(guard_size_in_bytes)
            .ok_or_else(|| "memory reservation overflows".to_string())?;
        // SAFETY: a fresh private anonymous mapping; no existing memory is affected.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                reservation,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(format!("reserving guest memory: {}", std::io::Error::last_os_error()));
        }
        let mut memory = HostMemory {
            base: base.cast(),
            reservation,
            capacity,
            view: Arc::new(MemoryView {
                base: base as usize,
                len: AtomicUsize::new(0),
            }),
        };
        // Instantiation writes the whole initial image and a growing program touches
        // fresh pages: transparent huge pages make both far fewer page faults (about
        // 2x faster to instantiate here). Advice only; ignored where THP is off.
        // SAFETY: advises our own reservation.
        unsafe { libc::madvise(base, capacity, libc::MADV_HUGEPAGE) };
        memory.make_accessible(minimum).map_err(|e| e.to_string())?;
        CREATED.with(|created| created.borrow_mut().push(Arc::clone(&memory.view)));
        Ok(Box::new(memory))
    }
}

struct HostMemory {
    base: *mut u8,
    reservation: usize,
    capacity: usize,
    view: Arc<MemoryView>,
}

// SAFETY: the mapping is owned by this value and only touched through wasmtime,
// which serialises access per store.
unsafe impl Send for HostMemory {}
// SAFETY: as above; `&HostMemory` exposes no mutation.
unsafe impl Sync for HostMemory {}

impl HostMemory {
    fn make_accessible(&mut self, new_len: usize) -> std::io::Result<()> {
        let len = self.view.len();
        if new_len <= len {
            return Ok(());
        }
        // SAFETY: [len, new_len) lies inside this memory's own reservation.
        let status = unsafe {
            libc::mprotect(
                self.base.add(len).cast(),
                new_len - len,
                libc::PROT_READ | libc::PROT_WRITE,
            )
        };
        if status != 0 {
            return Err(std::io::Error::last_os_error());
        }
        self.view.len.store(new_len, Ordering::Release);
        Ok(())
    }
}

// SAFETY: `as_ptr` is stable for the memory's lifetime and `byte_size` bytes from
// it are readable and writable.
unsafe impl LinearMemory for HostMemory {
    fn byte_size(&self) -> usize {
        self.view.len()
    }

    fn byte_capacity(&self) -> usize {
        self.capacity
    }

    fn grow_to(&mut self, new_size: usize) -> wasmtime::Result<()> {
        if new_size > self.capacity {
            return Err(wasmtime::Error::msg(format!(
                "guest memory cannot grow to {new_size} bytes (reservation {})",
                self.capacity
            )));
        }
        self.make_accessible(new_size).map_err(wasmtime::Error::new)
    }

    fn as_ptr(&self) -> *mut u8 {
        self.base
    }
}

impl Drop for HostMemory {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the reservation made in `new_memory` (including any
        // snapshot mapping placed inside it); wasmtime no longer uses the memory.
        unsafe {
            libc::munmap(self.base.cast(), self.reservation);
        }
    }
}

/// Finds the pages of a memory that differ from their file backing.
pub struct PageScanner {
    pagemap: File,
}

impl PageScanner {
    /// Opens `/proc/self/pagemap` and checks that the kernel supports `PAGEMAP_SCAN`.
    pub fn new() -> std::io::Result<Self> {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if usize::try_from(page).ok() != Some(PAGE) {
            return Err(std::io::Error::other(format!("host page size {page} is not {PAGE}")));
        }
        let scanner = PageScanner {
            pagemap: File::open("/proc/self/pagemap")?,
        };
        scanner.probe()?;
        Ok(scanner)
    }

    /// Runs one whole cycle on a page of our own, as an instance's memory goes
    /// through it: capture (a sealed image mapped privately over the page), a
    /// write, a scan that must find exactly that page, and the restore.
    fn probe(&self) -> std::io::Result<()> {
        // SAFETY: a fresh private anonymous mapping, unmapped below.
        let page = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if page == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let byte = page.cast::<u8>();
        let cycle = || -> std::io::Result<()> {
            // SAFETY: the page is mapped read-write and only this function uses it.
            unsafe { byte.write_volatile(7) };
            let view = Arc::new(MemoryView {
                base: page as usize,
                len: AtomicUsize::new(PAGE),
            });
            // SAFETY: no wasm runs in this page; the page outlives the snapshot.
            let mut snapshot = unsafe { MemorySnapshot::capture(view, None) }?;
            // SAFETY: as above; the write lands in a private copy of the image.
            let copied = unsafe {
                byte.write_volatile(9);
                snapshot.restore(self)
            };
            let copied = copied.map_err(|e| match e {
                RestoreError::Io(e) => e,
                RestoreError::Grew => std::io::Error::other("probe page grew"),
            })?;
            // SAFETY: as above.
            let restored = unsafe { byte.read_volatile() };
            if copied != PAGE || restored != 7 || snapshot.image().bytes()[0] != 7 {
                return Err(std::io::Error::other(
                    "PAGEMAP_SCAN or private mappings of a sealed image do not behave as reset needs",
                ));
            }
            Ok(())
        };
        let result = cycle();
        // SAFETY: unmaps the probe mapping created above (and the image mapped over it).
        unsafe { libc::munmap(page, PAGE) };
        result
    }

    /// Appends to `out` the `(offset, len)` of every run of anonymous pages in
    /// `[base, base + len)`, resident or not (swapped out, or mid-migration during
    /// compaction): in a private file mapping, the pages written since it was
    /// mapped (or last restored).
    fn written_regions(&self, base: usize, len: usize, out: &mut Vec<(usize, usize)>) -> std::io::Result<()> {
        let mut buffer = [PageRegion::default(); REGIONS_PER_SCAN];
        let end = base + len;
        let mut start = base;
        while start < end {
            let mut arg = PmScanArg {
                size: std::mem::size_of::<PmScanArg>() as u64,
                flags: 0,
                start: start as u64,
                end: end as u64,
                walk_end: 0,
                vec: buffer.as_mut_ptr() as u64,
                vec_len: REGIONS_PER_SCAN as u64,
                max_pages: 0,
                category_inverted: PAGE_IS_FILE,
                category_mask: PAGE_IS_FILE,
                category_anyof_mask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
                return_mask: 0,
            };
            // SAFETY: `arg` and `buffer` are valid for the kernel to read and write,
            // and `vec_len` is the buffer's length.
            let count = unsafe { libc::ioctl(self.pagemap.as_raw_fd(), PAGEMAP_SCAN as _, &mut arg) };
            let count = usize::try_from(count).map_err(|_| std::io::Error::last_os_error())?;
            for region in &buffer[..count.min(REGIONS_PER_SCAN)] {
                let (lo, hi) = (region.start as usize, region.end as usize);
                if lo < base || hi > end || lo >= hi {
                    return Err(std::io::Error::other(
                        "PAGEMAP_SCAN returned a region outside the range",
                    ));
                }
                out.push((lo - base, hi - lo));
            }
            let walk_end = arg.walk_end as usize;
            if walk_end <= start {
                return Err(std::io::Error::other("PAGEMAP_SCAN made no progress"));
            }
            start = walk_end;
        }
        Ok(())
    }
}

/// Why a memory could not be restored (the instance must be discarded).
#[derive(Debug)]
pub enum RestoreError {
    /// The memory grew during the run.
    Grew,
    /// The kernel refused a scan.
    Io(std::io::Error),
}

/// The bytes of a memory right after instantiation, in a `memfd` sealed
/// against writes and resizing. Every instance of one guest has the
/// same post-instantiation memory, so one image serves all of a sandbox's workers.
pub struct SnapshotImage {
    file: OwnedFd,
    /// The image mapped read-only and shared: the source of restores and comparisons.
    source: *const u8,
    len: usize,
}

// SAFETY: `source` is a read-only mapping owned by this value and never written.
unsafe impl Send for SnapshotImage {}
// SAFETY: as above; shared access only reads.
unsafe impl Sync for SnapshotImage {}

impl SnapshotImage {
    /// Copies `len` bytes at `base` into a new image.
    ///
    /// # Safety
    /// `[base, base + len)` must be readable and not written during the call.
    unsafe fn copy_of(base: *const u8, len: usize) -> std::io::Result<Self> {
        // SAFETY: a new anonymous file owned by the OwnedFd below.
        let fd = unsafe {
            libc::memfd_create(
                c"azr-guest-memory".as_ptr(),
                libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fd is a freshly created descriptor we own.
        let file = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut written = 0;
        while written < len {
            // SAFETY: the caller guarantees [base, base + len) is readable.
            let n = unsafe { libc::write(fd, base.add(written).cast::<c_void>(), len - written) };
            let n = usize::try_from(n).map_err(|_| std::io::Error::last_os_error())?;
            if n == 0 {
                return Err(std::io::Error::other("short write of the memory snapshot"));
            }
            written += n;
        }
        // The image must never change: seal it against writes and resizing. The private
        // writable mappings over guest memory stay allowed (copy-on-write never reaches the file).
        // F_SEAL_FUTURE_WRITE, not F_SEAL_WRITE: the latter also waits for every page of
        // the file to lose its transient kernel references (LRU batches, reclaim, migration)
        // and gives up with EBUSY after ~150 ms, which a loaded machine hit in CI. Nobody
        // else holds this descriptor and it has no writable mapping, so refusing all
        // writes from now on is the whole guarantee needed.
        let seals = libc::F_SEAL_FUTURE_WRITE | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        // SAFETY: fcntl on our own descriptor.
        if unsafe { libc::fcntl(fd, libc::F_ADD_SEALS, seals) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let source = if len == 0 {
            std::ptr::null()
        } else {
            // SAFETY: maps the file we just wrote, read-only, at a fresh address.
            let source = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, fd, 0) };
            if source == libc::MAP_FAILED {
                return Err(std::io::Error::last_os_error());
            }
            source.cast::<u8>().cast_const()
        };
        Ok(SnapshotImage { file, source, len })
    }

    fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `source` maps `len` readable bytes for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.source, self.len) }
    }
}

impl Drop for SnapshotImage {
    fn drop(&mut self) {
        if !self.source.is_null() {
            // SAFETY: unmaps the read-only view created in `copy_of`.
            unsafe { libc::munmap(self.source.cast_mut().cast(), self.len) };
        }
    }
}

/// One live memory mapped privately over its [`SnapshotImage`], so the kernel
/// can tell which pages changed since.
pub struct MemorySnapshot {
    view: Arc<MemoryView>,
    image: Arc<SnapshotImage>,
    regions: Vec<(usize, usize)>,
}

impl MemorySnapshot {
    /// Maps an image of the memory's current contents privately over it: `shared`
    /// when the memory equals it byte for byte (the usual case: every instance of
    /// a guest starts identical), else a new image.
    ///
    /// # Safety
    /// No wasm code may run in the memory's store during the call, and the store
    /// must outlive the snapshot's use in [`MemorySnapshot::restore`].
    pub unsafe fn capture(view: Arc<MemoryView>, shared: Option<&Arc<SnapshotImage>>) -> std::io::Result<Self> {
        let len = view.len();
        let base = view.base as *mut u8;
        // SAFETY: the memory has `len` readable bytes and no wasm runs (caller).
        let current = unsafe { std::slice::from_raw_parts(base.cast_const(), len) };
        let image = match shared {
            Some(image) if image.len == len && image.bytes() == current => Arc::clone(image),
            // SAFETY: as above.
            _ => Arc::new(unsafe { SnapshotImage::copy_of(base, len) }?),
        };
        if len > 0 {
            // SAFETY: replaces the memory's pages with a private mapping of identical
            // contents at the same address (the caller guarantees no wasm is running).
            let mapped = unsafe {
                libc::mmap(
                    base.cast(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_FIXED,
                    image.file.as_raw_fd(),
                    0,
                )
            };
            if mapped == libc::MAP_FAILED {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(MemorySnapshot {
            view,
            image,
            regions: Vec::new(),
        })
    }

    /// The image this memory restores from (to share with later instances).
    pub fn image(&self) -> &Arc<SnapshotImage> {
        &self.image
    }

    /// Copies the image back over every page written since the last restore.
    /// Returns the number of bytes copied.
    ///
    /// # Safety
    /// No wasm code may run in the memory's store during the call.
    pub unsafe fn restore(&mut self, scanner: &PageScanner) -> Result<usize, RestoreError> {
        let len = self.image.len;
        if self.view.len() != len {
            return Err(RestoreError::Grew);
        }
        self.regions.clear();
        scanner
            .written_regions(self.view.base, len, &mut self.regions)
            .map_err(RestoreError::Io)?;
        let base = self.view.base as *mut u8;
        let mut copied = 0;
        for &(offset, region_len) in &self.regions {
            // SAFETY: the region lies inside both the memory and the image view
            // (checked in `written_regions`), which do not overlap.
            unsafe { std::ptr::copy_nonoverlapping(self.image.source.add(offset), base.add(offset), region_len) };
            copied += region_len;
        }
        Ok(copied)
    }

    /// Whether the memory's bytes equal the image (a full comparison, for tests).
    ///
    /// # Safety
    /// No wasm code may run in the memory's store during the call.
    pub unsafe fn matches(&self) -> bool {
        let len = self.image.len;
        if self.view.len() != len {
            return false;
        }
        // SAFETY: the memory has `len` readable bytes.
        unsafe { std::slice::from_raw_parts(self.view.base as *const u8, len) == self.image.bytes() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_memory(pages: usize) -> Box<dyn LinearMemory> {
        let ty = MemoryType::new(1, None);
        HostMemoryCreator
            .new_memory(ty, pages * PAGE, None, Some(1 << 24), 1 << 16)
            .expect("memory")
    }

    #[test]
    fn restore_undoes_writes_and_nothing_else() {
        let Ok(scanner) = PageScanner::new() else {
            eprintln!("PAGEMAP_SCAN unsupported here; skipping");
            return;
        };
        let _ = take_created();
        let memory = new_memory(64);
        let view = take_created().pop().expect("registered");
        let base = memory.as_ptr();
        // SAFETY: 64 pages are accessible and nothing else uses them.
        unsafe {
            for page in 0..64 {
                base.add(page * PAGE + 7).write((page % 251) as u8 + 1);
            }
        }
        // SAFETY: no wasm runs here.
        let mut snapshot = unsafe { MemorySnapshot::capture(view, None) }.expect("capture");
        // SAFETY: as above.
        unsafe {
            base.add(3 * PAGE + 100).write(0xAA);
            base.add(40 * PAGE).write(0xBB);
            base.add(41 * PAGE + 4095).write(0xCC);
            assert!(!snapshot.matches());
            assert_eq!(snapshot.restore(&scanner).expect("restore"), 3 * PAGE);
            assert!(snapshot.matches());
            assert_eq!(base.add(3 * PAGE + 7).read(), 4);
            assert_eq!(base.add(3 * PAGE + 100).read(), 0);
            // Restored pages stay anonymous, so they are copied again (idempotent).
            assert_eq!(snapshot.restore(&scanner).expect("restore"), 3 * PAGE);
            assert!(snapshot.matches());
        }
    }

    #[test]
    fn scan_resumes_past_one_buffer_of_regions() {
        let Ok(scanner) = PageScanner::new() else {
            return;
        };
        let _ = take_created();
        let pages = 4 * REGIONS_PER_SCAN;
        let memory = new_memory(pages);
        let view = take_created().pop().expect("registered");
        // SAFETY: no wasm runs here; every written page is accessible.
        let mut snapshot = unsafe { MemorySnapshot::capture(view, None) }.expect("capture");
        let base = memory.as_ptr();
        // Every other page: more separate regions than one scan buffer holds.
        unsafe {
            for page in (0..pages).step_by(2) {
                base.add(page * PAGE).write(1);
            }
            assert_eq!(snapshot.restore(&scanner).expect("restore"), pages / 2 * PAGE);
            assert!(snapshot.matches());
        }
    }

    #[test]
    fn identical_memories_share_one_image() {
        let _ = take_created();
        let fill = |memory: &dyn LinearMemory, byte: u8| {
            // SAFETY: 8 pages are accessible and nothing else uses them.
            unsafe { std::ptr::write_bytes(memory.as_ptr(), byte, 8 * PAGE) }
        };
        let (a, b, c) = (new_memory(8), new_memory(8), new_memory(8));
        fill(&*a, 5);
        fill(&*b, 5);
        fill(&*c, 6);
        let mut views = take_created().into_iter();
        let mut next = || views.next().expect("registered");
        // SAFETY: no wasm runs here.
        unsafe {
            let first = MemorySnapshot::capture(next(), None).expect("capture");
            let same = MemorySnapshot::capture(next(), Some(first.image())).expect("capture");
            let other = MemorySnapshot::capture(next(), Some(first.image())).expect("capture");
            assert!(Arc::ptr_eq(first.image(), same.image()));
            assert!(!Arc::ptr_eq(first.image(), other.image()));
            assert!(first.matches() && same.matches() && other.matches());
            assert_eq!(c.as_ptr().read(), 6);
        }
    }

    #[test]
    fn an_image_refuses_writes_and_resizing() {
        let bytes = vec![7u8; 4 * PAGE];
        // SAFETY: `bytes` is readable and not written during the call.
        let image = unsafe { SnapshotImage::copy_of(bytes.as_ptr(), bytes.len()) }.expect("image");
        let fd = image.file.as_raw_fd();
        // SAFETY: plain syscalls on the image's own descriptor; each must be refused.
        unsafe {
            assert_eq!(
                libc::pwrite(fd, [1u8].as_ptr().cast(), 1, 0),
                -1,
                "write through the descriptor"
            );
            assert_eq!(libc::ftruncate(fd, 0), -1, "shrink");
            assert_eq!(libc::ftruncate(fd, (8 * PAGE) as libc::off_t), -1, "grow");
            let shared = libc::mmap(
                std::ptr::null_mut(),
                PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            );
            assert_eq!(shared, libc::MAP_FAILED, "a writable shared mapping");
            // The read-only view stays read-only: it cannot be made writable later.
            let view = image.source.cast_mut().cast::<c_void>();
            assert_eq!(
                libc::mprotect(view, PAGE, libc::PROT_READ | libc::PROT_WRITE),
                -1,
                "mprotect of the view"
            );
            assert_eq!(libc::fcntl(fd, libc::F_ADD_SEALS, 0), -1, "the seals are sealed");
        }
        assert!(image.bytes().iter().all(|&b| b == 7));
    }

    #[test]
    fn growth_is_reported() {
        let Ok(scanner) = PageScanner::new() else {
            return;
        };
        let _ = take_created();
        let mut memory = new_memory(2);
        let view = take_created().pop().expect("registered");
        // SAFETY: no wasm runs here.
        let mut snapshot = unsafe { MemorySnapshot::capture(view, None) }.expect("capture");
        memory.grow_to(4 * PAGE).expect("grow");
        // SAFETY: as above.
        assert!(matches!(unsafe { snapshot.restore(&scanner) }, Err(RestoreError::Grew)));
    }
}

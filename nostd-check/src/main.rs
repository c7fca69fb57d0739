//! A `#![no_std]` program that links lltls's core with the ring backend and
//! drives a TLS 1.3 and a TLS 1.2 connection in memory: handshake, data both
//! ways, close_notify both ways.
//!
//! It defines its own `#[panic_handler]` and `#[global_allocator]`: if any
//! crate in its graph linked std, the build would fail with a duplicate
//! `panic_impl` lang item. It runs on the host through the C runtime (which
//! calls `main`); memory comes from the C library's `malloc`.

#![no_std]
#![no_main]

extern crate alloc;

mod exchange;

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::{c_char, c_int, c_void};
use core::fmt::Write;

extern "C" {
    fn aligned_alloc(alignment: usize, size: usize) -> *mut c_void;
    fn free(ptr: *mut c_void);
    fn write(fd: c_int, buf: *const c_void, count: usize) -> isize;
    fn abort() -> !;
}

struct Malloc;

// SAFETY: aligned_alloc returns memory of at least `size` bytes aligned as
// asked (or null, which GlobalAlloc allows); free takes what it returned.
unsafe impl GlobalAlloc for Malloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // aligned_alloc wants a size that is a multiple of the alignment.
        let align = layout.align().max(core::mem::size_of::<usize>());
        let size = layout.size().div_ceil(align) * align;
        aligned_alloc(align, size.max(align)).cast()
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        free(ptr.cast());
    }
}

#[global_allocator]
static ALLOCATOR: Malloc = Malloc;

/// Writes to a file descriptor, as much as it takes.
struct Fd(c_int);

impl Write for Fd {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let mut bytes = s.as_bytes();
        while !bytes.is_empty() {
            // SAFETY: the pointer and length describe `bytes`.
            let n = unsafe { write(self.0, bytes.as_ptr().cast(), bytes.len()) };
            if n <= 0 {
                return Err(core::fmt::Error);
            }
            bytes = &bytes[n as usize..];
        }
        Ok(())
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let _ = writeln!(Fd(2), "nostd-check: {info}");
    // SAFETY: abort never returns and has no preconditions.
    unsafe { abort() }
}

/// The prebuilt `alloc` has unwinding landing pads; with `panic = "abort"`
/// they never run, but the linker wants the symbol (std would bring it from
/// libgcc_s).
#[no_mangle]
extern "C" fn _Unwind_Resume() -> ! {
    // SAFETY: as in the panic handler.
    unsafe { abort() }
}

/// Likewise the personality routine those landing pads name; never called
/// with `panic = "abort"`.
#[no_mangle]
extern "C" fn rust_eh_personality() {}

#[no_mangle]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    let mut out = Fd(1);
    for (tls12, split) in [(false, false), (true, false), (false, true), (true, true)] {
        let provider = alloc::sync::Arc::new(rustls::crypto::ring::default_provider());
        match exchange::run(provider, tls12, split) {
            Ok(report) => {
                let _ = writeln!(out, "nostd-check: {report}");
            }
            Err(error) => {
                let _ = writeln!(Fd(2), "nostd-check: {error}");
                return 1;
            }
        }
    }
    0
}

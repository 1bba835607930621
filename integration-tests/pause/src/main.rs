//! `test-pause`: what a test pod runs when all it must do is run.
//!
//! - no arguments, or any the image's user passes (the cloudcasa agent's flags, say): sleep
//!   until SIGTERM or SIGINT, then exit 0 at once. As PID 1 of a container the kernel ignores
//!   every signal without a handler, so without ours the kubelet would wait out the whole
//!   grace period before killing the pod, and every namespace deletion would take 30 s.
//! - `--exit`: exit 0 at once (an init container that succeeds).
//!
//! Built static for musl and packed FROM scratch by the cluster tests (`kube-testing`'s
//! `images` module), it needs no shell and no libc in the image.

extern "C" fn stop(_signal: libc::c_int) {
    // Only async-signal-safe calls in a handler: `_exit`, not `exit`.
    unsafe { libc::_exit(0) }
}

fn main() {
    if std::env::args().any(|a| a == "--exit") {
        return;
    }
    let handler = stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: installing a handler that only calls `_exit`.
    unsafe {
        libc::signal(libc::SIGTERM, handler);
        libc::signal(libc::SIGINT, handler);
    }
    loop {
        // SAFETY: `pause` has no preconditions; it returns after a handled signal.
        unsafe { libc::pause() };
    }
}

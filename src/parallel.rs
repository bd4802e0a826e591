//! Work on many small items spread over the machine's CPUs, for the few places where a command
//! does hundreds of the same system calls in a row (`status` of hundreds of apps).

/// `work` over `items` in order, on as many threads as there are CPUs, each with at least
/// `per_thread` items (so a few items stay on the calling thread: a thread costs more than they).
pub fn map_chunks<T: Sync, R: Send>(
    items: &[T],
    per_thread: usize,
    work: impl Fn(&[T]) -> Vec<R> + Sync,
) -> Vec<R> {
    let most = items.len() / per_thread.max(1);
    // (Asked only when it matters: the standard library reads the cgroup's CPU quota for it,
    // half a dozen files each time.)
    let threads = if most < 2 { 1 } else { cpus().min(most) };
    if threads == 1 {
        return work(items);
    }
    let work = &work;
    let mut parts = items.chunks(items.len().div_ceil(threads));
    // The calling thread takes the first part itself: it would only wait otherwise, and a new
    // thread costs a stack and a fresh malloc arena to fault in.
    let first = parts.next().unwrap_or_default();
    std::thread::scope(|scope| {
        // A part whose thread could not be started (a container's `pids.max`, `RLIMIT_NPROC`)
        // is done here: slower, not a failure.
        let others: Vec<_> = parts
            .map(|part| {
                std::thread::Builder::new()
                    .spawn_scoped(scope, move || work(part))
                    .map_err(|_| part)
            })
            .collect();
        let mut out = work(first);
        for other in others {
            match other {
                Ok(thread) => out.extend(
                    thread
                        .join()
                        .unwrap_or_else(|e| std::panic::resume_unwind(e)),
                ),
                Err(part) => out.extend(work(part)),
            }
        }
        out
    })
}

/// CPUs this process may use, asked once.
pub fn cpus() -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_keep_the_items_order() {
        let items: Vec<u32> = (0..1000).collect();
        let doubled = super::map_chunks(&items, 10, |part| part.iter().map(|i| i * 2).collect());
        assert_eq!(doubled, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert!(super::map_chunks(&[] as &[u32], 10, |p| p.to_vec()).is_empty());
    }
}

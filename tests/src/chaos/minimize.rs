//! Delta debugging (Zeller's ddmin) of a failing schedule: replays subsets of its steps and
//! keeps the smallest that still fails, within a bounded number of replays (each replay is a
//! whole run of the processes, so the bound matters more than minimality).

use std::future::Future;

/// The smallest subset of `steps` (indexes of a schedule's steps) for which `fails` still
/// holds, trying at most `max_replays` subsets. `fails` replays a subset and answers whether
/// any invariant broke. The empty subset is tried first (a failure without any step is the
/// campaign's own, e.g. convergence from start).
pub async fn ddmin<F, Fut>(steps: &[usize], max_replays: usize, mut fails: F) -> (Vec<usize>, usize)
where
    F: FnMut(Vec<usize>) -> Fut,
    Fut: Future<Output = bool>,
{
    let mut current = steps.to_vec();
    let mut replays = 0;
    if max_replays == 0 || current.is_empty() {
        return (current, replays);
    }
    replays += 1;
    if fails(vec![]).await {
        return (vec![], replays);
    }
    let mut n = 2usize;
    while current.len() >= 2 && replays < max_replays {
        let chunk = current.len().div_ceil(n);
        let chunks: Vec<Vec<usize>> = current.chunks(chunk).map(<[usize]>::to_vec).collect();
        let mut reduced = false;
        // Try each chunk alone, then each complement.
        for c in &chunks {
            if replays >= max_replays {
                break;
            }
            replays += 1;
            if fails(c.clone()).await {
                current = c.clone();
                n = 2;
                reduced = true;
                break;
            }
        }
        if !reduced {
            for c in &chunks {
                if replays >= max_replays || chunks.len() <= 2 {
                    break;
                }
                let complement: Vec<usize> =
                    current.iter().copied().filter(|i| !c.contains(i)).collect();
                replays += 1;
                if fails(complement.clone()).await {
                    current = complement;
                    n = (n - 1).max(2);
                    reduced = true;
                    break;
                }
            }
        }
        if !reduced {
            if n >= current.len() {
                break;
            }
            n = (n * 2).min(current.len());
        }
    }
    (current, replays)
}

#[cfg(test)]
mod tests {
    use super::ddmin;

    fn run<F: Fn(&[usize]) -> bool>(steps: &[usize], max: usize, f: F) -> (Vec<usize>, usize) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(ddmin(steps, max, |s| {
            let r = f(&s);
            async move { r }
        }))
    }

    #[test]
    fn finds_the_steps_that_fail_together() {
        let all: Vec<usize> = (0..16).collect();
        let (min, _) = run(&all, 100, |s| s.contains(&3) && s.contains(&11));
        assert_eq!(min, vec![3, 11]);
        let (min, _) = run(&all, 100, |s| s.contains(&7));
        assert_eq!(min, vec![7]);
        let (min, replays) = run(&all, 100, |_| true);
        assert_eq!((min, replays), (vec![], 1));
    }

    #[test]
    fn stops_at_the_replay_bound() {
        let all: Vec<usize> = (0..64).collect();
        let (min, replays) = run(&all, 5, |s| s.contains(&3) && s.contains(&60));
        assert!(replays <= 5);
        assert!(min.contains(&3) && min.contains(&60));
    }
}

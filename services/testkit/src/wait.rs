//! Waiting for something that happens in the background (a click written, a revocation
//! fanned out, a server back up): one helper, so no test writes its own polling loop.

use std::future::Future;
use std::time::Duration;

/// How often [`eventually`] asks again.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// Asks `check` until it gives `Some`, and returns that value; panics naming `what` if
/// it has not within `within`. `check` runs at least once, however short `within` is.
///
/// ```ignore
/// let clicks = eventually("the click is written", Duration::from_secs(5), || async {
///     let n = count_clicks(&db).await;
///     (n == 1).then_some(n)
/// })
/// .await;
/// ```
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {within:?} waiting until {what}");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Like [`eventually`], for a condition: waits until `check` gives `true`.
pub async fn until<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually(what, within, || {
        let asked = check();
        async move { asked.await.then_some(()) }
    })
    .await
}

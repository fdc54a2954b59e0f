//! The shutdown signal: SIGINT (Ctrl-C) or SIGTERM, or a programmatic trigger (tests, embedders).

use tokio::sync::watch;

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn os_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// A trigger any holder can pull once; every waiter wakes.
#[derive(Debug, Clone)]
pub struct Trigger(watch::Sender<bool>);

impl Trigger {
    pub fn new() -> Trigger {
        Trigger(watch::channel(false).0)
    }

    pub fn fire(&self) {
        self.0.send_replace(true);
    }

    pub async fn fired(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|fired| *fired).await;
    }
}

impl Default for Trigger {
    fn default() -> Self {
        Trigger::new()
    }
}

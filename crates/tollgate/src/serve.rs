use std::sync::Arc;

use anyhow::Context;
use tollgate_server::email::{EmailWorker, TransportConfig};
use tollgate_server::payments::Payments;
use tollgate_server::App;

use crate::cli::ServeArgs;
use crate::config::Config;

pub async fn run(config: Config, args: ServeArgs) -> anyhow::Result<()> {
    let store = config.open_store().await?;
    store.migrate().await.context("applying migrations")?;
    let app = Arc::new(App::new(store.clone(), config.server()?)?);
    let jobs = tollgate_server::jobs::spawn_all(&app);
    let metering = tollgate_server::metering::spawn(app.clone());

    reload_catalog_on_sighup(app.clone());

    let listen = config.listen(args.listen.as_deref());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        database = %config.database_url_redacted(),
        "Tollgate is running: open http://{addr}/ in your browser"
    );

    log_email_transport(&app);
    log_payment_provider(&app);
    let email_worker = EmailWorker::spawn(app.clone());

    tollgate_server::serve(listener, app.clone(), shutdown_signal()).await?;
    // Usage recorded by the requests just finished is stored before the database closes.
    app.metering.shutdown().await;
    metering.abort();
    email_worker.stop().await;
    for job in jobs {
        job.abort();
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// SIGHUP re-reads the model catalog; an invalid file leaves the current one in force.
fn reload_catalog_on_sighup(app: Arc<App>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!(
                "cannot listen for SIGHUP; reload the catalog with `tollgate admin catalog reload`"
            );
            return;
        };
        while hangups.recv().await.is_some() {
            app.catalog.reload_and_log("SIGHUP");
        }
    });
    #[cfg(not(unix))]
    let _ = app;
}

fn log_email_transport(app: &App) {
    let from = app.mailer.from().to_string();
    match &app.config.email.transport {
        TransportConfig::File { dir } => tracing::info!(
            %from,
            "emails are written to {} (set email_transport = \"smtp\" to send them)",
            dir.display()
        ),
        TransportConfig::Smtp(smtp) => tracing::info!(
            %from,
            "emails are sent through {}:{} (security: {})",
            smtp.host,
            smtp.port,
            smtp.security.as_str()
        ),
        TransportConfig::Memory => {
            tracing::warn!("email transport is memory: emails are kept in memory and never sent");
        }
    }
}

fn log_payment_provider(app: &App) {
    match &app.payments {
        Payments::Sandbox(_) => tracing::info!(
            "payments use the sandbox: test cards only, nothing is charged \
             (set payment_provider = \"stripe\" to take real payments)"
        ),
        Payments::Stripe(_) if app.payments.stripe_webhook_secret().is_none() => tracing::warn!(
            "payments go to Stripe; no stripe_webhook_secret is set, so pending payments are \
             settled by polling only"
        ),
        Payments::Stripe(_) => tracing::info!("payments go to Stripe"),
    }
}

pub async fn shutdown_signal() {
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
        () = ctrl_c => {},
        () = term => {},
    }
}

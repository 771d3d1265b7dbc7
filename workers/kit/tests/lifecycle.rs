//! The worker lifecycle against a real nats-server: a stop is bounded by `--drain-seconds`
//! whatever a task does, and a task that fails stops the others and fails the run.

use std::time::{Duration, Instant};

use clap::Parser;
use parley_kit::args::OpsArgs;
use parley_kit::{App, Base, CancellationToken, CommonArgs, Tasks, Worker};
use parley_testkit::NatsServer;

#[derive(Debug, Clone, clap::Parser)]
struct Settings {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    ops: OpsArgs,
    /// What the worker's task does.
    #[arg(long, default_value = "stuck")]
    task: String,
}

impl parley_kit::WorkerSettings for Settings {
    fn common(&self) -> &CommonArgs {
        &self.common
    }
    fn ops(&self) -> &OpsArgs {
        &self.ops
    }
}

struct Probe {
    task: String,
}

impl Worker for Probe {
    const NAME: &'static str = "probe";
    type Settings = Settings;

    async fn build(_: &Base, settings: Settings) -> anyhow::Result<Self> {
        Ok(Self {
            task: settings.task,
        })
    }

    async fn start(self, _: &Base, tasks: &mut Tasks) -> anyhow::Result<()> {
        let shutdown = tasks.shutdown();
        match self.task.as_str() {
            // Ignores shutdown: only the drain limit ends it.
            "stuck" => tasks.spawn("stuck", std::future::pending()),
            // Fails at once; its sibling runs until told to stop.
            "failing" => {
                tasks.spawn("failing", async { anyhow::bail!("broken on purpose") });
                tasks.spawn("sibling", async move {
                    shutdown.cancelled().await;
                    Ok(())
                });
            }
            other => anyhow::bail!("unknown task {other}"),
        }
        Ok(())
    }
}

fn settings(nats: &NatsServer, task: &str) -> anyhow::Result<Settings> {
    Ok(Settings::try_parse_from([
        "probe",
        "--nats-url",
        &nats.url(),
        "--nats-creds",
        &nats
            .creds(parley_testkit::FIXTURE_ROLE)
            .display()
            .to_string(),
        "--ops-listen",
        "127.0.0.1:0",
        "--drain-seconds",
        "1",
        "--task",
        task,
    ])?)
}

#[tokio::test]
async fn a_stop_waits_no_longer_than_the_drain_period() -> anyhow::Result<()> {
    // Streams provisioned, as `parley-jetstream apply` does before any worker starts.
    let bus = parley_testkit::Bus::start().await?;
    let app = App::<Probe>::build(settings(&bus.server, "stuck")?).await?;
    let ops = app.ops_addr().expect("ops listener on port 0");
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(app.run(shutdown.clone()));
    let ready = reqwest::get(format!("http://{ops}/readyz")).await?;
    assert!(ready.status().is_success(), "ready before the stop");
    let stopping = Instant::now();
    shutdown.cancel();
    let result = tokio::time::timeout(Duration::from_secs(10), running).await??;
    let took = stopping.elapsed();
    assert!(
        result.is_ok(),
        "a drain that runs out is not an error: {result:?}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "stopped after {took:?}, with a 1 s drain"
    );
    Ok(())
}

#[tokio::test]
async fn a_failing_task_stops_the_worker_with_its_error() -> anyhow::Result<()> {
    let bus = parley_testkit::Bus::start().await?;
    let app = App::<Probe>::build(settings(&bus.server, "failing")?).await?;
    let result =
        tokio::time::timeout(Duration::from_secs(10), app.run(CancellationToken::new())).await?;
    let error = result.expect_err("the run fails");
    assert!(
        format!("{error:#}").contains("broken on purpose"),
        "{error:#}"
    );
    Ok(())
}

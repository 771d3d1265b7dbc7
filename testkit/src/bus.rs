//! NATS-side fixtures for tests that run a worker in-process and speak only NATS to it: a
//! nats-server with Parley's streams and a client, and a reader of what a worker stored in
//! EVENTS.

use std::marker::PhantomData;
use std::time::Duration;

use futures::StreamExt;
use serde::de::DeserializeOwned;

use crate::NatsServer;

/// Wait until a service answers on `subject` (its queue subscription is registered once a
/// request is answered); an error after 2.5 s.
pub async fn await_service(
    client: &async_nats::Client,
    subject: &str,
    payload: &'static [u8],
) -> anyhow::Result<()> {
    for _ in 0..50 {
        if client
            .request(subject.to_string(), payload.into())
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the service on {subject} never answered")
}

/// A nats-server of the test's own, its streams provisioned, and a connected client.
pub struct Bus {
    pub server: NatsServer,
    pub nats: async_nats::Client,
    pub js: async_nats::jetstream::Context,
}

impl Bus {
    pub async fn start() -> anyhow::Result<Self> {
        let server = NatsServer::start()?;
        // The full-access test user: the server refuses clients without a key.
        let nats = server.client().await?;
        let js = async_nats::jetstream::new(nats.clone());
        parley_jetstream::apply_streams(&js, Default::default()).await?;
        Ok(Self { server, nats, js })
    }

    /// Every event stored in EVENTS on `filter` (a subject, wildcards allowed), from the start
    /// of the stream, decoded as `T`.
    pub async fn events<T: DeserializeOwned>(&self, filter: String) -> anyhow::Result<Events<T>> {
        let stream = self
            .js
            .get_stream(parley_contracts::subjects::stream::EVENTS)
            .await?;
        let consumer = stream
            .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
                filter_subject: filter,
                ..Default::default()
            })
            .await?;
        Ok(Events {
            messages: consumer.messages().await?,
            _of: PhantomData,
        })
    }
}

/// Events read in stream order.
pub struct Events<T> {
    messages: async_nats::jetstream::consumer::pull::Ordered,
    _of: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned + std::fmt::Debug> Events<T> {
    /// The next event within `within`, or `None`.
    pub async fn next(&mut self, within: Duration) -> anyhow::Result<Option<T>> {
        match tokio::time::timeout(within, self.messages.next()).await {
            Err(_) | Ok(None) => Ok(None),
            Ok(Some(msg)) => Ok(Some(serde_json::from_slice(&msg?.payload)?)),
        }
    }

    /// The next event, which must arrive within a few seconds.
    pub async fn expect(&mut self) -> anyhow::Result<T> {
        self.next(Duration::from_secs(5))
            .await?
            .ok_or_else(|| anyhow::anyhow!("no event within 5 s"))
    }

    /// Nothing more arrives within `within`.
    pub async fn expect_none(&mut self, within: Duration) -> anyhow::Result<()> {
        match self.next(within).await? {
            None => Ok(()),
            Some(e) => anyhow::bail!("unexpected event {e:?}"),
        }
    }
}

//! How the workers write to JetStream, against a real nats-server: group publishing (pipelined
//! below the atomic threshold, one atomic batch above it, one by one when the server refuses a
//! batch holding a duplicate), order across overlapping sends, and `apply` retiring consumers.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, stream};
use bytes::Bytes;
use futures::StreamExt;
use parley_kit::batch::{self, Outgoing};
use parley_testkit::NatsServer;

async fn setup() -> anyhow::Result<(NatsServer, async_nats::Client, jetstream::Context)> {
    let nats = NatsServer::start()?;
    let client = nats.client().await?;
    let js = jetstream::new(client.clone());
    js.create_stream(stream::Config {
        name: "WRITES".into(),
        subjects: vec!["w.>".into()],
        allow_atomic_publish: true,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await?;
    Ok((nats, client, js))
}

fn msgs(prefix: &str, n: usize) -> Vec<Outgoing> {
    (0..n)
        .map(|i| {
            Outgoing::new(
                format!("w.{prefix}"),
                &format!("{prefix}-{i}"),
                Bytes::from(format!("{prefix}-{i}")),
            )
        })
        .collect()
}

/// Every payload in the stream, in stream order.
async fn stored(js: &jetstream::Context) -> anyhow::Result<Vec<String>> {
    Ok(stored_with_batch(js)
        .await?
        .into_iter()
        .map(|(p, _)| p)
        .collect())
}

/// Every payload in the stream, in stream order, with whether it came in an atomic batch.
async fn stored_with_batch(js: &jetstream::Context) -> anyhow::Result<Vec<(String, bool)>> {
    let mut s = js.get_stream("WRITES").await?;
    let n = s.info().await?.state.messages as usize;
    let consumer = s
        .create_consumer(pull::Config {
            ack_policy: jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await?;
    let mut out = Vec::with_capacity(n);
    let mut batch = consumer.fetch().max_messages(n.max(1)).messages().await?;
    while out.len() < n {
        let Some(m) = tokio::time::timeout(Duration::from_secs(5), batch.next()).await? else {
            break;
        };
        let m = m.map_err(|e| anyhow::anyhow!(e))?;
        let atomic = m
            .headers
            .as_ref()
            .is_some_and(|h| h.get("Nats-Batch-Id").is_some());
        out.push((String::from_utf8(m.payload.to_vec())?, atomic));
    }
    Ok(out)
}

fn expected(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

#[tokio::test]
async fn small_and_large_groups_are_stored_whole_and_in_order() -> anyhow::Result<()> {
    let (_nats, client, js) = setup().await?;
    // Below the atomic threshold: pipelined publishes.
    batch::publish_batch(&client, &js, &msgs("small", 5))
        .await
        .map_err(anyhow::Error::msg)?;
    // Above it: one atomic batch (and a second chunk past MAX_BATCH).
    batch::publish_batch(&client, &js, &msgs("large", batch::MAX_BATCH + 40))
        .await
        .map_err(anyhow::Error::msg)?;
    let mut want: Vec<(String, bool)> = expected("small", 5)
        .into_iter()
        .map(|p| (p, false))
        .collect();
    want.extend(
        expected("large", batch::MAX_BATCH + 40)
            .into_iter()
            .map(|p| (p, true)),
    );
    assert_eq!(stored_with_batch(&js).await?, want);
    Ok(())
}

#[tokio::test]
async fn a_refused_atomic_batch_falls_back_and_drops_only_the_duplicate() -> anyhow::Result<()> {
    let (_nats, client, js) = setup().await?;
    let group = msgs("g", 40);
    // One message of the group is already in the stream: the server refuses the atomic batch.
    batch::publish_batch(&client, &js, &group[7..8])
        .await
        .map_err(anyhow::Error::msg)?;
    batch::publish_batch(&client, &js, &group)
        .await
        .map_err(anyhow::Error::msg)?;
    let mut want = vec!["g-7".to_string()];
    want.extend(expected("g", 40).into_iter().filter(|p| p != "g-7"));
    assert_eq!(stored(&js).await?, want);
    Ok(())
}

#[tokio::test]
async fn overlapping_sends_are_stored_in_send_order() -> anyhow::Result<()> {
    let (_nats, client, js) = setup().await?;
    // The second group is sent while the first one's stores are still pending.
    let first = batch::send_batch(&client, &js, &msgs("a", 10))
        .await
        .map_err(anyhow::Error::msg)?;
    let second = batch::send_batch(&client, &js, &msgs("b", 50))
        .await
        .map_err(anyhow::Error::msg)?;
    let third = batch::send_batch(&client, &js, &msgs("c", 3))
        .await
        .map_err(anyhow::Error::msg)?;
    third.await.map_err(anyhow::Error::msg)?;
    first.await.map_err(anyhow::Error::msg)?;
    second.await.map_err(anyhow::Error::msg)?;
    let mut want = expected("a", 10);
    want.extend(expected("b", 50));
    want.extend(expected("c", 3));
    assert_eq!(stored(&js).await?, want);
    Ok(())
}

#[tokio::test]
async fn apply_deletes_retired_consumers_and_keeps_the_live_ones() -> anyhow::Result<()> {
    let nats = NatsServer::start()?;
    let client = nats.client().await?;
    let js = jetstream::new(client);
    let topology = parley_jetstream::Topology { replicas: 1 };
    parley_jetstream::apply(&js, topology).await?;
    // A consumer an earlier version created.
    let events = js.get_stream("EVENTS").await?;
    events
        .create_consumer(pull::Config {
            durable_name: Some("receipts-seq".into()),
            filter_subject: "chat.evt.msg.>".into(),
            ..Default::default()
        })
        .await?;
    parley_jetstream::apply(&js, topology).await?;
    assert!(
        events.consumer_info("receipts-seq").await.is_err(),
        "retired consumer still there"
    );
    for (stream_name, cfg) in parley_jetstream::consumers() {
        let name = cfg.durable_name.unwrap_or_default();
        js.get_stream(stream_name)
            .await?
            .consumer_info(&name)
            .await?;
    }
    Ok(())
}

#[tokio::test]
async fn apply_moves_an_older_delivery_consumer_to_one_filter() -> anyhow::Result<()> {
    use parley_contracts::subjects::{self, consumer, stream as st};
    let nats = NatsServer::start()?;
    let client = nats.client().await?;
    let js = jetstream::new(client);
    let topology = parley_jetstream::Topology { replicas: 1 };
    parley_jetstream::apply_streams(&js, topology).await?;
    // Delivery's durable as earlier versions created it: one filter per event kind.
    let events = js.get_stream(st::EVENTS).await?;
    events
        .create_consumer(pull::Config {
            durable_name: Some(consumer::DELIVERY.into()),
            filter_subjects: vec![
                subjects::EVT_MSG_ALL.into(),
                subjects::EVT_MEMBER_ALL.into(),
                subjects::EVT_RECEIPT_ALL.into(),
                subjects::EVT_PRESENCE_ALL.into(),
            ],
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            deliver_policy: jetstream::consumer::DeliverPolicy::New,
            ..Default::default()
        })
        .await?;
    parley_jetstream::apply(&js, topology).await?;
    let cfg = events.consumer_info(consumer::DELIVERY).await?.config;
    assert_eq!(cfg.filter_subject, subjects::EVENTS_ALL);
    assert!(cfg.filter_subjects.is_empty(), "{:?}", cfg.filter_subjects);
    Ok(())
}

/// The group writer: writes queued within the linger go out as one group, in queue order (one
/// atomic batch from the atomic threshold on); a group reaching the target goes at once; a
/// duplicate inside a group costs only itself.
#[tokio::test]
async fn a_group_writer_stores_what_queues_within_its_linger_as_one_group() -> anyhow::Result<()> {
    let (_nats, client, js) = setup().await?;
    let linger = Duration::from_millis(300);
    let writer = batch::GroupWriter::start(client.clone(), js.clone(), linger, batch::MAX_BATCH);

    // Eight writes of five within the linger: one group of 40, atomic, in queue order.
    let started = std::time::Instant::now();
    let mut pending = Vec::new();
    for w in 0..8 {
        pending.push(
            writer
                .write(msgs(&format!("a{w}"), 5))
                .await
                .map_err(anyhow::Error::msg)?,
        );
    }
    for p in pending {
        p.await.map_err(anyhow::Error::msg)?;
    }
    assert!(
        started.elapsed() >= linger,
        "the group waited for its linger"
    );
    let want: Vec<String> = (0..8).flat_map(|w| expected(&format!("a{w}"), 5)).collect();
    let got = stored_with_batch(&js).await?;
    assert_eq!(got.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(), want);
    assert!(
        got.iter().all(|(_, atomic)| *atomic),
        "one atomic batch: {got:?}"
    );

    // A small group goes out as plain publishes once its linger is over.
    let small = writer
        .write(msgs("b", 3))
        .await
        .map_err(anyhow::Error::msg)?;
    small.await.map_err(anyhow::Error::msg)?;
    let got = stored_with_batch(&js).await?;
    assert_eq!(got.len(), 43);
    assert!(got[40..].iter().all(|(_, atomic)| !*atomic));

    // A group holding a message stored before: the rest is stored, the duplicate dropped.
    let mut with_dup = msgs("c", 39);
    with_dup.insert(20, msgs("a0", 1).remove(0));
    writer
        .write(with_dup)
        .await
        .map_err(anyhow::Error::msg)?
        .await
        .map_err(anyhow::Error::msg)?;
    let got = stored(&js).await?;
    assert_eq!(got.len(), 43 + 39);
    assert_eq!(got[43..], expected("c", 39)[..]);

    // A group that reaches the target does not wait for the linger.
    let eager = batch::GroupWriter::start(client, js.clone(), Duration::from_secs(30), 10);
    let started = std::time::Instant::now();
    let first = eager
        .write(msgs("d", 6))
        .await
        .map_err(anyhow::Error::msg)?;
    let second = eager
        .write(msgs("e", 6))
        .await
        .map_err(anyhow::Error::msg)?;
    first.await.map_err(anyhow::Error::msg)?;
    second.await.map_err(anyhow::Error::msg)?;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

/// A durable created by an earlier version (30 s ack wait, every instance pulling) is updated in
/// place by `apply`: the short ack wait and the pinned puller take effect, and the consumer keeps
/// its position (nothing already acked is delivered again).
#[tokio::test]
async fn apply_updates_an_older_persist_consumer_in_place() -> anyhow::Result<()> {
    use parley_contracts::subjects::{self, consumer, stream as st};
    let nats = NatsServer::start()?;
    let client = nats.client().await?;
    let js = jetstream::new(client);
    let topology = parley_jetstream::Topology { replicas: 1 };
    parley_jetstream::apply_streams(&js, topology).await?;
    let commands = js.get_stream(st::COMMANDS).await?;
    let old = commands
        .create_consumer(pull::Config {
            durable_name: Some(consumer::PERSIST.into()),
            filter_subject: subjects::CMD_MSG_ALL.into(),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_secs(30),
            max_deliver: 20,
            max_ack_pending: 4096,
            ..Default::default()
        })
        .await?;
    let conv = uuid::Uuid::now_v7();
    for i in 0..3 {
        js.publish(subjects::cmd_msg(conv), format!("{i}").into())
            .await?
            .await?;
    }
    let mut got = old.fetch().max_messages(3).messages().await?;
    while let Some(m) = got.next().await {
        m.map_err(|e| anyhow::anyhow!("{e}"))?
            .double_ack()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    parley_jetstream::apply(&js, topology).await?;
    let info = commands.consumer_info(consumer::PERSIST).await?;
    assert_eq!(info.config.ack_wait, parley_jetstream::ACK_WAIT);
    assert_eq!(
        info.config.priority_policy,
        jetstream::consumer::PriorityPolicy::PinnedClient
    );
    assert_eq!(info.ack_floor.stream_sequence, 3, "position kept");
    assert_eq!(info.num_pending, 0, "nothing acked is delivered again");
    Ok(())
}
